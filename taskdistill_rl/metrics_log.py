"""Per-meta-epoch metrics through TorchRL's loggers: ``metrics.csv`` always, TensorBoard when the
``tensorboard`` package is installed.

``metrics.csv`` (one row per meta-epoch, fixed columns) is what ``taskdistill plot`` reads and
what a resumed run continues, so it is a TorchRL ``Logger`` of its own rather than TorchRL's
``CSVLogger`` (one file per scalar).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from torchrl.record.loggers import Logger

from taskdistill_rl.io import write_csv


class _CSVTable:
    """The open ``metrics.csv`` (the logger's "experiment")."""

    def __init__(self, path: Path, fields: list[str], resume_from: int):
        append = resume_from > 0 and path.exists()
        if append:  # rows written after the checkpoint by a run that was killed are dropped
            with path.open(newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row["meta_epoch"]) <= resume_from]
            write_csv(path, fields, kept)
        self.file = path.open("a" if append else "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=fields, extrasaction="ignore")
        if not append:
            self.writer.writeheader()

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class MetricsTable(Logger):
    """A TorchRL ``Logger`` writing ``OUT/metrics.csv``: one row per :meth:`log_metrics` call.

    Args:
        out_dir: the run directory.
        fields: the columns (metrics not listed are left out of the table).
        resume_from: the checkpoint's meta-epoch when resuming: rows up to it are kept.
    """

    experiment: _CSVTable

    def __init__(self, out_dir: str | Path, fields: list[str], *, resume_from: int = 0):
        self.path, self.fields, self.resume_from = Path(out_dir) / "metrics.csv", fields, resume_from
        super().__init__(exp_name="metrics", log_dir=str(out_dir))

    def _create_experiment(self) -> _CSVTable:
        return _CSVTable(self.path, self.fields, self.resume_from)

    def log_metrics(self, metrics: dict, step: int | None = None, *, keys_sep: str = "/") -> dict:
        row = dict(metrics)
        if step is not None:
            row.setdefault("meta_epoch", step)
        self.experiment.writer.writerow(row)
        self.experiment.flush()
        return row

    def log_scalar(self, name: str, value: float, step: int | None = None) -> None:
        self.log_metrics({name: value}, step=step)

    def log_hparams(self, cfg) -> None:  # the resolved config goes to config.toml
        pass

    def log_video(self, name, video, step=None, **kwargs) -> None:
        raise NotImplementedError("metrics.csv holds scalars only")

    def log_histogram(self, name, data, **kwargs) -> None:
        raise NotImplementedError("metrics.csv holds scalars only")

    def __repr__(self) -> str:
        return f"MetricsTable({str(self.path)!r})"


def finite_scalars(metrics: dict) -> dict:
    """The metrics TensorBoard can plot (NaN marks "not measured this meta-epoch")."""
    return {
        k: v
        for k, v in metrics.items()
        if k != "meta_epoch" and isinstance(v, int | float) and math.isfinite(v)
    }


def run_loggers(out_dir: Path, fields: list[str], *, resume_from: int = 0) -> list[Logger]:
    """``metrics.csv``, and TensorBoard under ``OUT/tensorboard`` when it is installed."""
    loggers: list[Logger] = [MetricsTable(out_dir, fields, resume_from=resume_from)]
    try:
        import tensorboard  # noqa: F401  (optional)
        from torchrl.record.loggers import TensorboardLogger
    except ImportError:
        return loggers

    class FiniteTensorboardLogger(TensorboardLogger):
        def log_metrics(self, metrics: dict, step: int | None = None, **kwargs) -> dict:
            return super().log_metrics(finite_scalars(metrics), step, **kwargs)

    loggers.append(FiniteTensorboardLogger(exp_name="tensorboard", log_dir=str(out_dir)))
    return loggers
