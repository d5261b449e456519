"""Which k states of a buffer, and which inner step size, make the best one-step file: the search
of the teacher-states baseline. It exists apart from the teacher and the file because it needs
neither: it sees only a buffer of ``(states, logits)`` and scores candidate subsets by the returns
of fresh Λ learners fitted on them, with the library's population step and batched envs."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from taskdistill_rl.envs import make_env
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.inner import mlp_forward, mlp_layers, mlp_population_step_
from taskdistill_rl.learners import make_learners
from taskdistill_rl.rollouts import episode_returns
from taskdistill_rl.seeds import EPOCH_SEED_STRIDE, SEARCH_SEED_MULTIPLIER, STREAM_SEED_STRIDE

if TYPE_CHECKING:
    from taskdistill_rl.baselines.teacher_states import TeacherStatesConfig

# The columns of search.csv: one row per batch of :func:`search_states`.
SEARCH_FIELDS = ["batch", "phase", "wall_seconds", "candidates", "best_score", "best_inner_lr"]


# -- scoring candidates --------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """k rows of the buffer (sorted: a set) and an inner step size."""

    rows: tuple[int, ...]
    inner_lr: float

    @property
    def key(self) -> tuple:
        return self.rows, round(math.log(self.inner_lr), 6)


class CandidateScorer:
    """Mean return of fresh Λ learners fitted one step on each candidate's (states, logits).

    One call scores a batch: ``n`` learners drawn once (the same θ⁰ for every candidate), fitted
    per candidate with the library's population step, then ``n x episodes`` episodes per
    candidate, every candidate on the same env seeds, all stepped together in one batched env.
    """

    def __init__(self, states: torch.Tensor, logits: torch.Tensor, env_id: str, env_kwargs: dict):
        self.states, self.logits = states, logits
        self.env_id, self.env_kwargs = env_id, env_kwargs
        self.learners = make_learners(
            "lambda", obs_shape=tuple(states.shape[1:]), out_features=logits.shape[1]
        )
        with torch.device("meta"):
            self.layers = mlp_layers(self.learners.build())

    def fit(self, candidates: list[Candidate], n: int, seed: int) -> dict[str, torch.Tensor]:
        """Stacked parameters ``[len(candidates) * n, ...]``: candidate c's learners are rows
        ``c * n`` to ``(c + 1) * n``."""
        theta0 = self.learners.sample_stacked(n, torch.Generator().manual_seed(seed))
        params = {name: p.repeat(len(candidates), *([1] * (p.dim() - 1))) for name, p in theta0.items()}
        for c, candidate in enumerate(candidates):
            rows = list(candidate.rows)
            part = {name: p[c * n : (c + 1) * n] for name, p in params.items()}  # views: fitted in place
            mlp_population_step_(self.layers, part, self.states[rows], self.logits[rows], candidate.inner_lr)
        return params

    def forward(self, params: dict[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
        """Logits of every learner: ``obs [N, batch, obs_dim] -> [N, batch, actions]``."""
        return mlp_forward(self.layers, params, obs)

    @torch.no_grad()
    def __call__(self, candidates: list[Candidate], *, n: int, episodes: int, seed: int) -> torch.Tensor:
        """``[len(candidates)]`` mean returns over ``n`` learners x ``episodes`` sampled episodes."""
        params = self.fit(candidates, n, seed)
        size = len(candidates) * n
        env = make_env(self.env_id, num_envs=size * episodes, seed=seed, **self.env_kwargs)

        def act(obs: torch.Tensor) -> torch.Tensor:
            out = self.forward(params, obs.float().reshape(size, episodes, -1)).reshape(size * episodes, -1)
            return torch.distributions.Categorical(logits=out).sample()

        try:
            with torch.random.fork_rng():  # sampling is seeded here and leaves the caller's stream alone
                torch.manual_seed(seed)
                returns = episode_returns(env, act)
        finally:
            env.close()
        return returns.reshape(len(candidates), n * episodes).mean(1)


# -- the search ----------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What :func:`search_states` returns."""

    best: Candidate
    #: the best candidate's final-phase mean return
    score: float
    #: seconds the search ran
    wall_seconds: float
    #: batches per phase
    batches: dict[str, int]
    #: candidates scored in all
    evaluated: int
    #: one row per batch (:data:`SEARCH_FIELDS`)
    history: list[dict]


