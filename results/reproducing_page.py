"""Write ``docs/reproducing.md``, "Reproducing the paper", from the committed results.

Every number of ours on the page is read here from a committed JSON file under ``results/`` (or
the zoo's ``taskdistill_rl/zoo/index.json``), and every row names its source. Several seeds of one
configuration are reported as their median and range, never the best seed. The paper's numbers
are read from ``results/paper_numbers.toml``, typed in there from its text with the table and
section each comes from.

    .venv/bin/python results/reproducing_page.py           # rewrite docs/reproducing.md
    .venv/bin/python results/reproducing_page.py --check   # exit 1 if the page is out of date

``tests/test_docs_reference.py`` fails when the committed page differs from what this script
writes, so re-run it after changing any of the results it reads.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from functools import partial
from pathlib import Path

from taskdistill_rl.envs.families import family_of
from taskdistill_rl.learners import GRID_DEPTHS, GRID_WIDTHS  # Table 6's grid, as evaluate --grid
from taskdistill_rl.tables import Spread, markdown_table, number, plus_minus, write_page

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PAGE = Path("docs/reproducing.md")

# -- the paper's numbers, as data (each table with its source in the paper) -----------------------
PAPER = tomllib.loads((ROOT / "results/paper_numbers.toml").read_text())
PAPER_TABLE1 = {(row["n_dims"], row["k"]): row["cells"] for row in PAPER["table1"]["rows"]}
PAPER_BELOW_KMIN = {(row["n_dims"], row["k"]): row["value"] for row in PAPER["below_kmin"]["rows"]}
PAPER_TABLE6 = {grid["n_dims"]: grid["returns"] for grid in PAPER["table6"]["grids"]}
PAPER_MUJOCO = {row["env"]: row["cells"] for row in PAPER["table3"]["rows"]}
PAPER_RANDOM_CARTPOLE = dict(zip(PAPER["table8a"]["n_dims"], PAPER["table8a"]["cells"], strict=True))
DISTRIBUTIONS = PAPER["table1"]["learners"]  # our `--learners` name of each Table 1 column


def paper_lambda(n_dims: int, k: int) -> str:
    """The paper's Λ return for N-D cart-pole at k: Table 1, or §4.2's figure below k_min."""
    row = PAPER_TABLE1.get((n_dims, k))
    return row[0] if row else PAPER_BELOW_KMIN.get((n_dims, k), "—")


def paper_table6(n_dims: int, depth: int, width: int) -> float | None:
    """The paper's Table 6 return for L = ``depth`` hidden layers of width h = ``width``, if printed."""
    grid, table = PAPER_TABLE6.get(n_dims), PAPER["table6"]
    if grid is None or depth not in table["depths"] or width not in table["widths"]:
        return None
    return grid[table["depths"].index(depth)][table["widths"].index(width)]


def cited(value: str, table: str, detail: str = "") -> str:
    """``"8,042 ± 492 (Table 2)"``: a paper cell and how the page cites its ``table``."""
    return f"{value} ({PAPER[table]['cite']}{f', {detail}' if detail else ''})"


# -- where committed results came from, when their JSON does not say (from `git log`) -------------
KSHOT_PROVENANCE = (
    "Each file evaluated there is the distilled file of the run its name gives, from the issue-4 "
    "runs committed in `a04b3ff` (one initialisation per meta-epoch; those runs have since been "
    "re-run, and the zoo rebuilt). The evaluations were committed in `00abcf2` and `2ea7fd4`. The "
    "current zoo files have not been evaluated on all six distributions."
)
KMIN_PROVENANCE = (
    "Committed in `5c56bd2`, before issue 15 (one initialisation per meta-epoch, the inner lr on the "
    "distiller's Adam step size); one seed per k, not re-run since."
)


# -- reading ---------------------------------------------------------------------------------------
def load_json(path: Path) -> dict:
    return json.loads((ROOT / path).read_text())


def load_toml(path: Path) -> dict:
    return tomllib.loads((ROOT / path).read_text()) if (ROOT / path).is_file() else {}


