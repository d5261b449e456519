"""Data-parallel PPMO on torch.distributed (gloo, 2 processes launched by torchrun on this CPU).

Issue 16's must-show: identical datasets on every rank after every step; one distributed step
equals one single-process step on the mean of the ranks' PPMO losses (float64, 1e-6); a killed
rank fails the launch within 60 s; an interrupted run resumes to the tensors of an uninterrupted
one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensordict import TensorDict
from torch import nn

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.cli import _without_option, main
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.distributed import World, launched_world

HERE = Path(__file__).parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
DISTILL = [
    "-m",
    "taskdistill_rl",
    "distill",
    "--num-envs",
    "64",
    "--final-learners",
    "2",
    "--final-episodes",
    "1",
]


def _launch(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    return subprocess.Popen([*TORCHRUN, *args], env=env, **kwargs)


def _run_worker(out: Path, *args: str):
    started = time.perf_counter()
    launcher = _launch([str(HERE / "distributed_worker.py"), str(out), *args])
    assert launcher.wait(timeout=120) == 0
    seconds = time.perf_counter() - started
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)], seconds


@pytest.fixture(scope="module")
def worker_records(tmp_path_factory):
    return _run_worker(tmp_path_factory.mktemp("dist"), "NDCartPole-v0")


def test_the_gloo_world_runs_in_under_a_minute(worker_records):
    assert worker_records[1] < 60


def test_every_rank_holds_the_same_dataset_after_every_step(worker_records):
    (r0, r1), _ = worker_records
    steps = r0["after_every_optimiser_step"]
    # 3 meta-epochs x 2 epochs x 4 minibatches (32 envs x 16 steps in minibatches of 128)
    assert len(steps) == len(r1["after_every_optimiser_step"]) == 3 * 2 * 4
    for a, b in zip(steps, r1["after_every_optimiser_step"], strict=True):
        assert torch.equal(a, b)  # bitwise
    assert len(r0["after_step"]) == len(r1["after_step"]) == 3
    for a, b in zip(r0["after_step"], r1["after_step"], strict=True):
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), name  # bitwise
    first, last = r0["after_step"][0], r0["after_step"][-1]
    assert not torch.equal(first["dataset.observation"], last["dataset.observation"])  # it learned
    assert r0["evaluation"] == r1["evaluation"]  # rank 0's evaluation, broadcast


def test_a_divergence_on_one_rank_rolls_every_rank_back_together(worker_records):
    """Rank 1 alone meets a non-finite loss after two good optimiser steps: both ranks drop the
    meta-epoch's steps, return to its start and halve their Adam lrs, so they stay equal."""
    (r0, r1), _ = worker_records
    d0, d1 = r0["divergence"], r1["divergence"]
    assert d0["diverged"] == d1["diverged"] == 1
    assert d0["lrs"] == d1["lrs"]
    assert d0["lrs"][0] == d0["configured_lr"] / 2
    for name in d0["before"]:
        assert torch.equal(d0["after"][name], d1["after"][name]), name
        assert torch.equal(d0["after"][name], d0["before"][name]), name  # rolled back


def test_mujoco_ranks_merge_their_observation_statistics(tmp_path):
    """InvertedPendulum normalises observations: both ranks hold the same statistics, counting
    both ranks' frames (the merge), and the same dataset after every step."""
    (r0, r1), _ = _run_worker(tmp_path, "InvertedPendulum-v5", "--steps-only")
    for a, b in zip(r0["after_step"], r1["after_step"], strict=True):
        for name in a:
            assert torch.equal(a[name], b[name]), name
    last = r0["after_step"][-1]
    assert last["dataset.obs_count"] == pytest.approx(1e-4 + 2 * r0["frames_per_rank"])
    assert not torch.equal(last["dataset.obs_mean"], r0["after_step"][0]["dataset.obs_mean"])


