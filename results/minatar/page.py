"""Write ``docs/minatar-results.md`` (and its picture) from the committed MinAtar runs.

Every number of ours is read from a run directory under ``results/minatar/`` (``eval.json``,
``summary.json``, ``metrics.csv``, ``curve.csv``); HaDES's from ``hades_numbers.toml``. A planned
run that is not committed yet is listed as such, never filled in.

    .venv/bin/python results/minatar/page.py           # rewrite the page and the picture
    .venv/bin/python results/minatar/page.py --check   # exit 1 if the page is out of date
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from taskdistill_rl.tables import markdown_table, write_page

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PAGE = ROOT / "docs" / "minatar-results.md"
PICTURE = ROOT / "docs" / "img" / "minatar_minutes.png"
HADES = tomllib.loads((HERE / "hades_numbers.toml").read_text())
HADES_PROTOCOL = "HaDES's (no sticky actions, 1,000-step cap)"
DEFAULTS_PROTOCOL = "MinAtar's defaults (sticky 0.1, 10,000-step cap)"

# (directory, game, protocol, method): the table, in its order
RUNS = [
    ("breakout-hades-l0", "Breakout", HADES_PROTOCOL, "PPMO, l = 0"),
    ("spaceinvaders-hades-l0", "SpaceInvaders", HADES_PROTOCOL, "PPMO, l = 0"),
    ("asterix-hades-l0", "Asterix", HADES_PROTOCOL, "PPMO, l = 0"),
    ("breakout-hades-l0-k16", "Breakout", HADES_PROTOCOL, "PPMO, l = 0, k = 16"),
    ("breakout-defaults-l0", "Breakout", DEFAULTS_PROTOCOL, "PPMO, l = 0"),
    ("breakout-sb3-ppo", "Breakout", HADES_PROTOCOL, "SB3 PPO"),
    ("spaceinvaders-sb3-ppo", "SpaceInvaders", HADES_PROTOCOL, "SB3 PPO"),
    ("asterix-sb3-ppo", "Asterix", HADES_PROTOCOL, "SB3 PPO"),
    ("breakout-random", "Breakout", HADES_PROTOCOL, "uniform random"),
    ("spaceinvaders-random", "SpaceInvaders", HADES_PROTOCOL, "uniform random"),
    ("asterix-random", "Asterix", HADES_PROTOCOL, "uniform random"),
]
ROLLBACK = [f"breakout-rollback-l{layers}" for layers in range(4)]


def _load(name: str, file: str) -> dict | None:
    path = HERE / name / file
    return json.loads(path.read_text()) if path.exists() else None


def _config(name: str) -> dict:
    return tomllib.loads((HERE / name / "config.toml").read_text())


def _rows(name: str, file: str) -> list[dict]:
    path = HERE / name / file
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _value(row: dict, key: str) -> float | None:
    text = row.get(key)
    if text in (None, "", "nan"):
        return None
    value = float(text)
    return None if math.isnan(value) else value


def _result(evaluation: dict) -> dict:
    (result,) = evaluation["results"].values()
    return result


def _spread(result: dict) -> str:
    """The learners' median and range: 50 fresh learners' means (one row for a single agent)."""
    means = result["learner_means"]
    if len(means) == 1:
        return "—"
    return f"{statistics.median(means):.2f} ({min(means):.1f}–{max(means):.1f})"


def _mean(name: str) -> str:
    evaluation = _load(name, "eval.json")
    return "not run yet" if evaluation is None else f"{_result(evaluation)['mean']:.2f}"


def hades_table() -> str:
    """Per game on HaDES's protocol: ours beside HaDES's logged numbers."""
    rows = []
    for game in ("Breakout", "SpaceInvaders", "Asterix"):
        fresh, ppmo = HADES["fresh"][game], f"{game.lower()}-hades-l0"
        evaluation = _load(ppmo, "eval.json")
        rows.append(
            [
                game,
                str(evaluation["k"]) if evaluation else "—",
                f"**{_mean(ppmo)}**",
                _mean(f"{game.lower()}-sb3-ppo"),
                _mean(f"{game.lower()}-random"),
                f"{fresh['mean']} ({fresh['low']}–{fresh['high']})",
                str(HADES["fixed"][game]),
            ]
        )
    header = [
        "game",
        "k",
        "PPMO, l = 0",
        "SB3 PPO",
        "random",
        "HaDES, fresh inits (range)",
        "HaDES, fixed init",
    ]
    return markdown_table(header, rows)


def runs_table() -> str:
    """Every planned run: return, the learners' spread, frames and minutes (or: not run yet)."""
    rows = []
    for name, game, protocol, method in RUNS:
        summary, evaluation = _load(name, "summary.json"), _load(name, "eval.json")
        if evaluation is None:
            rows.append([f"`{name}`", game, protocol, method, "not run yet", "", "", ""])
            continue
        result = _result(evaluation)
        learned = summary.get("kind") != "baseline-random"
        frames = f"{summary['env_frames'] / 1e6:.2f} M" if learned else "—"
        minutes = f"{summary['wall_seconds'] / 60:.1f}" if learned else "—"
        size = f"{result['n_learners']} × {result['episodes']}"
        row = [f"`{name}`", game, protocol, f"{method}, {size}", f"{result['mean']:.2f}", _spread(result)]
        rows.append([*row, frames, minutes])
    header = ["run", "game", "protocol", "method, evaluation", "return", "learners: median (range)"]
    return markdown_table([*header, "env frames", "minutes"], rows)