def reproduce(summary: dict, name: str) -> list[str]:
    """The run's recorded command (none if it has not one), writing to ``runs/<name>``."""
    command = summary.get("reproduce")
    if not command:
        return []
    distills = command.startswith("taskdistill distill") and "scale-rewards" not in command
    if distills and family_of(summary["env"]).scales_rewards:
        # made before MuJoCo scaled rewards by default (issue 28), whose commands name it since
        command = command.replace(" --epochs ", " --no-scale-rewards --epochs ", 1)
    return [command.replace("--out OUT", f"--out runs/{name}")]


def commit(record: dict) -> str:
    sha = (record.get("versions") or {}).get("git_commit") or ""
    return f"`{sha[:7]}`" if sha else "—"


# -- formatting (numbers and tables as `taskdistill report` writes them; grouped thousands) --------
num = partial(number, grouping=True)
pm = partial(plus_minus, grouping=True)


def spread_of(entry: dict) -> float:
    """The paper's ±: the std over per-learner means; over episodes for a single agent."""
    return entry["learner_std"] if entry.get("n_learners", 1) > 1 else entry["std"]


def sizes(entries: list[dict]) -> str:
    """``"100 × 100"``: learners × episodes of evaluation results, each different size once."""
    return " / ".join(f"{n} × {e}" for n, e in sorted({(x["n_learners"], x["episodes"]) for x in entries}))


def span(values: list[float], fmt: str = "{:g}") -> str:
    low, high = min(values), max(values)
    return fmt.format(low) if low == high else f"{fmt.format(low)}–{fmt.format(high)}"


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def code(text: str) -> str:
    return f"`{text}`"


RULES = {"sample": "sampled", "deterministic": "argmax / mean (`--deterministic`)"}


def rule(names: set[str]) -> str:
    return ", ".join(RULES.get(name, name) for name in sorted(names))


def kmin_of(n_dims: int) -> int:
    return math.ceil(2 * n_dims / 2) + 1  # Eq. 3 with c = 2N actions


CODE_WIDTH = 80  # characters a code block shows without scrolling (docs/stylesheets/extra.css)
_TOKEN = re.compile(r"\"[^\"]*\"|'[^']*'|\S+")


def shell(commands: list[str]) -> str:
    lines = [wrapped for command in commands for wrapped in wrap_command(command)]
    return "```bash\n" + "\n".join(lines) + "\n```"


def wrap_command(command: str, width: int = CODE_WIDTH) -> list[str]:
    """``command`` as lines of at most ``width`` characters where its words allow: a trailing
    ``# comment`` goes on its own line above, and the command breaks before an option (an option
    stays with its values), each continuation ending in `` \\`` and indented by 4."""
    if len(command) <= width:
        return [command]
    code, _, comment = command.partition("  # ")
    lines = [f"# {comment.strip()}"] if comment else []
    groups: list[list[str]] = []
    for token in _TOKEN.findall(code):
        if groups and not token.startswith("-"):
            groups[-1].append(token)
        else:
            groups.append([token])
    line = " ".join(groups[0])
    for group in groups[1:]:
        piece = " ".join(group)
        if len(line) + len(piece) + 3 <= width:
            line += " " + piece
        else:
            lines.append(line + " \\")
            line = "    " + piece
    return [*lines, line]


# -- sections --------------------------------------------------------------------------------------
RUN_NAME = re.compile(r"^(\d+)d-k(\d+)-s(\d+)$")


def ppmo_runs() -> dict[tuple[int, int], list[dict]]:
    """``{(n_dims, k): [run, ...]}`` for ``results/ppmo/<N>d-k<k>-s<seed>/``, seeds in order."""
    groups: dict[tuple[int, int], list[dict]] = {}
    for run_dir in sorted((ROOT / "results/ppmo").iterdir()):
        match = RUN_NAME.match(run_dir.name)
        if not match or not (run_dir / "eval.json").is_file():
            continue
        rel = run_dir.relative_to(ROOT)
        n_dims, k, seed = map(int, match.groups())
        evaluation = load_json(rel / "eval.json")
        run = {
            "name": run_dir.name,
            "seed": seed,
            "eval": evaluation,
            "summary": load_json(rel / "summary.json"),
            "config": load_toml(rel / "config.toml"),
            "robustness": load_json(rel / "robustness.json")
            if (run_dir / "robustness.json").is_file()
            else None,
        }
        groups.setdefault((n_dims, k), []).append(run)
    return dict(sorted(groups.items()))


