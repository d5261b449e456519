"""Env families: everything the tool decides by the kind of env, one record per family.

How an id is recognised, how its batched env is built (and on which backends), the evaluation
sizes, the PPMO preset, observation normalisation and threads by default, whether its training
rewards are clipped, what a distilled file records about it, the SB3 PPO baseline's settings,
rendering and which learners ``--learners all`` means. The rest of the package asks a record
(:func:`family_of`), never a family's name, so a new family is one record: here, or in your own
module registered with :func:`register_family` (``--env-family module.path:NAME``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import gymnasium as gym
from torchrl.envs import EnvBase

from taskdistill_rl.envs import atari, minatar
from taskdistill_rl.envs.batched import BatchedNDCartPole
from taskdistill_rl.envs.builders import check_env_id, continuous_control, float_observations, gym_vector_env
from taskdistill_rl.envs.registration import NDCARTPOLE_ID
from taskdistill_rl.errors import InvalidInputError, InvalidInputTypeError, UnknownEnvError
from taskdistill_rl.plugins import import_named

# ``--learners all``: the MLP distributions of the paper's Tables 1 and 4 (image learners left out:
# a family's own image learner is evaluated by name).
MLP_LEARNERS = ("lambda", "ortho-std1", "xavier", "xavier-std1", "random-h", "random-l")


def _frozen(mapping: Mapping) -> Mapping:
    return MappingProxyType(dict(mapping))


def _gymnasium_render(env_id: str, env_kwargs: dict) -> gym.Env:
    return gym.make(env_id, render_mode="rgb_array", **env_kwargs)


def _never(env_id: str) -> bool:
    return False


@dataclass(frozen=True)
class EnvFamily:
    """One family of env ids and the tool's conventions for it (see the module docstring)."""

    name: str
    #: what the family is, in messages
    description: str
    #: whether a registered gymnasium id belongs to the family (asked in registration order)
    recognises: Callable[[str], bool]
    #: ``build(env_id, num_envs=, device=, seed=, **env_kwargs)``: the batched TorchRL env, preprocessed
    build: Callable[..., EnvBase]
    #: eval_interval, eval_learners, eval_episodes, final_learners, final_episodes
    evaluation: Mapping[str, int]
    #: other backends than gymnasium (``--env-backend``): name -> a builder like ``build``
    backends: Mapping[str, Callable[..., EnvBase]] = field(default_factory=dict)
    #: the PPMO preset a run of this family starts from (``config.PRESETS``)
    preset: str = "fast"
    #: observation normalisation by default (frozen into the file)
    normalize_obs: bool = False
    #: torch CPU threads by default (benchmarks/bench_threads.py)
    threads: int = 1
    #: the env is torch and steps on the run's device; evaluation plays it directly, ended
    #: episodes shed (:func:`~taskdistill_rl.rollouts.cartpole_episode_returns`)
    torch_physics: bool = False
    #: every sub-env is a worker process already: play episodes in turn, never fork more
    own_processes: bool = False
    #: sub-envs of a queued evaluation: what a step and a reset cost sets it
    queue_width: int = 1024
    #: full games: the env cuts each episode at this many agent steps itself, and evaluation
    #: counts those cuts as ``capped`` (None: an episode ends by the env's own rules)
    episode_cap: int | None = None
    #: whether an id's training rewards are sign-clipped for learning (scores stay raw)
    clips_training_rewards: Callable[[str], bool] = _never
    #: whether PPMO's rollouts step the sub-envs on every usable core by default (``build`` takes
    #: ``workers``: :class:`~taskdistill_rl.env_workers.ForkedVectorEnv`, bit-equal to one process)
    forks_rollouts: bool = False
    #: whether PPMO learns from rewards scaled by the running std of the discounted return by
    #: default (``--scale-rewards``; scores stay raw)
    scales_rewards: bool = False
    #: ``file_meta(env_id, env_kwargs, backend)``: what a distilled file records about the env
    #: besides its id
    file_meta: Callable[[str, dict, str], dict] | None = None
    #: SB3 PPO's hyper-parameters for the baseline (None: no baseline for the family yet)
    sb3: Mapping[str, Any] | None = None
    #: SB3 PPO's training steps when neither --timesteps nor --target-return is given
    sb3_timesteps: int = 100_000
    #: ``make_one(env_id, **env_kwargs)``: one gymnasium env as the learners see it, for the SB3
    #: baseline (None: ``gym.make``)
    make_one: Callable[..., gym.Env] | None = None
    #: ``render(env_id, env_kwargs)``: a gymnasium env drawing rgb_array frames
    render: Callable[[str, dict], gym.Env] = _gymnasium_render
    #: the learner a file is distilled for by default (None: by observation shape, Λ or the Nature-CNN)
    default_learner: str | None = None
    #: what ``--learners all`` evaluates
    learners_all: tuple[str, ...] = MLP_LEARNERS
    #: whether ``baseline --algo teacher-states`` applies (discrete actions, vector observations)
    teacher_states: bool = False

    def make(self, env_id: str, *, backend: str = "gymnasium", **kwargs: Any) -> EnvBase:
        """The family's env on ``backend`` (``gymnasium``: :attr:`build`)."""
        return (
            self.build(env_id, **kwargs)
            if backend == "gymnasium"
            else self.backends[backend](env_id, **kwargs)
        )


