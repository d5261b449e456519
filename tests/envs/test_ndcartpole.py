"""NDCartPoleEnv: bit-exactness with CartPole-v1, per-axis forces, episode ends, spaces."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.utils.env_checker import check_env

import taskdistill_rl  # noqa: F401  (registers NDCartPole-v0)
from taskdistill_rl.envs import NDCartPoleEnv


def test_one_dim_is_cartpole_v1_bit_for_bit():
    nd, ref = gym.make("NDCartPole-v0"), gym.make("CartPole-v1")
    rng = np.random.default_rng(0)
    steps = resets = 0
    for seed in range(60):
        obs_nd, _ = nd.reset(seed=seed)
        obs_ref, _ = ref.reset(seed=seed)
        resets += 1
        assert np.array_equal(obs_nd, obs_ref)
        done = False
        while not done:
            a = int(rng.integers(2))
            o1, r1, te1, tr1, _ = nd.step(a)
            o2, r2, te2, tr2, _ = ref.step(a)
            steps += 1
            assert np.array_equal(o1, o2) and o1.dtype == o2.dtype
            assert (r1, te1, tr1) == (r2, te2, tr2)
            done = te1 or tr1
        assert np.array_equal(nd.unwrapped.state.reshape(-1), ref.unwrapped.state)
    assert steps >= 1000 and resets >= 10


def test_reset_without_seed_continues_the_same_stream():
    nd, ref = gym.make("NDCartPole-v0"), gym.make("CartPole-v1")
    nd.reset(seed=3)
    ref.reset(seed=3)
    for _ in range(5):
        assert np.array_equal(nd.reset()[0], ref.reset()[0])


@pytest.mark.parametrize("n_dims,axis", [(2, 0), (2, 1), (3, 2), (5, 3)], ids=lambda v: str(v))
def test_push_acts_only_on_its_axis(n_dims, axis):
    env = NDCartPoleEnv(n_dims=n_dims)
    env.reset(seed=1)
    start = env.state.copy()
    pushed, free = CartPoleEnv(), CartPoleEnv()
    free.force_mag = 0.0  # the reference for an axis that gets no force
    for push in (0, 1, 1, 0, 1):
        env.step(2 * axis + push)
    for i in range(n_dims):
        ref = pushed if i == axis else free
        ref.reset(seed=0)
        ref.state = start[i].copy()
        for push in (0, 1, 1, 0, 1):
            ref.step(push)
        np.testing.assert_array_equal(env.state[i], ref.state)


def test_action_sign_convention():
    env = NDCartPoleEnv(n_dims=2)
    env.reset(seed=0)
    env.state[:] = 0.0
    env.step(3)  # axis 1, +F
    assert env.state[1, 1] > 0 and env.state[0, 1] == 0.0
    env.step(0)  # axis 0, -F
    assert env.state[0, 1] < 0


@pytest.mark.parametrize("failing_axis", [0, 1, 2])
def test_terminates_when_any_axis_fails(failing_axis):
    env = NDCartPoleEnv(n_dims=3)
    env.reset(seed=0)
    env.state[:] = 0.0
    env.state[failing_axis, 2] = env.theta_threshold_radians + 0.01  # pole beyond 12 deg
    _, reward, terminated, truncated, _ = env.step(0 if failing_axis else 2)
    assert terminated and not truncated and reward == 1.0
    env.reset(seed=0)
    env.state[:] = 0.0
    env.state[failing_axis, 0] = -2.45  # cart beyond the track
    assert env.step(0)[2]


def test_truncates_at_500():
    env = gym.make("NDCartPole-v0", n_dims=2)
    env.reset(seed=0)
    # Lift the failure thresholds so only the time limit can end the episode.
    env.unwrapped.x_threshold = env.unwrapped.theta_threshold_radians = np.inf
    for t in range(1, 501):
        _, reward, terminated, truncated, _ = env.step(t % 4)
        assert reward == 1.0 and not terminated
        assert truncated == (t == 500)


@pytest.mark.parametrize("n_dims", [1, 2, 3, 4, 5])
def test_spaces(n_dims):
    env = gym.make("NDCartPole-v0", n_dims=n_dims)
    assert env.action_space == gym.spaces.Discrete(2 * n_dims)
    assert env.observation_space.shape == (4 * n_dims,)
    assert env.observation_space.dtype == np.float32
    high = env.observation_space.high.reshape(n_dims, 4)
    ref_high = gym.make("CartPole-v1").observation_space.high
    assert np.array_equal(high, np.tile(ref_high, (n_dims, 1)))
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4 * n_dims,) and np.all(np.abs(obs) <= 0.05)


@pytest.mark.parametrize("n_dims", [1, 2, 4])
def test_gymnasium_check_env(n_dims):
    check_env(gym.make("NDCartPole-v0", n_dims=n_dims).unwrapped, skip_render_check=False)


# Paper Table 8 (uniform random agents).
PAPER_RANDOM = {1: 21.8, 2: 18.9, 3: 18.5, 4: 18.6, 5: 18.6}


@pytest.mark.parametrize("n_dims", [1, 2, 3, 4, 5])
def test_uniform_random_agent_matches_paper_table_8(n_dims):
    env = gym.make("NDCartPole-v0", n_dims=n_dims)
    env.action_space.seed(n_dims)
    returns = []
    for episode in range(1000):
        env.reset(seed=10_000 * n_dims + episode)
        total, done = 0.0, False
        while not done:
            _, r, te, tr, _ = env.step(env.action_space.sample())
            total += r
            done = te or tr
        returns.append(total)
    assert abs(np.mean(returns) - PAPER_RANDOM[n_dims]) <= 1.0, np.mean(returns)


@pytest.mark.parametrize("n_dims", [2])
def test_render_rgb_array(n_dims):
    for n in (1, n_dims):
        env = gym.make("NDCartPole-v0", n_dims=n, render_mode="rgb_array")
        env.reset(seed=0)
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert frame.shape[1] >= 400 * (n + (n >= 2)) - 5  # one panel per view
        assert frame.std() > 0  # something was drawn


@pytest.mark.parametrize(
    "bad,exc,match",
    [
        (0, ValueError, ">= 1"),
        (-2, ValueError, ">= 1"),
        (1.5, TypeError, "positive int"),
        ("2", TypeError, "positive int"),
        (True, TypeError, "positive int"),
    ],
    ids=["zero", "negative", "float", "str", "bool"],
)
def test_bad_n_dims(bad, exc, match):
    with pytest.raises(exc, match=match):
        gym.make("NDCartPole-v0", n_dims=bad)
