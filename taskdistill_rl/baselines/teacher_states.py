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

The pieces have their own modules: the teacher's labels, buffer and returns in
:mod:`taskdistill_rl.baselines.teacher`, the search in :mod:`taskdistill_rl.baselines.state_search`.
This one holds the run's options, the file it writes and the two entry points that put the pieces
together: :func:`run_teacher_states` (teacher, buffer, search, file) and
:func:`run_teacher_states_baseline` (that, then the file's evaluation and the run's records: what
``taskdistill baseline --algo teacher-states`` prints and writes). It re-exports the pieces' names,
so that their old import path from here keeps working.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from taskdistill_rl.baselines.state_search import (
    SEARCH_FIELDS,
    Candidate,
    CandidateScorer,
    SearchResult,
    search_states,
)
from taskdistill_rl.baselines.teacher import (
    collect_buffer,
    collect_teacher_states,
    teacher_logits,
    teacher_returns,
)
from taskdistill_rl.compat import env_actions
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.builders import describe_preprocessing
from taskdistill_rl.envs.families import family_of
from taskdistill_rl.envs.registration import NDCARTPOLE_ID
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.evaluate import evaluate_distributions
from taskdistill_rl.io import atomic_write, write_csv
from taskdistill_rl.learners import default_learner
from taskdistill_rl.results import evaluation_record, results_entry, write_evaluation, write_summary
from taskdistill_rl.rundir import RunLayout
from taskdistill_rl.seeds import EVAL_SEED_OFFSET

logger = logging.getLogger(__name__)

SOURCE = "teacher-states"  # meta["source"] of the files this baseline writes
# What `taskdistill baseline --algo teacher-states --out OUT` writes (and --overwrite deletes).
LAYOUT = RunLayout(
    markers=("summary.json", "eval.json", "distilled.pt", "teacher.zip"),
    outputs=("summary.json", "eval.json", "distilled.pt", "teacher.zip", "search.csv", "config.toml"),
)
EVAL_LEARNERS = 100  # fresh learners in the file's evaluation, as many as distill's final one


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


# -- the whole baseline run ----------------------------------------------------------------------
@dataclass
class TeacherStatesRun:
    """What :func:`run_teacher_states_baseline` returns: the file, how it was made, its evaluation
    and the run's records (what ``taskdistill baseline --algo teacher-states`` prints and writes)."""

    config: TeacherStatesConfig
    #: the teacher, its buffer, the search and the file (:func:`run_teacher_states`)
    result: TeacherStatesResult
    #: the file's evaluation: an ``eval.json`` record (:func:`~taskdistill_rl.results.evaluation_record`)
    evaluation: dict
    #: the ``summary.json`` facts, without the volatile ones
    #: :func:`~taskdistill_rl.results.write_summary` adds
    summary: dict
    #: the ``taskdistill baseline`` command that reproduces the file: the search bounded by the
    #: batches this run reached, so that it does not depend on the machine's speed
    reproduce: str

    @property
    def dataset(self) -> DistilledDataset:
        """The distilled file: the chosen states, the teacher's logits there, the step size."""
        return self.result.dataset

    @property
    def wall_seconds(self) -> float:
        """Teacher training, buffer collection and search (the evaluation is not counted)."""
        return sum(self.result.seconds.values())

    @property
    def env_frames(self) -> int:
        """The teacher's training timesteps."""
        return int(self.result.teacher.model.num_timesteps)

    def write(self, out_dir: Path) -> None:
        """The run's files in ``out_dir`` (``LAYOUT``; ``config.toml`` is the caller's record):
        the file, the teacher, the search's history, ``eval.json`` and ``summary.json``."""
        self.dataset.save(out_dir / "distilled.pt")
        atomic_write(out_dir / "teacher.zip", lambda f: self.result.teacher.model.save(f))
        write_csv(out_dir / "search.csv", SEARCH_FIELDS, self.result.search.history)
        write_evaluation(out_dir / "eval.json", self.evaluation)
        write_summary(out_dir, self.summary)


def teacher_states_config(
    env: str,
    env_kwargs: dict,
    *,
    k: int | None = None,
    seed: int = 0,
    time_budget: float | None = None,
    search_batches: str | None = None,
    teacher_target: float | None = None,
    teacher_timesteps: int | None = None,
    teacher_chunk: int = 10_000,
) -> TeacherStatesConfig:
    """The config ``taskdistill baseline --algo teacher-states`` options ask for, defaults filled
    in: k = ceil(actions/2)+1, 60 search seconds unless ``search_batches`` (``"RANDOM,LOCAL"``)
    bounds the search, the teacher's target 475 on ND cart-pole (else the env's reward threshold).

    Raises:
        InvalidInputError: an env this baseline does not support, or malformed ``search_batches``.
    """
    import gymnasium as gym

    _, actions = check_supported(env, env_kwargs)  # unknown, continuous or image envs fail here
    batches: dict[str, int | None] = {"random_batches": None, "local_batches": None}
    if search_batches is not None:
        try:
            batches["random_batches"], batches["local_batches"] = (int(v) for v in search_batches.split(","))
        except ValueError as err:
            raise InvalidInputError(
                f"--search-batches expects RANDOM,LOCAL (two ints), got {search_batches!r}"
            ) from err
    if teacher_target is None:
        teacher_target = 475.0 if env == NDCARTPOLE_ID else gym.spec(env).reward_threshold
    return TeacherStatesConfig(
        env=env,
        env_kwargs=env_kwargs,
        k=math.ceil(actions / 2) + 1 if k is None else k,
        seed=seed,
        time_budget=None if search_batches is not None else (60.0 if time_budget is None else time_budget),
        teacher_target=teacher_target,
        teacher_timesteps=teacher_timesteps or 200_000,
        teacher_chunk=teacher_chunk,
        **batches,
    )