# -- the families the package ships ---------------------------------------------------------------
def _build_ndcartpole(env_id: str, *, num_envs: int, device, seed: int | None, **env_kwargs) -> EnvBase:
    unknown = set(env_kwargs) - {"n_dims", "dtype"}
    if unknown:
        raise InvalidInputTypeError(f"{NDCARTPOLE_ID} takes only n_dims (and dtype), got {sorted(unknown)}")
    return BatchedNDCartPole(num_envs=num_envs, device=device, seed=seed, **env_kwargs)


def gymnasium_builder(preprocess: Callable[[EnvBase], EnvBase]) -> Callable[..., EnvBase]:
    """A family's ``build`` for gymnasium ids: the vector env
    (:func:`~taskdistill_rl.envs.builders.gym_vector_env`), then ``preprocess`` (TorchRL
    transforms, e.g. :func:`~taskdistill_rl.envs.builders.float_observations`)."""

    def build(
        env_id: str, *, num_envs: int, device, seed: int | None, workers: int = 1, **env_kwargs
    ) -> EnvBase:
        vec = gym_vector_env(env_id, num_envs=num_envs, device=device, workers=workers, **env_kwargs)
        env = preprocess(vec)
        if seed is not None:
            env.set_seed(seed)
        return env

    return build


def _build_atari(env_id: str, *, num_envs: int, device, seed: int | None, **env_kwargs) -> EnvBase:
    from torchrl.envs import GymWrapper

    env = GymWrapper(
        atari.make_atari_vector(env_id, num_envs, **env_kwargs),
        categorical_action_encoding=True,
        device=device,
    )
    env.gym_preprocessing = atari.preprocessing_record()
    env.env_backend = "gymnasium"
    if seed is not None:
        env.set_seed(seed)
    return env


def _build_envpool_atari(env_id: str, **kwargs) -> EnvBase:
    from taskdistill_rl.envs.envpool_atari import make_envpool_atari

    return make_envpool_atari(env_id, **kwargs)


def _atari_meta(env_id: str, env_kwargs: dict, backend: str) -> dict:
    return {
        "atari": {
            "convention": atari.convention(env_id),
            "training_rewards": atari.training_rewards(env_id),
            "episodic_life": False,
            "max_agent_steps": atari.MAX_AGENT_STEPS,
        },
        "env_backend": backend,
    }


def _render_atari(env_id: str, env_kwargs: dict) -> gym.Env:
    # the training preprocessing, so the learner sees what it was distilled on; frames are the screen
    return atari.make_atari(env_id, render_mode="rgb_array", **env_kwargs)


def _render_mujoco(env_id: str, env_kwargs: dict) -> gym.Env:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless, unless the user chose a backend
    return _gymnasium_render(env_id, env_kwargs)


def _is_mujoco(env_id: str) -> bool:
    return "mujoco" in str(gym.spec(env_id).entry_point)


# SB3 PPO: rl-zoo's CartPole-v1 entry with a constant lr and clip range (the zoo anneals both
# linearly over a fixed budget; a run that stops at a target has none).
_SB3_CLASSIC = {
    "n_envs": 8,
    "n_steps": 32,
    "batch_size": 256,
    "n_epochs": 20,
    "learning_rate": 1e-3,
    "gamma": 0.98,
    "gae_lambda": 0.8,
    "ent_coef": 0.0,
    "clip_range": 0.2,
}
# rl-zoo's Atari PPO values (atari.yml), for the Atari and MinAtar baselines
_SB3_ATARI = {
    "n_envs": 8,
    "n_steps": 128,
    "n_epochs": 4,
    "batch_size": 256,
    "learning_rate": 2.5e-4,
    "clip_range": 0.1,
    "vf_coef": 0.5,
    "ent_coef": 0.01,
}
_PAPER_EVALUATION = {  # ND cart-pole: the paper's 100 learners x 100 episodes
    "eval_interval": 10,
    "eval_learners": 20,
    "eval_episodes": 5,
    "final_learners": 100,
    "final_episodes": 100,
}

