"""The taskdistill CLI: outputs, config files and one-line errors."""

import json
import os

import pytest
import tomllib

from taskdistill_rl import __version__
from taskdistill_rl.cli import main, parse_env_kwargs


def test_version(capsys):
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_baseline_random_writes_summary_and_config(tmp_path):
    out = tmp_path / "rand"
    args = [
        "baseline",
        "--env",
        "NDCartPole-v0",
        "--env-kwargs",
        "n_dims=2",
        "--episodes",
        "500",
        "--out",
        str(out),
    ]
    assert main([*args, "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    result = summary["evaluation"]["results"]["random"]
    assert abs(result["mean"] - 18.9) < 1.5 and result["episodes"] == 500  # paper Table 8
    assert summary["evaluation"]["env_kwargs"] == {"n_dims": 2}
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["env_kwargs"] == {"n_dims": 2} and config["episodes"] == 500


def test_config_file_sets_options(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('env = "NDCartPole-v0"\nepisodes = 50\nseed = 3\n[env_kwargs]\nn_dims = 3\n')
    assert main(["baseline", "--config", str(cfg), "--out", str(tmp_path / "o"), "-q"]) == 0
    config = tomllib.loads((tmp_path / "o" / "config.toml").read_text())
    assert config["episodes"] == 50 and config["seed"] == 3 and config["env_kwargs"] == {"n_dims": 3}


@pytest.mark.parametrize(
    "args,message",
    [
        (["baseline", "--env", "NDCartPol-v0"], "Did you mean: NDCartPole-v0"),
        (["baseline", "--env-kwargs", "n_dims=0"], "n_dims must be >= 1"),
        (["baseline", "--env-kwargs", "n_dims=1.5"], "n_dims must be a positive int"),
        (["baseline", "--env-kwargs", "n_dims"], "key=value"),
        (["baseline", "--algo", "dqn"], "--algo"),
        (["baseline", "--config", "missing.toml"], "does not exist"),
    ],
    ids=["unknown-env", "n_dims-0", "n_dims-float", "bad-kwargs", "bad-algo", "missing-config"],
)
def test_errors_are_one_line_without_traceback(capsys, args, message):
    assert main([*args, "-q"]) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_library_error_is_exactly_one_line_and_exit_code_1(capsys):
    assert main(["baseline", "--env", "NDCartPol-v0", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("taskdistill: error: unknown environment id 'NDCartPol-v0'")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "error",
    [RuntimeError("boom"), ValueError("boom"), TypeError("boom"), KeyError("boom"), OSError("boom")],
    ids=["RuntimeError", "ValueError", "TypeError", "KeyError", "OSError"],
)
def test_a_programming_error_keeps_its_traceback(monkeypatch, capsys, error):
    # Issue 12: only library errors become one line; any other exception is a bug and propagates.
    import taskdistill_rl.baselines.random_agent

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(taskdistill_rl.baselines.random_agent, "random_agent_returns", broken)
    with pytest.raises(type(error), match="boom"):
        main(["baseline", "--episodes", "5", "-q"])
    assert "taskdistill: error" not in capsys.readouterr().err


def test_unwritable_out_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    assert main(["baseline", "--episodes", "5", "--out", str(blocker), "-q"]) == 1
    assert "not a directory" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"


def test_parse_env_kwargs():
    assert parse_env_kwargs(["n_dims=2", "mode=rgb", "x=1.5"]) == {"n_dims": 2, "mode": "rgb", "x": 1.5}


@pytest.mark.parametrize(
    "args,message",
    [
        (["distill", "--env", "CartPol-v1", "--epochs", "1"], "Did you mean: CartPole-v1"),
        (["distill", "--k", "0", "--epochs", "1"], "--k"),
        (["distill", "--env-kwargs", "n_dims=0", "--epochs", "1"], "n_dims must be >= 1"),
        (["distill"], "give a stop criterion"),
        (["evaluate", "missing.pt"], "does not exist"),
        (["evaluate", "zoo:nothing"], "no zoo entry"),
        (["show", "missing.pt"], "does not exist"),
        (["kmin", "--k", "two", "--epochs", "1"], "comma-separated integers"),
        (["report", "no-such-run"], "no summary.json"),
    ],
    ids=[
        "unknown-env",
        "k-0",
        "n_dims-0",
        "no-stop",
        "missing-file",
        "missing-zoo",
        "show-missing",
        "kmin-k",
        "report",
    ],
)
def test_bad_input_everywhere_is_one_line(capsys, args, message):
    assert main([*args, "-q"] if args[0] in ("distill", "kmin") else args) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_hostile_file_on_the_command_line_is_refused_without_running(tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    import torch

    torch.save({"observation": Payload()}, tmp_path / "evil.pt")
    assert main(["evaluate", str(tmp_path / "evil.pt")]) == 1
    assert "refused to load" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists()


def test_distill_into_a_file_path_damages_nothing(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    assert main(["distill", "--epochs", "1", "--out", str(blocker), "-q"]) == 1
    assert "not a directory" in capsys.readouterr().err and blocker.read_text() == "keep me"


# -- issue 13: nothing a user made is lost -------------------------------------------------------
_DISTILL = ["distill", "--k", "2", "--num-envs", "4", "--final-learners", "2", "--final-episodes", "2"]


def _wait_for(predicate, proc, timeout=180):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        assert proc.poll() is None, "the first run ended early"
        time.sleep(0.1)
    raise TimeoutError


def test_a_second_run_into_a_running_out_is_refused_and_a_killed_runs_lock_is_stale(tmp_path, capsys):
    import subprocess
    import sys

    import torch

    out = tmp_path / "run"
    args = [*_DISTILL, "--checkpoint-interval", "1", "--out", str(out), "-q"]
    first = subprocess.Popen([sys.executable, "-m", "taskdistill_rl", *args, "--epochs", "100000"])
    try:
        _wait_for(lambda: (out / "metrics.csv").exists() and (out / "checkpoint.pt").exists(), first)
        config = (out / "config.toml").read_bytes()
        assert main([*args, "--epochs", "1"]) == 1
        err = capsys.readouterr().err
        assert f"is in use by a running `taskdistill distill` (pid {first.pid} on host" in err
        assert len(err.strip().splitlines()) == 1
        assert main([*args, "--epochs", "1", "--overwrite"]) == 1  # a live lock is never broken
        assert f"pid {first.pid}" in capsys.readouterr().err
        assert (out / "config.toml").read_bytes() == config and first.poll() is None
    finally:
        first.kill()
        first.wait(timeout=60)
    assert json.loads((out / ".taskdistill.lock").read_text())["pid"] == first.pid  # SIGKILL: left behind
    assert main([*args, "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert f"has a stale lock: pid {first.pid} is not running" in err
    assert "re-run with --resume to continue that run or --overwrite to start afresh" in err
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["meta_epoch"]
    assert main([*args, "--epochs", str(saved + 1), "--resume"]) == 0  # takes over the stale lock
    summary = json.loads((out / "summary.json").read_text())
    assert summary["started_at_meta_epoch"] == saved and summary["meta_epochs"] == saved + 1
    assert not (out / ".taskdistill.lock").exists()


@pytest.mark.parametrize("marker", ["distilled.pt", "checkpoint.pt", "summary.json", "metrics.csv"])
def test_distill_into_a_previous_run_is_refused(tmp_path, capsys, marker):
    out = tmp_path / "run"
    out.mkdir()
    (out / marker).write_text("previous")
    assert main([*_DISTILL, "--epochs", "1", "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"already holds a run ({marker} exists): give --resume to continue it or --overwrite" in err
    assert sorted(p.name for p in out.iterdir()) == [marker] and (out / marker).read_text() == "previous"


def test_distill_overwrite_starts_afresh_and_keeps_unknown_files(tmp_path, monkeypatch):
    from taskdistill_rl.distill import Distiller

    out = tmp_path / "run"
    (out / "tensorboard").mkdir(parents=True)
    for name in ("distilled.pt", "checkpoint.pt", "metrics.csv", "summary.json", "eval.json", "config.toml"):
        (out / name).write_text("previous")
    (out / "notes.txt").write_text("mine")
    seen = {}

    class Stop(Exception):
        pass

    def train(self):  # what the run finds when it starts (a whole run is tested above)
        seen["files"] = sorted(p.name for p in out.iterdir())
        raise Stop

    monkeypatch.setattr(Distiller, "train", train)
    with pytest.raises(Stop):
        main([*_DISTILL, "--epochs", "1", "--out", str(out), "-q", "--overwrite"])
    assert seen["files"] == [".taskdistill.lock", "notes.txt"]
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # the lock went with the error


def test_baseline_into_a_previous_run_is_refused_then_overwritten(tmp_path, capsys):
    out = tmp_path / "rand"
    args = ["baseline", "--episodes", "5", "--out", str(out), "-q"]
    assert main(args) == 0
    before = (out / "summary.json").read_bytes()
    assert main([*args, "--seed", "1"]) == 1
    err = capsys.readouterr().err
    assert "already holds a run (summary.json exists): give --overwrite to replace its outputs" in err
    assert (out / "summary.json").read_bytes() == before
    assert main([*args, "--seed", "1", "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["evaluation"]["seed"] == 1


def test_kmin_into_a_previous_run_is_refused(tmp_path, capsys):
    (tmp_path / "km" / "k1").mkdir(parents=True)
    (tmp_path / "km" / "k1" / "result.json").write_text("{}")
    assert main(["kmin", "--k", "1", "--epochs", "1", "--out", str(tmp_path / "km"), "-q"]) == 1
    assert "already holds a run (k1/result.json exists): give --resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command,existing",
    [
        (["evaluate", "zoo:ndcartpole-1d", "--n-learners", "1", "--episodes", "1"], "out"),
        (["evaluate", "zoo:ndcartpole-1d", "--n-learners", "1", "--episodes", "1"], "out.config.toml"),
        (["show", "zoo:ndcartpole-1d"], "out"),
        (["plot", "RUN"], "out"),
        (["report", "RUN"], "out"),
        (["report", "RUN"], "out-cost.png"),
    ],
    ids=["evaluate", "evaluate-config", "show", "plot", "report", "report-png"],
)
def test_file_outputs_are_not_replaced_without_overwrite(tmp_path, capsys, command, existing):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("meta_epoch\n")
    out = tmp_path / "out.md" if command[0] == "report" else tmp_path / "out.x"
    clobbered = {
        "out": out,
        "out.config.toml": out.with_suffix(".config.toml"),
        "out-cost.png": tmp_path / "out-cost.png",
    }[existing]
    clobbered.write_text("keep me")
    argv = [a if a != "RUN" else str(run) for a in command]
    assert main([*argv, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{str(clobbered)!r} exists: give --overwrite to replace it" in err
    assert len(err.strip().splitlines()) == 1 and clobbered.read_text() == "keep me"


def test_show_and_evaluate_overwrite_replace_the_file(tmp_path):
    png, ev = tmp_path / "d.png", tmp_path / "e.json"
    png.write_text("old")
    ev.write_text("old")
    assert main(["show", "zoo:ndcartpole-1d", "--out", str(png), "--overwrite"]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    args = ["evaluate", "zoo:ndcartpole-1d", "--n-learners", "1", "--episodes", "1", "--out", str(ev)]
    assert main([*args, "--overwrite"]) == 0
    assert "results" in json.loads(ev.read_text())


@pytest.mark.parametrize(
    "args",
    [
        ["distill", "--env", "NoSuchEnv-v0", "--epochs", "1"],
        ["distill", "--k", "0", "--epochs", "1"],
        ["distill", "--env-kwargs", "n_dims=0", "--epochs", "1"],
        ["distill", "--preset", "nope", "--epochs", "1"],
        ["distill"],
        ["kmin", "--env", "NoSuchEnv-v0", "--epochs", "1"],
        ["kmin", "--env-kwargs", "n_dims=0", "--epochs", "1"],
        ["kmin", "--preset", "nope", "--epochs", "1"],
        ["baseline", "--env-kwargs", "n_dims=0"],
        ["baseline", "--algo", "ppo", "--env-kwargs", "n_dims=0"],
    ],
    ids=[
        "distill-env",
        "distill-k-0",
        "distill-kwargs",
        "distill-preset",
        "distill-no-stop",
        "kmin-env",
        "kmin-kwargs",
        "kmin-preset",
        "baseline-kwargs",
        "baseline-ppo-kwargs",
    ],
)
def test_a_failed_validation_leaves_no_directory_behind(tmp_path, capsys, args):
    out = tmp_path / "new" / "run"
    assert main([*args, "--out", str(out), "-q"]) != 0
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_cli_outputs_are_readable_by_others_under_umask_022(tmp_path):
    import stat

    old = os.umask(0o022)
    try:
        assert main(["baseline", "--episodes", "5", "--out", str(tmp_path / "r"), "-q"]) == 0
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "r").iterdir()}
    assert modes == {"config.toml": 0o644, "eval.json": 0o644, "summary.json": 0o644}


def test_help_is_plain_wide_and_explains_its_terms(capsys):
    """Issue 13: -h works; flags carry no type noise; jargon is explained."""
    assert main(["distill", "-h"]) == 0
    text = capsys.readouterr().out
    assert "-h, --help" in text and "<bool>" not in text
    assert "the paper's minimum size" in text and "one-step training" in text
    assert max(len(line) for line in text.splitlines()) <= 120


def test_torchrl_chatter_does_not_reach_the_user(tmp_path):
    """Issue 13: TorchRL's INFO lines and its nested-TransformedEnv warning used to reach the
    terminal (MuJoCo envs trigger both)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "taskdistill_rl", "distill", "--env", "InvertedPendulum-v5", "--k", "4",
         "--num-envs", "2", "--epochs", "1", "--final-learners", "1", "--final-episodes", "1", "-q",
         "--out", str(tmp_path / "ip")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "[torchrl]" not in done.stderr and "Nested TransformedEnvs" not in done.stderr, done.stderr


def test_no_progress_bar_reaches_a_pipe(tmp_path):
    """STYLE: the bar is hidden without a TTY (it used to print its last frame into pipes)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "taskdistill_rl", "distill", "--num-envs", "4", "--epochs", "1",
         "--final-learners", "1", "--final-episodes", "1", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "eval return" not in done.stdout + done.stderr and "inner lr" not in done.stdout + done.stderr
    assert "lambda" in done.stdout  # the results table still prints
