"""Direct-RL baseline: stable-baselines3 PPO with rl-baselines3-zoo-style hyper-parameters.

Trains in chunks of timesteps and evaluates with sampled actions after each chunk, so a run can
stop as soon as it reaches a target return (or runs out of its time budget), and every
evaluation's wall time is counted in the run's wall time (the same accounting as the
distiller's periodic evaluation).

Atari runs on SB3's own pipeline, as rl-zoo does: ``make_atari_env`` (``AtariWrapper``) and 4
stacked frames (see :func:`atari_wrapper_kwargs` for how our two conventions map onto it).
Evaluating full games after every chunk would cost more than the training, so an Atari curve
point is the mean raw score of the last :data:`RECENT_GAMES` full games played *in training*:
``make_atari_env`` wraps each game in ``Monitor`` before ``AtariWrapper``, so Monitor sees whole
games (not lives) and unclipped scores.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from taskdistill_rl.envs.atari import (
    FRAME_SKIP,
    MAX_AGENT_STEPS,
    check_atari_kwargs,
    convention,
    is_atari,
    register_ale,
)
from taskdistill_rl.envs.builders import check_env_id
from taskdistill_rl.envs.families import family_of
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.seeds import EVAL_SEED_OFFSET

RECENT_GAMES = 10  # Atari curve points: the mean raw score of the last <= 10 finished training games


@dataclass
class PPOResult:
    """What :func:`train_ppo` returns: the model, its learning curve and the wall time."""

    model: object
    curve: list[dict] = field(default_factory=list)
    wall_seconds: float = 0.0
    reached_target: bool = False
    vec_normalize: object | None = None
    #: ``"linear"`` (lr and clip range annealed to 0 over the timestep budget) or ``"constant"``
    schedule: str = "constant"
    #: the run stopped because its time budget was spent
    out_of_time: bool = False

    @property
    def final(self) -> dict:
        return self.curve[-1] if self.curve else {}


def hyperparams_for(env_id: str) -> dict:
    """The env family's hyper-parameters for ``env_id`` (a copy; safe to edit: ``EnvFamily.sb3``)."""
    family = family_of(env_id)
    if family.sb3 is None:
        raise InvalidInputError(
            f"no SB3 PPO hyper-parameters for the {family.name!r} family of {env_id!r} yet"
        )
    return dict(family.sb3)


@dataclass
class PPOEvaluation:
    """What :func:`evaluate_ppo_games` returns."""

    #: the raw return (Atari: the unclipped game score) of each episode
    returns: np.ndarray
    #: each episode's length in env steps (Monitor's count)
    lengths: np.ndarray
    #: Atari: how many games the ALE cut at ``max_agent_steps``; None for other families
    capped: int | None = None


class LinearToBudget:
    """rl-zoo's ``lin_<value>`` schedule, ``value * (1 - timesteps / budget)``, across chunked
    ``learn()`` calls.

    SB3 measures progress against the end of the current ``learn()`` call (it passes
    ``1 - timesteps / call_end``), so each chunk would restart the zoo's schedule; set
    ``call_end`` before every call and this undoes it. Plain floats: pickled with the model.
    """

    def __init__(self, initial: float, budget: int):
        self.initial, self.budget, self.call_end = float(initial), float(budget), float(budget)

    def __call__(self, progress_remaining: float) -> float:
        timesteps = (1.0 - progress_remaining) * self.call_end
        return self.initial * max(0.0, 1.0 - timesteps / self.budget)


def atari_wrapper_kwargs(env_id: str, *, evaluation: bool = False) -> dict:
    """Arguments of SB3's ``AtariWrapper`` for ``env_id`` (what ``make_atari_env`` passes on).

    SB3's ``make_atari_env`` adds its own 4-frame skip (``MaxAndSkipEnv``) on top of whatever
    the emulator env does. ``ALE/*-v5`` ids already skip 4 frames inside the emulator
    (``frameskip=4``, sticky actions 0.25 at every frame), so they get ``frame_skip=1``: v5's own
    frameskip does the skipping, without max-pooling over the last two frames (and the up to 30
    reset no-ops are agent steps of 4 frames). ``*NoFrameskip-v4`` ids keep SB3's default
    ``frame_skip=4`` with max-pooling.

    Training keeps SB3's defaults, as rl-zoo does: a lost life ends the learner's episode
    (``EpisodicLifeEnv``) and rewards are sign-clipped. Evaluation plays full games for their raw
    score: ``terminal_on_life_loss=False, clip_reward=False``.
    """
    kwargs: dict = {"frame_skip": 1} if convention(env_id) == "v5" else {}
    if evaluation:
        kwargs.update(terminal_on_life_loss=False, clip_reward=False)
    return kwargs