NDCARTPOLE = EnvFamily(
    name="ndcartpole",
    description="ND cart-pole",
    recognises=lambda env_id: env_id == NDCARTPOLE_ID,
    build=_build_ndcartpole,
    evaluation=_frozen(_PAPER_EVALUATION),
    torch_physics=True,
    sb3=_SB3_CLASSIC,
    teacher_states=True,
)
# A full Atari game takes minutes of CPU per learner: a few learners, one full game each.
ATARI = EnvFamily(
    name="atari",
    description="Atari games",
    recognises=atari.is_atari,
    build=_build_atari,
    backends={"envpool": _build_envpool_atari},
    evaluation=_frozen(
        {
            "eval_interval": 25,
            "eval_learners": 4,
            "eval_episodes": 1,
            "final_learners": 10,
            "final_episodes": 1,
        }
    ),
    preset="atari",
    own_processes=True,
    queue_width=16,
    episode_cap=atari.MAX_AGENT_STEPS,
    clips_training_rewards=lambda env_id: atari.training_rewards(env_id) == "sign",
    file_meta=_atari_meta,
    # rl-zoo's Atari entry (atari.yml), with its AtariWrapper and 4 stacked frames. "anneal": the
    # zoo's lin_2.5e-4 and lin_0.1, lr and clip range falling linearly to 0 over the timestep
    # budget (LinearToBudget); constant under a time budget, whose end is unknown in timesteps.
    sb3={"policy": "CnnPolicy", "frame_stack": 4, **_SB3_ATARI, "anneal": True},
    sb3_timesteps=10_000_000,
    render=_render_atari,
)
# A MuJoCo step costs ~50-150 us of CPU and a good policy plays 1,000 of them per episode:
# 20 learners x 10 episodes bounds the final evaluation to 200,000 steps, under ~20 s on 2 cores.
# An env takes ~10 ms to build, so a queued evaluation keeps 128 of them.
MUJOCO = EnvFamily(
    name="mujoco",
    description="a MuJoCo task",
    recognises=_is_mujoco,
    build=gymnasium_builder(continuous_control),
    evaluation=_frozen(
        {
            "eval_interval": 10,
            "eval_learners": 10,
            "eval_episodes": 2,
            "final_learners": 20,
            "final_episodes": 10,
        }
    ),
    normalize_obs=True,  # PPO's MuJoCo practice
    queue_width=128,
    forks_rollouts=True,  # Hopper-v4 frames/s 2,370 -> 3,027 on 2 cores (benchmarks/bench_mujoco.py)
    # Hopper-v4 10 min: 635.6 -> 1,636.1; Walker2d 1,173.6 -> 2,538.8; Ant 1,225.7 -> 1,664.0;
    # HalfCheetah 2,564.7 -> 3,194.5 (docs/continuous.md, "Hopper's plateau and MuJoCo's defaults")
    scales_rewards=True,
    render=_render_mujoco,
    # SB3's PPO defaults with observation normalisation, as rl-zoo's MuJoCo entries.
    sb3={
        "n_envs": 1,
        "n_steps": 2048,
        "batch_size": 64,
        "n_epochs": 10,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "ent_coef": 0.0,
        "clip_range": 0.2,
        "normalize": True,
    },
    sb3_timesteps=1_000_000,
)


def _build_minatar(env_id: str, *, num_envs: int, device, seed: int | None, **env_kwargs) -> EnvBase:
    from torchrl.envs import GymWrapper

    vector = minatar.make_minatar_vector(env_id, num_envs, **env_kwargs)
    env = GymWrapper(vector, categorical_action_encoding=True, device=device)
    env.gym_preprocessing = minatar.preprocessing_record(env_kwargs)
    if seed is not None:
        env.set_seed(seed)
    return env


def _render_minatar(env_id: str, env_kwargs: dict) -> gym.Env:
    return minatar.make_minatar(env_id, render_mode="rgb_array", **env_kwargs)