def lambda_section() -> str:
    groups = ppmo_runs()
    rows, commands, rules, stale = [], [], set(), []
    for (n_dims, k), runs in groups.items():
        means = [r["eval"]["results"]["lambda"]["mean"] for r in runs]
        rules |= {r["eval"]["action_rule"] for r in runs}
        budgets = [r["config"].get("time_budget") for r in runs if r["config"].get("time_budget")]
        epochs = [r["summary"]["meta_epochs"] for r in runs]
        tails = []
        for r in runs:
            rob = r["robustness"]
            if rob is None:
                continue
            if abs(rob["mean_100x100"] - r["eval"]["results"]["lambda"]["mean"]) > 1e-6:
                stale.append(r["name"])  # robustness.json was measured on an earlier file of this run
                continue
            tails.append((r["seed"], rob["p01"]))
        tail = (
            f"{num(statistics.median(p for _, p in tails))} ({'; '.join(f's{s} {num(p)}' for s, p in tails)})"
            if tails
            else "—"
        )
        below = k < kmin_of(n_dims)
        paper = paper_lambda(n_dims, k)
        label = f"{n_dims}D, k={k}" + (f" (below k_min = {kmin_of(n_dims)})" if below else "")
        commits = sorted({commit(r["summary"]) for r in runs})
        rows.append(
            [
                label,
                paper,
                Spread.of(means).format(runs=False, grouping=True),
                ", ".join(str(r["seed"]) for r in runs),
                sizes([r["eval"]["results"]["lambda"] for r in runs]),
                f"{span(budgets)} s" if budgets else "—",
                span(epochs),
                tail,
                ", ".join(commits),
                code(f"results/ppmo/{n_dims}d-k{k}-s*/"),
            ]
        )
        commands += [command for r in runs for command in reproduce(r["summary"], r["name"])]
    header = [
        "N, k",
        "paper (Λ)",
        "ours: median (range) over seeds",
        "seeds",
        "learners × episodes",
        "time budget",
        "meta-epochs",
        "p01 of 3,000 learners: median (per seed)",
        "code",
        "source",
    ]
    stale_note = (
        f" Stale tails left out: the `robustness.json` of {', '.join(code(s) for s in stale)} was "
        "measured on an earlier file of that run (its `mean_100x100` is not the run's `eval.json` mean)."
        if stale
        else ""
    )
    return f"""## Table 1, Λ column: ND cart-pole at k_min

A fresh learner from Λ, fitted in one SGD step on the file, plays ND cart-pole (500 at most).
Paper: Table 1's Λ column (100 learners × 100 episodes, mean ± std over learners) at k = k_min;
below k_min, §4.2's 2D k=2 figure. Ours: each seed's file scored by its `distill` run's final
evaluation (`eval.json`, the mean over learners × episodes), then the median and range over the
seeds. Actions: {rule(rules)}. Tail: 3,000 fresh learners × 3 sampled episodes per file
(`robustness.json`, `results/ppmo/robustness.py`), its 1st percentile of per-learner means.{stale_note}
`code` is the commit each `summary.json` records. The runs used the `fast` preset, two at a time
with one thread each on a 2-core CPU (`results/ppmo/run_must_show.sh`), so the meta-epochs reached
in a time budget depend on the machine's load.

{markdown_table(header, rows)}

Each `summary.json` holds the `--epochs` command that gives the same tensors on any machine:

{shell(commands)}
"""


