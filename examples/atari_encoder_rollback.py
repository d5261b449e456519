"""Distil Pong with encoder rollback (paper §5): the first 4 Nature-CNN layers are meta-learned
with the dataset and stored in the file; a fresh learner's one SGD step fits only the last layer.

Run: ``python examples/atari_encoder_rollback.py [OUT]`` (writes OUT/distilled.pt, default
``runs/atari-encoder-rollback``). Needs the ``atari`` extra (ale-py ships the ROMs).

Budget: 30 minutes of distillation (the Atari preset: 8 games x 200 steps per meta-epoch), then
one fresh learner plays one full game. Expect a raw Pong score near -20, as a random agent: on 2
CPU cores 30 minutes is ~60 meta-epochs, where the paper's Pong l = 4 took ~17,000 (docs/atari.md,
"Measured on CPU"). ``TASKDISTILL_EXAMPLE_TINY=1``: 2 meta-epochs of 2 games x 32 steps, then
100 steps of play (seconds).
"""

import os
import sys
from pathlib import Path

import torch

from taskdistill_rl import Distiller, load_distilled
from taskdistill_rl.envs.atari import make_atari

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"
ENV = "ALE/Pong-v5"  # any ALE id works; v5 = sticky actions, sign-clipped training rewards
ENCODER_LAYERS = 4  # conv 8x8, conv 4x4, conv 3x3, linear 3136->512: the head is linear 512->6

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/atari-encoder-rollback")

    # 1. Distil. Any DistillConfig field is a keyword; TINY shrinks the rollout and the minibatch.
    small = {"num_envs": 2, "steps_per_env": 32, "minibatch_size": 64} if TINY else {}
    distiller = Distiller(ENV, encoder_layers=ENCODER_LAYERS, quiet=TINY, **small)
    ds = distiller.train(epochs=2) if TINY else distiller.train(time_budget=1800)
    path = ds.save(out / "distilled.pt")  # no out_dir: skip the run directory's 10-game evaluation
    print(f"{distiller.meta_epoch} meta-epochs in {distiller.wall_seconds:.1f} s -> {path}")

    # 2. The file holds the encoder beside X, Y and the inner lr: a plain dict, stock torch.load reads it.
    payload = torch.load(path, weights_only=True)
    print("encoder in the file:", {name: tuple(t.shape) for name, t in payload["encoder"].items()})
    assert sorted(payload["encoder"]) == [f"{i}.{p}" for i in (0, 2, 4, 7) for p in ("bias", "weight")]
    assert payload["meta"]["encoder_layers"] == ENCODER_LAYERS
    assert tuple(payload["observation"].shape) == (ds.k, 4, 84, 84)  # k synthetic 4-frame stacks

    ds = load_distilled(path)
    print(ds)  # DistilledDataset(env='ALE/Pong-v5', k=4, ..., learner='nature-cnn', ..., encoder_layers=4)

    # 3. Fit a fresh Nature-CNN: its first 4 layers become the file's encoder, and ONE SGD step
    # on (encoder(X), Y) trains the rest.
    learner = ds.make_learner(seed=0)
    head_before = learner[9].weight.clone()  # child 9: Linear 512 -> 6 actions
    ds.fit(learner)
    assert torch.equal(learner[0].weight, ds.encoder[0].weight)  # the encoder, copied
    assert not torch.equal(learner[9].weight, head_before)  # the head, stepped
    print(f"fitted: encoder = the file's {ds.encoder_layers} layers, head moved by one SGD step")

    # 4. Act in the preprocessed env the file was distilled on: [4, 84, 84] float32 frames in [0, 1].
    # gym.make("ALE/Pong-v5") alone would give raw RGB screens the learner cannot read.
    policy = ds.make_policy(seed=0)  # make_learner + fit, with predict(obs)
    env = make_atari(ENV)
    obs, info = env.reset(seed=0)
    score, steps, done = 0.0, 0, False
    while not done and not (TINY and steps == 100):
        action = policy.predict(obs)  # an int in Discrete(6)
        assert env.action_space.contains(action)
        obs, reward, terminated, truncated, info = env.step(action)
        score, steps, done = score + reward, steps + 1, terminated or truncated
    env.close()
    print(f"{'full game' if done else f'first {steps} steps'}: raw score {score:+.0f} in {steps} agent steps")
