"""``taskdistill report``: random vs direct RL vs distilled, distillation ratio and cost curve.

Reads only the ``summary.json`` of each run directory (DESIGN.md contract), groups runs by
environment, and writes a markdown report plus the paper's Figure-5 cost curve: total wall time
to obtain N agents by direct RL (N trainings) vs by distillation (one distillation, then one
SGD step per agent).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from taskdistill_rl.errors import TaskDistillError
from taskdistill_rl.io import atomic_write


@dataclass
class EnvRuns:
    """The runs of one environment, by kind (the best distillation / RL run if several)."""

    label: str
    distill: dict | None = None
    rl: dict | None = None
    random: dict | None = None
    sources: list[str] = field(default_factory=list)

    @staticmethod
    def mean(summary: dict | None) -> float | None:
        if summary is None:
            return None
        return next(iter(summary["evaluation"]["results"].values()))["mean"]

    def ratio(self) -> float | None:
        """Distillation ratio (Sucholutsky & Schonlau): distilled return / direct-RL return."""
        distilled, rl = self.mean(self.distill), self.mean(self.rl)
        return None if distilled is None or not rl else distilled / rl

    def break_even(self) -> float | None:
        """Agents beyond which distilling once and fitting each agent is cheaper than RL per agent."""
        if self.distill is None or self.rl is None:
            return None
        per_agent_saving = self.rl["wall_seconds"] - (self.distill.get("fit_seconds_per_learner") or 0.0)
        return None if per_agent_saving <= 0 else self.distill["wall_seconds"] / per_agent_saving


def env_label(summary: dict) -> str:
    kwargs = summary.get("env_kwargs") or summary.get("evaluation", {}).get("env_kwargs") or {}
    if summary["env"] == "NDCartPole-v0":
        return f"NDCartPole-v0 {kwargs.get('n_dims', 1)}D"
    return summary["env"] + (f" {kwargs}" if kwargs else "")


def collect(run_dirs: list[Path]) -> dict[str, EnvRuns]:
    """Group the runs' summaries by environment; a missing or unreadable summary is an error."""
    by_env: dict[str, EnvRuns] = {}
    for run in run_dirs:
        path = Path(run) / "summary.json"
        if not path.is_file():
            raise TaskDistillError(f"{run}: no summary.json (is it a distill or baseline run directory?)")
        try:
            summary = json.loads(path.read_text())
            kind = summary["kind"]
            label = env_label(summary)
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise TaskDistillError(f"{path}: not a taskdistill summary ({err})") from err
        runs = by_env.setdefault(label, EnvRuns(label))
        runs.sources.append(str(run))
        slot = {"distill": "distill", "baseline-ppo": "rl", "baseline-random": "random"}.get(kind)
        if slot is None:
            raise TaskDistillError(f"{path}: unknown run kind {kind!r}")
        current = getattr(runs, slot)
        if current is None or EnvRuns.mean(summary) > EnvRuns.mean(current):
            setattr(runs, slot, summary)
    return by_env


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def write_report(run_dirs: list[Path], out: Path) -> Path:
    """Write ``out`` (markdown) and ``out`` with suffix ``-cost.png`` beside it; returns the PNG path."""
    by_env = collect(run_dirs)
    png = out.with_name(out.stem + "-cost.png")
    lines = [
        "# taskdistill report",
        "",
        "Returns are means over sampled-action evaluation episodes (distilled: fresh learners fitted in",
        "one step). Ratio = distilled / direct RL. Break-even = agents beyond which distilling once is",
        "cheaper than training each agent with RL.",
        "",
        "| environment | random | direct RL (PPO) | distilled | ratio | RL wall s | distill wall s "
        "| fit s/agent | break-even agents |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for runs in by_env.values():
        fit = runs.distill.get("fit_seconds_per_learner") if runs.distill else None
        lines.append(
            f"| {runs.label} | {_fmt(EnvRuns.mean(runs.random))} | {_fmt(EnvRuns.mean(runs.rl))} "
            f"| {_fmt(EnvRuns.mean(runs.distill))} | {_fmt(runs.ratio(), 2)} "
            f"| {_fmt(runs.rl['wall_seconds'] if runs.rl else None)} "
            f"| {_fmt(runs.distill['wall_seconds'] if runs.distill else None)} "
            f"| {'—' if fit is None else f'{fit:.2g}'} | {_fmt(runs.break_even())} |"
        )
    lines += [
        "",
        f"![cost curve]({png.name})",
        "",
        "Runs: " + ", ".join(s for r in by_env.values() for s in r.sources),
    ]
    plot_cost_curves(by_env, png)
    atomic_write(out, lambda f: f.write(("\n".join(lines) + "\n").encode()))
    return png


def plot_cost_curves(by_env: dict[str, EnvRuns], out: Path) -> None:
    """Figure 5: total wall time vs number of agents, RL (N × one training) vs distillation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    n = np.logspace(0, 6, 200)
    for runs in by_env.values():
        if runs.distill is None and runs.rl is None:
            continue
        color = None
        if runs.rl is not None:
            (line,) = ax.plot(n, n * runs.rl["wall_seconds"], "--", label=f"{runs.label}: direct RL")
            color = line.get_color()
        if runs.distill is not None:
            fit = runs.distill.get("fit_seconds_per_learner") or 0.0
            ax.plot(
                n,
                runs.distill["wall_seconds"] + n * fit,
                "-",
                color=color,
                label=f"{runs.label}: distillation",
            )
        be = runs.break_even()
        if be is not None:
            ax.plot([be], [be * runs.rl["wall_seconds"]], "o", color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("agents trained")
    ax.set_ylabel("total wall time (s)")
    ax.set_title("Cost of N agents: RL each vs distil once + 1 step each", fontsize=10)
    ax.text(0.99, 0.02, "dots: break-even", transform=ax.transAxes, ha="right", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