def kshot_section() -> str:
    rows, rules, commands = [], set(), []
    for path in sorted((ROOT / "results/kshot").glob("*-all.json")):
        match = re.match(r"^(\d+)d-k(\d+)-s(\d+)-all\.json$", path.name)
        if not match:
            continue
        n_dims, k, _ = map(int, match.groups())
        data = load_json(path.relative_to(ROOT))
        rules.add(data["action_rule"])
        results = data["results"]
        source = code(str(path.relative_to(ROOT)))
        paper = PAPER_TABLE1.get((n_dims, k))
        if paper:
            rows.append([f"paper, {n_dims}D {k}-shot", *paper, PAPER["table1"]["cite"]])
        cells = [
            pm(results[d]["mean"], spread_of(results[d])) if d in results else "—" for d in DISTRIBUTIONS
        ]
        size = sizes([results[d] for d in DISTRIBUTIONS if d in results])
        label = f"**ours**, {n_dims}D k={k}, run {path.name.removesuffix('-all.json')} ({size})"
        if not paper:
            label += f"; the paper has no {n_dims}D {k}-shot row"
        rows.append([label, *cells, source])
    commands.append("taskdistill evaluate zoo:ndcartpole-1d --learners all --seed 0 --out runs/1d-all.json")
    commands.append("taskdistill evaluate zoo:ndcartpole-2d --learners all --seed 0 --out runs/2d-all.json")
    names = zip(PAPER["table1"]["columns"], DISTRIBUTIONS, strict=True)
    header = ["", *(f"{name} (`{d}`)" for name, d in names)]
    return f"""## Table 1, all learner distributions

The same file fitted into learners from other distributions
([k-shot learning](kshot.md#learner-distributions)). Mean ± std over the learners' mean returns
(the paper's ±), one file each; actions: {rule(rules)}.
{KSHOT_PROVENANCE}

{markdown_table([*header, "source"], rows)}

The same table for the files shipped today:

{shell(commands)}
"""


def grid_section() -> str:
    found = []
    for path in sorted((ROOT / "results/kshot").glob("*.json")):
        data = load_json(path.relative_to(ROOT))
        grid = {name: v for name, v in data.get("results", {}).items() if re.fullmatch(r"\d+x\d+", name)}
        if grid:
            found.append((path, data, grid))
    intro = """## Table 6: hidden layers L × width h

Learners of L hidden layers of width h with Λ's initialisation (`LxH` distributions), fitted on the
k_min file; mean return over 100 learners × 100 episodes per cell."""
    if not found:
        commands = [
            f"taskdistill evaluate zoo:ndcartpole-{n}d --grid --seed 0 --out runs/{n}d-grid.json"
            for n in (1, 2)
        ]
        return f"""{intro}

No grid evaluation is committed under `results/kshot/` yet, so this page has no numbers of ours for
Table 6; the paper's grids are in its appendix D. When a `results/kshot/*.json` written by
`--grid` is committed, this section shows it beside the paper's grid for the same N. The commands:

{shell(commands)}
"""
    parts = [intro, ""]
    for path, data, grid in found:
        n_dims = data["env_kwargs"].get("n_dims", 1)
        rows = []
        for depth in GRID_DEPTHS:
            cells = []
            for width in GRID_WIDTHS:
                ours, paper = grid.get(f"{depth}x{width}"), paper_table6(n_dims, depth, width)
                mine = num(ours["mean"]) if ours else "—"
                cells.append(f"{mine} ({num(paper)})" if paper is not None else mine)
            rows.append([f"L={depth}", *cells, code(str(path.relative_to(ROOT)))])
        parts += [
            f"{n_dims}D, k={data['k']}, actions {rule({data['action_rule']})}: ours (paper Table 6)",
            "",
            markdown_table(["", *(f"h={w}" for w in GRID_WIDTHS), "source"], rows),
            "",
        ]
    return "\n".join(parts)


