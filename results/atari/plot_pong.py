"""Raw Pong score against wall time: PPMO at l = 4 and SB3 PPO, 30 minutes each on CPU, beside random.

Both curves are the mean raw score of the last (up to) 10 full games played in training
(PPMO: ``train/recent_return`` in metrics.csv; SB3: Monitor's games in curve.csv); PPMO's
periodic evaluations (fresh learners fitted in one step, full games) are drawn as points.

    python results/atari/plot_pong.py   # writes results/atari/pong_30min.png
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _series(rows: list[dict], x: str, y: str) -> tuple[list[float], list[float]]:
    points = [(float(r[x]), float(r[y])) for r in rows if r.get(y) not in (None, "", "nan")]
    points = [(a, b) for a, b in points if not math.isnan(b)]
    return [a / 60 for a, _ in points], [b for _, b in points]


def main() -> None:
    ppmo = _rows(HERE / "pong-l4-ppmo" / "metrics.csv")
    sb3 = _rows(HERE / "pong-sb3-ppo" / "curve.csv")
    random = json.loads((HERE / "pong-random" / "eval.json").read_text())["results"]["random"]
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    ax.plot(*_series(ppmo, "time/wall_seconds", "train/recent_return"), label="PPMO l=4 (training games)")
    x, y = _series(ppmo, "time/wall_seconds", "eval/return_mean")
    ax.plot(x, y, "o", color="C0", label="PPMO l=4: fresh learners, 1 step (4 full games)")
    ax.plot(*_series(sb3, "wall_seconds", "eval_mean"), label="SB3 PPO (training games)")
    ax.axhline(random["mean"], color="grey", ls="--", label=f"random ({random['mean']:.1f})")
    ax.set(
        xlabel="wall time (min), 1 CPU thread each, run side by side",
        ylabel="raw Pong score",
        ylim=(-21.5, 21.5),
    )
    ax.set_title("ALE/Pong-v5, 30 minutes each on a 2-core CPU")
    ax.legend(fontsize=8, loc="upper left")
    fig.savefig(HERE / "pong_30min.png", dpi=120)
    print(f"wrote {HERE / 'pong_30min.png'}")


if __name__ == "__main__":
    main()
