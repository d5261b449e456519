"""``taskdistill``: the command-line interface (typer). Parses options, then calls the library."""

from __future__ import annotations

import ast
import os
import pickle
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
from taskdistill_rl.errors import Interrupted, InvalidInputError, TaskDistillError
from taskdistill_rl.io import atomic_write, write_csv, write_toml
from taskdistill_rl.results import (
    evaluation_record,
    results_entry,
    run_metadata,
    write_evaluation,
    write_summary,
)
from taskdistill_rl.rundir import BASELINE, DISTILL, KMIN, check_new_file, check_out_dir, open_run_dir
from taskdistill_rl.seeds import EVAL_SEED_OFFSET

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
EnvBackendOpt = Annotated[
    str,
    typer.Option(
        "--env-backend",
        help="Atari emulation: gymnasium (ale-py, one process per game) or envpool (the same "
        "conventions in C++ threads; the [envpool] extra: pip install envpool==1.2.5).",
    ),
]
EnvFamilyOpt = Annotated[
    str | None,
    typer.Option(
        "--env-family",
        help="An env family of your own, module.path:NAME (an envs.families.EnvFamily record; imported "
        "from the working directory too): how its ids are built, evaluated and defaulted "
        "(docs/environments.md#your-own-env-family).",
    ),
]
SeedOpt = Annotated[int, typer.Option(help="Random seed (runs are reproducible).")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="CPU threads for torch (default 1: measured per env family, the fastest on a busy "
        "machine; 2 saves up to 37% for Atari on an idle one). Recorded with the run: another "
        "count gives other tensors for the same seed.",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables.")]
OverwriteFileOpt = Annotated[bool, typer.Option("--overwrite", help="Replace --out if it exists.")]


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


@app.command()
def baseline(
    ctx: typer.Context,
    env: EnvOpt = "NDCartPole-v0",
    env_kwargs: EnvKwargsOpt = None,
    env_family: EnvFamilyOpt = None,
    algo: Annotated[
        str,
        typer.Option(
            help="ppo (stable-baselines3, rl-zoo hyper-parameters), random (uniform), or teacher-states "
            "(k real states from a trained PPO teacher's rollouts, labelled with its logits; states and "
            "step size searched in --time-budget seconds; writes OUT/distilled.pt)."
        ),
    ] = "random",
    k: Annotated[
        int | None,
        typer.Option(
            help="teacher-states: states in the file (default: the paper's minimum, ceil(actions/2)+1)."
        ),
    ] = None,
    timesteps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="PPO training steps (default: rl-zoo's budget for the env family); teacher-states: the "
            "teacher's cap (default 200000).",
        ),
    ] = None,
    target_return: Annotated[
        float | None,
        typer.Option(
            help="PPO: stop once a chunk's evaluation reaches R (Atari: the mean raw score of the last "
            "10 full games played in training); teacher-states: the teacher's (default 475, else the "
            "env's reward threshold)."
        ),
    ] = None,
    time_budget: Annotated[
        float | None,
        typer.Option(
            help="PPO: stop at the first chunk boundary after S seconds. Atari's lr and clip range then "
            "stay constant (without it they fall linearly to 0 over --timesteps, as rl-zoo's). "
            "teacher-states: the search's seconds, the teacher's training not counted (default 60).",
        ),
    ] = None,
    search_batches: Annotated[
        str | None,
        typer.Option(
            help="teacher-states: RANDOM,LOCAL search batches instead of --time-budget (reproduces a "
            "run's file exactly; its summary.json has the command).",
        ),
    ] = None,
    chunk: Annotated[
        int, typer.Option(min=1, help="PPO: timesteps between evaluations (Atari: between curve points).")
    ] = 10_000,
    episodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Final evaluation episodes, sampled actions (default 100; Atari: 10 full games, raw "
            "scores, each capped at 27,000 agent steps).",
        ),
    ] = None,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for summary.json, eval.json, config.toml.")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace the baseline outputs already in OUT (and take over a stale lock)."
        ),
    ] = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Direct-RL (SB3 PPO), uniform-random or teacher-states (real data) baseline: return mean ± std,
    wall time, summary.json."""
    starting("baseline", quiet)
    from taskdistill_rl.devices import torch_threads
    from taskdistill_rl.envs.families import family_of, load_family

    if env_family is not None:
        load_family(env_family)
    if algo not in ("ppo", "random", "teacher-states"):
        raise TaskDistillError(f"--algo must be 'ppo', 'random' or 'teacher-states', got {algo!r}")
    family = family_of(env)
    kwargs = parse_env_kwargs(env_kwargs)
    threads = threads or family.threads
    ctx.with_resource(torch_threads(threads))  # the command's own count, the caller's back at its end
    if algo == "teacher-states":
        return _teacher_states_baseline(
            ctx,
            env=env,
            env_kwargs=kwargs,
            k=k,
            time_budget=time_budget,
            search_batches=search_batches,
            teacher_target=target_return,
            teacher_timesteps=timesteps,
            chunk=chunk,
            episodes=episodes or 100,
            seed=seed,
            out=out,
            overwrite=overwrite,
            quiet=quiet,
        )
    for name, value in (("--k", k), ("--search-batches", search_batches)):
        if value is not None:
            raise InvalidInputError(f"{name} applies to --algo teacher-states only, not {algo!r}")
    if time_budget is not None and not time_budget > 0:
        raise InvalidInputError(f"--time-budget must be > 0 seconds, got {time_budget}")
    full_games = family.episode_cap is not None
    if episodes is None:  # full Atari games are long: a few of them
        episodes = 10 if full_games else 100
    out_dir = None
    if out is not None:  # validate everything before OUT is created, then lock it (issue 13)
        from taskdistill_rl.envs.factory import make_env

        check_out_dir(out)
        make_env(env, seed=seed, **kwargs).close()
        layout = open_run_dir(out, command="baseline", layout=BASELINE, overwrite=overwrite)
        out_dir = ctx.with_resource(layout)  # released when the command ends, error or not
    resolved = {
        "command": "baseline",
        "env": env,
        "env_kwargs": kwargs,
        "env_family": env_family,
        "algo": algo,
        "episodes": episodes,
        "seed": seed,
        "threads": threads,
    }
    extra: dict[str, Any] = {}
    capped: int | None = None  # Atari PPO: evaluation games cut at 27,000 agent steps
    start = time.perf_counter()
    if algo == "random":
        from taskdistill_rl.baselines import random_agent_returns

        returns = random_agent_returns(env, episodes=episodes, seed=seed, env_kwargs=kwargs)
        frames, wall = int(returns.sum()), time.perf_counter() - start
    else:
        from taskdistill_rl.baselines.sb3_ppo import (
            RECENT_GAMES,
            evaluate_ppo_games,
            hyperparams_for,
            train_ppo,
        )

        hp = hyperparams_for(env)
        if timesteps is None and target_return is None:
            timesteps = family.sb3_timesteps
        resolved.update(
            {
                "timesteps": timesteps,
                "target_return": target_return,
                "time_budget": time_budget,
                "chunk": chunk,
                "hyperparams": hp,
            }
        )
        if out_dir is not None:
            write_run_config(out_dir / "config.toml", resolved)
        with _chunk_progress(quiet, timesteps) as on_chunk:
            result = train_ppo(
                env,
                seed=seed,
                env_kwargs=kwargs,
                timesteps=timesteps,
                target_return=target_return,
                time_budget=time_budget,
                chunk=chunk,
                on_chunk=on_chunk,
            )
        wall = result.wall_seconds
        frames = int(result.model.num_timesteps)
        scored = evaluate_ppo_games(
            result, env, episodes=episodes, seed=seed + EVAL_SEED_OFFSET, env_kwargs=kwargs
        )
        returns, capped = scored.returns, scored.capped
        resolved["schedule"] = result.schedule  # Atari: linear, or constant under a time budget
        extra = {
            "reached_target": result.reached_target,
            "out_of_time": result.out_of_time,
            "curve": "curve.csv",
            "curve_source": f"last {RECENT_GAMES} training games" if full_games else "evaluation episodes",
        }
        if out_dir is not None:
            write_csv(
                out_dir / "curve.csv",
                ["timesteps", "wall_seconds", "eval_mean", "eval_std", "games"],
                result.curve,
            )
            atomic_write(out_dir / "model.zip", lambda f: result.model.save(f))
            if result.vec_normalize is not None:  # SB3's own format: VecNormalize.load reads it
                atomic_write(out_dir / "vecnormalize.pkl", lambda f: pickle.dump(result.vec_normalize, f))
    evaluation = evaluation_record(
        env_id=env,
        env_kwargs=kwargs,
        k=None,
        seed=seed if algo == "random" else seed + EVAL_SEED_OFFSET,
        deterministic=False,
        results={algo: results_entry(returns, episodes=episodes, capped=capped)},
    )
    print_results(f"{env} {kwargs or ''} {algo} baseline ({wall:.0f} s)", evaluation["results"], quiet)
    if out_dir is not None:
        write_run_config(out_dir / "config.toml", resolved)
        write_evaluation(out_dir / "eval.json", evaluation)
        write_summary(
            out_dir,
            {
                "kind": f"baseline-{algo}",
                "env": env,
                "env_kwargs": kwargs,
                "wall_seconds": wall,
                "env_frames": frames,
                "evaluation": evaluation,
                "fit_seconds_per_learner": None,
                **extra,
            },
        )


class _chunk_progress:
    """A rich progress bar over PPO timesteps, advanced after each evaluated chunk."""

    def __init__(self, quiet: bool, total: int | None):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("[bold]PPO"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("eval return {task.fields[ret]:.1f}"),
            TimeElapsedColumn(),
            disable=quiet,
        )
        self.task = self.progress.add_task("ppo", total=total, ret=float("nan"))

    def __enter__(self):
        self.progress.__enter__()
        return lambda point: self.progress.update(
            self.task, completed=point["timesteps"], ret=point["eval_mean"]
        )

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)


def _teacher_states_baseline(
    ctx: typer.Context,
    *,
    env: str,
    env_kwargs: dict,
    k: int | None,
    time_budget: float | None,
    search_batches: str | None,
    teacher_target: float | None,
    teacher_timesteps: int | None,
    chunk: int,
    episodes: int,
    seed: int,
    out: Path | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """``baseline --algo teacher-states``: train the teacher, search k of its states and the step size,
    write ``OUT/distilled.pt`` and evaluate it as ``distill`` evaluates its file (100 x episodes)."""
    import math

    import gymnasium as gym

    from taskdistill_rl.baselines.sb3_ppo import hyperparams_for
    from taskdistill_rl.baselines.state_search import SEARCH_FIELDS
    from taskdistill_rl.baselines.teacher_states import (
        LAYOUT,
        TeacherStatesConfig,
        check_supported,
        run_teacher_states_baseline,
    )

    _, actions = check_supported(env, env_kwargs)  # unknown, continuous or image envs fail here
    if k is None:
        k = math.ceil(actions / 2) + 1
    batches: dict[str, int | None] = {"random_batches": None, "local_batches": None}
    if search_batches is not None:
        try:
            batches["random_batches"], batches["local_batches"] = (int(v) for v in search_batches.split(","))
        except ValueError as err:
            raise InvalidInputError(
                f"--search-batches expects RANDOM,LOCAL (two ints), got {search_batches!r}"
            ) from err
    if teacher_target is None:
        teacher_target = 475.0 if env == "NDCartPole-v0" else gym.spec(env).reward_threshold
    config = TeacherStatesConfig(
        env=env,
        env_kwargs=env_kwargs,
        k=k,
        seed=seed,
        time_budget=None if search_batches is not None else (60.0 if time_budget is None else time_budget),
        teacher_target=teacher_target,
        teacher_timesteps=teacher_timesteps or 200_000,
        teacher_chunk=chunk,
        **batches,
    )
    out_dir = None
    if out is not None:  # everything is validated: create and lock OUT (issue 13)
        check_out_dir(out)
        out_dir = ctx.with_resource(open_run_dir(out, command="baseline", layout=LAYOUT, overwrite=overwrite))
    settings = config.to_dict()
    resolved: dict[str, Any] = {
        "command": "baseline",
        "algo": "teacher-states",
        **{name: settings.pop(name) for name in ("env", "env_kwargs", "k", "seed")},
        "episodes": episodes,
        "timesteps": settings.pop("teacher_timesteps"),
        "chunk": settings.pop("teacher_chunk"),
    }
    if settings.get("teacher_target") is not None:
        resolved["target_return"] = settings.pop("teacher_target")
    if search_batches is not None:
        resolved["search_batches"] = search_batches
    else:
        resolved["time_budget"] = settings.pop("time_budget")
    resolved["hyperparams"] = {"teacher": hyperparams_for(env), "search": settings}
    if out_dir is not None:
        write_run_config(out_dir / "config.toml", resolved)
    with _teacher_states_progress(quiet, config) as progress:
        run = run_teacher_states_baseline(config, episodes=episodes, progress=progress)
    seconds = run.result.seconds
    print_results(
        f"{env} {env_kwargs or ''} teacher-states baseline, k={k} (teacher {seconds['teacher_train']:.0f} s, "
        f"search {seconds['search']:.0f} s)",
        run.evaluation["results"],
        quiet,
    )
    if out_dir is None:
        return
    run.dataset.save(out_dir / "distilled.pt")
    atomic_write(out_dir / "teacher.zip", lambda f: run.result.teacher.model.save(f))
    write_csv(out_dir / "search.csv", SEARCH_FIELDS, run.result.search.history)
    write_run_config(out_dir / "config.toml", {**resolved, "reproduce": run.reproduce})
    write_evaluation(out_dir / "eval.json", run.evaluation)
    write_summary(out_dir, run.summary)


class _teacher_states_progress:
    """Two rich progress bars: the teacher's PPO timesteps, then the search's seconds (or batches);
    then a status line while the file is evaluated. The progress callback of
    :func:`~taskdistill_rl.baselines.teacher_states.run_teacher_states_baseline`."""

    def __init__(self, quiet: bool, config):
        import contextlib

        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.shown = contextlib.ExitStack()  # the bars, then the status line
        self.by_batches = config.random_batches is not None
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            disable=quiet,
        )
        self.teacher = self.progress.add_task(
            "teacher PPO", total=config.teacher_timesteps, unit="steps", info="eval return -"
        )
        total = config.random_batches + config.local_batches if self.by_batches else config.time_budget
        unit = "batches" if self.by_batches else "s"
        self.search = self.progress.add_task("state search", total=total, unit=unit, info="", start=False)

    def __call__(self, stage: str, info: dict) -> None:
        {"teacher": self.on_chunk, "search": self.on_batch, "evaluate": self.on_evaluate}[stage](info)

    def on_chunk(self, point: dict) -> None:
        info = f"eval return {point['eval_mean']:.1f}"
        self.progress.update(self.teacher, completed=point["timesteps"], info=info)

    def on_batch(self, row: dict) -> None:
        if not self.progress.tasks[self.search].started:
            self.progress.start_task(self.search)
        done = row["batch"] if self.by_batches else row["wall_seconds"]
        info = f"{row['phase']}, best return {row['best_score']:.1f}"
        self.progress.update(self.search, completed=done, info=info)

    def on_evaluate(self, info: dict) -> None:
        self.shown.close()  # the bars end
        if not self.quiet:
            status = (
                f"evaluating: {info['n_learners']} fresh learners x {plural(info['episodes'], 'episode')}"
            )
            self.shown.enter_context(console.status(status))

    def __enter__(self):
        self.shown.enter_context(self.progress)
        return self

    def __exit__(self, *exc):
        return self.shown.__exit__(*exc)


OutDirOpt = Annotated[Path, typer.Option("--out", help="Output directory.")]


@app.command()
def distill(
    ctx: typer.Context,
    env: EnvOpt = "NDCartPole-v0",
    env_kwargs: EnvKwargsOpt = None,
    env_family: EnvFamilyOpt = None,
    algo: Annotated[
        str,
        typer.Option(
            help="The outer algorithm: ppmo (the paper's), another name registered in "
            "taskdistill_rl.algorithms.ALGORITHMS, or module.path:ClassName for your own (imported from "
            "the working directory too; docs/distillation.md#your-own-algorithm)."
        ),
    ] = "ppmo",
    algo_option: Annotated[
        list[str] | None,
        typer.Option(
            "--algo-option",
            help="An option of a non-PPMO --algo, key=value (repeatable); PPMO's are the flags below.",
        ),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Synthetic instances in the file (default: the paper's minimum size, "
            "ceil(actions/2)+1, for discrete actions; 64 for continuous).",
        ),
    ] = None,
    out: OutDirOpt = Path("runs/distill"),
    preset: Annotated[
        str | None,
        typer.Option(
            help="Hyper-parameters: fast (our measured default), paper (the paper's appendix A) or atari "
            "(appendix A's Atari schedule: Adam 2.5e-4, 8 envs x 200 steps). Default: atari for ALE games, "
            "else fast."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Stop after N meta-epochs.")] = None,
    time_budget: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    target_return: Annotated[
        float | None, typer.Option(help="Stop once periodic evaluation reaches R.")
    ] = None,
    seed: SeedOpt = 0,
    device: Annotated[
        str,
        typer.Option(
            help="cpu, cuda or cuda:N. Default cpu even where a GPU is: a seed gives another file on "
            "a GPU than on the CPU, so the device is chosen, not guessed. Files and checkpoints are "
            "written from CPU copies either way.",
        ),
    ] = "cpu",
    threads: ThreadsOpt = None,
    cudnn_benchmark: Annotated[
        bool,
        typer.Option(
            "--cudnn-benchmark",
            help="CUDA: let cuDNN pick the fastest convolutions (Atari) instead of deterministic ones; "
            "faster, but a seed no longer reproduces the run.",
        ),
    ] = False,
    num_envs: Annotated[
        int | None,
        typer.Option(min=1, help="Environments stepped in parallel per rollout (default: the preset's)."),
    ] = None,
    inits_per_epoch: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Fresh initialisations per meta-epoch, each acting in an equal share of the envs "
            "(default: the preset's: fast 16, paper and atari 1).",
        ),
    ] = None,
    encoder_layers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Layers meta-learned as a shared encoder (encoder rollback, paper section 5); "
            "0 distils the whole learner.",
        ),
    ] = 0,
    inner_steps: Annotated[
        int,
        typer.Option(
            min=1,
            help="SGD steps a learner takes on the file (1: the one-step training the file is made for).",
        ),
    ] = 1,
    learner: Annotated[
        str | None,
        typer.Option(
            help="Learner distribution to distil for: lambda, ortho-std1, xavier, xavier-std1, nature-cnn "
            "or LxH (e.g. 2x128); default: the paper's (lambda, or nature-cnn for images).",
        ),
    ] = None,
    env_backend: EnvBackendOpt = "gymnasium",
    final_learners: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Learners in the final evaluation (default by env family: 100 for ND cart-pole; "
            "MuJoCo 20; other gymnasium envs 50; Atari 10).",
        ),
    ] = None,
    final_episodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Episodes per learner, final evaluation (default by env family: 100 for ND cart-pole; "
            "MuJoCo 10; other gymnasium envs 10; Atari 1 full game).",
        ),
    ] = None,
    normalize_obs: Annotated[
        bool | None,
        typer.Option(
            "--normalize-obs/--no-normalize-obs",
            help="Normalise observations, statistics frozen into the file (default: on for MuJoCo).",
        ),
    ] = None,
    checkpoint_interval: Annotated[int, typer.Option(min=1, help="Meta-epochs between checkpoints.")] = 25,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.pt.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Delete the run already in OUT (distilled.pt, metrics.csv, ...), start afresh.",
        ),
    ] = False,
    nproc: Annotated[
        int,
        typer.Option(
            min=1,
            help="Data-parallel processes on this machine (launches torchrun; each steps --num-envs envs "
            "of its own). Across nodes, start `torchrun ... -m taskdistill_rl distill` yourself.",
        ),
    ] = 1,
    dist_timeout: Annotated[
        float,
        typer.Option(
            min=1,
            help="Distributed runs: seconds a rank waits for the others in a collective before the job "
            "fails (rank 0's evaluations happen while the others wait).",
        ),
    ] = 1800.0,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Distil ENV into OUT/distilled.pt with PPMO or --algo (+ checkpoint, metrics, config, summary)."""
    starting("distill", quiet)
    from taskdistill_rl import distributed
    from taskdistill_rl.config import DistillConfig
    from taskdistill_rl.distill import Distiller

    config_file_fields(ctx)  # a --config key that is no option and no field stops it here
    if epochs is None and time_budget is None and target_return is None:
        raise TaskDistillError("give a stop criterion: --epochs, --time-budget or --target-return")
    world = distributed.launched_world()
    if nproc > 1 and world is None:
        if resume and not (out / "checkpoint.pt").is_file():
            raise TaskDistillError(f"--resume: no checkpoint at {out / 'checkpoint.pt'}")
        check_out_dir(out)
        raise typer.Exit(distributed.launch_local(nproc, _without_option(_ARGV, "--nproc")))
    if world is not None and nproc not in (1, world.size):
        raise TaskDistillError(
            f"--nproc {nproc} inside a torchrun world of {world.size} processes: drop --nproc"
        )
    if resume and not (out / "checkpoint.pt").is_file() and (world is None or world.is_main):
        raise TaskDistillError(f"--resume: no checkpoint at {out / 'checkpoint.pt'}")
    if world is not None:
        device = distributed.join(world, device, timeout_s=dist_timeout)
        ctx.call_on_close(distributed.leave)
    check_out_dir(out)
    file_fields = config_file_fields(ctx)
    if algo_option:  # on top of a --config file's algo_options
        file_fields["algo_options"] = {**file_fields.get("algo_options", {}), **parse_env_kwargs(algo_option)}
    cfg = DistillConfig(
        **file_fields,
        env=env,
        env_kwargs=parse_env_kwargs(env_kwargs),
        env_family=env_family,
        algo=algo,
        k=k,
        preset=preset,
        epochs=epochs,
        time_budget=time_budget,
        target_return=target_return,
        seed=seed,
        device=device,
        threads=threads,
        cudnn_benchmark=cudnn_benchmark,
        num_envs=num_envs,
        inits_per_epoch=inits_per_epoch,
        encoder_layers=encoder_layers,
        inner_steps=inner_steps,
        learner=learner,
        env_backend=env_backend,
        final_learners=final_learners,
        final_episodes=final_episodes,
        checkpoint_interval=checkpoint_interval,
        normalize_obs=normalize_obs,
    )
    # validates: nothing written yet
    distiller = Distiller(env, config=cfg, out_dir=out, quiet=quiet, world=world)
    failure = None
    if distiller.writes:
        try:
            ctx.with_resource(
                open_run_dir(out, command="distill", layout=DISTILL, resume=resume, overwrite=overwrite)
            )
        except TaskDistillError as err:
            failure = err
    if world is not None:
        distributed.broadcast_error(world, failure)  # the other ranks stop with rank 0's message
    if failure is not None:
        raise failure
    if resume:
        distiller.load_checkpoint()
    distiller.train()  # writes distilled.pt, eval.json, summary.json, config.toml beside the metrics
    if not distiller.writes:
        return
    cfg = distiller.config
    print_results(
        f"{env} {cfg.env_kwargs or ''} k={cfg.k}: {distiller.meta_epoch} meta-epochs, "
        f"{distiller.wall_seconds:.0f} s",
        distiller.evaluation["results"],
        quiet,
    )


