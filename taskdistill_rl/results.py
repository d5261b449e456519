"""What a run leaves for ``taskdistill report`` and for readers: the ``eval.json`` record, the
``summary.json`` facts (with the volatile ones: versions, commit, threads) and the epoch-bounded
command that reproduces a run's tensors whatever the machine's speed."""

from __future__ import annotations

import functools
import shlex
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

from taskdistill_rl.io import write_json

PERCENTILES = {"p01": 0.01, "p05": 0.05, "median": 0.5}


def results_entry(
    returns, *, n_learners: int = 1, episodes: int | None = None, capped: int | None = None
) -> dict[str, Any]:
    """The per-distribution block of ``eval.json``: mean/std over all episodes, ``learner_std``
    over per-learner means (the paper's ±), percentiles of the per-learner means (the failing
    tail a mean hides) and the per-learner means themselves. ``capped`` (Atari: games cut at the
    27,000-agent-step limit) is recorded when given."""
    import torch

    returns = torch.as_tensor(returns, dtype=torch.float64).reshape(n_learners, -1)
    flat = returns.reshape(-1)
    per_learner = returns.mean(1)
    entry: dict[str, Any] = {
        "mean": float(flat.mean()),
        "std": float(flat.std(unbiased=False)),
        "learner_std": float(per_learner.std(unbiased=False)),
        "n_learners": n_learners,
        "episodes": int(returns.shape[1] if episodes is None else episodes),
    }
    if capped is not None:
        entry["capped"] = int(capped)
    for name, q in PERCENTILES.items():
        entry[name] = float(torch.quantile(per_learner, q))
    entry["learner_means"] = per_learner.tolist()
    return entry


def evaluation_record(
    *, env_id: str, env_kwargs: dict, k: int | None, seed: int, deterministic: bool, results: dict
) -> dict:
    """An ``eval.json``: which env, which file size, which seed and action rule, the results."""
    return {
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "k": k,
        "seed": seed,
        "action_rule": "deterministic" if deterministic else "sample",
        "results": results,
    }


def write_evaluation(path: str | Path, record: dict) -> Path:
    """An ``eval.json`` (a :func:`evaluation_record`): the one writer of every command's."""
    return write_json(Path(path), record)


@functools.cache
def code_commit() -> str | None:
    """The git commit of the code this process runs, read once at the first call: a run calls it
    as it starts, so a checkout that moves during a 30-minute run does not relabel the run with a
    commit whose code it never ran."""
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
                cwd=Path(__file__).parent,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def run_metadata() -> dict:
    """Volatile facts for summary.json and config.toml (never in the .pt): library versions,
    git commit, torch threads."""
    import gymnasium
    import tensordict
    import torch
    import torchrl

    from taskdistill_rl import __version__

    return {
        "taskdistill_rl": __version__,
        "torch": torch.__version__,
        "torchrl": torchrl.__version__,
        "tensordict": tensordict.__version__,
        "gymnasium": gymnasium.__version__,
        "git_commit": code_commit(),
        "torch_threads": torch.get_num_threads(),
    }


# Shared DistillConfig fields that `taskdistill distill` has a flag for, and the flag (an algorithm's
# own: its `flags`).
_DISTILL_FLAGS = {
    "k": "--k",
    "seed": "--seed",
    "threads": "--threads",
    "num_envs": "--num-envs",
    "encoder_layers": "--encoder-layers",
    "inner_steps": "--inner-steps",
    "learner": "--learner",
    "env_backend": "--env-backend",
    "target_return": "--target-return",
    "final_learners": "--final-learners",
    "final_episodes": "--final-episodes",
}


def distill_command(
    config, meta_epochs: int, out: str = "OUT", *, nproc: int = 1, algo_flags: dict[str, str] | None = None
) -> str:
    """The ``taskdistill distill`` command that reproduces a run's tensors: the same learning
    options and ``--epochs`` = the meta-epochs it reached (a time budget reaches a different
    number on every machine; a distributed run's ``--nproc``: its world size). ``algo_flags``: the
    algorithm's own flags (its ``flags``; default: PPMO's). Options without a flag that differ
    from the defaults are listed after ``#``."""
    from taskdistill_rl.config import DistillConfig
    from taskdistill_rl.envs.families import family_of

    if algo_flags is None:
        from taskdistill_rl.algorithms.ppmo import PPMO

        algo_flags = PPMO.flags
    flags = {**_DISTILL_FLAGS, **algo_flags}
    family = {"env": config.env, "env_family": config.env_family, "algo": config.algo}
    default = DistillConfig(**family, preset=config.preset).resolved()  # the run's preset's values
    family_preset = DistillConfig(**family).resolved().preset
    args = ["taskdistill", "distill", "--env", config.env]
    if config.env_family is not None:
        args += ["--env-family", config.env_family]
    if config.algo != "ppmo":
        args += ["--algo", config.algo]
    for key, value in config.algo_options.items():
        args += ["--algo-option", _keyword(key, value)]
    for key, value in config.env_kwargs.items():
        args += ["--env-kwargs", _keyword(key, value)]
    for name, flag in flags.items():
        value = getattr(config, name)
        if name == "preset":  # compared with the family's: another preset must be named
            value, default_value = config.preset, family_preset
        else:
            default_value = getattr(default, name)
        if value is not None and (name in ("k", "seed", "threads") or value != default_value):
            args += [flag, str(value)]
    if config.normalize_obs is not None:
        args.append("--normalize-obs" if config.normalize_obs else "--no-normalize-obs")
    scale = config.scale_rewards
    if scale is None and config.algo == "ppmo":  # a family's scaling said out loud: it became
        scale = family_of(config.env).scales_rewards or None  # MuJoCo's default later (issue 28)
    if scale is not None:
        args.append("--scale-rewards" if scale else "--no-scale-rewards")
    if config.device != "cpu":  # a seed gives other tensors on a GPU than on the CPU
        args += ["--device", config.device]
    if config.cudnn_benchmark:
        args.append("--cudnn-benchmark")
    args += ["--epochs", str(meta_epochs), "--out", out]
    if nproc > 1:
        args += ["--nproc", str(nproc)]
    skip = {*flags, "env", "env_kwargs", "env_family", "algo", "algo_options", "epochs"}
    skip |= {"normalize_obs", "scale_rewards"}  # flags of their own above
    skip.add("time_budget")
    skip |= {"device", "cudnn_benchmark"}  # flags of their own above
    skip |= {"checkpoint_interval", "max_divergences", "env_workers"}  # cannot change the tensors
    other = {
        f.name: getattr(config, f.name)
        for f in fields(config)
        if f.name not in skip and getattr(config, f.name) != getattr(default, f.name)
    }
    command = shlex.join(args)
    return command + (f"  # and {other}" if other else "")


def _keyword(key: str, value) -> str:
    return f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}"


def write_summary(out_dir: str | Path, summary: dict) -> Path:
    """``OUT/summary.json``: the run's facts plus :func:`run_metadata`."""
    return write_json(Path(out_dir) / "summary.json", {**summary, "versions": run_metadata()})


__all__ = [
    "code_commit",
    "distill_command",
    "evaluation_record",
    "results_entry",
    "run_metadata",
    "write_evaluation",
    "write_summary",
]
