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
    import taskdistill_rl.baselines

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(taskdistill_rl.baselines, "random_agent_returns", broken)
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
