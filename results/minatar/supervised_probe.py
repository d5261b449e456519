"""Can one SGD step from a fresh learner, on k synthetic Breakout frames, imitate a good policy?

No RL here: the k frames, their labels and the inner lr are trained by Adam so that a learner
fitted on them by one SGD step (``DistilledDataset.fitted_params``, the inner step PPMO uses)
picks the action of "move the paddle toward the ball's column" on real states. That rule scores
84 in a 1,000-step game, the most there is. The probe separates what the learner and the inner
step can express from what PPMO's RL signal finds (docs/minatar.md, "Why these defaults").

    .venv/bin/python results/minatar/supervised_probe.py --learner 2x512 --standardise
    .venv/bin/python results/minatar/supervised_probe.py --learner minatar-cnn --steps 1000

Prints the held-out accuracy of 20 fresh learners every 50 Adam steps (mean and worst learner),
then what the k frames score: ``--play`` fresh learners, one game each (HaDES's protocol, actions
sampled from the learner's softmax as ``evaluate`` plays them, or its argmax with ``--greedy``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch.func import functional_call

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs.minatar import make_minatar
from taskdistill_rl.obs_norm import normalize


def toward_the_ball(frame: np.ndarray) -> int:
    """Breakout-v1's minimal actions (noop, left, right) toward the ball's column (a channel-first
    frame, as ``make_minatar`` gives it: paddle, ball, trail, brick)."""
    paddle = np.argwhere(frame[0])[0][1]
    ball = np.argwhere(frame[1])[0][1]
    return 1 if ball < paddle else 2 if ball > paddle else 0


def states(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` channel-first frames of the rule's play with 30% random actions, and its labels."""
    env, rng = make_minatar("MinAtar/Breakout-v1", sticky_action_prob=0.0), np.random.default_rng(seed)
    frames, labels = [], []
    frame, _ = env.reset(seed=seed)
    while len(frames) < n:
        frames.append(frame.astype(np.float32))
        labels.append(toward_the_ball(frame))
        action = rng.integers(3) if rng.random() < 0.3 else labels[-1]
        frame, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            frame, _ = env.reset()
    return torch.tensor(np.array(frames)), torch.tensor(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learner", default="2x512")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=5e-2, help="Adam's step on frames, labels, inner lr")
    parser.add_argument("--standardise", action="store_true", help="per-pixel standardised frames")
    parser.add_argument("--play", type=int, default=10, help="fresh learners that play one game each")
    parser.add_argument("--greedy", action="store_true", help="play the argmax action, not a sample")
    args = parser.parse_args()
    torch.manual_seed(0)
    frames, labels = states(20_000)
    mean, var = frames.mean(0), frames.var(0, unbiased=False)
    seen = (lambda x: normalize(x, mean, var)) if args.standardise else (lambda x: x)
    frames = seen(frames)
    train, test = slice(0, 18_000), slice(18_000, 20_000)
    learner = {"name": args.learner, "kwargs": {"obs_shape": [4, 10, 10], "out_features": 3}}
    dataset = DistilledDataset(
        k=args.k,
        obs_shape=(4, 10, 10),
        out_features=3,
        learner=learner,
        generator=torch.Generator().manual_seed(0),
    )
    adam, learners, inits = (
        torch.optim.Adam(dataset.parameters(), lr=args.lr),
        dataset.learners(),
        torch.Generator(),
    )
    inits.manual_seed(1)

    def fitted_logits(rows, graph: bool) -> torch.Tensor:
        net = learners.sample(inits)
        return functional_call(net, dataset.fitted_params(net, create_graph=graph), (frames[rows],))

    for step in range(args.steps):
        rows = torch.randint(train.start, train.stop, (512,))
        loss = torch.stack(
            [torch.nn.functional.cross_entropy(fitted_logits(rows, True), labels[rows]) for _ in range(8)]
        )
        adam.zero_grad()
        loss.mean().backward()
        adam.step()
        if step % 50 == 0 or step == args.steps - 1:
            with torch.no_grad():
                accuracy = [
                    (fitted_logits(test, False).argmax(-1) == labels[test]).float().mean().item()
                    for _ in range(20)
                ]
            print(
                f"step {step}: held-out accuracy {np.mean(accuracy):.3f} (worst learner {min(accuracy):.3f})"
            )
    scores = [play(dataset, learners.sample(inits), seen, seed, args.greedy) for seed in range(args.play)]
    low, high = min(scores), max(scores)
    print(f"{args.play} fresh learners, a game each: mean {np.mean(scores):.1f}, range {low:.0f}-{high:.0f}")


@torch.no_grad()
def play(dataset: DistilledDataset, net: torch.nn.Module, seen, seed: int, greedy: bool) -> float:
    """One game on HaDES's protocol by ``net`` fitted on the dataset."""
    params = dataset.fitted_params(net, create_graph=False)
    env = make_minatar("MinAtar/Breakout-v1", sticky_action_prob=0.0, max_episode_steps=1000)
    frame, _ = env.reset(seed=seed)
    score, done = 0.0, False
    while not done:
        logits = functional_call(net, params, (seen(torch.as_tensor(frame)[None]),))
        choice = logits.argmax(-1) if greedy else torch.distributions.Categorical(logits=logits).sample()
        action = choice.item()
        frame, reward, terminated, truncated, _ = env.step(action)
        score, done = score + reward, terminated or truncated
    return score


if __name__ == "__main__":
    main()