class _Pool:
    """Running mean score of every candidate seen (keyed by rows and step size)."""

    def __init__(self):
        self.entries: dict[tuple, list] = {}  # key -> [candidate, sum, count]

    def add(self, candidates: list[Candidate], scores: torch.Tensor) -> None:
        for candidate, score in zip(candidates, scores.tolist(), strict=True):
            entry = self.entries.setdefault(candidate.key, [candidate, 0.0, 0])
            entry[1] += score
            entry[2] += 1

    def top(self, n: int) -> list[Candidate]:
        ranked = sorted(self.entries.values(), key=lambda e: e[1] / e[2], reverse=True)
        return [e[0] for e in ranked[:n]]

    def mean(self, candidate: Candidate) -> float:
        _, total, count = self.entries[candidate.key]
        return total / count


class _Proposals:
    """Random and mutated candidates, drawn from one seeded generator."""

    def __init__(
        self, actions: torch.Tensor, k: int, lr_range: tuple[float, float], generator: torch.Generator
    ):
        self.actions, self.k, self.generator = actions, k, generator
        self.n = len(actions)
        self.log_lr = (math.log(lr_range[0]), math.log(lr_range[1]))
        self.by_action = [torch.nonzero(actions == a).flatten() for a in range(int(actions.max()) + 1)]
        self.by_action = [rows for rows in self.by_action if len(rows)]

    def _uniform(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.generator))

    def _rand(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def _row_with_action(self, group: torch.Tensor) -> int:
        return int(group[self._uniform(len(group))])

    def random(self) -> Candidate:
        if self._rand() < 0.5:
            rows = torch.randperm(self.n, generator=self.generator)[: self.k].tolist()
        else:  # as many different teacher actions as k allows
            order = torch.randperm(len(self.by_action), generator=self.generator).tolist()
            rows = [self._row_with_action(self.by_action[order[i % len(order)]]) for i in range(self.k)]
        low, high = self.log_lr
        return self._make(rows, math.exp(low + (high - low) * self._rand()))

    def mutate(self, parent: Candidate) -> Candidate:
        rows, lr = list(parent.rows), parent.inner_lr
        kind = self._rand()
        if kind < 0.7:  # swap one state (and, a third of the time, rescale the step too)
            i = self._uniform(self.k)
            if self._rand() < 0.5:
                rows[i] = self._row_with_action(self.by_action_of(rows[i]))
            else:
                rows[i] = self._uniform(self.n)
        if kind >= 0.45:  # rescale the step size by a log-normal factor (median x1, ~x1.6 typical)
            lr *= math.exp(0.5 * float(torch.randn((), generator=self.generator)))
        return self._make(rows, lr)

    def by_action_of(self, row: int) -> torch.Tensor:
        return torch.nonzero(self.actions == self.actions[row]).flatten()

    def _make(self, rows: list[int], lr: float) -> Candidate:
        if len(set(rows)) < len(rows):  # a repeated row: replace it by a uniform draw
            seen: set[int] = set()
            for i, row in enumerate(rows):
                while row in seen:
                    row = self._uniform(self.n)
                seen.add(row)
                rows[i] = row
        return Candidate(tuple(sorted(rows)), lr)


def search_states(
    states: torch.Tensor,
    logits: torch.Tensor,
    config: TeacherStatesConfig,
    *,
    on_batch: Callable[[dict], None] | None = None,
) -> SearchResult:
    """Choose k rows of ``(states, logits)`` and the inner step size, within ``config.time_budget``
    seconds or the configured numbers of batches.

    The search goes in batches scored by env returns (all candidates of a batch share the same
    fresh learners and env seeds: common random numbers, so their differences are not sampling
    noise):

    1. *random* (the first ``random_fraction`` of the budget): random k-subsets of the buffer (half
       of them with as many different teacher actions as k allows) with log-uniform step sizes;
    2. *local* (until only the final phase's estimated time is left): a (μ+λ) search around the
       best candidates so far: swap one state for another buffer row (half the time one where the
       teacher takes the same action), rescale the step size, or both; the elites are re-scored in
       every batch, so their running means average the noise out;
    3. *final*: the best few by running mean are scored once more with more learners and episodes,
       and the best of that is kept.

    Args:
        states: ``[N, obs_dim]`` the buffer of real states.
        logits: ``[N, actions]`` the teacher's logits at them.
        config: the run's options (``k``, ``seed``, budget, batch sizes).

    Keyword Args:
        on_batch: called with each batch's history row (progress bars).
    """
    k = config.k
    if len(states) < k:
        raise InvalidInputError(f"the buffer holds {len(states)} states, fewer than k = {k}")
    scorer = CandidateScorer(states, logits, config.env, config.env_kwargs)
    proposals = _Proposals(
        logits.argmax(-1), k, config.lr_range, torch.Generator().manual_seed(config.seed + 1)
    )
    pool, history = _Pool(), []
    budget = config.time_budget
    by_batches = config.random_batches is not None
    start = time.perf_counter()
    batches = {"random": 0, "local": 0, "final": 0}
    evaluated = 0
    durations: list[float] = []  # seconds per screening batch
    # the final phase plays about this many screening batches' worth of episodes
    final_share = (config.final_candidates * config.final_learners * config.final_episodes) / (
        config.batch_candidates * config.screen_learners * config.screen_episodes
    )

    def elapsed() -> float:
        return time.perf_counter() - start

    def phase() -> str | None:
        if by_batches:
            if batches["random"] < config.random_batches:
                return "random"
            return "local" if batches["local"] < config.local_batches else None
        if batches["random"] == 0 or elapsed() < config.random_fraction * budget:
            return "random"
        recent = max(durations[-3:])  # episodes grow longer as candidates improve
        return "local" if elapsed() + (1 + final_share) * recent <= budget else None

    def record(name: str, candidates: list[Candidate], best: Candidate, score: float) -> None:
        row = {
            "batch": sum(batches.values()),
            "phase": name,
            "wall_seconds": round(elapsed(), 3),
            "candidates": len(candidates),
            "best_score": round(score, 3),
            "best_inner_lr": best.inner_lr,
        }
        history.append(row)
        if on_batch is not None:
            on_batch(row)

    n_elites = max(1, config.batch_candidates // 16)
    while (name := phase()) is not None:
        batch_seed = config.seed * SEARCH_SEED_MULTIPLIER + EPOCH_SEED_STRIDE * (sum(batches.values()) + 1)
        batch_start = time.perf_counter()
        if name == "random":
            candidates = [proposals.random() for _ in range(config.batch_candidates)]
        else:
            elites = pool.top(n_elites)  # re-scored: their running means average the noise out
            children = [
                proposals.mutate(elites[0] if i % 2 == 0 else elites[i % len(elites)])
                for i in range(config.batch_candidates - len(elites))
            ]
            candidates = elites + children
        scores = scorer(
            candidates, n=config.screen_learners, episodes=config.screen_episodes, seed=batch_seed
        )
        evaluated += len(candidates)
        durations.append(time.perf_counter() - batch_start)
        pool.add(candidates, scores)
        batches[name] += 1
        best = pool.top(1)[0]
        record(name, candidates, best, pool.mean(best))

    finalists = pool.top(config.final_candidates)
    final_seed = config.seed * SEARCH_SEED_MULTIPLIER + STREAM_SEED_STRIDE
    scores = scorer(finalists, n=config.final_learners, episodes=config.final_episodes, seed=final_seed)
    evaluated += len(finalists)
    batches["final"] = 1
    winner = int(scores.argmax())
    record("final", finalists, finalists[winner], float(scores[winner]))
    return SearchResult(
        best=finalists[winner],
        score=float(scores[winner]),
        wall_seconds=elapsed(),
        batches=batches,
        evaluated=evaluated,
        history=history,
    )


__all__ = ["SEARCH_FIELDS", "Candidate", "CandidateScorer", "SearchResult", "search_states"]
