"""MinAtar (Young & Tian 2019): Breakout, SpaceInvaders, Asterix, Freeway and Seaquest as 10×10
boards of C binary object channels. The shape of the Atari problem (frames, a convolutional
learner, an encoder to roll back) at a cost a CPU can pay: a step takes ~5 µs.

``minatar`` is GPL-3.0: an optional extra (``pip install 'taskdistill_rl[minatar]'``), imported
when a ``MinAtar/*`` id is used, never vendored. gymnasium 1.x ignores its plugin entry point, so
its ids are registered here explicitly (:func:`register_minatar`). ``-v1`` ids act with the
game's minimal action set (3 / 4 / 5 / 3 / 6 actions), ``-v0`` with all six.

What the learners see: frames channel-first as float32 ``[C, 10, 10]`` (0 or 1). The game keeps
MinAtar's defaults, sticky actions (``sticky_action_prob=0.1``) and difficulty ramping
(``difficulty_ramping=True``), both settable with ``--env-kwargs``; MinAtar has no time limit, so
every episode is cut at ``max_episode_steps`` agent steps (default :data:`MAX_EPISODE_STEPS`;
a cut counts as ``capped`` in ``eval.json``). A file records all three in ``meta["minatar"]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from taskdistill_rl.errors import InvalidInputError, UnknownEnvError

MINATAR_INSTALL = "pip install 'taskdistill_rl[minatar]' (minatar 1.0.15; GPL-3.0)"
MAX_EPISODE_STEPS = 10_000  # agent steps; MinAtar has no limit of its own
DEFAULTS = {"sticky_action_prob": 0.1, "difficulty_ramping": True, "max_episode_steps": MAX_EPISODE_STEPS}
# MinAtar's full action set, by index: the names a file's meta["action_names"] gives the actions.
ACTION_NAMES = ("noop", "left", "up", "right", "down", "fire")
CELL_PIXELS = 24  # a board cell in rendered frames (10 cells: 240 pixels)


def is_minatar(env_id: str) -> bool:
    """Whether ``env_id`` names a MinAtar game (``MinAtar/Breakout-v1``, ...)."""
    return isinstance(env_id, str) and env_id.startswith("MinAtar/")


def register_minatar() -> bool:
    """Register MinAtar's ids with gymnasium; False without the ``minatar`` package."""
    try:
        import minatar.gym
    except ImportError:
        return False
    if "MinAtar/Breakout-v1" not in gym.registry:
        minatar.gym.register_envs()
    return True


def require_minatar(env_id: str) -> None:
    """Register the ids, or one clear error naming the extra to install."""
    if not register_minatar():
        raise UnknownEnvError(f"{env_id!r} needs minatar: {MINATAR_INSTALL}")


def settings(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """MinAtar's defaults with ``env_kwargs`` on top: what a game is played with.

    Raises:
        InvalidInputError: a keyword MinAtar does not take, or a value of the wrong kind.
    """
    unknown = set(env_kwargs) - set(DEFAULTS)
    if unknown:
        raise InvalidInputError(
            f"MinAtar takes only {sorted(DEFAULTS)} as --env-kwargs, got {sorted(unknown)}"
        )
    out = {**DEFAULTS, **env_kwargs}
    prob, cap = out["sticky_action_prob"], out["max_episode_steps"]
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
        raise InvalidInputError(f"sticky_action_prob must be a number in [0, 1], got {prob!r}")
    if not isinstance(out["difficulty_ramping"], bool):
        raise InvalidInputError(
            f"difficulty_ramping must be True or False, got {out['difficulty_ramping']!r}"
        )
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise InvalidInputError(f"max_episode_steps must be an int >= 1, got {cap!r}")
    return out


class ChannelFirstFrames(gym.ObservationWrapper):
    """``[10, 10, C]`` bool boards as the ``[C, 10, 10]`` float32 frames learners take."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        height, width, channels = env.observation_space.shape
        self.observation_space = gym.spaces.Box(0.0, 1.0, (channels, height, width), np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(observation, -1, 0), dtype=np.float32)


class ColouredGrid(gym.Wrapper):
    """``render()`` as an RGB uint8 image of the board, each cell ``CELL_PIXELS`` wide, coloured
    by MinAtar's own palette (its ``rgb_array`` is one pixel per cell, as floats)."""

    def render(self) -> np.ndarray:
        cells = np.asarray(self.env.render(), dtype=np.float64)  # [10, 10, 3] in [0, 1]
        frame = np.kron(cells, np.ones((CELL_PIXELS, CELL_PIXELS, 1)))
        frame[::CELL_PIXELS, :] = frame[:, ::CELL_PIXELS] = 0.25  # grid lines between the cells
        return (frame * 255).round().astype(np.uint8)


def make_minatar(env_id: str, *, render_mode: str | None = None, **env_kwargs: Any) -> gym.Env:
    """One MinAtar game as the learners see it (module docstring); ``render_mode="rgb_array"``
    draws coloured grids."""
    require_minatar(env_id)
    played = settings(env_kwargs)
    cap = played.pop("max_episode_steps")
    env = gym.make(env_id, render_mode=render_mode, max_episode_steps=cap, **played)
    env = ChannelFirstFrames(env)
    return ColouredGrid(env) if render_mode == "rgb_array" else env


def make_minatar_vector(env_id: str, num_envs: int, **env_kwargs: Any) -> gym.vector.VectorEnv:
    """``num_envs`` games stepped in this process (a step costs microseconds: processes would
    cost more than they save), auto-reset in the same step, as TorchRL's wrapper expects."""
    make_minatar(env_id, **env_kwargs).close()  # bad arguments fail here, with one clear error
    return gym.vector.SyncVectorEnv(
        [lambda: make_minatar(env_id, **env_kwargs)] * num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def file_meta(env_id: str, env_kwargs: dict[str, Any]) -> dict:
    """What a distilled file records: the game's settings, its channels and its actions' names."""
    require_minatar(env_id)
    game = gym.make(env_id).unwrapped
    channels = sorted(game.game.env.channels, key=game.game.env.channels.get)
    return {
        "minatar": settings(env_kwargs),
        "frame_channels": channels,
        "action_names": [ACTION_NAMES[a] for a in game.action_set],
    }


def preprocessing_record(env_kwargs: dict[str, Any]) -> list[dict]:
    """The pipeline by name with its arguments (a file's ``meta["preprocessing"]``)."""
    played = settings(env_kwargs)
    return [
        {
            "name": "MinAtarEnv",
            "kwargs": {k: played[k] for k in ("sticky_action_prob", "difficulty_ramping")},
        },
        {"name": "TimeLimit", "kwargs": {"max_episode_steps": played["max_episode_steps"]}},
        {"name": "ChannelFirstFrames", "kwargs": {"dtype": "float32"}},
    ]
