"""EnvPool as a second Atari backend: the same games and conventions, emulated in C++ threads.

`make_envpool_atari` builds ``num_envs`` games as one EnvPool batch inside TorchRL's
`~torchrl.envs.MultiThreadedEnv`, with the conventions of :mod:`taskdistill_rl.envs.atari`:
sticky actions (p = 0.25) for ``ALE/*-v5`` and none for ``*NoFrameskip-v4`` (EnvPool's v5 game
with ``repeat_action_probability=0``), 4-frame skip with max-pooling over the last two frames,
1 to 30 no-ops at reset, 84×84 grayscale (the ALE's palette grayscale, then OpenCV ``INTER_AREA``,
as gymnasium's ``AtariPreprocessing``), 4 stacked frames (oldest first), no episodic life, no
fire reset, raw rewards, games cut at 27,000 agent steps. Observations are ``uint8 [4, 84, 84]``
under ``"observation"``; actions are integer indices.

Where the two backends differ (``docs/atari.md``; ``tests/envs/test_envpool.py``):

- Random draws: EnvPool's sub-env ``i`` is seeded ``seed + i`` like gymnasium's, but the no-op
  counts and sticky-action draws come from other generators, so the same seed gives other games.
  With one no-op and no sticky actions the two give the same frames step for step.
- The final observation of a game that ends inside a frame skip: EnvPool puts the frames it drew in
  that step into the stack without max-pooling, gymnasium max-pools the two it kept from the
  step before. Only that one frame differs, and only at a game's end.
- The game limit: EnvPool cuts at 27,000 agent steps after the no-ops; the ALE (gymnasium's
  ``ALE/*-v5``) at 108,000 emulator frames counted from the reset, no-op frames included.
- EnvPool reports no ``lives`` / ``frame_number`` / ``episode_frame_number`` entries.

Version History:
    * envpool 1.2.5 (the newest with a CPython 3.11 wheel; ROMs from ``envpool-assets``) and
      torchrl 0.14.1, whose ``MultiThreadedEnv`` asks EnvPool for ``env_type="gym"`` (EnvPool
      1.2 knows only ``"gymnasium"`` and ``"dm"``), converts specs with the old ``gym`` package and
      resets through ``treevalue``: :class:`EnvPoolAtariEnv` fixes those three, and resets ended
      games in the same step as every other env here (TorchRL's ``step_and_maybe_reset``).
"""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Categorical, Composite, Unbounded
from torchrl.envs import EnvBase, MultiThreadedEnv, set_gym_backend

from taskdistill_rl.envs.atari import (
    FRAME_SKIP,
    FRAME_STACK,
    MAX_AGENT_STEPS,
    NOOP_MAX,
    SCREEN_SIZE,
    check_atari_kwargs,
    preprocessing_record,
    register_ale,
)
from taskdistill_rl.errors import InvalidInputError, UnknownEnvError

ENVPOOL_INSTALL = "pip install envpool==1.2.5 (the [envpool] extra)"
# emulator arguments that mean the same in EnvPool as in ale_py's AtariEnv
EMULATOR_KWARGS = ("repeat_action_probability", "full_action_space", "mode", "difficulty")
# The recorded pipeline of a gymnasium-backend Atari env ends with TorchRL's VecGymEnvTransform,
# which only carries the vector env's final observations (no preprocessing): EnvPool records the
# same list, so a file distilled on either backend evaluates on the other.
GYM_VECTOR_RECORD = {"name": "VecGymEnvTransform", "kwargs": {"keys": []}}
_ID = re.compile(r"^(?:ALE/(?P<v5>[A-Za-z0-9]+)-v5|(?P<v4>[A-Za-z0-9]+)NoFrameskip-v4)$")


def envpool_available() -> bool:
    """Whether ``envpool`` can be imported (the ``[envpool]`` extra; CPython >= 3.11)."""
    return importlib.util.find_spec("envpool") is not None


