"""Atari through the ALE: which ids are Atari, the two conventions, and the preprocessing pipeline.

Both conventions make the emulator env with ``frameskip=1`` and let gymnasium's
``AtariPreprocessing`` skip 4 frames with max-pooling over the last two (flickering sprites stay
visible), draw 84×84 grayscale frames scaled to [0, 1], and start each game with up to 30 no-ops
(Huang et al.'s ``NoopResetEnv(30)``, also AtariPreprocessing's default); then 4 frames are
stacked, oldest first. The batched envs of a run keep frames as uint8 (a quarter of the bytes of a
rollout); they become float [0, 1] when a learner or the critic reads them. Games are never cut
at a life loss (gymnasium's ``terminal_on_life_loss`` restarts the whole game, which is not
Huang et al.'s ``EpisodicLifeEnv``); the ALE itself truncates a game at 108,000 emulator frames
(27,000 agent steps).

- ``ALE/*-v5`` (Machado et al.): sticky actions, the previous action repeated with probability
  0.25 at every emulator frame. PPMO trains on sign-clipped rewards, as Huang et al. do.
- ``*NoFrameskip-v4`` (the paper's Atari setup): no sticky actions, raw rewards in training too
  (the authors' released code clips none).

Episode returns are always the raw game score: clipping is applied to the rollout's rewards
after the scores are read (:class:`taskdistill_rl.algorithms.ppmo.PPMO`), never inside the env.
"""

from __future__ import annotations

import multiprocessing
import sys
from typing import Any

import gymnasium as gym
import torch

from taskdistill_rl.errors import InvalidInputError, UnknownEnvError

ATARI_ENTRY_POINT = "ale_py.env:AtariEnv"
FRAME_SKIP = 4
FRAME_STACK = 4
SCREEN_SIZE = 84
NOOP_MAX = 30
MAX_AGENT_STEPS = 27_000  # the ALE's 108,000-frame game limit at frame skip 4


def register_ale() -> bool:
    """Register the ALE ids with gymnasium (``ALE/*`` and the v4 ones); False without ale-py."""
    try:
        import ale_py
    except ImportError:
        return False
    gym.register_envs(ale_py)
    return True


def is_atari(env_id: str) -> bool:
    """Whether ``env_id`` is an ALE game, by its entry point (``ALE/Pong-v5``, ``PongNoFrameskip-v4``)."""
    if env_id not in gym.registry and not register_ale():
        return False
    spec = gym.registry.get(env_id)
    return spec is not None and str(spec.entry_point) == ATARI_ENTRY_POINT


def convention(env_id: str) -> str:
    """``"v5"`` (sticky actions, clipped training rewards) or ``"v4"`` (the paper's setup)."""
    return "v5" if gym.spec(env_id).version == 5 else "v4"


def as_float_frames(obs: torch.Tensor) -> torch.Tensor:
    """uint8 frames as the float32 [0, 1] values learners see (``AtariPreprocessing(scale_obs=True)``
    divides by 255 in float32 too, so both give the same bits); other tensors unchanged."""
    return obs.float() / 255 if obs.dtype == torch.uint8 else obs


def preprocessing_record() -> list[dict]:
    """The pipeline by name with its arguments, as a file's ``meta["preprocessing"]`` records it:
    what the learners see. The batched env keeps the frames as uint8 and the learners scale them
    (:func:`as_float_frames`) to exactly these values, so the record stays ``scale_obs=True`` and
    files written before and after that change evaluate alike."""
    return [
        {"name": "AtariEnv", "kwargs": {"frameskip": 1}},
        {
            "name": "AtariPreprocessing",
            "kwargs": {
                "noop_max": NOOP_MAX,
                "frame_skip": FRAME_SKIP,
                "screen_size": SCREEN_SIZE,
                "terminal_on_life_loss": False,
                "grayscale_obs": True,
                "scale_obs": True,
            },
        },
        {"name": "FrameStackObservation", "kwargs": {"stack_size": FRAME_STACK}},
    ]


def training_rewards(env_id: str) -> str:
    """``"sign"`` (v5: rewards clipped to -1/0/1 for learning) or ``"raw"`` (the paper's v4)."""
    return "sign" if convention(env_id) == "v5" else "raw"