def command_record(config: TeacherStatesConfig, *, episodes: int) -> dict:
    """``config`` as the ``baseline`` command's ``config.toml`` records it: the command's options
    by their flag names (so ``--config`` reads it back), the search's other settings and the
    teacher's PPO hyper-parameters under ``hyperparams``."""
    from taskdistill_rl.baselines.sb3_ppo import hyperparams_for

    settings = config.to_dict()
    record: dict = {
        "command": "baseline",
        "algo": "teacher-states",
        **{name: settings.pop(name) for name in ("env", "env_kwargs", "k", "seed")},
        "episodes": episodes,
        "timesteps": settings.pop("teacher_timesteps"),
        "chunk": settings.pop("teacher_chunk"),
    }
    if settings.get("teacher_target") is not None:
        record["target_return"] = settings.pop("teacher_target")
    if config.random_batches is not None:
        record["search_batches"] = f"{config.random_batches},{config.local_batches}"
    else:
        record["time_budget"] = settings.pop("time_budget")
    record["hyperparams"] = {"teacher": hyperparams_for(config.env), "search": settings}
    return record


def run_teacher_states_baseline(
    config: TeacherStatesConfig,
    *,
    episodes: int = 100,
    progress: Callable[[str, dict], None] | None = None,
) -> TeacherStatesRun:
    """The teacher-states baseline run: :func:`run_teacher_states`, then the file evaluated as
    ``distill`` evaluates its own (:data:`EVAL_LEARNERS` fresh Λ learners x ``episodes`` sampled
    episodes, on the distiller's evaluation seed), and the run's records.

    Args:
        config: the run's options.

    Keyword Args:
        episodes: episodes per learner in the evaluation.
        progress: called as ``progress(stage, info)``: ``("teacher", point)`` after each of the
            teacher's evaluated chunks (:func:`~taskdistill_rl.baselines.sb3_ppo.train_ppo`'s
            ``on_chunk`` point), ``("search", row)`` after each search batch (a
            :data:`SEARCH_FIELDS` row), then ``("evaluate", {"n_learners": ..., "episodes": ...})``
            once, before the evaluation.

    Raises:
        UnknownEnvError, InvalidInputError: see :func:`check_supported`.
        ImportError: stable-baselines3 is not installed.
    """
    from taskdistill_rl.distill import fit_seconds_per_learner  # distill.py brings the outer algorithms

    def report(stage: str) -> Callable[[dict], None] | None:
        return None if progress is None else lambda info: progress(stage, info)

    result = run_teacher_states(config, on_teacher_chunk=report("teacher"), on_batch=report("search"))
    ds, search, seconds, teacher = result.dataset, result.search, result.seconds, result.teacher
    if progress is not None:
        progress("evaluate", {"n_learners": EVAL_LEARNERS, "episodes": episodes})
    eval_seed = config.seed + EVAL_SEED_OFFSET  # the distiller's final evaluation, on the same seeds
    returns = evaluate_distributions(
        ds,
        ["lambda"],
        env_id=config.env,
        env_kwargs=config.env_kwargs,
        n_learners=EVAL_LEARNERS,
        episodes=episodes,
        seed=eval_seed,
    )
    evaluation = evaluation_record(
        env_id=config.env,
        env_kwargs=config.env_kwargs,
        k=config.k,
        seed=eval_seed,
        deterministic=False,
        results={"lambda": results_entry(returns["lambda"], n_learners=EVAL_LEARNERS)},
    )
    reproduce = (
        f"taskdistill baseline --algo teacher-states --env {config.env}"
        + "".join(f" --env-kwargs {key}={value!r}" for key, value in config.env_kwargs.items())
        + f" --k {config.k} --seed {config.seed}"
        + f" --search-batches {search.batches['random']},{search.batches['local']}"
        + f" --episodes {episodes} --out OUT"
    )
    summary = {
        "kind": "baseline-teacher-states",
        "env": config.env,
        "env_kwargs": config.env_kwargs,
        "k": config.k,
        "wall_seconds": sum(seconds.values()),
        "seconds": seconds,
        "search_budget_seconds": config.time_budget,
        "env_frames": int(teacher.model.num_timesteps),
        "final_inner_lr": float(ds.inner_lr.detach()),
        "evaluation": evaluation,
        "fit_seconds_per_learner": fit_seconds_per_learner(ds),
        "teacher": {
            "algo": "sb3-ppo",
            "timesteps": int(teacher.model.num_timesteps),
            "reached_target": teacher.reached_target,
            "train_seconds": seconds["teacher_train"],
            "return_mean": float(result.teacher_returns.mean()),
            "return_std": float(result.teacher_returns.std(unbiased=False)),
        },
        "search": {
            "buffer_states": len(result.states),
            "buffer_rows": list(search.best.rows),
            "batches": search.batches,
            "candidates_scored": search.evaluated,
            "final_score": search.score,
            "seconds": search.wall_seconds,
        },
        "reproduce": reproduce,
    }
    return TeacherStatesRun(
        config=config, result=result, evaluation=evaluation, summary=summary, reproduce=reproduce
    )


__all__ = [
    "EVAL_LEARNERS",
    "LAYOUT",
    "SEARCH_FIELDS",
    "SOURCE",
    "Candidate",
    "CandidateScorer",
    "SearchResult",
    "TeacherStatesConfig",
    "TeacherStatesResult",
    "TeacherStatesRun",
    "check_supported",
    "collect_buffer",
    "collect_teacher_states",
    "make_dataset",
    "run_teacher_states",
    "run_teacher_states_baseline",
    "search_states",
    "teacher_logits",
    "teacher_returns",
]