def kmin_section() -> str:
    parts = [
        "## Minimum distillation size k_min",
        "",
        "`taskdistill kmin` distils at each k with the same time budget and seed, and evaluates each file "
        "with its run's final evaluation (100 fresh learners × 100 episodes, sampled actions: a `distill` "
        "run's final evaluation always samples). \"Learns\": mean ≥ 50% of the best k's and ≥ 3× the "
        f"uniform-random agent's. {KMIN_PROVENANCE} The 3-seed runs below k_min under issue 15's code "
        "are the `(below k_min)` rows of the Λ table above.",
        "",
    ]
    for path in sorted((ROOT / "results/kmin").glob("*/kmin.json")):
        rel = path.relative_to(ROOT)
        data = load_json(rel)
        config = load_toml(rel.parent / "config.toml")
        n_dims = data["env_kwargs"].get("n_dims", 1)
        rows = []
        for key, r in sorted(data["results"].items(), key=lambda item: int(item[0])):
            k = int(key)
            paper = paper_lambda(n_dims, k)
            rows.append(
                [
                    f"k={k}" + (" (k_min)" if k == data["predicted_k_min"] else ""),
                    paper,
                    pm(r["mean"], r["learner_std"]),
                    "yes" if r["learns"] else "no",
                    str(r["meta_epochs"]),
                    f"{r['wall_seconds']:.0f} s",
                    code(str(rel)),
                ]
            )
        ks = ",".join(str(k) for k in config.get("k", []))
        command = (
            f"taskdistill kmin --env {data['env_id']} --env-kwargs n_dims={n_dims} --k {ks} "
            f"--time-budget {config.get('time_budget', 60):g} --seed {config.get('seed', 0)} "
            f"--out runs/kmin{n_dims}d"
        )
        starts = data["learning_starts_at"]
        parts += [
            f"### {n_dims}D (c = {2 * n_dims} actions, Eq. 3: k_min = {data['predicted_k_min']})",
            "",
            f"Uniform-random agent: {num(data['random_mean'])}. Learning starts at "
            f"k = {starts}"
            + (" (below k_min)." if starts is not None and starts < data["predicted_k_min"] else "."),
            "",
            markdown_table(
                [
                    "k",
                    "paper (Λ)",
                    "ours: mean ± std over learners",
                    "learns",
                    "meta-epochs",
                    "wall time",
                    "source",
                ],
                rows,
            ),
            "",
            shell([command]),
            "",
        ]
    return "\n".join(parts)


def parse_random_column(path: Path) -> dict[str, str]:
    """``{env_id: random return}`` from the table ``benchmarks/bench_mujoco.py`` printed."""
    out = {}
    for line in (ROOT / path).read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[0].endswith("-v5"):
            out[cells[0]] = cells[1]
    return out


def mujoco_section() -> str:
    bench = Path("results/mujoco/bench_mujoco_norm_20min.txt")
    random_returns = parse_random_column(bench)
    rows, commands, rules = [], [], set()
    for summary_path in sorted((ROOT / "results/mujoco").glob("*/summary.json")):
        rel = summary_path.parent.relative_to(ROOT)
        summary, evaluation = load_json(rel / "summary.json"), load_json(rel / "eval.json")
        config = load_toml(rel / "config.toml")
        env_id = evaluation["env_id"]
        family = env_id.split("-v")[0]
        entry = next(iter(evaluation["results"].values()))
        rules.add(evaluation["action_rule"])
        paper = PAPER_MUJOCO.get(family, ("—", "—", "—"))
        rows.append(
            [
                env_id,
                "on" if config.get("normalize_obs") else "off",
                f"{duration(summary['wall_seconds'])}, {summary['meta_epochs']} meta-epochs",
                f"{pm(entry['mean'], spread_of(entry))} ({sizes([entry])})",
                random_returns.get(env_id, "—"),
                *paper,
                commit(summary),
                code(f"{rel}/"),
            ]
        )
        commands += reproduce(summary, rel.name)
    not_run = sorted(set(PAPER_MUJOCO) - {r[0].split("-v")[0] for r in rows})
    header = [
        "env",
        "obs. normalisation",
        "our run (one thread, 2-core CPU)",
        "ours: distilled (learners × episodes)",
        "ours: random",
        "paper: random",
        "paper: RL",
        "paper: distilled",
        "code",
        "source",
    ]
    return f"""## MuJoCo (paper Table 3)

k = 64, one seed per row; ours on gymnasium's `-v5` environments, the paper's on `-v4` after 24 h
on 4 GPUs (5 distillations). Ours: mean ± std over the fresh learners' mean returns, actions
{rule(rules)} (Gaussian with the file's log-std). Our random agent: 100 uniform-random episodes
(`{bench}`). Paper: mean ± std as printed in Table 3. Not run here: {", ".join(not_run)}.

{markdown_table(header, rows)}

{shell(commands)}
"""


def game_score(entry: dict) -> str:
    """``"mean ± std (learners × games)"``; for a single agent ``"mean ± std (N games)"``."""
    n, games = entry["n_learners"], entry["episodes"]
    return f"{pm(entry['mean'], spread_of(entry))} ({f'{n} × {games}' if n > 1 else f'{games} games'})"


def atari_section() -> str:
    published = Path("results/atari/centipede_published.json")
    centipede = load_json(published)
    table2, random = PAPER["table2"]["cells"], PAPER["table8b"]["cells"]
    rows = [
        [label, game_score(centipede[key]), paper, code(str(published))]
        for key, label, paper in (
            (
                "l0",
                "Centipede, authors' file `l = 0` (full distillation), k = 10",
                cited(table2["Centipede"]["l = 0"], "table2"),
            ),
            (
                "l1",
                "Centipede, authors' file `l = 1` + encoder, k = 10",
                cited(table2["Centipede"]["l = 1"], "table2"),
            ),
            ("random", "Centipede, uniform-random agent", cited(random["Centipede"], "table8b")),
        )
    ]
    pong = [
        (
            "pong-l4-ppmo",
            "Pong (`ALE/Pong-v5`), PPMO `l = 4`, 30 min on CPU",
            cited(table2["Pong"]["l = 4"], "table2", "`l = 4`"),
        ),
        ("pong-sb3-ppo", "Pong, SB3 PPO, 30 min on CPU", cited(table2["Pong"]["RL"], "table2", "RL")),
        ("pong-random", "Pong, uniform-random agent", cited(random["Pong"], "table8b")),
    ]
    rules = {"sample"}
    commands = [
        "python results/atari/centipede_published.py AUTHORS_DIR  # the authors' distilled_envs/ folder",
    ]
    for name, label, paper in pong:
        rel = Path("results/atari") / name
        summary, evaluation = load_json(rel / "summary.json"), load_json(rel / "eval.json")
        rules.add(evaluation["action_rule"])
        score = game_score(next(iter(evaluation["results"].values())))
        detail = f", {summary['meta_epochs']} meta-epochs" if summary.get("meta_epochs") else ""
        rows.append([f"{label}{detail}", score, paper, code(f"{rel}/")])
        commands += reproduce(summary, name)
        if not summary.get("reproduce"):
            config = load_toml(rel / "config.toml")
            budget = f" --time-budget {config['time_budget']:g}" if config.get("time_budget") else ""
            commands.append(
                f"taskdistill baseline --algo {config['algo']} --env {config['env']}{budget} "
                f"--episodes {config['episodes']} --seed {config['seed']} --out runs/{name}"
            )
    return f"""## Atari (paper Tables 2 and 8b)

Raw game scores over full games, actions {rule(rules)}. ±: the std over per-learner means, or
over games for a single agent. Centipede: the paper authors' published files, imported with
`taskdistill import` and played on `CentipedeNoFrameskip-v4` (20 fresh Nature-CNN learners × 5
games). Pong: our own 30-minute CPU runs, which stay at random play; the paper's Pong `l = 4`
took about 17,000 meta-epochs on 6 GPUs. More in [Atari](atari.md).

{markdown_table(["row", "ours", "paper", "source"], rows)}

{shell(commands)}
"""


def imported_and_random_section() -> str:
    rel = Path("results/imported/ndcartpole-2d-k3-eval.json")
    data = load_json(rel)
    e = data["results"]["lambda"]
    rows = [
        [
            "2D cart-pole, authors' file `distiller_sd_2dcp_b3.pt` (k = 3), imported",
            f"{pm(e['mean'], spread_of(e))} ({sizes([e])}, {rule({data['action_rule']})})",
            cited(PAPER_TABLE1[(2, 3)][0], "table1", "2D 3-shot Λ"),
            code(str(rel)),
        ]
    ]
    commands = [
        "taskdistill import distiller_sd_2dcp_b3.pt --env NDCartPole-v0 --env-kwargs n_dims=2 --out cp2d.pt",
        f"taskdistill evaluate cp2d.pt --seed {data['seed']} --out runs/ndcartpole-2d-k3-eval.json",
    ]
    for run_dir in sorted((ROOT / "results/report/baselines").glob("random*d")):
        rel_dir = run_dir.relative_to(ROOT)
        evaluation = load_json(rel_dir / "eval.json")
        config = load_toml(rel_dir / "config.toml")
        n_dims = evaluation["env_kwargs"].get("n_dims", 1)
        r = evaluation["results"]["random"]
        rows.append(
            [
                f"{n_dims}D cart-pole, uniform-random agent",
                f"{pm(r['mean'], r['std'])} ({r['episodes']} episodes)",
                cited(PAPER_RANDOM_CARTPOLE[n_dims], "table8a"),
                code(f"{rel_dir}/eval.json"),
            ]
        )
        commands.append(
            f"taskdistill baseline --env {config['env']} --env-kwargs n_dims={n_dims} --algo random "
            f"--episodes {config['episodes']} --seed {config['seed']} --out runs/{run_dir.name}"
        )
    return f"""## The authors' 2D file and the random agents

The published 2D cart-pole file, converted by `taskdistill import` and scored by our evaluation,
lands on the paper's number: our pipeline reads their files as they were meant. The random agents
set the floor every table above is read against.

{markdown_table(["row", "ours", "paper", "source"], rows)}

{shell(commands)}
"""


def zoo_section() -> str:
    rel = Path("taskdistill_rl/zoo/index.json")
    index = load_json(rel)
    rows = []
    for name, entry in index.items():
        n_dims, k = entry["env_kwargs"].get("n_dims", 1), entry["k"]
        e = entry["evaluation"]
        paper = paper_lambda(n_dims, k)
        p01 = entry.get("learner_p01")
        rows.append(
            [
                f"`zoo:{name}`",
                str(k),
                paper,
                f"{pm(e['mean'], e['learner_std'])} ({sizes([e])}, "
                f"{rule({entry['action_rule']})}, seed {entry['eval_seed']})",
                num(p01),
                f"`{entry['command']}`",
                code(str(rel)),
            ]
        )
    header = ["file", "k", "paper (Λ)", "stored evaluation", "p01 of 3,000 learners", "command", "source"]
    return f"""## The zoo

The files shipped in the package (`taskdistill zoo list`), each the run of its N picked by the
highest 1st percentile over 3,000 fresh learners (`results/ppmo/build_zoo.py`: a pick, so these
are not a seed median; the Λ table above has those).

{markdown_table(header, rows)}
"""


def render() -> str:
    sections = [
        lambda_section(),
        kshot_section(),
        grid_section(),
        kmin_section(),
        mujoco_section(),
        atari_section(),
        imported_and_random_section(),
        zoo_section(),
    ]
    head = """# Reproducing the paper

<!-- Generated by results/reproducing_page.py from the committed results; do not edit by hand. -->

Our numbers beside those of *Distilling Reinforcement Learning into Single-Batch Datasets*
(Wilhelm & Ventura, arXiv 2508.09283), with the command behind each row and the file it was read
from. This page is written by `results/reproducing_page.py` from the JSON files under `results/`
and `taskdistill_rl/zoo/index.json`; a test fails when it differs from what the script writes.

How to read it:

- **Action rule.** Every number here comes from learners that *sample* their actions, as in the
  paper, unless a table says otherwise. Acting by argmax (`--deterministic`) is a different
  measurement ([Concepts](concepts.md#evaluation-protocol)).
- **Seeds.** Several seeds of one configuration are reported as their median and range, never as
  the best seed. The paper's ± is the std over learners; so is ours unless a table says otherwise.
- **Budget.** Our runs are minutes on a 2-core CPU; the paper's are hours on GPUs. A time-budgeted
  run's `--epochs` command gives the same tensors on any machine.
"""
    return head + "\n" + "\n".join(sections).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    args = parser.parse_args()
    return write_page(ROOT / PAGE, render(), check=args.check, script="results/reproducing_page.py")


if __name__ == "__main__":
    sys.exit(main())