def check_atari_kwargs(env_id: str, env_kwargs: dict[str, Any]) -> None:
    """Refuse arguments that would break the conventions (frame skipping is the pipeline's)."""
    if "frameskip" in env_kwargs:
        raise InvalidInputError(
            f"{env_id}: frameskip is set by the preprocessing (AtariPreprocessing skips {FRAME_SKIP} frames "
            "with max-pooling on a frameskip=1 emulator); leave it out of --env-kwargs"
        )
    if "obs_type" in env_kwargs and env_kwargs["obs_type"] != "rgb":
        raise InvalidInputError(
            f"{env_id}: the pipeline needs obs_type='rgb', got {env_kwargs['obs_type']!r}"
        )


def make_atari(env_id: str, *, uint8_frames: bool = False, **env_kwargs: Any) -> gym.Env:
    """One preprocessed Atari env (gymnasium API): observations ``[4, 84, 84]`` float32 in [0, 1].

    ``uint8_frames=True`` leaves the frames as uint8 pixels in [0, 255] (``scale_obs=False``), a
    quarter of the bytes: the batched env of :func:`~taskdistill_rl.envs.factory.make_env` does
    this, and learners read them through :func:`as_float_frames`, which gives the same float32
    values ``scale_obs=True`` would have (``x / 255`` in float32). ``env_kwargs`` go to the emulator
    env (``repeat_action_probability``, ``full_action_space``, ``mode``, ``difficulty``, ...).
    """
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    if not register_ale():
        raise UnknownEnvError(
            f"{env_id!r} needs ale-py: pip install ale-py opencv-python-headless (the [atari] extra)"
        )
    check_atari_kwargs(env_id, env_kwargs)
    try:
        env = gym.make(env_id, frameskip=1, **env_kwargs)
    except TypeError as err:
        raise InvalidInputError(f"bad keyword arguments for {env_id!r} {env_kwargs}: {err}") from err
    try:
        env = AtariPreprocessing(
            env,
            noop_max=NOOP_MAX,
            frame_skip=FRAME_SKIP,
            screen_size=SCREEN_SIZE,
            terminal_on_life_loss=False,
            grayscale_obs=True,
            scale_obs=not uint8_frames,
        )
    except gym.error.DependencyNotInstalled as err:
        raise UnknownEnvError(
            f"{env_id!r} needs opencv: pip install opencv-python-headless (the [atari] extra)"
        ) from err
    return FrameStackObservation(env, stack_size=FRAME_STACK)


class _AtariFactory:
    """A picklable env constructor for the vector env's worker processes."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]):
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs)

    def __call__(self) -> gym.Env:
        return make_atari(self.env_id, uint8_frames=True, **self.env_kwargs)


def make_atari_vector(env_id: str, num_envs: int, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` preprocessed games with uint8 frames (a rollout's observations take a quarter
    of float32's bytes): one worker process each (async) when there are several, so emulation
    runs on every core; auto-reset in the same step, as TorchRL's wrapper expects."""
    make_atari(env_id, **env_kwargs).close()  # bad arguments fail here, with one clear error
    factory = _AtariFactory(env_id, env_kwargs)
    mode = gym.vector.AutoresetMode.SAME_STEP
    if num_envs == 1:
        return gym.vector.SyncVectorEnv([factory], autoreset_mode=mode)
    # fork where there is one: workers start in ~0.3 s and only run the emulator (TorchRL sets the
    # global start method to spawn, which re-imports everything in each worker)
    context = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    if context == "fork" and "envpool" in sys.modules:
        # fork copies the calling thread alone: with an EnvPool thread pool alive in this process a
        # forked worker can crash on a lock one of its threads held (seen: a segfault in RLock);
        # forkserver forks from a clean single-threaded server instead
        context = "forkserver"
    return gym.vector.AsyncVectorEnv([factory] * num_envs, autoreset_mode=mode, context=context)


__all__ = [
    "MAX_AGENT_STEPS",
    "as_float_frames",
    "convention",
    "is_atari",
    "make_atari",
    "make_atari_vector",
    "preprocessing_record",
    "register_ale",
    "training_rewards",
]