def make_vec_envs(
    env_id: str,
    n_envs: int,
    seed: int,
    env_kwargs: dict,
    frame_stack: int | None,
    *,
    evaluation: bool = False,
    max_agent_steps: int = MAX_AGENT_STEPS,
):
    """SB3 vectorised envs; Atari ids get SB3's AtariWrapper (:func:`atari_wrapper_kwargs`) and
    frame stacking. Atari evaluation envs end every game after ``max_agent_steps`` agent steps
    (the ALE's ``max_num_frames_per_episode``: 108,000 frames by default)."""
    from stable_baselines3.common.env_util import make_atari_env, make_vec_env
    from stable_baselines3.common.vec_env import VecFrameStack

    if is_atari(env_id):  # SB3's own Atari pipeline
        register_ale()  # make_atari_env calls gym.make, which only knows ALE ids once registered
        check_atari_kwargs(env_id, env_kwargs)
        if evaluation:
            env_kwargs = {**env_kwargs, "max_num_frames_per_episode": max_agent_steps * FRAME_SKIP}
        env = make_atari_env(
            env_id,
            n_envs=n_envs,
            seed=seed,
            env_kwargs=env_kwargs,
            wrapper_kwargs=atari_wrapper_kwargs(env_id, evaluation=evaluation),
        )
        return VecFrameStack(env, n_stack=frame_stack or 4)
    make_one = family_of(env_id).make_one  # the family's own gymnasium pipeline, if it has one
    maker = env_id if make_one is None else functools.partial(make_one, env_id)
    return make_vec_env(maker, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)


def _evaluation_env(
    env_id, seed, env_kwargs, frame_stack, normalize_like=None, max_agent_steps=MAX_AGENT_STEPS
):
    """One env scored like training sees it: frozen normalisation statistics, raw rewards (Atari:
    full games, unclipped scores)."""
    from stable_baselines3.common.vec_env import VecNormalize

    env = make_vec_envs(
        env_id, 1, seed, env_kwargs, frame_stack, evaluation=True, max_agent_steps=max_agent_steps
    )
    if normalize_like is None:
        return env
    env = VecNormalize(env, training=False, norm_reward=False)
    env.obs_rms = normalize_like.obs_rms
    return env


def evaluate_ppo_games(
    result: PPOResult,
    env_id: str,
    *,
    episodes: int = 100,
    seed: int = 0,
    env_kwargs: dict | None = None,
    max_agent_steps: int = MAX_AGENT_STEPS,
) -> PPOEvaluation:
    """``episodes`` sampled-action episodes of the trained model (the paper's protocol).

    Atari episodes are full games (no life-loss termination) scored without reward clipping,
    each cut by the ALE after ``max_agent_steps`` agent steps; ``capped`` counts the games cut.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    frame_stack = hyperparams_for(env_id).get("frame_stack")
    env = _evaluation_env(env_id, seed, env_kwargs or {}, frame_stack, result.vec_normalize, max_agent_steps)
    cut = []

    def count_capped(local_vars: dict, _globals: dict) -> None:
        # called before evaluate_policy counts a step; Monitor's "episode" marks a game's real end
        info = local_vars["info"]
        if local_vars["done"] and "episode" in info:
            cut.append(bool(info.get("TimeLimit.truncated", False)))

    returns, lengths = evaluate_policy(
        result.model,
        env,
        n_eval_episodes=episodes,
        deterministic=False,
        return_episode_rewards=True,
        callback=count_capped,
    )
    env.close()
    return PPOEvaluation(
        returns=np.asarray(returns, dtype=np.float64),
        lengths=np.asarray(lengths, dtype=np.int64),
        capped=sum(cut) if family_of(env_id).episode_cap is not None else None,
    )


def _recent_games(model, n: int) -> dict:
    """A curve point's scores from the last ``n`` full games Monitor saw in training."""
    scores = [float(info["r"]) for info in list(model.ep_info_buffer or [])[-n:]]
    return {
        "eval_mean": float(np.mean(scores)) if scores else float("nan"),
        "eval_std": float(np.std(scores)) if scores else float("nan"),
        "games": len(scores),
    }


