"""MuJoCo rollouts on every core: ``ForkedVectorEnv`` (shares of sub-envs in forked workers)
returns what one synchronous gymnasium vector env returns, bit for bit, so ``--env-workers`` never
changes what a run learns."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.env_workers import ForkedVectorEnv, merge_infos
from taskdistill_rl.envs import make_env
from taskdistill_rl.errors import InvalidInputError

pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


def _sync(env_id: str, n: int) -> gym.vector.VectorEnv:
    return gym.make_vec(
        env_id,
        num_envs=n,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )


def _assert_same(a, b, where: str) -> None:
    """Equal values, dtypes and keys, recursively through vector infos (object arrays included)."""
    if isinstance(a, tuple):  # a reply: observations, rewards, flags, infos
        assert isinstance(b, tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}[{key}]")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert b.dtype == object and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif a is None:
        assert b is None, where
    else:
        assert type(a) is type(b) and np.array_equal(a, b), f"{where}: {a} != {b}"
        assert np.asarray(a).dtype == np.asarray(b).dtype, where


def _rollout(env, steps: int, seed: int, num_envs: int, act: int = 3, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    replies = [env.reset(seed=seed)]
    for _ in range(steps):
        replies.append(env.step(rng.uniform(-1, 1, size=(num_envs, act)).astype(np.float32) + shift))
    env.close()
    return replies


def test_shares_in_workers_equal_one_sync_vector_env_with_terminations():
    """Hopper-v4 falls at different steps in different envs: the auto-resets, their
    ``final_obs``/``final_info`` and every info array arrive as one process makes them, with shares
    of unequal size (3, 3, 4) of which some have no ended episode in a step."""
    one = _rollout(_sync("Hopper-v4", 10), 150, seed=5, num_envs=10)
    forked = ForkedVectorEnv(lambda n: _sync("Hopper-v4", n), 10, workers=3)
    split = _rollout(forked, 150, seed=5, num_envs=10)
    for step, (a, b) in enumerate(zip(one, split, strict=True)):
        _assert_same(a, b, f"step {step}")
    ended = sum(int(np.sum(r[2] | r[3])) for r in one[1:])
    partial = sum(1 for r in one[1:] if 0 < np.sum(r[2] | r[3]) < 10)
    assert ended > 20 and partial > 10  # many partial auto-resets were compared


def test_a_seed_list_and_a_reset_mask_reach_the_sub_envs_they_name():
    """Seeds per sub-env, and a partial reset where one share has nothing to reset (gymnasium
    refuses an all-False mask, so that share is not asked)."""
    seeds = [7, 3, 11, 2, 9, 4]
    mask = np.array([False, False, False, True, False, True])
    results = []
    forked = ForkedVectorEnv(lambda n: _sync("HalfCheetah-v4", n), 6, workers=2)
    for env in (_sync("HalfCheetah-v4", 6), forked):
        first = env.reset(seed=seeds)
        env.step(np.full((6, 6), 0.3, dtype=np.float32))
        again = env.reset(seed=[100 + s for s in seeds], options={"reset_mask": mask})
        results.append((first, again))
        env.close()
    _assert_same(results[0], results[1], "resets")
    assert not np.array_equal(results[0][1][0][mask], results[0][0][0][mask])  # the mask did reset


def test_torchrl_rollouts_with_truncations_equal_one_process():
    """Through ``make_env`` (GymWrapper, its auto-reset transform, float32 observations): every key
    of a HalfCheetah-v4 rollout past its 1,000-step limit, where all envs truncate at once."""
    outs = []
    for workers in (1, 2):
        env = make_env("HalfCheetah-v4", num_envs=4, seed=3, workers=workers)
        generator = torch.Generator().manual_seed(0)
        td, steps = env.reset(), []
        for _ in range(1010):
            td["action"] = torch.rand(4, 6, generator=generator) * 2 - 1
            out, td = env.step_and_maybe_reset(td)
            steps.append(out.clone())
        env.close()
        outs.append(torch.stack(steps))
    one, split = outs
    assert one["next", "truncated"].sum() == 4  # each env once, all at step 1,000
    assert set(one.keys(True, True)) == set(split.keys(True, True))
    for key in one.keys(True, True):
        assert torch.equal(one[key], split[key]), key


def test_ppmo_learns_the_same_tensors_whatever_the_env_workers():
    """Two meta-epochs of Hopper-v4 in one process and in two workers: the same dataset and critic."""
    states = []
    for workers in (1, 2):
        algo = PPMO("Hopper-v4", num_envs=16, steps_per_env=40, inits_per_epoch=2, env_workers=workers)
        for _ in range(2):
            algo.update(algo.collect())
        states.append({**algo.dataset.state_dict(), **algo.critic.state_dict()})
        algo.close()
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key


def test_env_workers_for_a_family_that_steps_in_one_process_are_refused():
    with pytest.raises(InvalidInputError, match="steps in one process"):
        make_env("CartPole-v1", num_envs=16, workers=2)


def test_merged_infos_fill_a_missing_share_as_gymnasium_does():
    parts = [
        {"a": np.array([1.5, 2.5]), "_a": np.array([True, True]), "o": np.array([None, "x"], dtype=object)},
        {"n": {"b": np.array([3])}},
    ]
    merged = merge_infos(parts, [2, 1])
    _assert_same(
        merged,
        {
            "a": np.array([1.5, 2.5, 0.0]),
            "_a": np.array([True, True, False]),
            "o": np.array([None, "x", None], dtype=object),
            "n": {"b": np.array([0, 0, 3])},
        },
        "merged",
    )
