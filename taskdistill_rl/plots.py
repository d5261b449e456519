"""Figures: learning curves of distillation runs."""

from __future__ import annotations

import csv
from pathlib import Path

from taskdistill_rl.io import atomic_write


def _read_metrics(run: Path) -> dict[str, list[float]]:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    cols: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            cols.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
    return cols


def plot_runs(runs: list[Path], out: Path) -> Path:
    """Return (train and periodic eval) and inner lr vs meta-epoch and vs wall time, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharey="row")
    for run in runs:
        m = _read_metrics(Path(run))
        label = Path(run).name
        for col, xkey in enumerate(("meta_epoch", "time/wall_seconds")):
            x = np.array(m[xkey])
            ev = np.array(m["eval/return_mean"])
            ok = ~np.isnan(ev)
            (line,) = axes[0, col].plot(x, m["train/episode_return_mean"], alpha=0.35)
            axes[0, col].plot(x[ok], ev[ok], "o-", ms=3, color=line.get_color(), label=label)
            axes[1, col].plot(x, m["train/inner_lr"], color=line.get_color())
    for col, xlabel in enumerate(("meta-epoch", "wall time (s)")):
        axes[1, col].set_xlabel(xlabel)
        axes[1, col].set_yscale("log")
    axes[0, 0].set_ylabel("return (faint: rollout, dots: fresh learners)")
    axes[1, 0].set_ylabel("inner lr")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out