def train_ppo(
    env_id: str,
    *,
    seed: int = 0,
    env_kwargs: dict | None = None,
    timesteps: int | None = None,
    target_return: float | None = None,
    time_budget: float | None = None,
    chunk: int = 10_000,
    eval_episodes: int = 20,
    max_timesteps: int = 2_000_000,
    hyperparams: dict | None = None,
    device: str = "cpu",
    on_chunk: Callable[[dict], None] | None = None,
) -> PPOResult:
    """Train SB3 ``PPO("MlpPolicy", env_id)`` (Atari: ``"CnnPolicy"``) until ``timesteps``,
    ``target_return`` or ``time_budget``.

    After every ``chunk`` timesteps, ``eval_episodes`` episodes with sampled actions
    (``deterministic=False``) on a separately seeded env give one point of the learning curve;
    training stops once that mean reaches ``target_return`` (or at ``timesteps``, or at
    ``max_timesteps`` when no timesteps are given), or at the first chunk boundary after
    ``time_budget`` seconds. Atari points are the mean raw score of the last
    :data:`RECENT_GAMES` full games played in training (NaN before the first one ends), and its
    lr and clip range fall linearly to 0 over the timestep budget as rl-zoo's, unless a
    ``time_budget`` is given: then they stay constant (``result.schedule`` says which).
    """
    try:
        from stable_baselines3 import PPO
        from stable_baselines3.common.evaluation import evaluate_policy
        from stable_baselines3.common.vec_env import VecNormalize
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "the PPO baseline needs stable-baselines3: pip install stable-baselines3 (the [sb3] extra)"
        ) from err
    check_env_id(env_id)
    if timesteps is None and target_return is None and time_budget is None:
        raise InvalidInputError("give timesteps, target_return or time_budget (or several)")
    if timesteps is not None and timesteps < 1:
        raise InvalidInputError(f"timesteps must be >= 1, got {timesteps}")
    if time_budget is not None and not time_budget > 0:
        raise InvalidInputError(f"time_budget must be > 0 seconds, got {time_budget}")
    if chunk < 1 or eval_episodes < 1:
        raise InvalidInputError(f"chunk and eval_episodes must be >= 1, got {chunk} and {eval_episodes}")
    budget = timesteps if timesteps is not None else max_timesteps
    hp = hyperparams_for(env_id) if hyperparams is None else dict(hyperparams)
    n_envs, normalize = hp.pop("n_envs"), hp.pop("normalize", False)
    policy, frame_stack = hp.pop("policy", "MlpPolicy"), hp.pop("frame_stack", None)
    if "features" in hp:  # a features extractor by name (the settings stay plain data)
        from taskdistill_rl.sb3_layers import FEATURES

        hp["policy_kwargs"] = {"features_extractor_class": FEATURES[hp.pop("features")], "net_arch": []}
    anneal = hp.pop("anneal", False) and time_budget is None
    schedules = []
    if anneal:
        schedules = [LinearToBudget(hp[name], budget) for name in ("learning_rate", "clip_range")]
        hp["learning_rate"], hp["clip_range"] = schedules
    env_kwargs = env_kwargs or {}
    games_curve = family_of(env_id).episode_cap is not None  # full games: score training games

    start = time.perf_counter()
    env = make_vec_envs(env_id, n_envs, seed, env_kwargs, frame_stack)
    if normalize:
        env = VecNormalize(env, gamma=hp.get("gamma", 0.99))
    eval_env = None
    if not games_curve:
        eval_env = _evaluation_env(
            env_id, seed + EVAL_SEED_OFFSET, env_kwargs, frame_stack, env if normalize else None
        )
    model = PPO(policy, env, seed=seed, verbose=0, device=device, **hp)
    result = PPOResult(
        model=model, vec_normalize=env if normalize else None, schedule="linear" if anneal else "constant"
    )
    while model.num_timesteps < budget:
        steps = min(chunk, budget - model.num_timesteps)
        for schedule in schedules:
            schedule.call_end = model.num_timesteps + steps
        model.learn(steps, reset_num_timesteps=False)
        if games_curve:
            scores = _recent_games(model, RECENT_GAMES)
        else:
            if normalize:
                eval_env.obs_rms = env.obs_rms
            returns, _ = evaluate_policy(
                model,
                eval_env,
                n_eval_episodes=eval_episodes,
                deterministic=False,
                return_episode_rewards=True,
            )
            scores = {
                "eval_mean": float(np.mean(returns)),
                "eval_std": float(np.std(returns)),
                "games": len(returns),
            }
        point = {
            "timesteps": int(model.num_timesteps),
            "wall_seconds": time.perf_counter() - start,
            **scores,
            "learning_rate": float(model.policy.optimizer.param_groups[0]["lr"]),  # the last update's
        }
        result.curve.append(point)
        if on_chunk is not None:
            on_chunk(point)
        if target_return is not None and point["eval_mean"] >= target_return:
            result.reached_target = True
            break
        if time_budget is not None and point["wall_seconds"] >= time_budget:
            result.out_of_time = True
            break
    result.wall_seconds = time.perf_counter() - start
    if eval_env is not None:
        eval_env.close()
    return result
