"""The CPU thread count is a learning setting (issue 24): chosen per env family, applied for the
run's duration, recorded with the run, and a resume under another count warns."""

import json
import logging

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
import torch

from taskdistill_rl import Distiller
from taskdistill_rl.cli import main
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.envs.families import CLASSIC, MUJOCO, NDCARTPOLE
from taskdistill_rl.errors import InvalidInputError

SMALL = dict(k=2, num_envs=4, steps_per_env=16, quiet=True, final_learners=2, final_episodes=1)


@pytest.fixture
def caller_threads():
    """The caller's own count, different from the run's, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


def test_a_run_computes_with_its_thread_count_and_gives_the_caller_its_own_back(caller_threads):
    seen = []
    d = Distiller("NDCartPole-v0", threads=1, **SMALL)
    d.train(epochs=2, callback=lambda metrics: seen.append(torch.get_num_threads()))
    assert seen == [1, 1]
    assert torch.get_num_threads() == caller_threads


def test_the_same_thread_count_gives_the_same_tensors_whatever_the_callers_count(caller_threads):
    runs = []
    for caller in (caller_threads, 1):
        torch.set_num_threads(caller)
        d = Distiller("NDCartPole-v0", threads=2, seed=4, **SMALL)
        runs.append(d.train(epochs=3).state_dict())
    for name, tensor in runs[0].items():
        assert torch.equal(tensor, runs[1][name]), name


def test_the_default_is_the_env_familys_and_a_bad_count_is_refused():
    assert DistillConfig(env="NDCartPole-v0").resolved().threads == NDCARTPOLE.threads
    assert DistillConfig(env="Hopper-v5").resolved().threads == MUJOCO.threads
    assert DistillConfig(env="Pendulum-v1").resolved().threads == CLASSIC.threads
    assert DistillConfig(env="Hopper-v5", threads=2).resolved().threads == 2
    with pytest.raises(InvalidInputError, match="threads must be >= 1"):
        DistillConfig(threads=0)


def _distill(out, *extra):
    args = ["distill", "--k", "2", "--num-envs", "4", "--final-learners", "2", "--final-episodes", "1"]
    return main([*args, "--out", str(out), "-q", *extra])


def test_threads_are_recorded_and_a_resume_under_another_count_warns_and_goes_on(tmp_path, caplog):
    out = tmp_path / "run"
    assert _distill(out, "--epochs", "1", "--threads", "2") == 0
    config = tomllib.loads((out / "config.toml").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert config["threads"] == 2 and summary["threads"] == 2
    assert "--threads 2" in summary["reproduce"] and "--threads 2" in config["reproduce"]
    assert summary["versions"]["torch_threads"] == 2  # what the kernels ran with
    assert torch.load(out / "checkpoint.pt", weights_only=True)["threads"] == 2

    with caplog.at_level(logging.WARNING):
        assert _distill(out, "--epochs", "2", "--threads", "2", "--resume") == 0
    assert "CPU threads" not in caplog.text
    with caplog.at_level(logging.WARNING):
        assert _distill(out, "--epochs", "3", "--threads", "1", "--resume") == 0
    assert "trained with 2 CPU threads, this run uses 1" in caplog.text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta_epochs"] == 3 and summary["threads"] == 1


def test_evaluate_records_its_thread_count(tmp_path):
    out = tmp_path / "eval.json"
    args = ["evaluate", "zoo:ndcartpole-1d", "--n-learners", "2", "--episodes", "1", "-q"]
    assert main([*args, "--threads", "2", "--out", str(out)]) == 0
    assert tomllib.loads(out.with_suffix(".config.toml").read_text())["threads"] == 2
    assert main([*args, "--threads", "0", "--out", str(tmp_path / "e2.json")]) == 2


def test_baseline_computes_with_its_count_and_gives_the_caller_its_own_back(
    tmp_path, caller_threads, monkeypatch
):
    import taskdistill_rl.baselines.random_agent as baselines

    seen = []
    real = baselines.random_agent_returns
    monkeypatch.setattr(
        baselines,
        "random_agent_returns",
        lambda *a, **kw: (seen.append(torch.get_num_threads()), real(*a, **kw))[1],
    )
    out = tmp_path / "b"
    args = ["baseline", "--algo", "random", "--episodes", "2", "--threads", "2", "--out", str(out), "-q"]
    assert main(args) == 0
    assert seen == [2] and torch.get_num_threads() == caller_threads
    assert tomllib.loads((out / "config.toml").read_text())["threads"] == 2