def test_the_merged_observation_statistics_are_those_of_every_ranks_frames(worker_records):
    """After one update each rank holds the running statistics of the pooled frames of both ranks
    (the prior mean 0, var 1, count 1e-4 merged with all of them, written out here), not of one
    rank's frames counted twice."""
    (r0, r1), _ = worker_records
    s0, s1 = r0["obs_statistics"], r1["obs_statistics"]
    for name in ("obs_mean", "obs_var", "obs_count"):
        assert torch.equal(s0[name], s1[name]), name

    def merged(*ranks):
        obs = torch.cat([r["observation"].reshape(-1, 4) for r in ranks]).double()
        n, prior = obs.shape[0], 1e-4
        mean, var, total = obs.mean(0), obs.var(0, unbiased=False), prior + obs.shape[0]
        return mean * n / total, (prior + var * n + mean.square() * prior * n / total) / total, total

    mean, var, count = merged(s0, s1)
    assert not torch.equal(s0["observation"], s1["observation"])
    assert float(s0["obs_count"]) == pytest.approx(count, rel=1e-6)
    torch.testing.assert_close(s0["obs_mean"].double(), mean, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(s0["obs_var"].double(), var, rtol=1e-5, atol=1e-7)
    twice = merged(s0, s0)  # the check can fail: rank 0's frames twice give other statistics
    assert (twice[0] - mean).abs().max() > 1e-4


def test_ranks_learn_from_different_rollouts(worker_records):
    (r0, r1), _ = worker_records
    assert not torch.equal(r0["rollout"]["observation"], r1["rollout"]["observation"])
    assert not all(torch.equal(r0["theta0"][n], r1["theta0"][n]) for n in r0["theta0"])


def _reference_step(records, ranks) -> dict:
    """One single-process step (float64) on the mean of the PPMO losses of ``ranks``' rollouts."""
    from distributed_worker import EQUIVALENCE, snapshot

    algo = PPMO("NDCartPole-v0", config=DistillConfig(seed=3, **EQUIVALENCE))
    algo.dataset.double()
    algo.critic.double()
    for name, tensor in snapshot(algo).items():
        assert torch.equal(tensor, records[0]["before"][name]), name  # rank 0's start, broadcast
    total = 0.0
    for r in ranks:
        data = TensorDict(records[r]["rollout"], batch_size=[8, 16]).reshape(-1)
        theta0 = {name: p[0] for name, p in records[r]["theta0"].items()}
        out = algo.loss(data.select(*algo.loss.minibatch_keys()), theta0)
        total = total + (out["loss_objective"] + out["loss_entropy"] + out["loss_critic"]) / len(ranks)
    total.backward()
    for module in (algo.dataset, algo.critic):
        nn.utils.clip_grad_norm_(module.parameters(), algo.config.max_grad_norm)
    algo.dataset_optim.step()
    algo.critic_optim.step()
    return snapshot(algo)


def test_one_distributed_step_equals_a_step_on_the_mean_of_the_ranks_losses(worker_records):
    records, _ = worker_records
    sys.path.insert(0, str(HERE))
    expected = _reference_step(records, [0, 1])
    for record in records:
        for name, tensor in expected.items():
            assert record["after"][name].dtype == torch.float64
            torch.testing.assert_close(record["after"][name], tensor, rtol=0, atol=1e-6, msg=name)
    # the check can fail: rank 0's loss alone gives other tensors
    alone = _reference_step(records, [0])
    assert max((alone[n] - records[0]["after"][n]).abs().max() for n in alone) > 1e-6


def _rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.is_file() else 0


def _wait_for_rows(path: Path, rows: int, launcher: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while _rows(path) < rows:
        assert launcher.poll() is None, "the run ended early"
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.2)


def test_a_killed_rank_fails_the_launch_within_a_minute(tmp_path):
    launcher = _launch([*DISTILL, "--epochs", "100000", "--out", str(tmp_path / "run"), "-q"])
    try:
        _wait_for_rows(tmp_path / "run" / "metrics.csv", 1, launcher)
        ranks = subprocess.run(["pgrep", "-P", str(launcher.pid)], capture_output=True, text=True)
        pids = [int(p) for p in ranks.stdout.split()]
        assert len(pids) == 2
        killed = time.monotonic()
        os.kill(pids[1], signal.SIGKILL)
        code = launcher.wait(timeout=60)
        assert code != 0
        assert time.monotonic() - killed < 60
    finally:
        if launcher.poll() is None:
            launcher.kill()


def _final_state(run: Path) -> dict:
    algo = torch.load(run / "checkpoint.pt", weights_only=True)["algo"]
    return {"dataset": algo["dataset"], "critic": algo["critic"], "meta_epoch": algo["meta_epoch"]}


def test_an_interrupted_distributed_run_resumes_to_the_uninterrupted_tensors(tmp_path):
    epochs = ["--epochs", "8", "--checkpoint-interval", "100", "-q"]
    whole = _launch([*DISTILL, *epochs, "--out", str(tmp_path / "whole")])
    assert whole.wait(timeout=180) == 0

    run = tmp_path / "cut"
    cut = _launch([*DISTILL, *epochs, "--out", str(run)], stderr=subprocess.PIPE, text=True)
    _wait_for_rows(run / "metrics.csv", 3, cut)
    cut.send_signal(signal.SIGTERM)  # torchrun passes it to both ranks
    _, stderr = cut.communicate(timeout=60)
    assert cut.returncode != 0
    assert "continue with the same command and --resume" in stderr
    stopped = torch.load(run / "checkpoint.pt", weights_only=True)["algo"]
    assert 3 <= stopped["meta_epoch"] < 8
    assert stopped["world_size"] == 2 and len(stopped["streams"]) == 2

    resumed = _launch([*DISTILL, *epochs, "--out", str(run), "--resume"])
    assert resumed.wait(timeout=180) == 0
    a, b = _final_state(tmp_path / "whole"), _final_state(run)
    assert a["meta_epoch"] == b["meta_epoch"] == 8
    for part in ("dataset", "critic"):
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), (part, name)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A 2-process CLI run of 3 meta-epochs."""
    run = tmp_path_factory.mktemp("finished") / "run"
    launcher = _launch([*DISTILL, "--epochs", "3", "--out", str(run), "-q"])
    assert launcher.wait(timeout=120) == 0
    return run


def test_only_rank_0_logs_metrics(finished_run):
    """One metrics.csv row per meta-epoch, in order, and one TensorBoard event file: a logger on
    every rank would write rows twice or overwrite them, and leave a second event file."""
    import csv

    with open(finished_run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(float(row["meta_epoch"])) for row in rows] == [1, 2, 3]
    events = sorted(p.name for p in finished_run.rglob("events.out.tfevents*"))
    assert len(events) == 1, events


def test_a_distributed_checkpoint_is_refused_by_another_world_size(finished_run, capsys):
    run = finished_run
    code = main(["distill", "--num-envs", "64", "--epochs", "2", "--out", str(run), "--resume", "-q"])
    assert code == 1
    assert "written by a run of 2 process(es); this one has 1" in capsys.readouterr().err


def test_the_world_comes_from_torchruns_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert launched_world() is None
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert launched_world() == World(rank=3, size=4, local_rank=1)


def test_the_nproc_shortcut_relaunches_without_its_own_option():
    argv = ["distill", "--nproc", "2", "--epochs", "3", "--nproc=4", "--out", "x"]
    assert _without_option(argv, "--nproc") == ["distill", "--epochs", "3", "--out", "x"]
