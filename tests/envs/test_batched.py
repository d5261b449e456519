"""BatchedNDCartPole: TorchRL specs, agreement with the gymnasium env, auto-reset semantics."""

import numpy as np
import pytest
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.collectors import Collector
from torchrl.envs import EnvBase
from torchrl.envs.utils import RandomPolicy, check_env_specs

from taskdistill_rl import BatchedNDCartPole, UnknownEnvError, make_env
from taskdistill_rl.envs import NDCartPoleEnv
from taskdistill_rl.envs.batched import _advance_kernel, _NumpyStep, _TorchStep
from taskdistill_rl.envs.physics import euler_step
from taskdistill_rl.envs.physics_inplace import InplaceEulerStep


@pytest.mark.parametrize("n_dims", [1, 2, 5])
def test_check_env_specs(n_dims):
    check_env_specs(BatchedNDCartPole(num_envs=7, n_dims=n_dims, seed=0))


@pytest.mark.parametrize("n_dims", [1, 3])
def test_matches_gymnasium_env_per_step(n_dims):
    """Started from the same state with the same action: within 1e-5 per step, same episode ends.

    The float32 state is re-synchronised from the float64 reference before every step, so the
    comparison measures the error of one step, not float32 drift over a whole episode.
    """
    num_envs, rng = 64, np.random.default_rng(0)
    batched = BatchedNDCartPole(num_envs=num_envs, n_dims=n_dims, seed=0)
    scalars = [NDCartPoleEnv(n_dims=n_dims) for _ in range(num_envs)]
    batched.reset()
    compared = 0
    for _ in range(300):
        for i, env in enumerate(scalars):
            if env.state is None:
                env.reset(seed=int(rng.integers(1 << 30)))
                batched.step_count[i] = 0
            batched.state[i] = torch.as_tensor(env.state, dtype=batched.state.dtype)
        actions = rng.integers(2 * n_dims, size=num_envs)
        td = batched.step(TensorDict(action=torch.as_tensor(actions), batch_size=[num_envs]))["next"]
        for i, env in enumerate(scalars):
            obs, reward, terminated, _, _ = env.step(int(actions[i]))
            np.testing.assert_allclose(td["observation"][i].numpy(), obs, atol=1e-5, rtol=0)
            assert td["reward"][i].item() == reward
            assert td["terminated"][i].item() == terminated
            compared += 1
            if terminated:
                env.state = None
    assert compared == 300 * num_envs


def test_float64_dynamics_equal_gymnasium_exactly():
    batched = BatchedNDCartPole(num_envs=1, n_dims=2, dtype=torch.float64, seed=0)
    env = NDCartPoleEnv(n_dims=2)
    env.reset(seed=5)
    batched.reset()
    batched.state[0] = torch.as_tensor(env.state)
    for a in [0, 3, 1, 2, 2, 0, 1, 3]:
        batched.step(TensorDict(action=torch.tensor([a]), batch_size=[1]))
        env.step(a)
        assert torch.equal(batched.state[0], torch.as_tensor(env.state))


def test_truncation_at_500_and_auto_reset():
    env = BatchedNDCartPole(num_envs=3, n_dims=1, seed=0)
    td = env.reset()
    for t in range(1, 502):
        env.state.zero_()  # held upright: only the time limit can end the episode
        td["action"] = torch.full((3,), t % 2)
        step, td = env.step_and_maybe_reset(td)
        if t < 500:
            assert not step["next", "done"].any()
        elif t == 500:
            assert step["next", "truncated"].all() and not step["next", "terminated"].any()
            assert (td["step_count"] == 0).all() and not td["done"].any()  # auto-reset
            assert (td["observation"].abs() <= 0.05).all()


def test_fused_step_and_maybe_reset_equals_generic_path():
    """The fast override must return exactly what EnvBase's generic path returns."""
    assert BatchedNDCartPole._step_and_maybe_reset is not EnvBase._step_and_maybe_reset  # overridden
    fast = BatchedNDCartPole(num_envs=32, n_dims=2, seed=1)
    slow = BatchedNDCartPole(num_envs=32, n_dims=2, seed=1)
    td_f, td_s = fast.reset(), slow.reset()
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        action = torch.randint(0, 4, (32,), generator=g)
        td_f["action"], td_s["action"] = action, action.clone()
        td_f["logits"], td_s["logits"] = torch.ones(32, 4), torch.ones(32, 4)  # policy output
        out_f, td_f = fast.step_and_maybe_reset(td_f)
        out_s, td_s = EnvBase._step_and_maybe_reset(slow, td_s)
        assert set(out_f.keys(True, True)) == set(out_s.keys(True, True))
        assert set(td_f.keys(True, True)) == set(td_s.keys(True, True))
        assert (out_f == out_s).all() and (td_f == td_s).all()


