"""One direct baseline run from start to result: the uniform-random agent, or SB3 PPO trained and
then scored on sampled episodes. ``taskdistill baseline`` parses its options, calls
:func:`run_baseline` and writes what it returns; the teacher-states baseline has its own
(:func:`~taskdistill_rl.baselines.teacher_states.run_teacher_states_baseline`)."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from taskdistill_rl.envs.families import family_of
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.io import atomic_write, write_csv
from taskdistill_rl.results import evaluation_record, results_entry, write_evaluation, write_summary
from taskdistill_rl.seeds import EVAL_SEED_OFFSET

CURVE_FIELDS = ["timesteps", "wall_seconds", "eval_mean", "eval_std", "games"]


@dataclass
class BaselineRun:
    """What :func:`run_baseline` returns: the evaluation, the run's facts and, for PPO, the model."""

    algo: str
    #: the ``eval.json`` record (:func:`~taskdistill_rl.results.evaluation_record`)
    evaluation: dict
    #: the ``summary.json`` facts (:func:`~taskdistill_rl.results.write_summary` adds the volatile ones)
    summary: dict
    #: what the run resolved beyond its options, for ``config.toml`` (PPO: timesteps,
    #: hyper-parameters, schedule)
    settings: dict = field(default_factory=dict)
    #: SB3 PPO only: its :class:`~taskdistill_rl.baselines.sb3_ppo.PPOResult`
    ppo: object | None = None

    @property
    def wall_seconds(self) -> float:
        return self.summary["wall_seconds"]

    def write(self, out_dir: Path) -> None:
        """``eval.json``, ``summary.json`` and, for PPO, ``curve.csv``, ``model.zip`` and (with
        observation normalisation) ``vecnormalize.pkl`` in SB3's own format."""
        if self.ppo is not None:
            write_csv(out_dir / "curve.csv", CURVE_FIELDS, self.ppo.curve)
            atomic_write(out_dir / "model.zip", lambda f: self.ppo.model.save(f))
            if self.ppo.vec_normalize is not None:  # VecNormalize.load reads it
                atomic_write(out_dir / "vecnormalize.pkl", lambda f: pickle.dump(self.ppo.vec_normalize, f))
        write_evaluation(out_dir / "eval.json", self.evaluation)
        write_summary(out_dir, self.summary)


def run_baseline(
    algo: str,
    env: str,
    env_kwargs: dict,
    *,
    episodes: int,
    seed: int = 0,
    timesteps: int | None = None,
    target_return: float | None = None,
    time_budget: float | None = None,
    chunk: int = 10_000,
    on_settings: Callable[[dict], None] | None = None,
    on_chunk: Callable[[dict], None] | None = None,
) -> BaselineRun:
    """``algo`` ``"random"`` (uniform actions, ``episodes`` episodes) or ``"ppo"`` (SB3 PPO with the
    env family's settings until ``timesteps`` (default: the family's budget), ``target_return``
    or ``time_budget``, then ``episodes`` sampled episodes on the evaluation seed).
    ``on_settings`` receives PPO's resolved settings before training (a run directory records
    them first); ``on_chunk`` each learning-curve point."""
    if algo not in ("random", "ppo"):
        raise InvalidInputError(f"the direct baselines are 'random' and 'ppo', got {algo!r}")
    family = family_of(env)
    start = time.perf_counter()
    if algo == "random":
        from taskdistill_rl.baselines.random_agent import random_agent_returns

        returns = random_agent_returns(env, episodes=episodes, seed=seed, env_kwargs=env_kwargs)
        wall = time.perf_counter() - start
        return _finished(
            algo,
            env,
            env_kwargs,
            seed=seed,
            returns=returns,
            capped=None,
            episodes=episodes,
            wall=wall,
            frames=int(returns.sum()),
            extra={},
        )

    from taskdistill_rl.baselines.sb3_ppo import RECENT_GAMES, evaluate_ppo_games, hyperparams_for, train_ppo

    if timesteps is None and target_return is None:
        timesteps = family.sb3_timesteps
    settings = {
        "timesteps": timesteps,
        "target_return": target_return,
        "time_budget": time_budget,
        "chunk": chunk,
        "hyperparams": hyperparams_for(env),
    }
    if on_settings is not None:
        on_settings(settings)
    result = train_ppo(
        env,
        seed=seed,
        env_kwargs=env_kwargs,
        timesteps=timesteps,
        target_return=target_return,
        time_budget=time_budget,
        chunk=chunk,
        on_chunk=on_chunk,
    )
    scored = evaluate_ppo_games(
        result, env, episodes=episodes, seed=seed + EVAL_SEED_OFFSET, env_kwargs=env_kwargs
    )
    settings["schedule"] = result.schedule  # Atari: linear, or constant under a time budget
    full_games = family.episode_cap is not None
    extra = {
        "reached_target": result.reached_target,
        "out_of_time": result.out_of_time,
        "curve": "curve.csv",
        "curve_source": f"last {RECENT_GAMES} training games" if full_games else "evaluation episodes",
    }
    run = _finished(
        algo,
        env,
        env_kwargs,
        seed=seed + EVAL_SEED_OFFSET,
        returns=scored.returns,
        capped=scored.capped,
        episodes=episodes,
        wall=result.wall_seconds,
        frames=int(result.model.num_timesteps),
        extra=extra,
    )
    run.settings, run.ppo = settings, result
    return run


def _finished(
    algo: str, env: str, env_kwargs: dict, *, seed, returns, capped, episodes, wall, frames, extra
) -> BaselineRun:
    """The run's records from its scored episodes."""
    evaluation = evaluation_record(
        env_id=env,
        env_kwargs=env_kwargs,
        k=None,
        seed=seed,
        deterministic=False,
        results={algo: results_entry(returns, episodes=episodes, capped=capped)},
    )
    summary = {
        "kind": f"baseline-{algo}",
        "env": env,
        "env_kwargs": env_kwargs,
        "wall_seconds": wall,
        "env_frames": frames,
        "evaluation": evaluation,
        "fit_seconds_per_learner": None,
        **extra,
    }
    return BaselineRun(algo=algo, evaluation=evaluation, summary=summary)