def envpool_task(env_id: str) -> tuple[str, dict[str, Any]]:
    """EnvPool's task id and the emulator arguments of its gymnasium id's convention.

    ``ALE/<Game>-v5`` and ``<Game>NoFrameskip-v4`` both map to EnvPool's ``<Game>-v5`` (the only
    ids it registers); ``repeat_action_probability`` comes from the gymnasium id's own
    registration (0.25 for v5, 0 for NoFrameskip-v4), so both backends read one source.

    Raises:
        InvalidInputError: for another Atari id (``Pong-v4``, ``PongDeterministic-v4``, ``-ram``).

    Examples:
        >>> envpool_task("PongNoFrameskip-v4")
        ('Pong-v5', {'repeat_action_probability': 0.0})
        >>> envpool_task("ALE/Pong-v5")
        ('Pong-v5', {'repeat_action_probability': 0.25})
    """
    match = _ID.match(env_id)
    if match is None:
        raise InvalidInputError(
            f"the envpool backend takes ALE/<Game>-v5 or <Game>NoFrameskip-v4 ids, got {env_id!r}: "
            "use --env-backend gymnasium for it"
        )
    register_ale()
    spec_kwargs = gym.spec(env_id).kwargs
    emulator = {"repeat_action_probability": float(spec_kwargs.get("repeat_action_probability", 0.0))}
    return f"{match['v5'] or match['v4']}-v5", emulator


def envpool_config(env_id: str, env_kwargs: dict[str, Any], *, noop_max: int = NOOP_MAX) -> dict[str, Any]:
    """EnvPool's arguments for ``env_id`` under this project's conventions (without the seed).

    ``env_kwargs`` may set the emulator arguments that EnvPool shares with ale_py
    (``EMULATOR_KWARGS``). ``noop_max`` is for tests only: 1 makes the reset deterministic in both
    backends (gymnasium and EnvPool both draw from 1 to ``noop_max`` no-ops).
    """
    check_atari_kwargs(env_id, env_kwargs)
    unknown = sorted(set(env_kwargs) - set(EMULATOR_KWARGS))
    if unknown:
        raise InvalidInputError(
            f"the envpool backend takes only {list(EMULATOR_KWARGS)} in --env-kwargs, got {unknown} "
            f"for {env_id!r}: use --env-backend gymnasium for them"
        )
    task, emulator = envpool_task(env_id)
    emulator.update({k: v for k, v in env_kwargs.items() if v is not None})
    return {
        "task_id": task,
        **emulator,
        "frame_skip": FRAME_SKIP,
        "stack_num": FRAME_STACK,
        "img_height": SCREEN_SIZE,
        "img_width": SCREEN_SIZE,
        "gray_scale": True,
        "use_inter_area_resize": True,  # cv2.INTER_AREA, as AtariPreprocessing
        "noop_max": noop_max,
        "episodic_life": False,
        "use_fire_reset": False,
        "reward_clip": False,  # raw scores; v5's sign-clipping is the learner's (ppmo.py)
        "max_episode_steps": MAX_AGENT_STEPS,
    }


