"""Per-meta-epoch metrics: ``metrics.csv`` always, TensorBoard too when it is installed."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from taskdistill_rl.io import write_csv


class MetricsLog:
    """Appends one row per meta-epoch; a resumed run continues the same file.

    Args:
        out_dir: the run directory.
        fields: column names (metrics not listed are written to TensorBoard only).
        resume_from: the checkpoint's meta-epoch when resuming: rows up to it are kept, later
            ones (written after that checkpoint by a run that was killed) are dropped.
    """

    def __init__(self, out_dir: Path, fields: list[str], *, resume_from: int = 0):
        path = out_dir / "metrics.csv"
        append = resume_from > 0 and path.exists()
        if append:
            with path.open(newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row["meta_epoch"]) <= resume_from]
            write_csv(path, fields, kept)
        self._file = path.open("a" if append else "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=fields, extrasaction="ignore")
        if not append:
            self._writer.writeheader()
        self._tensorboard = _tensorboard_writer(out_dir / "tensorboard")

    def write(self, metrics: dict) -> None:
        self._writer.writerow(metrics)
        self._file.flush()
        if self._tensorboard is not None:
            step = int(metrics["meta_epoch"])
            for key, value in metrics.items():
                if key != "meta_epoch" and isinstance(value, int | float) and math.isfinite(value):
                    self._tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        self._file.close()
        if self._tensorboard is not None:
            self._tensorboard.close()


def _tensorboard_writer(log_dir: Path):
    """A SummaryWriter if the ``tensorboard`` package is installed (it is optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(log_dir))
