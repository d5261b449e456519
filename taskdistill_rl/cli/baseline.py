"""``taskdistill baseline``: the direct-RL (SB3 PPO), uniform-random and teacher-states baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taskdistill_rl.cli.common import (
    Opt,
    app,
    console,
    parse_env_kwargs,
    plural,
    print_results,
    starting,
    write_run_config,
)
from taskdistill_rl.errors import InvalidInputError, TaskDistillError
from taskdistill_rl.rundir import BASELINE, check_out_dir, open_run_dir


@app.command()
def baseline(
    ctx: typer.Context,
    env: Opt.Env = "NDCartPole-v0",
    env_kwargs: Opt.EnvKwargs = None,
    env_family: Opt.EnvFamily = None,
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
    seed: Opt.Seed = 0,
    threads: Opt.Threads = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for summary.json, eval.json, config.toml.")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace the baseline outputs already in OUT (and take over a stale lock)."
        ),
    ] = False,
    quiet: Opt.Quiet = False,
    config: Opt.Config = None,
) -> None:
    """Direct-RL (SB3 PPO), uniform-random or teacher-states (real data) baseline: return mean ± std,
    wall time, summary.json."""
    starting("baseline", quiet)
    from taskdistill_rl.baselines.runs import run_baseline
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
    if episodes is None:  # full Atari games are long: a few of them
        episodes = 10 if family.episode_cap is not None else 100
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

    def record(settings: dict) -> None:  # PPO's resolved settings, written before it trains
        resolved.update(settings)
        if out_dir is not None:
            write_run_config(out_dir / "config.toml", resolved)

    total = timesteps if timesteps is not None or target_return is not None else family.sb3_timesteps
    with _chunk_progress(quiet or algo != "ppo", total) as on_chunk:
        run = run_baseline(
            algo,
            env,
            kwargs,
            episodes=episodes,
            seed=seed,
            timesteps=timesteps,
            target_return=target_return,
            time_budget=time_budget,
            chunk=chunk,
            on_settings=record,
            on_chunk=on_chunk,
        )
    record(run.settings)
    print_results(
        f"{env} {kwargs or ''} {algo} baseline ({run.wall_seconds:.0f} s)", run.evaluation["results"], quiet
    )
    if out_dir is not None:
        run.write(out_dir)


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
    from taskdistill_rl.baselines.teacher_states import (
        LAYOUT,
        command_record,
        run_teacher_states_baseline,
        teacher_states_config,
    )

    config = teacher_states_config(
        env,
        env_kwargs,
        k=k,
        seed=seed,
        time_budget=time_budget,
        search_batches=search_batches,
        teacher_target=teacher_target,
        teacher_timesteps=teacher_timesteps,
        teacher_chunk=chunk,
    )
    out_dir = None
    if out is not None:  # everything is validated: create and lock OUT (issue 13)
        check_out_dir(out)
        out_dir = ctx.with_resource(open_run_dir(out, command="baseline", layout=LAYOUT, overwrite=overwrite))
    resolved = command_record(config, episodes=episodes)
    if out_dir is not None:
        write_run_config(out_dir / "config.toml", resolved)
    with _teacher_states_progress(quiet, config) as progress:
        run = run_teacher_states_baseline(config, episodes=episodes, progress=progress)
    seconds = run.result.seconds
    print_results(
        f"{env} {env_kwargs or ''} teacher-states baseline, k={config.k} (teacher "
        f"{seconds['teacher_train']:.0f} s, search {seconds['search']:.0f} s)",
        run.evaluation["results"],
        quiet,
    )
    if out_dir is not None:
        run.write(out_dir)
        write_run_config(out_dir / "config.toml", {**resolved, "reproduce": run.reproduce})


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
