"""Long runs survive: divergence roll-back, SIGTERM checkpoints, SIGKILL + --resume, same seed same file."""

import csv
import json
import logging
import signal
import subprocess
import sys
import time

import pytest
import torch

from taskdistill_rl.cli import main
from taskdistill_rl.dataset import load_distilled
from taskdistill_rl.distill import Distiller
from taskdistill_rl.errors import DivergenceError


def _tiny(**kwargs):
    return Distiller("NDCartPole-v0", k=2, num_envs=4, steps_per_env=32, seed=0, quiet=True, **kwargs)


def _inject_nans(d, calls: int | None):
    """Make the loss non-finite for the next ``calls`` minibatches (None: for ever)."""
    forward, left = d.algo.loss.forward, [calls]

    def poisoned(td, theta0):
        out = forward(td, theta0)
        if left[0] is None or left[0] > 0:
            left[0] = None if left[0] is None else left[0] - 1
            out["loss_objective"] = out["loss_objective"] * float("nan")
        return out

    d.algo.loss.forward = poisoned


def _state(d):
    return [p.detach().clone() for p in (*d.dataset.parameters(), *d.algo.critic.parameters())]


def test_a_non_finite_step_rolls_back_and_halves_the_lrs(caplog):
    d = _tiny()
    d.train(epochs=2)
    before = _state(d)
    _inject_nans(d, calls=1)
    with caplog.at_level(logging.WARNING, logger="taskdistill_rl.algorithms.ppmo"):
        metrics = d.algo.step()
    assert metrics["train/diverged"] == 1 and "rolled back" in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(before, _state(d), strict=True))
    assert d.algo.dataset_optim.param_groups[0]["lr"] == pytest.approx(d.config.distiller_lr / 2)
    assert d.algo.critic_optim.param_groups[0]["lr"] == pytest.approx(d.config.critic_lr / 2)
    metrics = d.algo.step()  # the next meta-epoch trains again, at the halved lr
    assert metrics["train/diverged"] == 0 and d.algo.consecutive_divergences == 0
    assert not all(torch.equal(a, b) for a, b in zip(before, _state(d), strict=True))


def test_a_non_finite_gradient_is_caught_too():
    d = _tiny()
    d.algo.step()
    before = _state(d)
    d.dataset.label.register_hook(lambda g: g * float("nan"))
    assert d.algo.step()["train/diverged"] == 1
    assert all(torch.isfinite(p).all() for p in _state(d))
    assert all(torch.equal(a, b) for a, b in zip(before, _state(d), strict=True))


def test_repeated_divergence_stops_with_the_last_good_file_intact(tmp_path):
    d = _tiny(out_dir=tmp_path / "run", max_divergences=3)
    d.train(epochs=2)
    good = load_distilled(tmp_path / "run" / "distilled.pt")
    _inject_nans(d, calls=None)
    with pytest.raises(DivergenceError, match="3 consecutive meta-epochs"):
        d.train(epochs=10)
    after = load_distilled(tmp_path / "run" / "distilled.pt")
    assert torch.equal(after.observation, good.observation) and torch.equal(after.label, good.label)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["meta_epoch"] == 4


def _distill_args(out, *extra):
    return ["distill", "--k", "2", "--num-envs", "8", "--final-learners", "2", "--final-episodes", "2", "-q",
            "--out", str(out), *extra]  # fmt: skip


def _distill_cmd(out, *extra):
    return [sys.executable, "-m", "taskdistill_rl.cli", *_distill_args(out, *extra)]


def _rows(out) -> int:
    path = out / "metrics.csv"
    return len(list(csv.DictReader(path.open()))) if path.exists() else 0


