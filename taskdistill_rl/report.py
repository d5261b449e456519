"""``taskdistill report``: random vs direct RL vs distilled, distillation ratio and cost curve.

Reads only the ``summary.json`` of each run directory, groups runs by environment and kind, and
writes a markdown report plus the paper's Figure-5 cost curve: total wall time to obtain N agents
by direct RL (N trainings) vs by distillation (one distillation, then one SGD step per agent).

Several runs of one kind (seeds) are summarised, never filtered: every cell is the median over
the runs with their range (min–max) and count, and the ratio and break-even are computed from the
medians. A break-even is only a fair comparison when both routes give equally good agents, so when
the distilled median return is below :data:`EQUIVALENT_RETURN` × the RL median, the break-even is
still printed but flagged with a footnote that gives the return ratio.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from taskdistill_rl.errors import TaskDistillError
from taskdistill_rl.io import atomic_write
from taskdistill_rl.tables import Spread, markdown_table, number

EQUIVALENT_RETURN = 0.9
"""Distilled / RL median return below which the two routes' agents are called not equivalent and
the break-even is flagged (a cheaper but clearly worse agent is not a saving)."""

_SLOTS = {"distill": "distill", "baseline-ppo": "rl", "baseline-random": "random"}


def _mean_return(summary: dict) -> float:
    return next(iter(summary["evaluation"]["results"].values()))["mean"]


@dataclass
class EnvRuns:
    """Every run of one environment, by kind: ``distill``, ``rl`` (SB3 PPO) and ``random``."""

    label: str
    distill: list[dict] = field(default_factory=list)
    rl: list[dict] = field(default_factory=list)
    random: list[dict] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def returns(self, kind: str) -> Spread | None:
        """Mean evaluation return of the runs of ``kind``: median, range, count."""
        return Spread.of([_mean_return(s) for s in getattr(self, kind)])

    def wall_seconds(self, kind: str) -> Spread | None:
        return Spread.of([s["wall_seconds"] for s in getattr(self, kind)])

    def fit_seconds(self) -> Spread | None:
        """Seconds to fit one agent from the distilled file (the runs that measured it)."""
        return Spread.of(
            [
                s["fit_seconds_per_learner"]
                for s in self.distill
                if s.get("fit_seconds_per_learner") is not None
            ]
        )

    def ratio(self) -> float | None:
        """Distillation ratio (Sucholutsky & Schonlau) of the medians: distilled / direct-RL return."""
        distilled, rl = self.returns("distill"), self.returns("rl")
        return None if distilled is None or rl is None or not rl.median else distilled.median / rl.median

    def equivalent(self) -> bool | None:
        """Whether distilled agents are as good as RL ones (ratio >= :data:`EQUIVALENT_RETURN`)."""
        ratio = self.ratio()
        return None if ratio is None else ratio >= EQUIVALENT_RETURN

    def break_even(self) -> float | None:
        """Agents beyond which distilling once and fitting each agent is cheaper than RL per agent,
        from the median wall times; ``None`` when a kind is missing or RL is never slower."""
        distill, rl = self.wall_seconds("distill"), self.wall_seconds("rl")
        if distill is None or rl is None:
            return None
        fit = self.fit_seconds()
        per_agent_saving = rl.median - (fit.median if fit is not None else 0.0)
        return None if per_agent_saving <= 0 else distill.median / per_agent_saving


def env_label(summary: dict) -> str:
    kwargs = summary.get("env_kwargs") or summary.get("evaluation", {}).get("env_kwargs") or {}
    if summary["env"] == "NDCartPole-v0":
        return f"NDCartPole-v0 {kwargs.get('n_dims', 1)}D"
    return summary["env"] + (f" {kwargs}" if kwargs else "")


def collect(run_dirs: list[Path]) -> dict[str, EnvRuns]:
    """Group every run's summary by environment and kind; a missing or unreadable summary is an error."""
    by_env: dict[str, EnvRuns] = {}
    for run in run_dirs:
        path = Path(run) / "summary.json"
        if not path.is_file():
            raise TaskDistillError(f"{run}: no summary.json (is it a distill or baseline run directory?)")
        try:
            summary = json.loads(path.read_text())
            kind = summary["kind"]
            label = env_label(summary)
            _mean_return(summary)
            float(summary["wall_seconds"])
        except (json.JSONDecodeError, KeyError, TypeError, StopIteration, ValueError) as err:
            raise TaskDistillError(f"{path}: not a taskdistill summary ({err!r})") from err
        slot = _SLOTS.get(kind)
        if slot is None:
            raise TaskDistillError(f"{path}: unknown run kind {kind!r}; expected one of {', '.join(_SLOTS)}")
        runs = by_env.setdefault(label, EnvRuns(label))
        runs.sources.append(str(run))
        getattr(runs, slot).append(summary)
    return by_env


