"""Open the paper authors' published datasets: import their 2D cart-pole and Centipede files into
our format, check the tensors came over exactly, and let fresh learners fitted on them play.

needs: the paper authors' published files (wconnorr/RL-to-SL_Distillation, folder
``distilled_envs/``), in the directory ``TASKDISTILL_AUTHORS_DATA`` names (default:
``../shared/data/authors`` beside this repository), under the names
``ndcartpole_2d_k3.pt``, ``centipede_l1.pt`` and ``centipede_l1_encoder.pt``. They are read
there and never copied; only our converted files are written, under OUT.

Run: ``python examples/import_published_datasets.py [OUT]`` (default
``runs/import-published-datasets``). Budget: 2D cart-pole on 100 fresh learners x 100 sampled
episodes (expect ~370; the paper reports 365 ± 31.9, a random agent 19), then one full Centipede
game by one fresh learner (a few thousand points; the paper's mean is 8,144, a random agent's
~2,000). ``TASKDISTILL_EXAMPLE_TINY=1``: 10 x 10 episodes and 100 Centipede steps.
"""

import os
import subprocess
import sys
from pathlib import Path

import torch

from taskdistill_rl import evaluate_dataset, load_distilled
from taskdistill_rl.envs.atari import make_atari
from taskdistill_rl.importers import import_authors_file

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"
REPO = Path(__file__).resolve().parents[1]
AUTHORS = Path(os.environ.get("TASKDISTILL_AUTHORS_DATA", REPO / ".." / "shared" / "data" / "authors"))

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/import-published-datasets")
    out.mkdir(parents=True, exist_ok=True)
    print(f"the authors' files in {AUTHORS}:", sorted(p.name for p in AUTHORS.iterdir()))

    # 1. 2D cart-pole, with the command line: their state dict {x, y, inner_lr} -> our .pt. The
    # file does not say which env it teaches, so --env / --env-kwargs do; import builds that env
    # once and refuses a file whose observations or actions do not fit it.
    theirs, ours = AUTHORS / "ndcartpole_2d_k3.pt", out / "cp2d-paper.pt"
    taskdistill = [sys.executable, "-m", "taskdistill_rl"]  # the `taskdistill` command
    options = ["--env", "NDCartPole-v0", "--env-kwargs", "n_dims=2", "--out", str(ours), "--overwrite"]
    subprocess.run([*taskdistill, "import", str(theirs), *options], check=True)

    # The tensors are theirs, bit for bit; meta records the env and where the file came from.
    ds = load_distilled(ours)
    raw = torch.load(theirs, map_location="cpu", weights_only=True)  # saved from CUDA
    assert torch.equal(ds.observation.detach(), raw["x"]) and torch.equal(ds.label.detach(), raw["y"])
    assert ds.meta["env_kwargs"] == {"n_dims": 2} and ds.meta["source_details"]["verified"]
    print(ds)
    print("source:", ds.meta["source"])

    # 2. Fresh learners from Λ (the paper's 64-64 tanh MLP), each fitted in ONE step, play sampled
    # episodes. evaluate_dataset returns [n_learners, episodes]; the ± is over per-learner means.
    n = 10 if TINY else 100
    returns = evaluate_dataset(ds, n_learners=n, episodes=n, seed=0)
    means = returns.float().mean(1)
    print(f"2D cart-pole, {n} learners x {n} episodes: {means.mean():.1f} ± {means.std():.1f} (paper: 365)")
    assert returns.shape == (n, n) and means.mean() > 100  # a uniform-random agent scores ~19

    # 3. Centipede with encoder rollback l = 1, with the Python API: the dataset and its encoder
    # (their layer [0, 1) of the Nature-CNN) are two files.
    ds = import_authors_file(
        AUTHORS / "centipede_l1.pt",
        env_id="CentipedeNoFrameskip-v4",  # the paper's setup: no sticky actions, raw rewards
        encoder=AUTHORS / "centipede_l1_encoder.pt",
    )
    ds = load_distilled(ds.save(out / "centipede-l1-paper.pt"))
    assert ds.encoder_layers == 1 and tuple(ds.observation.shape) == (10, 4, 84, 84)
    print(ds)

    # One fresh Nature-CNN: layer 0 is their encoder, one SGD step fits layers 1-4. It plays the
    # preprocessed game the file was distilled on (4 stacked 84x84 grayscale frames in [0, 1]).
    policy = ds.make_policy(seed=0)
    env = make_atari("CentipedeNoFrameskip-v4")
    obs, info = env.reset(seed=0)
    score, steps, done = 0.0, 0, False
    while not done and not (TINY and steps == 100):
        action = policy.predict(obs)
        assert env.action_space.contains(action)  # one of Centipede's 18 actions
        obs, reward, terminated, truncated, info = env.step(action)
        score, steps, done = score + reward, steps + 1, terminated or truncated
    env.close()
    print(f"Centipede, {'one full game' if done else f'first {steps} steps'}: raw score {score:.0f}")
