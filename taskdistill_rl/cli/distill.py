"""``taskdistill distill``: one distillation run into a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taskdistill_rl.cli.common import (
    ARGV,
    Opt,
    app,
    config_file_fields,
    parse_env_kwargs,
    print_results,
    starting,
    without_option,
)
from taskdistill_rl.errors import TaskDistillError
from taskdistill_rl.rundir import DISTILL, check_out_dir, open_run_dir


@app.command()
def distill(
    ctx: typer.Context,
    env: Opt.Env = "NDCartPole-v0",
    env_kwargs: Opt.EnvKwargs = None,
    env_family: Opt.EnvFamily = None,
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
    out: Opt.OutDir = Path("runs/distill"),
    preset: Annotated[
        str | None,
        typer.Option(
            help="Hyper-parameters: fast (our measured default), paper (the paper's appendix A) or atari "
            "(appendix A's Atari schedule: Adam 2.5e-4, 8 envs x 200 steps), minatar (64 envs x 64 steps, "
            "8 initialisations; provisional). Default: the env family's (atari for ALE games, minatar for "
            "MinAtar, else fast)."
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Stop after N meta-epochs.")] = None,
    time_budget: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    target_return: Annotated[
        float | None, typer.Option(help="Stop once periodic evaluation reaches R.")
    ] = None,
    seed: Opt.Seed = 0,
    device: Annotated[
        str,
        typer.Option(
            help="cpu, cuda or cuda:N. Default cpu even where a GPU is: a seed gives another file on "
            "a GPU than on the CPU, so the device is chosen, not guessed. Files and checkpoints are "
            "written from CPU copies either way.",
        ),
    ] = "cpu",
    threads: Opt.Threads = None,
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
            help="Learner distribution to distil for: a registered name (lambda, ortho-std1, xavier, "
            "xavier-std1, random-h, random-l, nature-cnn, minatar-cnn) or LxH (e.g. 2x128); "
            "default: the env family's (envs/families.py).",
        ),
    ] = None,
    env_backend: Opt.EnvBackend = "gymnasium",
    env_workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes stepping the training envs (MuJoCo: default every usable core; 1: in "
            "this process). The same rollouts whatever the count.",
        ),
    ] = None,
    final_learners: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Learners in the final evaluation (default by env family: 100 for ND cart-pole; "
            "MuJoCo 20; MinAtar and other gymnasium envs 50; Atari 10).",
        ),
    ] = None,
    final_episodes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Episodes per learner, final evaluation (default by env family: 100 for ND cart-pole; "
            "MuJoCo 10; MinAtar and other gymnasium envs 10; Atari 1 full game).",
        ),
    ] = None,
    normalize_obs: Annotated[
        bool | None,
        typer.Option(
            "--normalize-obs/--no-normalize-obs",
            help="Normalise observations, statistics frozen into the file (default: on for MuJoCo).",
        ),
    ] = None,
    scale_rewards: Annotated[
        bool | None,
        typer.Option(
            "--scale-rewards/--no-scale-rewards",
            help="Learn from rewards divided by the running std of the discounted return (scores "
            "stay raw; default: the env family's, on for MuJoCo).",
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
    quiet: Opt.Quiet = False,
    config: Opt.Config = None,
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
        raise typer.Exit(distributed.launch_local(nproc, without_option(ARGV, "--nproc")))
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
        env_workers=env_workers,
        final_learners=final_learners,
        final_episodes=final_episodes,
        checkpoint_interval=checkpoint_interval,
        normalize_obs=normalize_obs,
        scale_rewards=scale_rewards,
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