def _cell(spread: Spread | None, digits: int = 1, spec: str = "f") -> str:
    return "—" if spread is None else spread.format(digits, spec)


def write_report(run_dirs: list[Path], out: Path) -> Path:
    """Write ``out`` (markdown) and ``out`` with suffix ``-cost.png`` beside it; returns the PNG path.

    Cells are medians over the runs of each kind with their range and count; ratio and break-even
    use the medians; a break-even whose distilled median return is below
    :data:`EQUIVALENT_RETURN` × the RL median is flagged with a footnote.
    """
    by_env = collect(run_dirs)
    png = out.with_name(out.stem + "-cost.png")
    lines = [
        "# taskdistill report",
        "",
        "Returns are means over sampled-action evaluation episodes (distilled: fresh learners fitted in",
        "one step). Every cell is the median over the runs of that kind for that environment, with",
        "the range (min–max) and the number of runs in parentheses; no run is dropped. Wall times",
        "likewise. Ratio = median distilled return / median direct-RL return. Break-even = agents",
        "beyond which distilling once is cheaper than training each agent with RL, from the median",
        "wall times. It assumes equally good agents: when the distilled median return is below",
        f"{EQUIVALENT_RETURN:.0%} of the RL median, the break-even is flagged (†) with a footnote.",
    ]
    header = ["environment", "random", "direct RL (PPO)", "distilled", "ratio"]
    header += ["RL wall s", "distill wall s", "fit s/agent", "break-even agents"]
    rows, footnotes = [], []
    for runs in by_env.values():
        break_even = number(runs.break_even())
        if runs.break_even() is not None and runs.equivalent() is False:
            break_even += " †"
            footnotes.append(
                f"† {runs.label}: distilled return is {runs.ratio():.0%} of RL's (below "
                f"{EQUIVALENT_RETURN:.0%}): agents are not equivalent, so this break-even compares a "
                "cheaper but worse agent with the RL one."
            )
        returns = [_cell(runs.returns(kind)) for kind in ("random", "rl", "distill")]
        walls = [_cell(runs.wall_seconds(kind)) for kind in ("rl", "distill")]
        fit = _cell(runs.fit_seconds(), 2, "g")
        rows.append([runs.label, *returns, number(runs.ratio(), 2), *walls, fit, break_even])
    lines += ["", markdown_table(header, rows)]
    if footnotes:
        lines += ["", *footnotes]
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
    """Figure 5: total wall time vs number of agents, RL (N × one training) vs distillation,
    from the median wall times of each kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    n = np.logspace(0, 6, 200)
    for runs in by_env.values():
        rl, distill = runs.wall_seconds("rl"), runs.wall_seconds("distill")
        if distill is None and rl is None:
            continue
        color = None
        if rl is not None:
            (line,) = ax.plot(n, n * rl.median, "--", label=f"{runs.label}: direct RL")
            color = line.get_color()
        if distill is not None:
            fit = runs.fit_seconds()
            ax.plot(
                n,
                distill.median + n * (fit.median if fit is not None else 0.0),
                "-",
                color=color,
                label=f"{runs.label}: distillation",
            )
        be = runs.break_even()
        if be is not None:
            marker = "o" if runs.equivalent() else "x"  # x: agents not equivalent (see the report)
            ax.plot([be], [be * rl.median], marker, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("agents trained")
    ax.set_ylabel("total wall time (s), median over runs")
    has_rl = any(runs.wall_seconds("rl") is not None for runs in by_env.values())
    has_break_even = any(runs.break_even() is not None for runs in by_env.values())
    title = (
        "Cost of N agents: RL each vs distil once + 1 step each"
        if has_rl
        else ("Cost of N agents by distillation (no direct-RL run given to compare with)")
    )
    ax.set_title(title, fontsize=10)
    if has_break_even:  # only promise markers that are drawn
        ax.text(
            0.99,
            0.02,
            "o: break-even; x: break-even of non-equivalent agents",
            transform=ax.transAxes,
            ha="right",
            fontsize=8,
        )
    ax.legend(fontsize=7)
    fig.tight_layout()
    atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
