"""The device rule (docs/concepts.md#devices), proven without a GPU (issue 23).

Each test names the fault it guards; each failed on the code before issue 23. A run's tensors are
put on the ``meta`` device (an op mixing it with a CPU tensor is what crashes on CUDA:
:class:`StrictDevices` rejects it) or made fake CUDA tensors (what is saved must come out on
the CPU)."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from tensordict import TensorDict

import taskdistill_rl.config as config_module
from taskdistill_rl import devices
from taskdistill_rl.algorithms.ppmo import PPMO, Rollout
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.envs import make_env
from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.evaluate import _Actor
from taskdistill_rl.population import fit_population, sample_population
from taskdistill_rl.run import RunLoop
from tests.device_audit import HostReads, StrictDevices, fake_cuda, module_tensors, tensors_of

META = torch.device("meta")


@pytest.fixture
def meta_runs(monkeypatch):
    """Let a run name the meta device (the CLI and DistillConfig refuse it to users)."""
    check = config_module.check_device
    monkeypatch.setattr(config_module, "check_device", lambda d: None if d == "meta" else check(d))


def _config(**overrides) -> DistillConfig:
    base = dict(k=2, num_envs=8, steps_per_env=8, inits_per_epoch=2, minibatch_size=16, seed=0)
    return DistillConfig(**{**base, **overrides})


def _meta_algo() -> PPMO:
    env = make_env("NDCartPole-v0", num_envs=8, seed=0)  # the env's own tensors stay on the CPU
    return PPMO(env, config=_config(device="meta"))


def _meta_minibatch(algo: PPMO, m: int = 2, b: int = 8) -> TensorDict:
    """A [M, B] minibatch of the run's device, as :meth:`PPMO._minibatches` yields."""
    return TensorDict(
        observation=torch.empty(m, b, 4, device=META),
        action=torch.empty(m, b, dtype=torch.long, device=META),
        action_log_prob=torch.empty(m, b, device=META),
        advantage=torch.empty(m, b, 1, device=META),
        value_target=torch.empty(m, b, 1, device=META),
        batch_size=[m, b],
        device=META,
    )


# -- fault: the loss's buffers stayed on the CPU; CUDA's clamp takes no CPU bounds ----------------
def test_every_tensor_of_the_algorithm_lives_on_the_run_device(meta_runs):
    algo = _meta_algo()
    for owner in (algo.dataset, algo.critic, algo.loss, algo.policy_net):
        wrong = {name: t.device for name, t in module_tensors(owner).items() if t.device != META}
        assert not wrong, f"{type(owner).__name__}: {wrong}"
    assert {p.device for p in algo.sample_initialisation().values()} == {META}


def test_the_loss_and_its_gradient_run_on_the_run_device_alone(meta_runs):
    algo = _meta_algo()
    minibatch, theta0 = _meta_minibatch(algo), algo.sample_initialisation()
    with StrictDevices():
        out = algo.loss(minibatch, theta0)
        (out["loss_objective"] + out["loss_entropy"] + out["loss_critic"]).backward()
    assert algo.dataset.observation.grad.device == META


def test_minibatches_index_on_the_run_device(meta_runs):
    algo = _meta_algo()
    data = _meta_minibatch(algo, 1, 64).reshape(8, 8)
    rollout = Rollout(data, algo.sample_initialisation(), [], 0.0)
    with StrictDevices():
        minibatch, _ = next(algo._minibatches(rollout))
    assert minibatch.device == META


# -- fault: populations sampled on the CPU were fitted against the run's dataset -------------------
def _dataset(**kwargs) -> DistilledDataset:
    return DistilledDataset(
        k=2, obs_shape=(4,), out_features=2, generator=torch.Generator().manual_seed(0), **kwargs
    )


@pytest.mark.parametrize("learners", ["lambda", "random-h"], ids=["one-architecture", "random-architectures"])
def test_sampled_populations_are_fitted_and_live_on_the_dataset_device(learners):
    from taskdistill_rl.population import distribution_for

    ds = _dataset().to(META)
    with StrictDevices():
        population = sample_population(
            ds, distribution_for(ds, learners), 6, torch.Generator().manual_seed(1)
        )
        out = population(torch.empty(6, 3, 4, device=META))
    assert out.device == META
    for index, _, params in population.groups:
        assert index.device == META and {p.device for p in params.values()} == {META}


