"""Your own outer algorithm in one file: a random search over the dataset.

Each meta-epoch scores the current dataset and ``candidates`` perturbations of it (X, Y and the log
inner lr, Gaussian noise of scale ``sigma``) by the mean return of the same fresh learners fitted on
each, on the same episode seeds, and keeps the best. Nothing else in the tool changes to
run it: checkpoints, ``--resume``, ``--nproc``, the run directory and the evaluation come with the
interface. On several ranks every rank draws the same candidates (the generator is seeded from
``config.seed``, not the rank), scores its share, and the scores are gathered: each rank keeps the
same winner, and the run equals the one-process run. It steps no env itself (``evaluate`` does),
so it reports no training frames.

    taskdistill distill --algo examples.own_algorithm:RandomSearch --epochs 20 --out runs/search
    taskdistill distill --algo examples.own_algorithm:RandomSearch --algo-option sigma=0.3 \\
        --epochs 20 --out runs/search2 --nproc 2
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from taskdistill_rl.algorithms import register_algorithm
from taskdistill_rl.algorithms.base import Algorithm, starting_dataset, training_env
from taskdistill_rl.devices import cpu_copy


@dataclass(frozen=True)
class SearchOptions:
    candidates: int = 8  # perturbed datasets scored per meta-epoch, besides the current one
    sigma: float = 0.5  # the noise's scale
    learners: int = 4  # fresh learners per score
    episodes: int = 2  # episodes per learner


@register_algorithm("random_search")
class RandomSearch(Algorithm):
    Options = SearchOptions
    metric_fields = (
        "train/best_return",
        "train/current_return",
        "train/candidate_return_mean",
        "train/accepted",
    )

    def __init__(self, env, *, config, stream: int = 0):
        self.config = config.resolved()
        specs = training_env(env, replace(self.config, num_envs=1), device=torch.device("cpu"), seed=0)
        self.config, dataset = starting_dataset(specs, self.config, named=isinstance(env, str))
        specs.close()  # only its specs were needed
        self.dataset = dataset.to(self.config.device)
        self.generator = torch.Generator().manual_seed(self.config.seed)  # the same on every rank
        self.meta_epoch = 0

    def step(self) -> dict:
        opts, group, ds = self.options, self.group, self.dataset
        base = {name: t.detach().clone() for name, t in ds.state_dict().items()}
        learned = [name for name, p in ds.named_parameters() if p.requires_grad]
        noise = [{}] + [  # candidate 0: the current dataset
            {name: opts.sigma * torch.randn(base[name].shape, generator=self.generator) for name in learned}
            for _ in range(opts.candidates)
        ]
        scores = torch.full((len(noise),), float("-inf"))
        seed = self.config.seed + 1000 * self.meta_epoch  # common random numbers for all candidates
        for i in range(group.rank, len(noise), group.size):  # this rank's share
            self._load(base, noise[i])
            scores[i] = self.evaluate(n_learners=opts.learners, episodes=opts.episodes, seed=seed).mean()
        scores = torch.stack(group.gather(scores)).amax(0)  # every candidate's score on every rank
        winner = int(scores.argmax())
        self._load(base, noise[winner])
        self.meta_epoch += 1
        return {
            "meta_epoch": self.meta_epoch,
            "train/best_return": float(scores[winner]),
            "train/current_return": float(scores[0]),
            "train/candidate_return_mean": float(scores[1:].mean()),
            "train/accepted": int(winner != 0),
        }

    def _load(self, base: dict, noise: dict) -> None:
        device = self.config.device
        self.dataset.load_state_dict({**base, **{n: base[n] + e.to(device) for n, e in noise.items()}})

    def state_dict(self) -> dict:
        return cpu_copy(
            {
                "meta_epoch": self.meta_epoch,
                "dataset": self.dataset.state_dict(),
                "generator": self.generator.get_state(),
            }
        )

    def load_state_dict(self, state: dict) -> None:
        self.meta_epoch = state["meta_epoch"]
        self.dataset.load_state_dict(state["dataset"])
        self.generator.set_state(state["generator"])
