"""Commands on files and runs: ``show``, ``rollout``, ``import``, ``zoo list``, ``plot``, ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from taskdistill_rl.cli.common import (
    Opt,
    app,
    console,
    markdown_table,
    parse_env_kwargs,
    plural,
    write_run_config,
)
from taskdistill_rl.errors import InvalidInputError, TaskDistillError
from taskdistill_rl.rundir import check_new_file


@app.command()
def show(
    path: Annotated[str, typer.Argument(help="Distilled .pt file or zoo:NAME.")],
    out: Annotated[Path, typer.Option(help="Output PNG.")] = Path("dataset.png"),
    overwrite: Opt.OverwriteFile = False,
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
    env_family: Opt.EnvFamily = None,
    overwrite: Opt.OverwriteFile = False,
    quiet: Opt.Quiet = False,
) -> None:
    """Record a fresh learner, fitted in ONE step on the file, playing one episode of the file's env.

    Frames come from the env's own renderer (ND cart-pole's drawing, MuJoCo offscreen with MUJOCO_GL=egl
    unless set, the Atari screen).
    """
    from taskdistill_rl.clips import check_clip_path, record_episode, write_clip
    from taskdistill_rl.dataset import load_distilled

    check_clip_path(out)
    check_new_file(out, overwrite=overwrite)
    if env_family is not None:
        from taskdistill_rl.envs.families import load_family

        load_family(env_family)
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
    env_kwargs: Opt.EnvKwargs = None,
    encoder: Annotated[
        Path | None,
        typer.Option(help="Their encoder state dict, for an encoder-rollback file (the first layers)."),
    ] = None,
    overwrite: Opt.OverwriteFile = False,
    quiet: Opt.Quiet = False,
    config: Opt.Config = None,
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
    overwrite: Opt.OverwriteFile = False,
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
    overwrite: Opt.OverwriteFile = False,
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
