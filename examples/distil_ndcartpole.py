"""Distil 2D cart-pole from Python, look inside the file, and act with fresh learners fitted on it.

Run: ``python examples/distil_ndcartpole.py [OUT]`` (default ``runs/distil-ndcartpole``).

Budget: 150 s of distillation (2D cart-pole, k = 3 synthetic states), then the run's own
evaluation and this script's (100 fresh learners x 100 sampled episodes each, ~20 s apiece on
2 cores). Expect a mean return near 500, the most an episode scores (docs/distillation.md
measured 493-500 over three seeds; the paper's Table 1 reports 365). With
``TASKDISTILL_EXAMPLE_TINY=1`` it runs 2 small meta-epochs instead (seconds): the file is then
barely trained and its learners score about what a random agent does (~20).
"""

import os
import sys
from pathlib import Path

import gymnasium as gym
import torch

from taskdistill_rl import Distiller, evaluate_dataset, load_distilled
from taskdistill_rl.plots import plot_dataset

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"

if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/distil-ndcartpole")

    # 1. Distil. The Distiller writes the same run directory as `taskdistill distill --out OUT`.
    #    Keyword arguments override DistillConfig fields; the tiny run shrinks the rollouts and the
    #    final evaluation (defaults: 128 envs x 50 steps per meta-epoch split over 16 initialisations,
    #    a final evaluation of 100 learners x 100 episodes).
    tiny = dict(num_envs=16, steps_per_env=16, inits_per_epoch=4, final_learners=10, final_episodes=5)
    distiller = Distiller(
        "NDCartPole-v0", env_kwargs={"n_dims": 2}, k=3, seed=0, out_dir=out, **(tiny if TINY else {})
    )
    distiller.train(**(dict(epochs=2) if TINY else dict(time_budget=150)))
    final = distiller.evaluation  # what the run wrote to OUT/eval.json
    print(f"{distiller.meta_epoch} meta-epochs in {distiller.wall_seconds:.0f} s")
    print(f"run's evaluation: {final['results']['lambda']['mean']:.1f} (seed {final['seed']})")

    # 2. Load the product and look inside: k states, k soft labels (logits), one step size.
    ds = load_distilled(out / "distilled.pt")
    print(ds)
    X, Y = ds.observation.detach(), ds.label.detach()
    assert X.shape == (ds.k, 8) and Y.shape == (ds.k, 4)  # [k, 4N] states, [k, 2N] logits
    assert ds.inner_lr.item() > 0  # learned as a log-lr, so always positive
    for i in range(ds.k):
        angles = ", ".join(f"{a:+.2f}" for a in X[i, 2::4].tolist())  # θ of each axis, radians
        probs = ", ".join(f"{p:.2f}" for p in Y[i].softmax(-1).tolist())
        print(f"instance {i}: pole angles ({angles}) -> action probabilities ({probs})")
    # The file is a plain dict of tensors: stock torch.load opens it (weights_only=True, no pickle).
    raw = torch.load(out / "distilled.pt", weights_only=True)
    assert torch.equal(raw["observation"], X) and torch.equal(raw["inner_lr"], ds.inner_lr.detach())

    # 3. One fresh learner, fitted in ONE SGD step, plays one episode through gymnasium.
    policy = ds.make_policy(seed=0)  # = ds.fit(ds.make_learner(seed=0)) with predict()
    net = ds.fit(ds.make_learner(seed=0))  # the same learner, as a plain nn.Module
    assert torch.equal(net(X), policy.module(X))
    env = gym.make("NDCartPole-v0", n_dims=2)
    obs, _ = env.reset(seed=0)
    episode_return, done = 0.0, False
    while not done:
        action = policy.predict(obs)  # sampled from softmax(logits); deterministic=True: argmax
        assert env.action_space.contains(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        episode_return += reward
        done = terminated or truncated
    print(f"one fresh learner, one episode: {episode_return:.0f}")

    # 4. Many fresh learners at once: the evaluation `distill` ends with, reproduced from its seed.
    n_learners, episodes = final["results"]["lambda"]["n_learners"], final["results"]["lambda"]["episodes"]
    returns = evaluate_dataset(ds, n_learners=n_learners, episodes=episodes, seed=final["seed"])
    assert returns.shape == (n_learners, episodes)
    assert abs(float(returns.mean()) - final["results"]["lambda"]["mean"]) < 1e-6
    print(f"{n_learners} fresh learners x {episodes} sampled episodes: {float(returns.mean()):.1f}")

    # 5. What the states teach, as a picture (what `taskdistill show OUT/distilled.pt` draws).
    picture = plot_dataset(ds, out / "dataset.png")
    assert picture.stat().st_size > 0
    print(f"wrote {picture}")