def test_given_modules_are_fitted_on_the_dataset_device():
    ds = _dataset().to(META)
    with StrictDevices():
        population = fit_population(ds, [ds.make_learner(seed=s) for s in range(3)])
    assert {p.device for _, _, params in population.groups for p in params.values()} == {META}


# -- fault: the evaluation actor mixed a CPU dataset's obs_norm / encoder with device observations --
def test_the_evaluation_actor_normalises_and_encodes_on_its_device():
    ds = _dataset(normalize_obs=True, encoder_layers=1)  # a file loaded on the CPU, evaluated elsewhere
    with StrictDevices():
        population = sample_population(
            copy.deepcopy(ds).to(META), ds.learners(), 2, torch.Generator().manual_seed(0)
        )
        actor = _Actor(ds, population, 2, deterministic=True, seed=0, device=META)
        features = actor.ds.encode(actor.ds.normalize(torch.empty(2, 4, device=META)))
    assert features.device == META
    assert ds.device.type == "cpu"  # the caller's dataset stays where it was


# -- fault: Nature-CNN rows (queued Atari evaluation) indexed CPU parameters with a device index -----
def test_nature_cnn_rows_are_gathered_on_the_actor_device():
    ds = DistilledDataset(
        k=2, obs_shape=(4, 84, 84), out_features=6, generator=torch.Generator().manual_seed(0)
    )
    ds = ds.to(META)
    with StrictDevices():
        population = sample_population(ds, ds.learners(), 3, torch.Generator().manual_seed(0))
        actor = _Actor(ds, population, 2, deterministic=True, seed=0, device=META)
        frames = torch.empty(2, 4, 84, 84, dtype=torch.uint8, device=META)
        action = actor(frames, torch.empty(2, dtype=torch.long, device=META))  # gathers the rows
    assert action.device == META and {p.device for p in actor._rows.values()} == {META}


# -- fault: a CUDA run wrote CUDA tensors into distilled.pt ----------------------------------------
def test_a_file_holds_cpu_tensors_whatever_the_dataset_device():
    ds = _dataset(continuous=False, normalize_obs=True, encoder_layers=1)
    with fake_cuda(ds):
        assert ds.observation.device.type == "cuda"
        payload = ds.to_payload()
        assert {t.device.type for t in tensors_of(payload)} == {"cpu"}


# -- fault: checkpoints held device tensors; resuming moved the RNG states onto the device ---------
def test_a_checkpoint_holds_cpu_tensors_whatever_the_run_device():
    algo = PPMO("NDCartPole-v0", config=_config())
    algo.step()
    loop = RunLoop(algo)
    with fake_cuda(algo.dataset, algo.critic):
        assert {t.device.type for t in tensors_of(loop.state_dict())} == {"cpu"}
        # what a data-parallel rank pickles for gather_object: PPMO's own state, CPU too
        assert {t.device.type for t in tensors_of(algo.state_dict())} == {"cpu"}
    algo.close()


def test_a_cpu_checkpoint_resumes_a_run_on_another_device(tmp_path, meta_runs):
    algo = PPMO("NDCartPole-v0", config=_config())
    algo.step()
    RunLoop(algo).save_checkpoint(tmp_path / "checkpoint.pt")
    saved_rng = torch.get_rng_state()
    algo.close()
    torch.manual_seed(123)
    resumed = _meta_algo()
    RunLoop(resumed).load_checkpoint(tmp_path / "checkpoint.pt")
    assert resumed.meta_epoch == 1
    assert torch.equal(torch.get_rng_state(), saved_rng)  # RNG states stay CPU byte tensors
    assert {t.device for t in module_tensors(resumed.dataset).values()} == {META}
    states = [s for group in resumed.dataset_optim.state.values() for s in group.values()]
    assert {t.device for t in states if isinstance(t, torch.Tensor) and t.dim()} == {META}


def test_a_cuda_run_saves_and_restores_the_gpu_generator(monkeypatch):
    gpu_state = {"value": torch.arange(16, dtype=torch.uint8)}
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device=None: gpu_state["value"].clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device=None: gpu_state.update(value=state))
    algo = PPMO("NDCartPole-v0", config=_config())
    algo.device = torch.device("cuda")  # only the stream state is asked for
    state = algo.stream_state()
    assert torch.equal(state["cuda_rng"], torch.arange(16, dtype=torch.uint8))
    gpu_state["value"] = torch.zeros(16, dtype=torch.uint8)
    devices.set_rng_states(state, "cuda")
    assert torch.equal(gpu_state["value"], torch.arange(16, dtype=torch.uint8))


