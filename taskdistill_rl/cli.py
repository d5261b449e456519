"""``taskdistill``: the command-line interface (typer). Parses options, then calls the library."""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
import typer
from rich.console import Console
from rich.table import Table

from taskdistill_rl import __version__
from taskdistill_rl.errors import TaskDistillError

app = typer.Typer(
    name="taskdistill",
    help="Distil a reinforcement-learning environment into one tiny batch of synthetic data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


# -- shared options ------------------------------------------------------------------------------
def _load_config(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """``--config FILE.toml``: its keys become the command's defaults (command-line flags win)."""
    if value is None:
        return None
    if not value.is_file():
        raise typer.BadParameter(f"config file {str(value)!r} does not exist")
    try:
        data = tomllib.loads(value.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise typer.BadParameter(f"config file {str(value)!r} is not valid TOML: {err}") from err
    known = {p.name for p in ctx.command.params}
    data = {k.replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise typer.BadParameter(f"unknown keys in {value}: {', '.join(unknown)}")
    if isinstance(data.get("env_kwargs"), dict):
        data["env_kwargs"] = [f"{k}={v!r}" for k, v in data["env_kwargs"].items()]
    ctx.default_map = {**(ctx.default_map or {}), **data}
    return value


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file whose keys set any option.",
        is_eager=True,
        callback=_load_config,
        dir_okay=False,
    ),
]
EnvOpt = Annotated[str, typer.Option("--env", help="Environment id, e.g. NDCartPole-v0, CartPole-v1.")]
EnvKwargsOpt = Annotated[
    list[str] | None,
    typer.Option("--env-kwargs", help="Environment constructor argument key=value (repeatable)."),
]
SeedOpt = Annotated[int, typer.Option(help="Random seed (runs are reproducible).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables.")]


def parse_env_kwargs(items: list[str] | None) -> dict[str, Any]:
    """``["n_dims=2", "mode='x'"]`` -> ``{"n_dims": 2, "mode": "x"}`` (Python literals, else str)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--env-kwargs expects key=value, got {item!r}")
        try:
            out[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = raw.strip()
    return out


def prepare_out_dir(out: Path) -> Path:
    """Create ``out`` (and parents) or fail with one clear message if it cannot be written."""
    if out.exists() and not out.is_dir():
        raise TaskDistillError(f"--out {str(out)!r} exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TaskDistillError(f"cannot create --out directory {str(out)!r}: {err.strerror}") from err
    if not os.access(out, os.W_OK):
        raise TaskDistillError(f"--out directory {str(out)!r} is not writable")
    return out


def results_entry(returns, *, n_learners: int = 1, episodes: int | None = None) -> dict[str, float | int]:
    """The per-distribution block of ``eval.json`` (DESIGN.md): mean/std over all episodes."""
    import torch

    returns = torch.as_tensor(returns, dtype=torch.float64).reshape(n_learners, -1)
    flat = returns.reshape(-1)
    per_learner = returns.mean(1)
    return {
        "mean": float(flat.mean()),
        "std": float(flat.std(unbiased=False)),
        "learner_std": float(per_learner.std(unbiased=False)),
        "n_learners": n_learners,
        "episodes": int(returns.shape[1] if episodes is None else episodes),
    }


def print_results(title: str, results: dict[str, dict], quiet: bool) -> None:
    if quiet:
        return
    table = Table(title=title)
    for col in ("distribution", "mean ± std", "learner std", "learners × episodes"):
        table.add_column(col)
    for name, r in results.items():
        table.add_row(
            name,
            f"{r['mean']:.1f} ± {r['std']:.1f}",
            f"{r['learner_std']:.1f}",
            f"{r['n_learners']} × {r['episodes']}",
        )
    console.print(table)


# -- commands ------------------------------------------------------------------------------------
def _version(value: bool) -> None:
    if value:
        console.print(f"taskdistill_rl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Distil a reinforcement-learning environment into one tiny batch of synthetic data."""


@app.command()
def baseline(
    env: EnvOpt = "NDCartPole-v0",
    env_kwargs: EnvKwargsOpt = None,
    algo: Annotated[str, typer.Option(help="Baseline algorithm: random (uniform-random agent).")] = "random",
    episodes: Annotated[int, typer.Option(min=1, help="Evaluation episodes, stepped together.")] = 100,
    seed: SeedOpt = 0,
    out: Annotated[Path | None, typer.Option(help="Directory for summary.json and config.toml.")] = None,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Evaluate a baseline agent (the paper's Table 8 random agent) and print its return."""
    from taskdistill_rl.baselines import random_agent_returns
    from taskdistill_rl.io import write_json, write_toml

    if algo != "random":
        raise TaskDistillError(f"--algo must be 'random', got {algo!r}")
    kwargs = parse_env_kwargs(env_kwargs)
    out_dir = prepare_out_dir(out) if out is not None else None
    start = time.perf_counter()
    returns = random_agent_returns(env, episodes=episodes, seed=seed, env_kwargs=kwargs)
    wall = time.perf_counter() - start
    evaluation = {
        "env_id": env,
        "env_kwargs": kwargs,
        "k": None,
        "seed": seed,
        "action_rule": "sample",
        "results": {"random": results_entry(returns, episodes=episodes)},
    }
    print_results(f"{env} {kwargs or ''} uniform-random agent", evaluation["results"], quiet)
    if out_dir is not None:
        resolved = {
            "command": "baseline",
            "env": env,
            "env_kwargs": kwargs,
            "algo": algo,
            "episodes": episodes,
            "seed": seed,
        }
        write_toml(out_dir / "config.toml", resolved)
        write_json(
            out_dir / "summary.json",
            {
                "kind": f"baseline-{algo}",
                "env": env,
                "wall_seconds": wall,
                "env_frames": int(returns.sum()),
                "evaluation": evaluation,
                "fit_seconds_per_learner": None,
            },
        )


# -- entry point ---------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Console-script entry: library errors become one line on stderr and exit code 1."""
    try:
        app(args=argv, prog_name="taskdistill", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("taskdistill: aborted", file=sys.stderr)
        return 130
    except typer.TyperException as exc:  # usage errors (typer vendors click's ClickException)
        exc.show()
        return getattr(exc, "exit_code", 2)
    except (TaskDistillError, ValueError, TypeError, KeyError, FileNotFoundError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"taskdistill: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