def rollback_table() -> str:
    rows = []
    for layers, name in enumerate(ROLLBACK):
        evaluation = _load(name, "eval.json")
        if evaluation is None:
            rows.append([str(layers), "not run yet", "", "", ""])
            continue
        target = _config(name)["target_return"]
        reached = [
            row for row in _rows(name, "metrics.csv") if (_value(row, "eval/return_mean") or -1e9) >= target
        ]
        summary = _load(name, "summary.json")
        if reached:
            first = reached[0]
            epochs, minutes = first["meta_epoch"], f"{float(first['time/wall_seconds']) / 60:.1f}"
        else:
            epochs, minutes = (
                f"not within {summary['meta_epochs']}",
                f"not within {summary['wall_seconds'] / 60:.0f}",
            )
        rows.append([str(layers), epochs, minutes, f"{target:g}", f"{_result(evaluation)['mean']:.2f}"])
    header = ["l", "meta-epochs to the target", "minutes to the target", "target", "final return (50 × 10)"]
    return markdown_table(header, rows)


def picture() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = ["Breakout", "SpaceInvaders", "Asterix"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
    for ax, game in zip(axes, games, strict=True):
        for i, (name, run_game, protocol, method) in enumerate(RUNS):
            if run_game != game or protocol != HADES_PROTOCOL:
                continue
            if method.startswith("PPMO"):
                rows = _rows(name, "metrics.csv")
                points = [(_value(r, "time/wall_seconds"), _value(r, "eval/return_mean")) for r in rows]
                points = [(x / 60, y) for x, y in points if x is not None and y is not None]
                if points:
                    ax.plot(
                        *zip(*points, strict=True),
                        "o-",
                        ms=3,
                        color=f"C{i % 10}",
                        label=f"{method} (fresh learners)",
                    )
            elif method == "SB3 PPO":
                points = [
                    (_value(r, "wall_seconds"), _value(r, "eval_mean")) for r in _rows(name, "curve.csv")
                ]
                points = [(x / 60, y) for x, y in points if x is not None and y is not None]
                if points:
                    ax.plot(*zip(*points, strict=True), "s-", ms=3, color="C3", label=method)
            elif (evaluation := _load(name, "eval.json")) is not None:
                ax.axhline(_result(evaluation)["mean"], color="grey", ls=":", label="random")
        fresh = HADES["fresh"][game]["mean"]
        ax.axhline(fresh, color="k", ls="--", lw=1, label=f"HaDES, fresh inits ({fresh})")
        ax.set(title=f"MinAtar {game}", xlabel="wall minutes (one core)", ylabel="return")
        ax.legend(fontsize=7, loc="upper left")
    fig.savefig(PICTURE, dpi=110)


def page() -> str:
    return f"""# MinAtar: results

<!-- Written by results/minatar/page.py from the committed runs under results/minatar/. -->

Every run below ran on a 2-core CPU, pinned to one core with `taskset`, two runs at a time. Each
distilled file is scored by 50 fresh learners, fitted by one SGD step on it, × 10 sampled
episodes. Each run's `config.toml` and `summary.json` hold its reproduce command and the commit it
was made with. HaDES's numbers come from {HADES["source"]}, with {HADES["pairs"]} pairs and
8 V100s (`results/minatar/hades_numbers.toml`).

PPMO runs use the family's defaults: the `fast` preset, per-pixel standardisation and the 2×512
MLP learner (docs/minatar.md). Each has 30 minutes of distillation; the final evaluation is not
counted.

On HaDES's protocol, at k = ⌈c/2⌉ + 1 (Breakout and SpaceInvaders 3, Asterix 4; HaDES: 16):

{hades_table()}

Every run:

{runs_table()}

![Return against wall minutes](img/minatar_minutes.png)

PPMO's points are its periodic evaluations: fresh learners, one SGD step, sampled actions. SB3's
are the mean of its last 10 training games. SB3 PPO (`taskdistill baseline --algo ppo`, rl-zoo's
Atari values on MinAtar's network) stops after 20 minutes or rl-zoo's 5 M frames, whichever comes
first, and its one policy is scored on 500 sampled episodes.

## Encoder rollback on Breakout

MinAtar's CNN (`--learner minatar-cnn`) with its first `l` layers meta-learned as a shared encoder
(the paper's Algorithm 2 and Table 2), on HaDES's protocol. Each run stops when its periodic
evaluation (10 fresh learners × 2 episodes) first reaches the target, or after 20 minutes.

{rollback_table()}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    args = parser.parse_args()
    status = write_page(PAGE, page(), check=args.check, script="results/minatar/page.py")
    if not args.check:
        picture()
    return status


if __name__ == "__main__":
    sys.exit(main())