def _row_label(ds) -> str:
    """Table 1's row names: "2D 3-shot" for ND cart-pole, else the env id and k."""
    kwargs = ds.meta.get("env_kwargs", {})
    if ds.meta.get("env_id") == "NDCartPole-v0":
        return f"{kwargs.get('n_dims', 1)}D {ds.k}-shot"
    return f"{ds.meta.get('env_id')} {ds.k}-shot"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def _learner_names(learners: str | None, grid: bool, family) -> list[str] | None:
    """The distributions to evaluate; None: each file's own (Λ, or the Nature-CNN for Atari);
    ``all``: the env family's ``learners_all`` (the MLP ones for vector observations)."""
    from taskdistill_rl.learners import LEARNERS, grid_names, make_learners

    if grid:
        return grid_names()
    if learners is None:
        return None
    names = (
        list(family.learners_all)
        if learners.strip() == "all"
        else [n.strip() for n in learners.split(",") if n.strip()]
    )
    if not names:
        raise InvalidInputError("--learners is empty")
    for name in names:  # unknown names: one clear error, before any work
        if name not in LEARNERS:
            make_learners(name, in_features=1, out_features=1)
    return names


@app.command()
def evaluate(
    paths: Annotated[list[str], typer.Argument(help="Distilled .pt file(s) or zoo:NAME (see `zoo list`).")],
    learners: Annotated[
        str | None,
        typer.Option(
            help="Learner distributions, comma-separated, or 'all' (the MLP ones): lambda, ortho-std1, "
            "xavier, xavier-std1, random-h, random-l; nature-cnn (Atari); or LxH (L hidden layers of "
            "width H, e.g. 3x128). Default: the file's own (lambda; nature-cnn for Atari)."
        ),
    ] = None,
    grid: Annotated[
        bool, typer.Option(help="Table 6: the L x h grid (L 0..5 hidden layers, h 32..256) instead.")
    ] = False,
    n_learners: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Fresh learners per distribution (default by the env's family: 100 for ND cart-pole; "
            "MuJoCo 20; other gymnasium envs 50; Atari 10).",
        ),
    ] = None,
    episodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Episodes per learner (default by the env's family: 100 for ND cart-pole; MuJoCo 10; "
            "other gymnasium envs 10; Atari 1 full game).",
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Cut each episode after N agent steps, keeping its return so far (Atari default: "
            "27000, the ALE's limit; cut games are counted as 'capped').",
        ),
    ] = None,
    deterministic: Annotated[bool, typer.Option(help="Act by argmax/mean instead of sampling.")] = False,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="Evaluate on this env instead of the file's own (same observation and action "
            "spaces, e.g. a 1D NDCartPole file on CartPole-v1).",
        ),
    ] = None,
    env_kwargs: EnvKwargsOpt = None,
    env_backend: EnvBackendOpt = "gymnasium",
    env_family: EnvFamilyOpt = None,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="eval.json path (one file: that path; several: a directory).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the eval.json file(s) if they exist.")
    ] = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """k-shot evaluation: fresh learners fitted in ONE step on the file, all stepped together.

    Prints a Table-1-style markdown table (mean ± std over per-learner means, the paper's ±),
    or with --grid Table 6 (mean return per hidden-layer count L and width h).
    """
    starting("evaluate", quiet)
    from taskdistill_rl.dataset import load_distilled
    from taskdistill_rl.evaluate import evaluate_distributions
    from taskdistill_rl.learners import GRID_DEPTHS, GRID_WIDTHS

    if quiet and out is None:
        raise InvalidInputError(
            "-q without --out would print nothing and write nothing: give --out or drop -q"
        )
    from taskdistill_rl.devices import torch_threads
    from taskdistill_rl.envs.families import defaults_for, load_family

    if env_family is not None:
        load_family(env_family)
    datasets = [(path, load_distilled(path)) for path in paths]  # validate every file before any work
    family = defaults_for(env or datasets[0][1].meta.get("env_id"))
    requested = _learner_names(learners, grid, family)
    targets = _eval_targets(paths, out, overwrite=overwrite) if out is not None else {}
    rows = []
    header_names = requested or sorted({ds.learner_spec["name"] for _, ds in datasets})
    threads = threads or family.threads
    n_learners = n_learners or family.evaluation["final_learners"]
    episodes = episodes or family.evaluation["final_episodes"]
    for path, ds in datasets:
        names = requested or [ds.learner_spec["name"]]
        status = f"evaluating {path}: {len(names)} distribution(s) x {n_learners} x {episodes}"
        with console.status(status), torch_threads(threads):
            returns = evaluate_distributions(
                ds,
                names,
                n_learners=n_learners,
                episodes=episodes,
                seed=seed,
                deterministic=deterministic,
                inner_steps=ds.meta.get("inner_steps", 1),
                env_id=env,
                env_kwargs=parse_env_kwargs(env_kwargs) if env is not None or env_kwargs else None,
                max_steps=max_steps,
                backend=env_backend,
            )
        capped = returns.capped or {}
        results = {
            name: results_entry(r, n_learners=n_learners, capped=capped.get(name))
            for name, r in returns.items()
        }
        evaluation = evaluation_record(
            env_id=env or ds.meta.get("env_id"),
            env_kwargs=parse_env_kwargs(env_kwargs) if env or env_kwargs else ds.meta.get("env_kwargs", {}),
            k=ds.k,
            seed=seed,
            deterministic=deterministic,
            results=results,
        )
        if grid and not quiet:
            table = [
                [f"L={depth}", *(f"{results[f'{depth}x{width}']['mean']:.1f}" for width in GRID_WIDTHS)]
                for depth in GRID_DEPTHS
            ]
            print(f"\n{_row_label(ds)} ({path}, {evaluation['action_rule']} actions, mean return)\n")
            print(markdown_table(["", *(f"h={w}" for w in GRID_WIDTHS)], table))
        rows.append(
            [
                f"{_row_label(ds)} ({path})",
                *(f"{r['mean']:.1f} ± {r['learner_std']:.1f}" for r in results.values()),
            ]
        )
        if out is not None:
            target = targets[path]
            write_evaluation(target, evaluation)
            write_run_config(
                target.with_suffix(".config.toml"),
                {
                    "command": "evaluate",
                    "path": path,
                    "learners": names,
                    "n_learners": n_learners,
                    "episodes": episodes,
                    "max_steps": max_steps,
                    "deterministic": deterministic,
                    "seed": seed,
                    "threads": threads,
                },
            )
    if not grid and not quiet:
        rule = "deterministic" if deterministic else "sampled"
        print(
            f"\nmean ± std over the per-learner means of {plural(n_learners, 'learner')}, "
            f"{plural(episodes, rule + ' episode')} each\n"
        )
        print(markdown_table(["experiment", *header_names], rows))


