"""Atari rollouts travel as uint8 frames and become float [0, 1] when a minibatch is read (issue 23):
a quarter of the bytes, and the same learned tensors as the float32 pipeline, bit for bit."""

from __future__ import annotations

import functools

import gymnasium as gym
import pytest
import torch
from torchrl.envs import GymWrapper

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.atari import as_float_frames, make_atari, register_ale

pytestmark = pytest.mark.skipif(not register_ale(), reason="needs ale-py")
ENV = "ALE/Pong-v5"
SEED = 3


def _float_frames_env() -> GymWrapper:
    """The pipeline before issue 23: ``AtariPreprocessing(scale_obs=True)``, float32 frames."""
    factory = functools.partial(make_atari, ENV)
    vec = gym.vector.SyncVectorEnv([factory] * 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    env = GymWrapper(vec, categorical_action_encoding=True)
    env.set_seed(SEED)
    return env


def _one_meta_epoch(env) -> tuple[PPMO, torch.Tensor]:
    config = DistillConfig(
        env=ENV,
        num_envs=2,
        steps_per_env=24,
        inits_per_epoch=1,
        minibatch_size=16,
        policy_epochs=2,
        seed=SEED,
    )
    algo = PPMO(env, config=config)
    rollout = algo.collect()
    algo.update(rollout)
    algo.close()
    return algo, rollout.data.get("observation")


def test_uint8_frames_scale_to_what_atari_preprocessing_gives():
    frames = torch.arange(256, dtype=torch.uint8)
    expected = torch.from_numpy(frames.numpy().astype("float32") / 255.0)  # AtariPreprocessing's formula
    assert torch.equal(as_float_frames(frames), expected)
    floats = torch.rand(3)
    assert as_float_frames(floats) is floats


def test_uint8_rollouts_learn_the_same_tensors_as_float_ones_in_a_quarter_of_the_bytes():
    uint8_env = make_env(ENV, num_envs=2, seed=SEED)
    assert uint8_env.observation_spec["observation"].dtype == torch.uint8
    fast, frames = _one_meta_epoch(uint8_env)
    reference, float_frames = _one_meta_epoch(_float_frames_env())
    assert frames.dtype == torch.uint8 and float_frames.dtype == torch.float32
    assert torch.equal(as_float_frames(frames), float_frames)
    assert frames.nbytes * 4 == float_frames.nbytes
    for name, tensor in reference.dataset.state_dict().items():
        assert torch.equal(fast.dataset.state_dict()[name], tensor), name
    for name, tensor in reference.critic.state_dict().items():
        assert torch.equal(fast.critic.state_dict()[name], tensor), name
