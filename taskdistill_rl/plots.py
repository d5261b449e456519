"""Figures: learning curves of distillation runs, and pictures of what a distilled dataset teaches."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _read_metrics(run: Path) -> dict[str, list[float]]:
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    cols: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            cols.setdefault(key, []).append(float(value) if value not in ("", None) else float("nan"))
    return cols


def plot_runs(runs: list[Path], out: Path) -> Path:
    """Return (train and periodic eval) and inner lr vs meta-epoch and vs wall time, one colour per
    run. The wall-time axis leaves out the one-off start-up before the first meta-epoch (env and
    network construction, imports), which would otherwise shift every run by a different amount."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharey="row")
    for run in runs:
        m = _read_metrics(Path(run))
        wall = np.array(m["time/wall_seconds"])
        first = m["time/rollout_seconds"][0] + m["time/update_seconds"][0]
        xs = {"meta_epoch": np.array(m["meta_epoch"]), "wall": wall - (wall[0] - first)}
        ev = np.array(m["eval/return_mean"])
        ok = ~np.isnan(ev)
        for col, x in enumerate(xs.values()):
            (line,) = axes[0, col].plot(x, m["train/episode_return_mean"], alpha=0.35)
            if ok.any():
                axes[0, col].plot(x[ok], ev[ok], "o-", ms=3, color=line.get_color())
            axes[1, col].plot(x, m["train/inner_lr"], color=line.get_color(), label=Path(run).name)
    for col, xlabel in enumerate(("meta-epoch", "wall time (s, start-up excluded)")):
        axes[1, col].set_xlabel(xlabel)
        axes[1, col].set_yscale("log")
    for ax in axes[:, 0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("episode return")
    axes[0, 0].set_title("faint line: the rollout's learner; dots: fresh learners (evaluation)", fontsize=9)
    axes[1, 0].set_ylabel("learned inner lr")
    axes[1, 1].legend(fontsize=8, title="run", title_fontsize=8)
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


MAX_PANELS = 12  # instances drawn one row each; more become two heatmaps of bounded size


def plot_dataset(ds, out: Path) -> Path:
    """What the dataset teaches (paper Figure 4): per instance, its synthetic state and the action
    its label teaches.

    ND cart-pole: the pole angle of every axis in the synthetic state, and the softmaxed labels over
    the 2N actions. Other envs: the observation's features, and softmaxed labels (discrete) or the
    taught action mean (continuous). Synthetic states are learned inputs, not states the env visits
    (angles beyond the 12° failure limit are common). More than ``MAX_PANELS`` instances (e.g.
    MuJoCo's k=64) are drawn as two heatmaps instead. Frame stacks ``[k, frames, H, W]`` (Atari)
    are drawn by :func:`image_dataset_figure`.

    Raises:
        InvalidInputError: observations that are neither feature vectors nor frame stacks.
    """
    if len(ds.obs_shape) == 3:
        return _save(image_dataset_figure(ds), out)
    if len(ds.obs_shape) != 1:
        raise InvalidInputError(
            f"cannot draw observations of shape {tuple(ds.obs_shape)}: expected feature vectors "
            "(features,) or frame stacks (frames, height, width)"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    obs = ds.observation.detach().float().cpu()  # a dataset on any device
    label = ds.label.detach().float().cpu()
    target = label if ds.continuous else torch.softmax(label, -1)
    taught = (
        "taught action mean" if ds.continuous else "probability the learner is taught to give each action"
    )
    env = f"{ds.meta.get('env_id', '?')} {ds.meta.get('env_kwargs') or ''}".strip()
    title = (
        f"What the {ds.k} synthetic instances of {env} teach (inner lr {ds.inner_lr.item():.3g})\n"
        "synthetic states are learned inputs, not states the environment visits"
    )
    if ds.k > MAX_PANELS:
        return _plot_dataset_heatmaps(ds, obs, target, taught, title, out)
    cartpole = ds.meta.get("env_id") == "NDCartPole-v0" and obs.dim() == 2 and obs.shape[1] % 4 == 0
    names = _action_names(ds)
    k = ds.k
    fig, axes = plt.subplots(k, 2, figsize=(9, 1.4 + 1.5 * k), squeeze=False)
    for i in range(k):
        left, right = axes[i]
        if cartpole:
            angles = obs[i, 2::4].numpy()
            axis_names = [f"axis {a + 1}" for a in range(len(angles))] if len(angles) > 1 else ["pole"]
            left.barh(
                axis_names, np.degrees(angles), color=["tab:red" if a < 0 else "tab:blue" for a in angles]
            )
            left.axvline(0, color="k", lw=0.6)
            left.set_xlabel(
                "pole angle in the synthetic state (degrees; + leans right)" if i == k - 1 else ""
            )
        else:
            left.bar(range(obs.shape[1]), obs[i].numpy())
            left.set_xlabel("observation feature (synthetic state)" if i == k - 1 else "")
        right.bar(names, target[i].numpy(), color="tab:green")
        if not ds.continuous:
            right.set_ylim(0, 1)
        right.tick_params(axis="x", labelrotation=45 if len(names) > 4 else 0, labelsize=8)
        left.set_title(f"instance {i + 1}", fontsize=9, loc="left")
    axes[0, 1].set_title(taught, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out


def _plot_dataset_heatmaps(ds, obs, target, taught: str, title: str, out: Path) -> Path:
    """Many instances: observations ``[k, features]`` and targets ``[k, actions]`` as heatmaps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    flat = obs.reshape(ds.k, -1).numpy()
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(11, 7), gridspec_kw={"width_ratios": [max(flat.shape[1], 4), max(target.shape[1], 4)]}
    )
    image = left.imshow(flat, aspect="auto", cmap="coolwarm", interpolation="nearest")
    left.set_xlabel("observation feature (synthetic state)")
    left.set_ylabel("instance")
    fig.colorbar(image, ax=left, fraction=0.046)
    image = right.imshow(target.numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    right.set_xticks(range(target.shape[1]), _action_names(ds), rotation=45, fontsize=8)
    right.set_title(taught, fontsize=9)
    fig.colorbar(image, ax=right, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return out


def _save(fig: Figure, out: Path) -> Path:
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    return Path(out)


def _image_action_names(ds) -> list[str]:
    names = ds.meta.get("action_names")
    if isinstance(names, list) and len(names) == ds.out_features and all(isinstance(n, str) for n in names):
        return names
    return [str(i) for i in range(ds.out_features)]


def image_dataset_figure(ds) -> Figure:
    """Frame stacks ``[k, frames, H, W]`` (Atari): one row per instance, its frames oldest first
    (``t-3 … t``, as FrameStackObservation stacks them), then the taught action distribution.
    A file whose meta names its frames' channels (``frame_channels``: MinAtar's object channels,
    ``paddle``, ``ball``, ...) gets them as the column titles instead.

    Each instance gets its own grey scale from its min to its max (stated beside the row): imported
    published files hold values far outside [0, 1] (-4.3 to 4.4), and one shared scale would leave
    most instances a flat grey. The frames of an instance share it, so they compare. Only the
    first ``MAX_PANELS`` instances are drawn, so the figure stays readable and bounded in memory.

    Returns:
        A :class:`matplotlib.figure.Figure` not registered with pyplot: nothing to close.
    """
    import torch
    from matplotlib.figure import Figure  # no pyplot: nothing global to close

    obs = ds.observation.detach().float().cpu()  # [k, frames, H, W]
    label = ds.label.detach().float().cpu()  # [k, out_features]
    target = label if ds.continuous else torch.softmax(label, -1)
    names = _image_action_names(ds)
    rows, frames = min(ds.k, MAX_PANELS), obs.shape[1]
    channels = ds.meta.get("frame_channels")
    if not (
        isinstance(channels, list) and len(channels) == frames and all(isinstance(c, str) for c in channels)
    ):
        channels = [f"t-{frames - 1 - j}" if j < frames - 1 else "t" for j in range(frames)]
    row_height = max(1.3, 0.4 + 0.09 * len(names))  # inches: room for one bar label per action
    fig = Figure(figsize=(1.3 * frames + 3.8, 1.0 + row_height * rows), layout="constrained")
    axes = fig.subplots(rows, frames + 1, squeeze=False, width_ratios=[1] * frames + [2.6])
    for i in range(rows):
        lo, hi = obs[i].min().item(), obs[i].max().item()
        for j in range(frames):
            ax = axes[i, j]
            ax.imshow(obs[i, j].numpy(), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(channels[j], fontsize=9)
        axes[i, 0].set_ylabel(f"instance {i + 1}\n{lo:.3g} … {hi:.3g}", fontsize=8)
        bars = axes[i, -1]
        best = int(target[i].argmax())
        colors = ["tab:orange" if a == best else "tab:green" for a in range(len(names))]
        bars.barh(names, target[i].numpy(), color=colors)
        bars.invert_yaxis()  # action 0 on top
        bars.tick_params(axis="y", labelsize=6 if len(names) > 6 else 8)
        bars.tick_params(axis="x", labelsize=7)
        if ds.continuous:
            bars.set_title(f"largest: {names[best]}", fontsize=8, loc="left")
        else:
            bars.set_xlim(0, 1)
            bars.set_title(f"argmax: {names[best]} (p={target[i, best]:.2f})", fontsize=8, loc="left")
    axes[-1, -1].set_xlabel("taught action mean" if ds.continuous else "softmax(label): taught probability")
    env = ds.meta.get("env_id", "?")
    shown = f"first {rows} of {ds.k} instances shown" if rows < ds.k else f"all {ds.k} instances"
    fig.suptitle(
        f"What the {ds.k} synthetic frames of {env} teach "
        f"(inner lr {ds.inner_lr.item():.3g}); {shown}\n"
        "grey scale: each instance's own min (black) to max (white), stated at left; "
        "orange bar: the action taught most",
        fontsize=9,
    )
    return fig