class EnvPoolAtariEnv(MultiThreadedEnv):
    """TorchRL's `MultiThreadedEnv` made to work with envpool 1.2 and to match `GymWrapper`.

    The fixes (torchrl 0.14.1): EnvPool is built with ``env_type="gymnasium"``; specs are converted
    with gymnasium, not the old ``gym`` package; resets need no ``treevalue``; reward and done
    entries are ``[num_envs, 1]``, as `GymWrapper` gives them; an ended game is reset in the step
    that ends it (``step_and_maybe_reset`` resets it through EnvPool's ``reset(env_ids)``), so the
    next observation is the new game's first, as with the gymnasium backend. TorchRL's own
    version leaves it to EnvPool's auto-reset, which spends one extra step per game: its action
    is ignored and the policy acts on the ended game's last frame.
    """

    def _build_env(self, env_name: str, num_workers: int, create_env_kwargs: dict[str, Any] | None):
        import envpool

        env = envpool.make(env_name, env_type="gymnasium", num_envs=num_workers, **(create_env_kwargs or {}))
        return super(MultiThreadedEnv, self)._build_env(env)

    def _make_specs(self, env) -> None:
        with set_gym_backend("gymnasium"):
            self.action_spec = self._get_action_spec()
            output_spec = self._get_output_spec()
        self.observation_spec = output_spec["full_observation_spec"]
        self.reward_spec = output_spec["full_reward_spec"]
        self.done_spec = output_spec["full_done_spec"]

    def _get_reward_spec(self) -> Unbounded:
        return Unbounded(shape=(*self.batch_size, 1), device=self.device)

    def _get_done_spec(self) -> Composite:
        flag = Categorical(2, shape=(*self.batch_size, 1), dtype=torch.bool, device=self.device)
        return Composite(
            done=flag,
            terminated=flag.clone(),
            truncated=flag.clone(),
            shape=self.batch_size,
            device=self.device,
        )

    def _transform_reset_output(self, envpool_output, reset_workers: torch.Tensor | None) -> TensorDictBase:
        obs = torch.as_tensor(envpool_output[0])  # [len(reset ids), 4, 84, 84], in the ids' order
        if reset_workers is None:
            self._last_obs = obs
        else:
            self._last_obs = self._last_obs.clone()
            self._last_obs[reset_workers.reshape(self.batch_size).cpu()] = obs
        out = TensorDict({"observation": self._last_obs}, self.batch_size, device=self.device)
        out.update(self.full_done_spec.zero())
        return out

    def _transform_step_output(self, envpool_output) -> TensorDictBase:
        obs, reward, terminated, truncated, _ = envpool_output
        shape = (*self.batch_size, 1)
        self._last_obs = torch.as_tensor(obs)
        terminated = torch.as_tensor(terminated, dtype=torch.bool).reshape(shape)
        truncated = torch.as_tensor(truncated, dtype=torch.bool).reshape(shape)
        return TensorDict(
            {
                "observation": self._last_obs,
                "reward": torch.as_tensor(reward, dtype=torch.float32).reshape(shape),
                "done": terminated | truncated,
                "terminated": terminated,
                "truncated": truncated,
            },
            self.batch_size,
            device=self.device,
        )

    def step_and_maybe_reset(self, tensordict: TensorDictBase) -> tuple[TensorDictBase, TensorDictBase]:
        return EnvBase.step_and_maybe_reset(self, tensordict)


def make_envpool_atari(
    env_id: str,
    *,
    num_envs: int = 1,
    device: torch.device | str = "cpu",
    seed: int | None = None,
    noop_max: int = NOOP_MAX,
    **env_kwargs: Any,
) -> EnvBase:
    """``num_envs`` preprocessed games in one EnvPool (batch size ``[num_envs]``).

    Observations ``uint8 [num_envs, 4, 84, 84]``, integer actions, raw rewards; sub-env ``i`` is
    seeded ``seed + i`` (a fresh random seed when ``seed`` is None). ``env.env_backend`` is
    ``"envpool"`` and ``env.gym_preprocessing`` records the same conventions as the gymnasium
    backend's env.

    Raises:
        UnknownEnvError: when envpool is not installed, or has no such game.
        InvalidInputError: for an Atari id other than ``ALE/*-v5`` / ``*NoFrameskip-v4``, or
            ``env_kwargs`` EnvPool does not take.
    """
    if not envpool_available():
        raise UnknownEnvError(f"the envpool backend for {env_id!r} needs envpool: {ENVPOOL_INSTALL}")
    import envpool

    config = envpool_config(env_id, env_kwargs, noop_max=noop_max)
    task = config.pop("task_id")
    if task not in envpool.list_all_envs():
        raise UnknownEnvError(f"envpool {envpool.__version__} has no {task!r} (for {env_id!r})")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    env = EnvPoolAtariEnv(num_envs, task, create_env_kwargs={**config, "seed": int(seed)}, device=device)
    env.env_backend = "envpool"
    env.gym_preprocessing = [*preprocessing_record(), GYM_VECTOR_RECORD]
    return env


__all__ = [
    "ENVPOOL_INSTALL",
    "EnvPoolAtariEnv",
    "envpool_available",
    "envpool_config",
    "envpool_task",
    "make_envpool_atari",
]
