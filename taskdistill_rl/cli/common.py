"""What every ``taskdistill`` command shares: the typer app, the options, ``--config`` files, the
run config writer and the printing helpers."""

from __future__ import annotations

import ast
import os
import sys
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
from taskdistill_rl.io import write_toml
from taskdistill_rl.results import (
    run_metadata,
)

app = typer.Typer(
    name="taskdistill",
    help="Distil a reinforcement-learning environment into one tiny batch of synthetic data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
    rich_markup_mode=None,  # plain help: descriptions get the width, no <bool> type column
)
console = Console()


# -- shared options ------------------------------------------------------------------------------
# Keys a run writes into its own config.toml for the reader (provenance, derived values, the
# inputs it was given as arguments): skipped when the file is read back with --config.
RECORD_ONLY = {"command", "versions", "hyperparams", "meta_epochs_reached", "reproduce", "path", "runs"}


def _load_config(ctx: typer.Context, param: typer.CallbackParam, value: Path | None) -> Path | None:
    """``--config FILE.toml``: its keys become the command's defaults (command-line flags win).

    Keys are the command's options (``--num-envs`` as ``num_envs``) and, for ``distill`` and
    ``kmin``, every ``DistillConfig`` field (``clip_epsilon``, ``critic_lr``, ...), so a run's own
    ``config.toml`` is a valid ``--config``. Those fields are checked by :func:`config_file_fields`
    in the command: the check imports torch, which the command's first line comes before.
    """
    if value is None:
        return None
    if not value.is_file():
        raise typer.BadParameter(f"config file {str(value)!r} does not exist")
    try:
        data = tomllib.loads(value.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise typer.BadParameter(f"config file {str(value)!r} is not valid TOML: {err}") from err
    params = {p.name: p for p in ctx.command.params}
    data = {k.replace("-", "_"): v for k, v in data.items() if k not in RECORD_ONLY}
    if ctx.command.name not in ("distill", "kmin"):
        _refuse_unknown_keys(ctx, value, set(data), set(params))
    if isinstance(data.get("env_kwargs"), dict):
        data["env_kwargs"] = [f"{k}={v!r}" for k, v in data["env_kwargs"].items()]
    for name, item in data.items():  # a list for a comma-separated option (kmin's k, evaluate's learners)
        if isinstance(item, list) and name in params and not params[name].multiple:
            data[name] = ",".join(str(v) for v in item)
    ctx.meta["config_fields"] = {k: v for k, v in data.items() if k not in params}
    ctx.meta["config_file"] = value
    ctx.default_map = {**(ctx.default_map or {}), **{k: v for k, v in data.items() if k in params}}
    return value


def _config_fields() -> set[str]:
    from dataclasses import fields

    from taskdistill_rl.config import DistillConfig

    return {f.name for f in fields(DistillConfig)}


def _refuse_unknown_keys(ctx: typer.Context, path: Path, keys: set[str], settable: set[str]) -> None:
    unknown = sorted(keys - settable)
    if unknown:
        raise typer.BadParameter(
            f"unknown keys in {path}: {', '.join(unknown)} (known: {', '.join(sorted(settable))})",
            ctx=ctx,
            param_hint="'--config'",
        )


def config_file_fields(ctx: typer.Context) -> dict:
    """The ``DistillConfig`` fields a ``--config`` file set that have no command-line option;
    a key that is neither an option nor a field is refused here (a usage error)."""
    fields = dict(ctx.meta.get("config_fields", {}))
    if fields:
        options = {p.name for p in ctx.command.params}
        _refuse_unknown_keys(ctx, ctx.meta["config_file"], set(fields), options | _config_fields())
    return fields


class Opt:
    """The options several commands share (typer reads them from the signatures' annotations)."""

    Config = Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="TOML file whose keys set any option.",
            is_eager=True,
            callback=_load_config,
            dir_okay=False,
        ),
    ]
    Env = Annotated[str, typer.Option("--env", help="Environment id, e.g. NDCartPole-v0, CartPole-v1.")]
    EnvKwargs = Annotated[
        list[str] | None,
        typer.Option("--env-kwargs", help="Environment constructor argument key=value (repeatable)."),
    ]
    EnvBackend = Annotated[
        str,
        typer.Option(
            "--env-backend",
            help="Atari emulation: gymnasium (ale-py, one process per game) or envpool (the same "
            "conventions in C++ threads; the [envpool] extra: pip install envpool==1.2.5).",
        ),
    ]
    EnvFamily = Annotated[
        str | None,
        typer.Option(
            "--env-family",
            help="An env family of your own, module.path:NAME (an envs.families.EnvFamily record; imported "
            "from the working directory too): how its ids are built, evaluated and defaulted "
            "(docs/environments.md#your-own-env-family).",
        ),
    ]
    Seed = Annotated[int, typer.Option(help="Random seed (runs are reproducible).")]
    Threads = Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads for torch (default 1: measured per env family, the fastest on a busy "
            "machine; 2 saves up to 37% for Atari on an idle one). Recorded with the run: another "
            "count gives other tensors for the same seed.",
        ),
    ]
    Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables.")]
    OverwriteFile = Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")]
    OutDir = Annotated[Path, typer.Option("--out", help="Output directory.")]


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


def write_run_config(path: Path, options: dict[str, Any]) -> Path:
    """The resolved options of a CLI run, with library versions and the git commit, as TOML."""
    return write_toml(path, {**options, "versions": run_metadata()})


def starting(command: str, quiet: bool) -> None:
    """Say on stderr that ``command`` started, before its first import of torch: torch and TorchRL
    take seconds to load, and nothing else shows until then (issue 24).

    For a person at a terminal only, like the progress bar: ``--quiet``, a pipe or a log file (so
    an error stays one line), and torchrun's worker processes (``distill --nproc`` says it once,
    before it launches them) get nothing.
    """
    if quiet or "RANK" in os.environ or not Console(stderr=True).is_terminal:
        return
    print(f"taskdistill {command}: starting (importing torch)…", file=sys.stderr, flush=True)


def plural(n: int, noun: str) -> str:
    """``"1 sampled episode"``, ``"100 sampled episodes"``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


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


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def quiet_dependencies() -> None:
    """TorchRL's INFO lines (with colour codes) are for TorchRL developers, not our users; our
    own warnings and errors still show."""
    import logging
    import os

    os.environ.setdefault("RL_LOGGING_LEVEL", "WARNING")  # read when torchrl is first imported
    logging.getLogger("torchrl").setLevel(os.environ["RL_LOGGING_LEVEL"])  # if it already was


def without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option VALUE`` / ``option=VALUE`` (what a relaunch must not repeat)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


ARGV: list[str] = []  # this invocation's arguments, for `distill --nproc` to relaunch with