def test_next_observation_survives_auto_reset():
    env = BatchedNDCartPole(num_envs=2, n_dims=1, seed=0)
    td = env.reset()
    env.state[0, 0, 2] = 0.3  # pole already past 12 deg: fails on the next step
    td["action"] = torch.zeros(2, dtype=torch.long)
    out, td = env.step_and_maybe_reset(td)
    assert out["next", "terminated"][0].item()
    assert out["next", "observation"][0, 2].item() > 0.2  # the failing state, not the reset one
    assert td["observation"][0].abs().max().item() <= 0.05


def test_seed_reproducible():
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # the random actions come from the global generator
        runs.append(BatchedNDCartPole(num_envs=4, n_dims=2, seed=7).rollout(50, break_when_any_done=False))
    assert torch.equal(runs[0]["observation"], runs[1]["observation"])
    other = BatchedNDCartPole(num_envs=4, n_dims=2, seed=8).reset()
    assert not torch.equal(runs[0]["observation"][:, 0], other["observation"])


def test_compiled_physics_matches_eager():
    eager = BatchedNDCartPole(num_envs=16, n_dims=2, seed=0)
    fused = BatchedNDCartPole(num_envs=16, n_dims=2, seed=0, compile_physics=True)
    assert eager._kernel is _advance_kernel and fused._kernel is not _advance_kernel  # really compiled
    eager.reset()
    fused.reset()
    for a in range(40):
        td = TensorDict(action=torch.full((16,), a % 4), batch_size=[16])
        e, f = eager.step(td.clone())["next"], fused.step(td.clone())["next"]
        torch.testing.assert_close(e["observation"], f["observation"], atol=1e-6, rtol=1e-6)


def test_make_env_ndcartpole_and_gym_ids():
    env = make_env("NDCartPole-v0", num_envs=3, n_dims=2)
    assert isinstance(env, BatchedNDCartPole) and env.n_dims == 2
    cp = make_env("CartPole-v1", num_envs=2, seed=0)
    td = cp.rollout(10, break_when_any_done=False)
    assert td["observation"].shape == (2, 10, 4) and td["action"].dtype == torch.int64
    check_env_specs(cp)


def test_make_env_mujoco_float32():
    env = make_env("InvertedPendulum-v5", num_envs=2, seed=0)
    assert env.observation_spec["observation"].dtype == torch.float32
    assert env.rollout(5, break_when_any_done=False)["observation"].dtype == torch.float32


@pytest.mark.parametrize(
    "env_id,match",
    [
        ("NDCartPole-v1", "Did you mean: NDCartPole-v0"),
        ("CartPol-v1", "CartPole-v1"),
        ("NoSuchEnv-v0", "unknown environment id"),
        ("", "non-empty"),
    ],
    ids=["close-nd", "typo", "unknown", "empty"],
)
def test_unknown_env_id(env_id, match):
    with pytest.raises(UnknownEnvError, match=match):
        make_env(env_id)


def test_make_env_bad_kwargs():
    with pytest.raises(ValueError, match=">= 1"):
        make_env("NDCartPole-v0", n_dims=0)
    with pytest.raises(TypeError, match="takes only n_dims"):
        make_env("NDCartPole-v0", ndims=2)
    with pytest.raises(TypeError, match="positive int"):
        make_env("NDCartPole-v0", n_dims="two")


# -- issue 15: the fast step ------------------------------------------------------------------------


def _torch_only(env: BatchedNDCartPole) -> BatchedNDCartPole:
    """The env with the torch bookkeeping used off CPU, on CPU."""
    env._stepper = _TorchStep(env.num_envs, env.n_dims, dtype=env.state_dtype, device=env.device)
    return env


def _assert_same(a: TensorDictBase, b: TensorDictBase) -> None:
    assert set(a.keys(True, True)) == set(b.keys(True, True))
    for key in a.keys(True, True):
        x, y = a.get(key), b.get(key)
        assert x.dtype == y.dtype and torch.equal(x, y), key


@pytest.mark.parametrize(
    "use_numpy,dtype",
    [(True, torch.float32), (True, torch.float64), (False, torch.float32), (False, torch.float64)],
    ids=["numpy-float32", "numpy-float64", "torch-float32", "torch-float64"],
)
def test_inplace_euler_step_is_bit_identical_to_euler_step(use_numpy, dtype):
    """Issue 15: the allocation-free step evaluates euler_step's expressions exactly, from any state."""
    g = torch.Generator().manual_seed(0)
    scale = torch.tensor([6.0, 8.0, 1.0, 8.0], dtype=dtype)  # well past the thresholds too
    state = (torch.rand(500, 3, 4, generator=g, dtype=dtype) - 0.5) * scale
    force = (torch.randint(-1, 2, (500, 3), generator=g) * 10).to(dtype)
    expected = state.clone()
    step = InplaceEulerStep(state.shape, dtype=dtype, device="cpu", use_numpy=use_numpy)
    for _ in range(5):
        expected = torch.stack(euler_step(*expected.unbind(-1), force, sin=torch.sin, cos=torch.cos), -1)
        step(state, step.as_array(force))
        assert torch.equal(state, expected)