# -- fault: torchrun on NCCL all-reduced CPU tensors; --device cuda without CUDA gave a traceback ---
def test_a_cuda_world_joins_nccl_for_gpu_tensors_and_gloo_for_cpu_ones(monkeypatch):
    from taskdistill_rl import distributed

    joined = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: joined.update(device=index))
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(
        distributed.dist, "init_process_group", lambda backend, **kw: joined.update(backend=backend)
    )
    device = distributed.join(distributed.World(rank=1, size=2, local_rank=1), "cuda")
    assert device == "cuda:1" and joined == {"device": 1, "backend": "cpu:gloo,cuda:nccl"}


def test_torchrun_with_cuda_on_a_machine_without_one_is_one_clear_line(monkeypatch, tmp_path, capsys):
    from taskdistill_rl.cli import main

    for name, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    out = str(tmp_path / "run")
    assert main(["distill", "--env", "NDCartPole-v0", "--epochs", "1", "--device", "cuda", "--out", out]) == 1
    err = capsys.readouterr().err
    assert "device 'cuda'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- fault: device indices and kinds were never checked --------------------------------------------
@pytest.mark.parametrize("device", ["cuda:1", "cuda:7"], ids=["one-past", "far-past"])
def test_a_gpu_index_past_the_visible_ones_is_refused(monkeypatch, device):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    devices.check_device("cuda:0")
    devices.check_device("cuda")
    with pytest.raises(InvalidInputError, match=r"1 visible GPU\(s\) \(cuda:0 to cuda:0\)"):
        DistillConfig(device=device)


@pytest.mark.parametrize("device", ["mps", "meta", "xpu", "cpu:0x", "gpu"])
def test_devices_other_than_cpu_and_cuda_are_refused(device):
    with pytest.raises(InvalidInputError, match="device"):
        DistillConfig(device=device)


# -- fault: make_policy / to_torchrl_actor of a dataset on a device blamed the observations --------
def test_a_policy_of_a_dataset_on_a_device_lives_there():
    ds = _dataset(normalize_obs=True).to(META)
    policy = ds.make_policy(seed=0)
    assert {p.device for p in policy.module.parameters()} == {META}
    with StrictDevices():
        out = policy.module(ds.normalize(torch.empty(3, 4, device=META)))
    assert out.device == META


# -- syncs: one host read per minibatch (the divergence guard), the metrics once --------------------
def test_an_update_reads_back_once_per_minibatch():
    algo = PPMO(
        "NDCartPole-v0", config=_config(num_envs=8, steps_per_env=16, minibatch_size=16, policy_epochs=2)
    )
    rollout = algo.collect()
    minibatches = algo.config.policy_epochs * math.ceil(rollout.data.numel() / algo.config.minibatch_size)
    with HostReads().counting() as reads:
        algo.update(rollout)
    algo.close()
    assert minibatches == 16
    # one per minibatch, then the metrics and the inner lr once per update
    assert reads.count <= minibatches + 2, reads.ops


# -- pinned memory: a CUDA run's CPU env hands the collector pinned tensors ------------------------
def test_a_cuda_run_pins_what_a_cpu_env_returns(monkeypatch):
    pinned = []

    def pin(td):
        pinned.append(td)
        return td

    monkeypatch.setattr(TensorDict, "pin_memory", pin)
    env = make_env("CartPole-v1", num_envs=2, seed=0)
    assert devices.pinned_outputs(env, "cpu") is env
    env = devices.pinned_outputs(env, "cuda")
    td = env.reset()
    env.step(td.set("action", torch.zeros(2, dtype=torch.long)))
    assert len(pinned) == 2  # the reset and the step
    env.close()


def test_to_device_copies_from_pinned_memory_without_blocking(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda t: calls.append("pin") or t)
    original_to = torch.Tensor.to

    def to(t, *args, **kwargs):
        calls.append(("to", kwargs.get("non_blocking", False)))
        return original_to(t, "meta")

    monkeypatch.setattr(torch.Tensor, "to", to)
    devices.to_device(torch.zeros(3), "cuda")
    assert calls == ["pin", ("to", True)]


def test_cuda_determinism_defaults_and_the_benchmark_option():
    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    try:
        devices.configure_determinism("cuda")
        assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == (False, True)
        devices.configure_determinism("cuda", cudnn_benchmark=True)
        assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == (True, False)
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved
