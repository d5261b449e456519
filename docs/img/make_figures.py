"""Figures of the docs drawn from committed results (JSON under ``results/``), no training.

    python docs/img/make_figures.py   # writes docs/img/kmin.png and docs/img/kshot.png

- ``kmin.png`` (tutorials/kmin.md): ``results/kmin/{1d,2d}/kmin.json``, what
  ``taskdistill kmin`` wrote; per k, the mean return of each of the 100 fresh learners (dots), the
  random agent, and Eq. 3's k_min.
- ``kshot.png`` (tutorials/kshot-generalisation.md): ``results/kshot/zoo-{1d,2d}-all.json``, what
  ``taskdistill evaluate zoo:... --learners all`` wrote; per learner distribution, each learner's
  mean return.

``docs/img/make_images.sh`` runs this with the CLI commands that draw the other pictures.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
DPI = 100


def _strip(ax, x: float, values: list[float], color: str, seed: int) -> None:
    """The values as dots spread sideways (a strip plot) and their mean as a bar."""
    jitter = np.random.default_rng(seed).uniform(-0.28, 0.28, len(values))
    ax.scatter(x + jitter, values, s=9, alpha=0.45, color=color, linewidths=0)
    ax.plot([x - 0.35, x + 0.35], [np.mean(values)] * 2, color="black", lw=2)


def kmin_figure(out: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, dpi=DPI)
    for ax, dims in zip(axes, ("1d", "2d"), strict=True):
        record = json.loads((ROOT / "results" / "kmin" / dims / "kmin.json").read_text())
        ks = sorted(record["results"], key=int)
        for i, k in enumerate(ks):
            entry = record["results"][k]
            color = "tab:green" if entry["learns"] else "tab:red"
            _strip(ax, i, entry["learner_means"], color, seed=i)
        ax.axhline(record["random_mean"], color="grey", ls="--", lw=1)
        ax.text(len(ks) - 0.5, record["random_mean"] + 8, "random agent", ha="right", color="grey")
        k_min = ks.index(str(record["predicted_k_min"]))
        ax.axvspan(k_min - 0.45, k_min + 0.45, color="tab:blue", alpha=0.08)
        ax.text(k_min, 250, "Eq. 3's\nk_min", ha="center", color="tab:blue")
        budget = record["results"][ks[0]]["wall_seconds"]
        n_dims = record["env_kwargs"]["n_dims"]
        ax.set_title(f"{n_dims}D cart-pole, {budget:.0f} s of distillation per k", fontsize=10)
        ax.set_xticks(range(len(ks)), [f"k={k}" for k in ks])
        ax.set_ylim(0, 520)
    axes[0].set_ylabel("return of a fresh learner\n(mean of 100 episodes)")
    fig.suptitle(
        "taskdistill kmin: 100 fresh learners per k (dots; bar: mean); green: learns, red: does not",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def kshot_figure(out: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, dpi=DPI)
    for ax, name in zip(axes, ("zoo-1d-all", "zoo-2d-all"), strict=True):
        record = json.loads((ROOT / "results" / "kshot" / f"{name}.json").read_text())
        names = list(record["results"])
        for i, learner in enumerate(names):
            color = "tab:blue" if i == 0 else "tab:orange"
            _strip(ax, i, record["results"][learner]["learner_means"], color, seed=i)
        n_dims, k = record["env_kwargs"]["n_dims"], record["k"]
        ax.set_title(f"zoo:ndcartpole-{n_dims}d (k={k}), distilled for lambda", fontsize=10)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylim(0, 520)
    axes[0].set_ylabel("return of a fresh learner\n(mean of 100 episodes)")
    fig.suptitle("One file, fitted in one step by 100 fresh learners of each distribution", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


if __name__ == "__main__":
    for path in (kmin_figure(OUT / "kmin.png"), kshot_figure(OUT / "kshot.png")):
        print(f"wrote {path.relative_to(ROOT)}")
