"""Distil 1D cart-pole with 2 data-parallel processes (``taskdistill distill --nproc 2``, which
starts ``torchrun``) and check the run directory: one file, written by rank 0, from a world of 2.

Run: ``python examples/multi_process_distillation.py [OUT]`` (default
``runs/multi-process-distillation``). Budget: 60 s of distillation with 2 processes of 128 envs
each, then the usual final evaluation (100 fresh learners x 100 sampled episodes). One process
reaches ~500, the most an episode scores, in 60 s on 2 cores (docs/distillation.md); a machine
busy with other jobs gives fewer meta-epochs and a lower score. ``TASKDISTILL_EXAMPLE_TINY=1``:
3 meta-epochs of 16 envs per process and 4 learners x 2 episodes (seconds; the file is then barely
trained).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym

try:
    import tomllib  # Python >= 3.11
except ImportError:
    import tomli as tomllib

from taskdistill_rl import load_distilled

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"
NPROC = 2

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/multi-process-distillation")

    # 1. The same command as a single-process run, plus --nproc: it relaunches itself under
    # `torchrun --standalone --nproc-per-node 2`. Each process steps --num-envs envs of its own;
    # one all-reduce per minibatch averages the gradients, so both hold the same dataset.
    budget = ["--epochs", "3", "--num-envs", "16", "--final-learners", "4", "--final-episodes", "2"]
    if not TINY:
        budget = ["--time-budget", "60"]  # fast preset: 128 envs x 50 steps per process per meta-epoch
    command = [sys.executable, "-m", "taskdistill_rl", "distill", "--env", "NDCartPole-v0"]
    command += [*budget, "--nproc", str(NPROC), "--out", str(out), "--overwrite"]
    print("$", " ".join(["taskdistill", *command[3:]]))
    subprocess.run(command, check=True)  # torchrun fails (non-zero) if any rank does

    # 2. summary.json records the world; every rank's frames count toward env_frames.
    summary = json.loads((out / "summary.json").read_text())
    epochs, frames = summary["meta_epochs"], summary["env_frames"]
    config = tomllib.loads((out / "config.toml").read_text())
    print(f"world_size {summary['world_size']}, {epochs} meta-epochs, {frames} env frames")
    print("reproduce:", summary["reproduce"])
    assert summary["world_size"] == NPROC and "--nproc 2" in summary["reproduce"]
    assert frames == NPROC * config["num_envs"] * config["steps_per_env"] * epochs
    assert not TINY or epochs == 3

    # 3. The file is an ordinary distilled file: nothing in it depends on the world size.
    ds = load_distilled(out / "distilled.pt")
    print(ds, "evaluation:", summary["evaluation"]["results"]["lambda"]["mean"])
    policy = ds.make_policy(seed=0)
    env = gym.make("NDCartPole-v0", n_dims=1)
    obs, info = env.reset(seed=0)
    assert env.action_space.contains(policy.predict(obs))