def _eval_targets(paths: list[str], out: Path, *, overwrite: bool) -> dict[str, Path]:
    """Where ``evaluate --out`` writes each file's eval.json; refuses to replace one before any work."""
    if len(paths) == 1:
        targets = {paths[0]: out}
    else:
        check_out_dir(out)
        targets = {}
        for path in paths:
            stem = (
                path.removeprefix("zoo:")
                if path.startswith("zoo:")
                else Path(path).parent.name or Path(path).stem
            )
            targets[path] = out / f"{stem}-eval.json"
        seen: dict[Path, str] = {}
        for path, target in targets.items():
            if target in seen and seen[target] != path:
                raise InvalidInputError(
                    f"{seen[target]!r} and {path!r} would both write {target}; evaluate them separately"
                )
            seen[target] = path
    for target in targets.values():
        check_new_file(target, overwrite=overwrite)
        check_new_file(target.with_suffix(".config.toml"), overwrite=overwrite)
    return targets


@app.command()
def kmin(
    ctx: typer.Context,
    env: EnvOpt = "NDCartPole-v0",
    env_kwargs: EnvKwargsOpt = None,
    k: Annotated[str, typer.Option(help="Comma-separated k values to distil at.")] = "1,2,3,4",
    epochs: Annotated[int | None, typer.Option(min=1, help="Meta-epochs per k.")] = None,
    time_budget: Annotated[
        float | None, typer.Option(help="Seconds per k (default 60 when neither this nor --epochs is given).")
    ] = None,
    preset: Annotated[str, typer.Option(help="fast or paper.")] = "fast",
    n_learners: Annotated[int, typer.Option(min=1, help="Fresh learners per k in the evaluation.")] = 100,
    episodes: Annotated[int, typer.Option(min=1, help="Sampled episodes per learner.")] = 100,
    seed: SeedOpt = 0,
    threads: ThreadsOpt = None,
    out: OutDirOpt = Path("runs/kmin"),
    resume: Annotated[bool, typer.Option(help="Skip the k values already finished in OUT.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Delete the kmin run already in OUT (kmin.json, k*/), start afresh."
        ),
    ] = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Minimum distillation size (paper §4.2, Eq. 3): distil at each k, evaluate, mark where learning starts.

    "Learns" = mean >= 50% of the best k's mean and >= 3x the uniform-random agent's mean.
    """
    starting("kmin", quiet)
    from taskdistill_rl.baselines import random_agent_returns
    from taskdistill_rl.config import DistillConfig
    from taskdistill_rl.kmin import kmin_sweep

    config_file_fields(ctx)  # a --config key that is no option and no field stops it here
    try:
        ks = sorted({int(v) for v in k.split(",") if v.strip()})
    except ValueError as err:
        raise TaskDistillError(f"--k expects comma-separated integers, got {k!r}") from err
    if not ks or ks[0] < 1:
        raise TaskDistillError(f"--k values must be >= 1, got {k!r}")
    if epochs is None and time_budget is None:
        time_budget = 60.0
    kwargs = parse_env_kwargs(env_kwargs)
    # validate everything before OUT is created (issue 13): options, env id and arguments
    check_out_dir(out)
    DistillConfig(
        **config_file_fields(ctx),
        env=env,
        env_kwargs=kwargs,
        k=ks[0],
        preset=preset,
        epochs=epochs,
        time_budget=time_budget,
    )
    random_mean = float(random_agent_returns(env, episodes=1000, seed=seed, env_kwargs=kwargs).mean())
    ctx.with_resource(open_run_dir(out, command="kmin", layout=KMIN, resume=resume, overwrite=overwrite))
    write_run_config(
        out / "config.toml",
        {
            **config_file_fields(ctx),
            "command": "kmin",
            "env": env,
            "env_kwargs": kwargs,
            "k": ks,
            "epochs": epochs,
            "time_budget": time_budget,
            "preset": preset,
            "n_learners": n_learners,
            "episodes": episodes,
            "seed": seed,
            "threads": threads,
        },
    )
    sweep = kmin_sweep(
        out,
        ks,
        base={
            **config_file_fields(ctx),  # the file's other fields; this command's own win
            "env": env,
            "env_kwargs": kwargs,
            "preset": preset,
            "epochs": epochs,
            "time_budget": time_budget,
            "seed": seed,
            "threads": threads,
            "final_learners": n_learners,
            "final_episodes": episodes,
        },
        random_mean=random_mean,
        resume=resume,
        quiet=quiet,
    )
    results, starts, predicted, n_actions = sweep.results, sweep.starts, sweep.predicted, sweep.n_actions
    if not quiet:
        rows = [
            [
                str(v) + (" ← k_min (Eq. 3)" if v == predicted else ""),
                f"{results[v]['mean']:.1f} ± {results[v]['learner_std']:.1f}",
                "yes" if results[v]["learns"] else "no",
                str(results[v]["meta_epochs"]),
            ]
            for v in ks
        ]
        print(f"\n{env} {kwargs or ''}: uniform-random agent {random_mean:.1f}\n")
        print(markdown_table(["k", "mean ± std", "learns", "meta-epochs"], rows))
        print(
            ("\nno k learned" if starts is None else f"\nlearning starts at k = {starts}")
            + f" (\"learns\": >= 50% of the best k's mean and >= 3x the random agent's); "
            f"Eq. 3 predicts k_min = ceil({n_actions}/2)+1 = {predicted}"
        )


@app.command()
def show(
    path: Annotated[str, typer.Argument(help="Distilled .pt file or zoo:NAME.")],
    out: Annotated[Path, typer.Option(help="Output PNG.")] = Path("dataset.png"),
    overwrite: OverwriteFileOpt = False,
) -> None:
    """Picture what the dataset teaches (paper Figure 4): per instance its state and its label."""
    from taskdistill_rl.dataset import load_distilled
    from taskdistill_rl.plots import plot_dataset

    ds = load_distilled(path)
    check_new_file(out, overwrite=overwrite)
    plot_dataset(ds, out)
    console.print(f"wrote {out}")


@app.command()
def rollout(
    path: Annotated[str, typer.Argument(help="Distilled .pt file or zoo:NAME.")],
    out: Annotated[
        Path, typer.Option(help="Output clip: .gif (Pillow) or .mp4 (needs the [video] extra).")
    ] = Path("clip.gif"),
    seed: Annotated[
        int, typer.Option(help="Draws the fresh learner, its sampled actions and the episode's start.")
    ] = 0,
    max_frames: Annotated[int, typer.Option(min=1, help="Stop the clip after this many frames.")] = 1000,
    every: Annotated[
        int, typer.Option(min=1, help="Keep every N-th frame (smaller files, faster play).")
    ] = 1,
    deterministic: Annotated[
        bool, typer.Option("--deterministic", help="Act by argmax / the mean instead of sampling.")
    ] = False,
    overwrite: OverwriteFileOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Record a fresh learner, fitted in ONE step on the file, playing one episode of the file's env.

    Frames come from the env's own renderer (ND cart-pole's drawing, MuJoCo offscreen with MUJOCO_GL=egl
    unless set, the Atari screen).
    """
    from taskdistill_rl.clips import check_clip_path, record_episode, write_clip
    from taskdistill_rl.dataset import load_distilled

    check_clip_path(out)
    check_new_file(out, overwrite=overwrite)
    ds = load_distilled(path)
    clip = record_episode(ds, seed=seed, max_frames=max_frames, every=every, deterministic=deterministic)
    write_clip(clip, out)
    if not quiet:
        rule = "argmax/mean" if deterministic else "sampled actions"
        ended = "" if clip.finished else f", cut at {max_frames} frames"
        console.print(
            f"wrote {out}: {plural(len(clip.frames), 'frame')} at {clip.fps} fps, "
            f"return {clip.episode_return:.1f} in {plural(clip.steps, 'step')} ({rule}{ended})"
        )


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="The authors' file: state dict {x, y, inner_lr} or MuJoCo checkpoint.")
    ],
    env: Annotated[
        str,
        typer.Option(
            "--env", help="Environment it teaches, e.g. CentipedeNoFrameskip-v4, NDCartPole-v0, Hopper-v5."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output .pt (our format).")],
    env_kwargs: EnvKwargsOpt = None,
    encoder: Annotated[
        Path | None,
        typer.Option(help="Their encoder state dict, for an encoder-rollback file (the first layers)."),
    ] = None,
    overwrite: OverwriteFileOpt = False,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Convert a file published by the paper's authors (wconnorr/RL-to-SL_Distillation) into ours.

    The env is built once to check that its observations and actions are the file's; the tensors are copied
    exactly, and the output records where they came from (file name and SHA-256).
    """
    from rich.markup import escape

    from taskdistill_rl.importers import OBS_NORM_UNPUBLISHED, import_authors_file

    for given in (file, encoder):
        if given is not None and out.resolve() == given.resolve():
            raise InvalidInputError(f"--out {str(out)!r} is a file being imported: choose another name")
    check_new_file(out, overwrite=overwrite)
    ds = import_authors_file(file, env_id=env, env_kwargs=parse_env_kwargs(env_kwargs), encoder=encoder)
    ds.save(out)
    if not quiet:
        source = ds.meta["source_details"]
        table = Table(title=f"imported {escape(file.name)}", show_header=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        labels = "action means (+ log-std)" if ds.continuous else "logits"
        rows = {
            "env": f"{ds.meta['env_id']} {ds.meta['env_kwargs'] or ''}".strip(),
            "k": str(ds.k),
            "observations": str(list(ds.obs_shape)),
            "labels": f"{ds.out_features} {labels}",
            "learner": ds.learner_spec["name"],
            "encoder layers": str(ds.encoder_layers)
            + (f" ({source['encoder_file']})" if ds.encoder_layers else " (full distillation)"),
            "inner lr": f"{float(ds.inner_lr.detach()):.6g}",
            "source": ds.meta["source"],
            "sha256": source["sha256"] + ("" if source["verified"] else " (not a known published file)"),
        }
        if source["paper_result"]:
            rows["paper"] = source["paper_result"]
        for name, value in rows.items():
            table.add_row(name, escape(value))
        console.print(table)
        console.print(f"wrote {escape(str(out))}")
    if ds.meta.get("obs_norm_unpublished"):  # loud, --quiet or not
        warning = f"WARNING: {file}: {OBS_NORM_UNPUBLISHED}."
        Console(stderr=True).print(warning, style="bold red", markup=False, soft_wrap=True)


zoo_app = typer.Typer(
    help="Distilled files shipped with the package (load them as zoo:NAME).", no_args_is_help=True
)
app.add_typer(zoo_app, name="zoo")


@zoo_app.command("list")
def zoo_list(
    markdown: Annotated[bool, typer.Option(help="Print a markdown table instead.")] = False,
) -> None:
    """List the zoo: name, environment, k, stored evaluation and the command that reproduces it."""
    from taskdistill_rl import zoo

    header = ["name", "env", "k", "evaluation (sampled actions)", "reproduce"]
    rows = []
    for name, e in zoo.entries().items():
        ev = e["evaluation"]
        kwargs = ", ".join(f"{k}={v}" for k, v in e["env_kwargs"].items())
        rows.append(
            [
                f"zoo:{name}",
                f"{e['env_id']} {kwargs}".strip(),
                str(e["k"]),
                f"{ev['mean']:.1f} ± {ev['learner_std']:.1f} "
                f"({ev['n_learners']} learners × {ev['episodes']})",
                e.get("reproduce", e["command"]),
            ]
        )
    if markdown:
        print(markdown_table(header, [[*row[:4], f"`{row[4]}`"] for row in rows]))
        return
    table = Table(title="taskdistill zoo: load any of these as zoo:NAME", show_lines=True)
    for column in header:  # names stay whole (they are what users copy); the rest folds
        table.add_column(column, overflow="fold", no_wrap=column == "name")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (with metrics.csv).")],
    out: Annotated[Path, typer.Option(help="Output PNG.")] = Path("distill.png"),
    overwrite: OverwriteFileOpt = False,
) -> None:
    """Plot return and inner lr against meta-epoch and wall time for one or more runs."""
    from taskdistill_rl.plots import plot_runs

    missing = [str(r) for r in runs if not (r / "metrics.csv").is_file()]
    if missing:
        raise TaskDistillError(f"no metrics.csv in: {', '.join(missing)}")
    check_new_file(out, overwrite=overwrite)
    plot_runs(runs, out)
    console.print(f"wrote {out}")


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="distill and baseline run directories (summary.json).")],
    out: Annotated[Path, typer.Option(help="Markdown report; the cost-curve PNG goes beside it.")] = Path(
        "report.md"
    ),
    overwrite: OverwriteFileOpt = False,
) -> None:
    """Random vs direct RL vs distilled per environment, distillation ratio, cost curve (Figure 5)."""
    from taskdistill_rl.report import write_report

    # write_report writes OUT, OUT-cost.png beside it; the command adds OUT.config.toml
    for target in (out, out.with_name(out.stem + "-cost.png"), out.with_suffix(".config.toml")):
        check_new_file(target, overwrite=overwrite)
    png = write_report(runs, out)
    write_run_config(out.with_suffix(".config.toml"), {"command": "report", "runs": [str(r) for r in runs]})
    print(out.read_text())
    print(f"wrote {out} and {png}")


# -- entry point ---------------------------------------------------------------------------------
def quiet_dependencies() -> None:
    """TorchRL's INFO lines (with colour codes) are for TorchRL developers, not our users; our
    own warnings and errors still show."""
    import logging
    import os

    os.environ.setdefault("RL_LOGGING_LEVEL", "WARNING")  # read when torchrl is first imported
    logging.getLogger("torchrl").setLevel(os.environ["RL_LOGGING_LEVEL"])  # if it already was


def _without_option(argv: list[str], option: str) -> list[str]:
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


_ARGV: list[str] = []  # this invocation's arguments, for `distill --nproc` to relaunch with


def main(argv: list[str] | None = None) -> int:
    """Console-script entry: library errors become one line on stderr and exit code 1.

    Only errors about the user's input are caught: `TaskDistillError` (every library error,
    `InvalidInputError` included), usage errors, and user paths that are missing or unusable.
    Anything else is a bug and propagates with its traceback (issue 12).
    """
    quiet_dependencies()
    global _ARGV
    _ARGV = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=argv, prog_name="taskdistill", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):  # a second Ctrl-C: stop now, not an error
        print("taskdistill: aborted", file=sys.stderr)
        return 130
    except Interrupted as exc:  # Ctrl-C / SIGTERM after a checkpoint: a stop, not an error
        print(f"taskdistill: {exc}", file=sys.stderr)
        return 128 + (exc.signum or 2)  # the shell's convention for "killed by signal N"
    except typer.TyperException as exc:  # usage errors (typer vendors click's ClickException)
        exc.show()
        return getattr(exc, "exit_code", 2)
    except (
        TaskDistillError,
        FileNotFoundError,
        PermissionError,
        IsADirectoryError,
        NotADirectoryError,
    ) as exc:
        print(f"taskdistill: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