@pytest.mark.parametrize(
    "n_dims,dtype",
    [(1, torch.float32), (3, torch.float32), (2, torch.float64)],
    ids=["1d-float32", "3d-float32", "2d-float64"],
)
def test_numpy_and_torch_paths_step_identically(n_dims, dtype):
    """Issue 15: on CPU the step runs through numpy; it must give the torch path's bits (used off CPU).

    Over terminations, truncations at 500 steps, partial resets and carried policy outputs.
    """
    num_envs = 48
    envs = [BatchedNDCartPole(num_envs=num_envs, n_dims=n_dims, dtype=dtype, seed=3) for _ in range(2)]
    assert isinstance(envs[0]._stepper, _NumpyStep)
    _torch_only(envs[1])
    tds = [env.reset() for env in envs]
    _assert_same(*tds)
    g = torch.Generator().manual_seed(0)
    ended = torch.zeros(2, dtype=torch.long)
    for t in range(600):
        action = torch.randint(0, 2 * n_dims, (num_envs,), generator=g)
        logits = torch.randn(num_envs, 2 * n_dims, generator=g)
        outs = []
        for i, env in enumerate(envs):
            if t % 3:
                env.state[:16] *= 0.01  # held nearly still: these reach the time limit
            tds[i]["action"], tds[i]["logits"] = action.clone(), logits.clone()
            out, tds[i] = env.step_and_maybe_reset(tds[i])
            outs.append(out)
        _assert_same(*outs)
        _assert_same(*tds)
        ended += torch.stack([outs[0]["next", "terminated"].sum(), outs[0]["next", "truncated"].sum()])
    assert (ended > 0).all()  # both kinds of episode end happened
    assert torch.equal(envs[0].state, envs[1].state) and torch.equal(envs[0].step_count, envs[1].step_count)
    assert torch.equal(envs[0]._generator.get_state(), envs[1]._generator.get_state())


def test_collector_steps_through_the_fused_override(monkeypatch):
    """Issue 15: torchrl's Collector calls env.step_and_maybe_reset: the fused path, never step + reset."""
    calls = []
    fused = BatchedNDCartPole._step_and_maybe_reset

    def spy(self, tensordict):
        calls.append(tensordict.batch_size)
        return fused(self, tensordict)

    def forbidden(*args, **kwargs):
        raise AssertionError("the generic EnvBase path was used")

    monkeypatch.setattr(BatchedNDCartPole, "_step_and_maybe_reset", spy)
    monkeypatch.setattr(BatchedNDCartPole, "_step", forbidden)
    monkeypatch.setattr(EnvBase, "maybe_reset", forbidden)
    env = BatchedNDCartPole(num_envs=8, seed=0)
    collector = Collector(env, RandomPolicy(env.action_spec), frames_per_batch=8 * 40, total_frames=8 * 80)
    batches = list(collector)
    collector.shutdown()
    assert len(calls) == 80 and [tuple(b.shape) for b in batches] == [(8, 40), (8, 40)]
    assert torch.cat([b["next", "done"] for b in batches], 1).any()  # episodes ended and were reset


def test_state_is_stepped_in_place_and_can_be_reassigned():
    """ppmo.py restores a run by writing into env.state / env.step_count; assigning a tensor works too."""
    env = BatchedNDCartPole(num_envs=4, seed=0)
    state, step_count = env.state, env.step_count
    td = env.reset()
    td["action"] = torch.ones(4, dtype=torch.long)
    env.step_and_maybe_reset(td)
    assert env.state is state and env.step_count is step_count
    env.state = torch.zeros(4, 1, 4)
    reference = BatchedNDCartPole(num_envs=4, seed=0)
    reference.reset()
    reference.state.zero_()
    action = TensorDict(action=torch.tensor([0, 1, 1, 0]), batch_size=[4])
    stepped = env.step(action.clone())["next", "observation"]
    assert torch.equal(stepped, reference.step(action.clone())["next", "observation"])
    assert torch.equal(stepped, env.state.view(4, 4)) and stepped.abs().sum() > 0


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_emitted_tensors_never_change_afterwards(backend):
    """Issue 15: state and buffers are updated in place; nothing a step returned may alias them."""
    env = BatchedNDCartPole(num_envs=32, n_dims=2, seed=0)
    if backend == "torch":
        _torch_only(env)
    td = env.reset()
    history = []
    for _ in range(60):
        step_input = td.copy()  # a shallow copy: the returned root itself is left as it came
        step_input["action"] = torch.randint(0, 4, (32,))
        out, td = env.step_and_maybe_reset(step_input)
        history.append((out.clone(), out, td.clone(), td))
    env.state.fill_(7.0)
    env.step_count.fill_(7)
    for out_copy, out, td_copy, td in history:
        _assert_same(out_copy, out)
        _assert_same(td_copy, td)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_out_of_range_action_raises(backend):
    env = BatchedNDCartPole(num_envs=3, n_dims=2, seed=0)
    if backend == "torch":
        _torch_only(env)
    td = env.reset()
    td["action"] = torch.tensor([0, 4, 1])
    with pytest.raises(IndexError):
        env.step_and_maybe_reset(td)
