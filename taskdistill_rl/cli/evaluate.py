"""``taskdistill evaluate`` and ``taskdistill kmin``: k-shot evaluation of files, and the
minimum-size sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taskdistill_rl.cli.common import (
    Opt,
    app,
    config_file_fields,
    console,
    markdown_table,
    parse_env_kwargs,
    plural,
    starting,
    write_run_config,
)
from taskdistill_rl.errors import InvalidInputError, TaskDistillError
from taskdistill_rl.results import (
    write_evaluation,
)
from taskdistill_rl.rundir import KMIN, check_new_file, check_out_dir, open_run_dir


def _row_label(ds) -> str:
    """Table 1's row names: "2D 3-shot" for ND cart-pole, else the env id and k."""
    kwargs = ds.meta.get("env_kwargs", {})
    if ds.meta.get("env_id") == "NDCartPole-v0":
        return f"{kwargs.get('n_dims', 1)}D {ds.k}-shot"
    return f"{ds.meta.get('env_id')} {ds.k}-shot"


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
            help="Learner distributions, comma-separated, or 'all' (the env family's; the MLP ones): "
            "lambda, ortho-std1, "
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
            "MuJoCo 20; MinAtar and other gymnasium envs 50; Atari 10).",
        ),
    ] = None,
    episodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Episodes per learner (default by the env's family: 100 for ND cart-pole; MuJoCo 10; "
            "MinAtar and other gymnasium envs 10; Atari 1 full game).",
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
    env_kwargs: Opt.EnvKwargs = None,
    env_backend: Opt.EnvBackend = "gymnasium",
    env_family: Opt.EnvFamily = None,
    seed: Opt.Seed = 0,
    threads: Opt.Threads = None,
    out: Annotated[
        Path | None, typer.Option(help="eval.json path (one file: that path; several: a directory).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the eval.json file(s) if they exist.")
    ] = False,
    quiet: Opt.Quiet = False,
    config: Opt.Config = None,
) -> None:
    """k-shot evaluation: fresh learners fitted in ONE step on the file, all stepped together.

    Prints a Table-1-style markdown table (mean ± std over per-learner means, the paper's ±),
    or with --grid Table 6 (mean return per hidden-layer count L and width h).
    """
    starting("evaluate", quiet)
    from taskdistill_rl.dataset import load_distilled
    from taskdistill_rl.evaluate import evaluate_file
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
    other_kwargs = parse_env_kwargs(env_kwargs) if env is not None or env_kwargs else None  # else the file's
    for path, ds in datasets:
        names = requested or [ds.learner_spec["name"]]
        status = f"evaluating {path}: {len(names)} distribution(s) x {n_learners} x {episodes}"
        with console.status(status), torch_threads(threads):
            evaluation = evaluate_file(
                ds,
                names,
                n_learners=n_learners,
                episodes=episodes,
                seed=seed,
                deterministic=deterministic,
                env_id=env,
                env_kwargs=other_kwargs,
                max_steps=max_steps,
                backend=env_backend,
            )
        results = evaluation["results"]
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
    env: Opt.Env = "NDCartPole-v0",
    env_kwargs: Opt.EnvKwargs = None,
    env_family: Opt.EnvFamily = None,
    k: Annotated[str, typer.Option(help="Comma-separated k values to distil at.")] = "1,2,3,4",
    epochs: Annotated[int | None, typer.Option(min=1, help="Meta-epochs per k.")] = None,
    time_budget: Annotated[
        float | None, typer.Option(help="Seconds per k (default 60 when neither this nor --epochs is given).")
    ] = None,
    preset: Annotated[str, typer.Option(help="fast or paper.")] = "fast",
    n_learners: Annotated[int, typer.Option(min=1, help="Fresh learners per k in the evaluation.")] = 100,
    episodes: Annotated[int, typer.Option(min=1, help="Sampled episodes per learner.")] = 100,
    seed: Opt.Seed = 0,
    threads: Opt.Threads = None,
    out: Opt.OutDir = Path("runs/kmin"),
    resume: Annotated[bool, typer.Option(help="Skip the k values already finished in OUT.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Delete the kmin run already in OUT (kmin.json, k*/), start afresh."
        ),
    ] = False,
    quiet: Opt.Quiet = False,
    config: Opt.Config = None,
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
    if env_family is not None:
        from taskdistill_rl.envs.families import load_family

        load_family(env_family)  # before the env id is checked
    DistillConfig(
        **config_file_fields(ctx),
        env=env,
        env_kwargs=kwargs,
        env_family=env_family,
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
            "env_family": env_family,
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
            "env_family": env_family,
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
