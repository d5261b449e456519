"""Real-data baseline: k real states from a trained SB3 PPO teacher's rollouts, labelled with the
teacher's logits, and the inner step size, searched so that fresh Λ learners fitted ONE SGD step on
them act well (issue 15, item 5).

It answers "would real states do?": the file it writes is an ordinary distilled ``.pt`` (``X`` =
the chosen states, ``Y`` = the teacher's action logits there, ``inner_lr`` = the chosen step size,
``meta["source"] = "teacher-states"``), evaluated by ``taskdistill evaluate`` exactly like a
distilled one. Only the choice of the k rows of the buffer and of the step size is searched; the
states and labels are never changed.

Accounting: the teacher is trained first and not counted in the search budget (a distillation
starts from nothing, so this baseline gets a trained teacher for free); the search gets the
distillation's budget (``time_budget``: 60 s for 1D cart-pole k=2, 150 s for 2D k=3). Both times
are reported.

The search, in batches scored by env returns (all candidates of a batch share the same fresh
learners and env seeds: common random numbers, so their differences are not sampling noise):

1. *random* (the first ``random_fraction`` of the budget): random k-subsets of the buffer (half of
   them with as many different teacher actions as k allows) with log-uniform step sizes;
2. *local* (until only the final phase's estimated time is left): a (μ+λ) search around the best
   candidates so far: swap one state for another buffer row (half the time one where the teacher
   takes the same action), rescale the step size, or both; the elites are re-scored in every
   batch, so their running means average the noise out;
3. *final*: the best few by running mean are scored once more with more learners and episodes,
   and the best of that is kept.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from taskdistill_rl.compat import env_actions
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.builders import describe_preprocessing
from taskdistill_rl.envs.families import family_of
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.inner import mlp_forward, mlp_layers, mlp_population_step_
from taskdistill_rl.learners import default_learner, make_learners
from taskdistill_rl.rollouts import episode_returns
from taskdistill_rl.rundir import RunLayout
from taskdistill_rl.seeds import EPOCH_SEED_STRIDE, SEARCH_SEED_MULTIPLIER, STREAM_SEED_STRIDE

logger = logging.getLogger(__name__)

SOURCE = "teacher-states"  # meta["source"] of the files this baseline writes
# What `taskdistill baseline --algo teacher-states --out OUT` writes (and --overwrite deletes).
LAYOUT = RunLayout(
    markers=("summary.json", "eval.json", "distilled.pt", "teacher.zip"),
    outputs=("summary.json", "eval.json", "distilled.pt", "teacher.zip", "search.csv", "config.toml"),
)
SEARCH_FIELDS = ["batch", "phase", "wall_seconds", "candidates", "best_score", "best_inner_lr"]


@dataclass(frozen=True)
class TeacherStatesConfig:
    """Everything one teacher-states run depends on (written to ``config.toml``)."""

    env: str = "NDCartPole-v0"
    """Gymnasium id; discrete actions and vector observations (``NDCartPole-v0`` or classic control)."""
    env_kwargs: dict = field(default_factory=dict)
    """Constructor arguments, e.g. ``{"n_dims": 2}``."""
    k: int = 2
    """States in the file."""
    seed: int = 0
    """Seeds the teacher, the buffer and the search (runs bounded by batches are reproducible)."""
    time_budget: float | None = 60.0
    """Search seconds (the distillation budget); the teacher's training is not counted."""
    random_batches: int | None = None
    """Random-phase batches; with ``local_batches``, bounds the search by batches instead of time."""
    local_batches: int | None = None
    """Local-phase batches (see ``random_batches``)."""
    teacher_target: float | None = 475.0
    """Stop the teacher's PPO once a chunk's evaluation reaches this mean return."""
    teacher_timesteps: int = 200_000
    """The teacher's training cap (timesteps)."""
    teacher_chunk: int = 10_000
    """Teacher timesteps between its evaluations."""
    buffer_states: int = 10_000
    """Real states collected from the teacher's rollouts to choose from (split evenly over
    ``temperatures``)."""
    temperatures: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    """The teacher acts by sampling ``softmax(logits / T)`` for each T: T = 1 is its own policy,
    whose states crowd near the upright pole; hotter rollouts reach the wider states that one SGD
    step learns more from (1D k=2: 96 at T = 1 alone, 361 with these four). Labels are always the
    teacher's own logits."""
    lr_range: tuple[float, float] = (0.3, 3000.0)
    """Step sizes of the random phase: log-uniform in this range (the local phase may leave it)."""
    batch_candidates: int = 64
    """Candidates scored per batch."""
    screen_learners: int = 8
    """Fresh learners per candidate in a random/local batch."""
    screen_episodes: int = 2
    """Episodes per learner in a random/local batch."""
    final_candidates: int = 16
    """Candidates re-scored in the final phase."""
    final_learners: int = 32
    """Fresh learners per candidate in the final phase."""
    final_episodes: int = 4
    """Episodes per learner in the final phase."""
    random_fraction: float = 0.25
    """Share of the budget for the random phase (the local phase finds more per second)."""

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InvalidInputError(
                f"k (the number of states in the file) must be an int >= 1, got {self.k!r}"
            )
        by_batches = self.random_batches is not None or self.local_batches is not None
        if by_batches and (self.random_batches is None or self.local_batches is None):
            raise InvalidInputError("give both random_batches and local_batches, or neither")
        if by_batches and (self.random_batches < 1 or self.local_batches < 0):
            raise InvalidInputError(
                f"random_batches must be >= 1 and local_batches >= 0, got {self.random_batches} and "
                f"{self.local_batches}"
            )
        if not by_batches and (self.time_budget is None or not self.time_budget > 0):
            raise InvalidInputError(
                f"time_budget must be > 0 seconds (or give random_batches and local_batches), "
                f"got {self.time_budget}"
            )
        if self.buffer_states < self.k:
            raise InvalidInputError(f"buffer_states must be >= k = {self.k}, got {self.buffer_states}")
        if not self.temperatures or any(not t > 0 for t in self.temperatures):
            raise InvalidInputError(f"temperatures must be > 0 (at least one), got {self.temperatures}")
        low, high = self.lr_range
        if not 0 < low <= high:
            raise InvalidInputError(f"lr_range must be (low, high) with 0 < low <= high, got {self.lr_range}")
        for name in ("batch_candidates", "screen_learners", "screen_episodes", "final_candidates"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if min(self.final_learners, self.final_episodes, self.teacher_timesteps, self.teacher_chunk) < 1:
            raise InvalidInputError("final_learners, final_episodes and the teacher's timesteps must be >= 1")
        if not 0 < self.random_fraction < 1:
            raise InvalidInputError(f"random_fraction must be in (0, 1), got {self.random_fraction}")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["lr_range"], out["temperatures"] = list(self.lr_range), list(self.temperatures)
        return {key: value for key, value in out.items() if value is not None}


def check_supported(env_id: str, env_kwargs: dict | None = None) -> tuple[tuple[int, ...], int]:
    """``(obs_shape, n_actions)`` of ``env_id``, or a clear error where this baseline does not apply.

    Raises:
        UnknownEnvError: gymnasium does not know the id.
        InvalidInputError: Atari/MuJoCo, continuous actions or image observations.
    """
    family = family_of(env_id)
    if not family.teacher_states:
        raise InvalidInputError(
            f"the teacher-states baseline supports NDCartPole-v0 and classic-control ids with discrete "
            f"actions; {env_id!r} is {family.description}"
        )
    env = make_env(env_id, num_envs=1, seed=0, **(env_kwargs or {}))
    try:
        kind, n_actions = env_actions(env)
        obs_shape = tuple(env.observation_spec["observation"].shape[1:])
    finally:
        env.close()
    if kind != "discrete":
        raise InvalidInputError(
            f"the teacher-states baseline supports discrete actions only; {env_id!r} has continuous "
            "actions (its labels would be the teacher's action means, which this baseline does not search)"
        )
    if len(obs_shape) != 1:
        raise InvalidInputError(
            f"the teacher-states baseline needs vector observations, got shape {obs_shape}"
        )
    return obs_shape, n_actions


# -- the teacher ---------------------------------------------------------------------------------
@torch.no_grad()
def teacher_logits(model, observations: torch.Tensor) -> torch.Tensor:
    """The SB3 policy's action logits (``action_net``'s raw output, before the softmax) at
    ``observations [N, obs_dim]``: ``Categorical(logits=...)`` is the teacher's action distribution."""
    policy = model.policy
    obs = observations.to(policy.device, torch.float32)
    features = policy.extract_features(obs)
    if isinstance(features, tuple):  # separate actor and critic feature extractors
        features = features[0]
    return policy.action_net(policy.mlp_extractor.forward_actor(features)).float().cpu()


@torch.no_grad()
def collect_teacher_states(
    model,
    env_id: str,
    env_kwargs: dict,
    *,
    n_states: int,
    seed: int,
    temperature: float = 1.0,
    num_envs: int = 20,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_states`` real states visited by the teacher acting by sampling ``softmax(logits /
    temperature)``, and its (untempered) logits there: ``(states [N, obs_dim], logits [N, actions])``.

    The envs reset themselves when an episode ends, so the buffer holds whole episodes' states."""
    num_envs = min(num_envs, n_states)
    env = make_env(env_id, num_envs=num_envs, seed=seed, **env_kwargs)
    generator = torch.Generator().manual_seed(seed)
    states, logits = [], []
    try:
        td = env.reset()
        for _ in range(math.ceil(n_states / num_envs)):
            obs = td.get("observation").float()
            out = teacher_logits(model, obs)
            states.append(obs)
            logits.append(out)
            action = torch.multinomial((out / temperature).softmax(-1), 1, generator=generator).squeeze(-1)
            td.set("action", action)
            _, td = env.step_and_maybe_reset(td)
    finally:
        env.close()
    return torch.cat(states)[:n_states], torch.cat(logits)[:n_states]


def collect_buffer(
    model, env_id: str, env_kwargs: dict, *, n_states: int, temperatures: tuple[float, ...], seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The search's buffer: :func:`collect_teacher_states` at each temperature, ``n_states`` in all."""
    sizes = [
        n_states // len(temperatures) + (i < n_states % len(temperatures)) for i in range(len(temperatures))
    ]
    parts = [
        collect_teacher_states(model, env_id, env_kwargs, n_states=size, seed=seed + i, temperature=t)
        for i, (t, size) in enumerate(zip(temperatures, sizes, strict=True))
        if size
    ]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


@torch.no_grad()
def teacher_returns(
    model, env_id: str, env_kwargs: dict, *, episodes: int = 100, seed: int = 0
) -> torch.Tensor:
    """``[episodes]`` returns of the teacher acting by sampled actions, all episodes stepped together."""
    env = make_env(env_id, num_envs=episodes, seed=seed, **env_kwargs)
    generator = torch.Generator().manual_seed(seed)
    try:
        return episode_returns(
            env,
            lambda obs: torch.multinomial(
                teacher_logits(model, obs).softmax(-1), 1, generator=generator
            ).squeeze(-1),
        )
    finally:
        env.close()


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
    """Choose k rows of ``(states, logits)`` and the inner step size (module docstring: the three
    phases), within ``config.time_budget`` seconds or the configured numbers of batches.

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


# -- the file ------------------------------------------------------------------------------------
def make_dataset(
    states: torch.Tensor, logits: torch.Tensor, candidate: Candidate, *, meta: dict
) -> DistilledDataset:
    """A normal distilled file: ``X`` = the chosen real states, ``Y`` = the teacher's logits there,
    ``inner_lr`` = the chosen step size, for Λ; ``meta`` gets ``source = "teacher-states"`` and the
    buffer rows."""
    rows = list(candidate.rows)
    obs_shape, actions = tuple(states.shape[1:]), logits.shape[1]
    ds = DistilledDataset(
        k=len(rows),
        obs_shape=obs_shape,
        out_features=actions,
        learner=default_learner(obs_shape, actions),
        meta={**meta, "source": SOURCE, "buffer_rows": rows},
    )
    with torch.no_grad():
        ds.observation.copy_(states[rows])
        ds.label.copy_(logits[rows])
        ds.log_inner_lr.copy_(torch.tensor(candidate.inner_lr).log())
    return ds


@dataclass
class TeacherStatesResult:
    """What :func:`run_teacher_states` returns."""

    dataset: DistilledDataset
    search: SearchResult
    #: the SB3 PPO training result (its ``model`` is the teacher)
    teacher: object
    #: the teacher's own returns (100 sampled-action episodes)
    teacher_returns: torch.Tensor
    states: torch.Tensor
    logits: torch.Tensor
    #: seconds: teacher training, buffer collection and teacher evaluation, search
    seconds: dict[str, float]


def run_teacher_states(
    config: TeacherStatesConfig,
    *,
    on_teacher_chunk: Callable[[dict], None] | None = None,
    on_batch: Callable[[dict], None] | None = None,
) -> TeacherStatesResult:
    """Train the teacher, collect its states, search (:func:`search_states`), build the file.

    Raises:
        UnknownEnvError, InvalidInputError: see :func:`check_supported`.
        ImportError: stable-baselines3 is not installed.
    """
    from taskdistill_rl.baselines.sb3_ppo import train_ppo

    check_supported(config.env, config.env_kwargs)
    start = time.perf_counter()
    teacher = train_ppo(
        config.env,
        seed=config.seed,
        env_kwargs=config.env_kwargs,
        target_return=config.teacher_target,
        timesteps=None if config.teacher_target is not None else config.teacher_timesteps,
        max_timesteps=config.teacher_timesteps,
        chunk=config.teacher_chunk,
        eval_episodes=10,
        on_chunk=on_teacher_chunk,
    )
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model = teacher.model
    returns = teacher_returns(model, config.env, config.env_kwargs, seed=config.seed + 20_000)
    states, logits = collect_buffer(
        model,
        config.env,
        config.env_kwargs,
        n_states=config.buffer_states,
        temperatures=config.temperatures,
        seed=config.seed + 30_000,
    )
    collect_seconds = time.perf_counter() - start
    logger.info("teacher: %.1f s, return %.1f; %d states", train_seconds, float(returns.mean()), len(states))
    search = search_states(states, logits, config, on_batch=on_batch)
    env = make_env(config.env, num_envs=1, **config.env_kwargs)
    try:
        preprocessing = describe_preprocessing(env)
    finally:
        env.close()
    meta = {
        "env_id": config.env,
        "env_kwargs": dict(config.env_kwargs),
        "preprocessing": preprocessing,
        "inner_steps": 1,
        "teacher": {
            "algo": "sb3-ppo",
            "timesteps": int(model.num_timesteps),
            "return_mean": float(returns.mean()),
            "rollout_temperatures": list(config.temperatures),
        },
    }
    return TeacherStatesResult(
        dataset=make_dataset(states, logits, search.best, meta=meta),
        search=search,
        teacher=teacher,
        teacher_returns=returns,
        states=states,
        logits=logits,
        seconds={
            "teacher_train": train_seconds,
            "teacher_collect": collect_seconds,
            "search": search.wall_seconds,
        },
    )


__all__ = [
    "LAYOUT",
    "SOURCE",
    "Candidate",
    "CandidateScorer",
    "SearchResult",
    "TeacherStatesConfig",
    "TeacherStatesResult",
    "check_supported",
    "collect_buffer",
    "collect_teacher_states",
    "make_dataset",
    "run_teacher_states",
    "search_states",
    "teacher_logits",
    "teacher_returns",
]