def _wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_a_checkpoint_and_says_how_to_resume(tmp_path, sig):
    out = tmp_path / "run"
    proc = subprocess.Popen(_distill_cmd(out, "--epochs", "100000"), stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _rows(out) >= 3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    # a stop, not an error: exit code 128 + signal number, as a shell reports a signalled job
    assert proc.returncode == 128 + sig and f"stopped by {sig.name}" in err and "--resume" in err
    assert "error" not in err
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["meta_epoch"] == _rows(out) >= 3  # nothing after the last finished meta-epoch is lost


def test_sigkill_mid_run_then_resume_continues_from_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_distill_cmd(out, "--epochs", "100000", "--checkpoint-interval", "2"))
    _wait_for(lambda: (out / "checkpoint.pt").exists() and _rows(out) >= 5)
    proc.kill()
    proc.wait(timeout=30)
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["meta_epoch"]
    assert saved >= 2 and _rows(out) - saved <= 2  # at most one checkpoint interval lost
    target = saved + 3
    done = subprocess.run(
        _distill_cmd(out, "--epochs", str(target), "--resume"), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "summary.json").read_text())
    # the resumed process started where the checkpoint was and ran only the missing meta-epochs
    assert summary["started_at_meta_epoch"] == saved and summary["meta_epochs"] == target
    assert _rows(out) == target
    # and it ends exactly where a run that was never killed ends
    assert main(_distill_args(tmp_path / "whole", "--epochs", str(target))) == 0
    resumed, whole = load_distilled(out / "distilled.pt"), load_distilled(tmp_path / "whole" / "distilled.pt")
    assert torch.equal(resumed.observation, whole.observation) and torch.equal(resumed.label, whole.label)
    assert (
        json.loads((tmp_path / "whole" / "summary.json").read_text())["env_frames"] == summary["env_frames"]
    )


def test_same_seed_and_epochs_give_the_same_file(tmp_path):
    for name in ("a", "b"):
        assert main(_distill_args(tmp_path / name, "--epochs", "3", "--seed", "4")) == 0
    a, b = (load_distilled(tmp_path / n / "distilled.pt") for n in ("a", "b"))
    assert torch.equal(a.observation, b.observation) and torch.equal(a.label, b.label)
    assert torch.equal(a.log_inner_lr, b.log_inner_lr) and a.meta == b.meta
    assert (tmp_path / "a" / "config.toml").read_text() == (tmp_path / "b" / "config.toml").read_text()


def test_killed_and_resumed_run_ends_with_the_same_tensors_as_an_uninterrupted_one(tmp_path):
    """Optimisers, generators, torch's RNG, the physics state and the collector's carried
    TensorDict are in the checkpoint, so resuming steps on exactly. A resume that loaded nothing
    would start at meta-epoch 0 and run 6 meta-epochs: both are asserted."""

    def run(out, epochs, resume=False):
        d = Distiller(
            "NDCartPole-v0",
            k=2,
            num_envs=8,
            steps_per_env=40,
            seed=6,
            quiet=True,
            out_dir=out,
            checkpoint_interval=3,
            eval_interval=2,
            eval_learners=2,
            eval_episodes=1,
            final_learners=2,
            final_episodes=1,
        )
        if resume:
            d.load_checkpoint()
            assert d.meta_epoch == 3 and d.algo.frames == 3 * 8 * 40
        ran = []
        d.train(epochs=epochs, callback=lambda metrics: ran.append(metrics["meta_epoch"]))
        return torch.load(out / "checkpoint.pt", weights_only=True), ran

    whole, _ = run(tmp_path / "whole", 6)
    run(tmp_path / "split", 3)
    split, ran = run(tmp_path / "split", 6, resume=True)
    assert ran == [4, 5, 6]
    for key in ("dataset", "critic"):
        for name, tensor in whole["algo"][key].items():
            assert torch.equal(tensor, split["algo"][key][name]), (key, name)
    assert torch.equal(whole["algo"]["rollout"]["physics"], split["algo"]["rollout"]["physics"])
    assert (
        whole["callbacks"]["periodic_evaluation"]["best"]["meta_epoch"]
        == (split["callbacks"]["periodic_evaluation"]["best"]["meta_epoch"])
    )


def test_a_checkpoint_of_the_older_layout_is_one_clear_error(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    # what the single-class Distiller wrote (layout 1): no "layout" key, the state at the top
    old = {"config_hash": "0" * 16, "meta_epoch": 3, "frames": 96, "wall_seconds": 1.0, "dataset": {}}
    torch.save(old, out / "checkpoint.pt")
    before = (out / "checkpoint.pt").read_bytes()
    assert main(["distill", "--k", "2", "--epochs", "4", "--resume", "-q", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "layout 1" in err and "older" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert (out / "checkpoint.pt").read_bytes() == before


def test_a_corrupt_checkpoint_is_a_clear_error_and_is_left_alone(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main(["distill", "--k", "2", "--epochs", "2", "--resume", "-q", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "unreadable checkpoint" in err and "Traceback" not in err
    assert (out / "checkpoint.pt").read_bytes() == b"not a checkpoint"