# A MinAtar step costs ~5 us and an episode is hundreds of steps: the 50 learners x 10
# episodes at the end, small periodic evaluations on the way.
MINATAR = EnvFamily(
    name="minatar",
    description="MinAtar games (MinAtar/*-v0, MinAtar/*-v1)",
    recognises=minatar.is_minatar,
    build=_build_minatar,
    evaluation=_frozen(
        {
            "eval_interval": 20,
            "eval_learners": 10,
            "eval_episodes": 2,
            "final_learners": 50,
            "final_episodes": 10,
        }
    ),
    # measured on Breakout (docs/minatar.md): `fast` and per-pixel standardisation, which lifts the
    # one ball and paddle pixel over the ~30 bricks, and the 2x512 MLP, which learns at l = 0
    # where MinAtar's CNN stays near random play
    preset="fast",
    normalize_obs=True,
    queue_width=256,
    episode_cap=minatar.MAX_EPISODE_STEPS,
    file_meta=lambda env_id, env_kwargs, backend: minatar.file_meta(env_id, env_kwargs),
    # rl-zoo's Atari values on MinAtar's own network (the features extractor ``minatar-cnn``)
    sb3={**_SB3_ATARI, "features": "minatar-cnn"},
    sb3_timesteps=5_000_000,
    make_one=minatar.make_minatar,
    render=_render_minatar,
    default_learner="2x512",
)
# Everything else gymnasium makes (classic control, Box2D, ...): CartPole-v1 plays up to 500 steps
# of ~20 us, so 50 learners x 10 episodes; a step costs less than a queue's overhead per step.
CLASSIC = EnvFamily(
    name="classic",
    description="a gymnasium env (classic control, Box2D, ...)",
    recognises=lambda env_id: True,
    build=gymnasium_builder(float_observations),
    evaluation=_frozen({**_PAPER_EVALUATION, "final_learners": 50, "final_episodes": 10}),
    sb3=_SB3_CLASSIC,
    teacher_states=True,
)

# Asked in order; the first that recognises an id is its family. Registered families go first,
# CLASSIC (which takes any id) stays last.
FAMILIES: list[EnvFamily] = [NDCARTPOLE, ATARI, MINATAR, MUJOCO, CLASSIC]


def register_family(family: EnvFamily) -> EnvFamily:
    """Make ``family`` the first asked (replacing one of the same name), and return it."""
    if not isinstance(family, EnvFamily):
        raise InvalidInputError(f"an env family must be an EnvFamily record, got {type(family).__name__}")
    FAMILIES[:] = [family, *(f for f in FAMILIES if f.name != family.name)]
    return family


def load_family(spec: str) -> EnvFamily:
    """Register the family ``module.path:NAME`` names (imported from the working directory too)."""
    family = import_named(
        spec,
        lambda v: isinstance(v, EnvFamily),
        option="--env-family",
        expected="EnvFamily record",
        where="taskdistill_rl.envs.families.EnvFamily",
    )
    return register_family(family)


def family_of(env_id: str) -> EnvFamily:
    """The family of a registered id.

    Raises:
        UnknownEnvError: for an id gymnasium does not know (close names suggested).
    """
    check_env_id(env_id)
    return next(f for f in FAMILIES if f.recognises(env_id))


def defaults_for(env_id: Any) -> EnvFamily:
    """The family whose defaults a config resolves to: ``env_id``'s, or ND cart-pole's where the
    id is not a string gymnasium knows (the run then fails where the env is made, with the reason)."""
    try:
        return family_of(env_id)
    except UnknownEnvError:
        return NDCARTPOLE


def check_env_backend(env_id: str, backend: str) -> EnvFamily:
    """``env_id``'s family, after refusing a backend the family does not run (envpool: Atari games
    only) or that is not installed.

    Raises:
        InvalidInputError: for an unknown backend, or one the family does not have.
        UnknownEnvError: for envpool when it is not installed.
    """
    backends = ["gymnasium", *dict.fromkeys(b for f in FAMILIES for b in f.backends)]
    if backend not in backends:
        raise InvalidInputError(f"env backend must be one of {backends}, got {backend!r}")
    family = family_of(env_id)
    if backend == "gymnasium":
        return family
    if backend not in family.backends:
        having = " and ".join(f.description for f in FAMILIES if backend in f.backends)
        raise InvalidInputError(
            f"the {backend} backend runs {having} only; {env_id!r} is {family.description}: "
            f"drop --env-backend {backend}"
        )
    if backend == "envpool":
        from taskdistill_rl.envs.envpool_atari import ENVPOOL_INSTALL, envpool_available

        if not envpool_available():
            raise UnknownEnvError(f"the envpool backend for {env_id!r} needs envpool: {ENVPOOL_INSTALL}")
    return family


__all__ = [
    "ATARI",
    "CLASSIC",
    "FAMILIES",
    "MINATAR",
    "MLP_LEARNERS",
    "MUJOCO",
    "NDCARTPOLE",
    "EnvFamily",
    "check_env_backend",
    "defaults_for",
    "family_of",
    "gymnasium_builder",
    "load_family",
    "register_family",
]
