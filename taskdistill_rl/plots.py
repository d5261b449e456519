"""Figures: learning curves of distillation runs, and pictures of what a distilled dataset teaches."""

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


def _action_names(ds) -> list[str]:
    if ds.meta.get("env_id") == "NDCartPole-v0" and not ds.continuous:
        n = ds.out_features // 2
        if n == 1:
            return ["left", "right"]
        return [f"axis {a + 1} {'+' if sign else '−'}" for a in range(n) for sign in (0, 1)]
    return [f"{'dim' if ds.continuous else 'action'} {i}" for i in range(ds.out_features)]


def plot_dataset(ds, out: Path) -> Path:
    """What the dataset teaches (paper Figure 4): per instance, its state and its label.

    ND cart-pole: the pole angle of every axis, and the softmaxed labels over the 2N actions.
    Other envs: the observation's features (or the image), and softmaxed labels (discrete) or
    the taught action mean (continuous).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    obs = ds.observation.detach().float()
    label = ds.label.detach().float()
    target = label if ds.continuous else torch.softmax(label, -1)
    cartpole = ds.meta.get("env_id") == "NDCartPole-v0" and obs.dim() == 2 and obs.shape[1] % 4 == 0
    names = _action_names(ds)
    k = ds.k
    fig, axes = plt.subplots(k, 2, figsize=(8, 1.0 + 1.5 * k), squeeze=False)
    for i in range(k):
        left, right = axes[i]
        if cartpole:
            angles = obs[i, 2::4].numpy()
            axis_names = [f"axis {a + 1}" for a in range(len(angles))] if len(angles) > 1 else ["pole"]
            left.barh(
                axis_names, np.degrees(angles), color=["tab:red" if a < 0 else "tab:blue" for a in angles]
            )
            left.axvline(0, color="k", lw=0.6)
            left.set_xlabel("pole angle (degrees; + leans right / +axis)" if i == k - 1 else "")
        elif obs[i].dim() >= 2:
            left.imshow(obs[i].reshape(-1, *obs.shape[-2:])[0].numpy(), cmap="gray")
            left.axis("off")
        else:
            left.bar(range(obs.shape[1]), obs[i].numpy())
            left.set_xlabel("feature" if i == k - 1 else "")
        right.bar(names, target[i].numpy(), color="tab:green")
        if not ds.continuous:
            right.set_ylim(0, 1)
        right.tick_params(axis="x", labelrotation=45 if len(names) > 4 else 0, labelsize=8)
        left.set_title(f"instance {i + 1}", fontsize=9, loc="left")
    axes[0, 1].set_title("taught action mean" if ds.continuous else "softmax(label)", fontsize=9)
    env = ds.meta.get("env_id", "?")
    fig.suptitle(
        f"{env} {ds.meta.get('env_kwargs') or ''}: k={k}, inner lr {ds.inner_lr.item():.3g}", fontsize=10
    )
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out
