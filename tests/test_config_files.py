"""A run's own config.toml is a valid --config and reproduces the run (issue 13)."""

import json
import shlex

import tomllib
import torch

from taskdistill_rl.cli import main
from taskdistill_rl.dataset import load_distilled

TINY = ["--k", "2", "--num-envs", "4", "--final-learners", "2", "--final-episodes", "2", "-q"]


def _same_tensors(a, b) -> bool:
    a, b = load_distilled(a / "distilled.pt"), load_distilled(b / "distilled.pt")
    return torch.equal(a.observation, b.observation) and torch.equal(a.label, b.label)


def test_a_runs_config_toml_reproduces_it_and_sets_fields_without_a_flag(tmp_path):
    first = tmp_path / "a"
    custom = tmp_path / "custom.toml"
    custom.write_text("clip_epsilon = 0.1\nsteps_per_env = 16\npolicy_epochs = 2\nseed = 3\n")
    assert main(["distill", "--config", str(custom), "--epochs", "3", *TINY, "--out", str(first)]) == 0
    written = tomllib.loads((first / "config.toml").read_text())
    assert (written["clip_epsilon"], written["steps_per_env"], written["policy_epochs"], written["seed"]) == (
        0.1, 16, 2, 3,
    )  # fmt: skip
    again = tmp_path / "b"
    assert main(["distill", "--config", str(first / "config.toml"), "-q", "--out", str(again)]) == 0
    assert _same_tensors(first, again)
    assert tomllib.loads((again / "config.toml").read_text()) == written  # the same resolved config
    flags_win = tmp_path / "c"
    assert (
        main(
            ["distill", "--config", str(first / "config.toml"), "--seed", "4", "-q", "--out", str(flags_win)]
        )
        == 0
    )
    assert tomllib.loads((flags_win / "config.toml").read_text())["seed"] == 4 and not _same_tensors(
        first, flags_win
    )


def test_a_time_budgeted_run_records_the_epochs_it_reached_and_the_command_that_reproduces_it(tmp_path):
    timed = tmp_path / "timed"
    assert main(["distill", "--time-budget", "2", *TINY, "--out", str(timed)]) == 0
    config = tomllib.loads((timed / "config.toml").read_text())
    reached = json.loads((timed / "summary.json").read_text())["meta_epochs"]
    assert config["meta_epochs_reached"] == reached >= 1 and f"--epochs {reached}" in config["reproduce"]
    command = shlex.split(config["reproduce"].replace("--out OUT", f"--out {tmp_path / 'again'}"))
    assert command[:2] == ["taskdistill", "distill"]
    assert main([*command[1:], "-q"]) == 0  # the command as recorded (final evaluation included)
    assert _same_tensors(timed, tmp_path / "again")


def test_baseline_and_kmin_configs_read_back(tmp_path):
    base = ["baseline", "--algo", "random", "--episodes", "5", "--seed", "2"]
    assert main([*base, "--out", str(tmp_path / "r1")]) == 0
    assert (
        main(["baseline", "--config", str(tmp_path / "r1" / "config.toml"), "--out", str(tmp_path / "r2")])
        == 0
    )
    evals = [json.loads((tmp_path / r / "eval.json").read_text()) for r in ("r1", "r2")]
    assert evals[0]["results"] == evals[1]["results"]
    kmin = ["kmin", "--k", "1,2", "--epochs", "1", "--n-learners", "2", "--episodes", "2", "-q"]
    assert main([*kmin, "--out", str(tmp_path / "k1")]) == 0
    assert (
        main(["kmin", "--config", str(tmp_path / "k1" / "config.toml"), "-q", "--out", str(tmp_path / "k2")])
        == 0
    )
    rows = [json.loads((tmp_path / k / "kmin.json").read_text())["results"] for k in ("k1", "k2")]
    assert rows[0].keys() == rows[1].keys() == {"1", "2"}
    assert [r["mean"] for r in rows[0].values()] == [r["mean"] for r in rows[1].values()]
    assert all("--epochs 1" in r["reproduce"] for r in rows[0].values())


def test_an_unknown_key_is_refused_with_the_known_ones(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("clip_epsilonn = 0.1\n")
    assert main(["distill", "--config", str(bad), "--epochs", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "clip_epsilonn" in err and "clip_epsilon" in err and not (tmp_path / "x").exists()


def test_the_reproduce_command_names_a_preset_other_than_the_env_familys():
    """A run on another preset than its family's must say so: without ``--preset`` the command
    would run the family's preset (it once left out every preset, as if it were the default)."""
    from taskdistill_rl.config import DistillConfig
    from taskdistill_rl.results import distill_command

    def command(env: str, preset: str) -> str:
        return distill_command(DistillConfig(env=env, preset=preset).resolved().with_k(3, False), 5)

    assert "--preset paper" in command("NDCartPole-v0", "paper")
    assert "--preset fast" in command("ALE/Pong-v5", "fast")  # Atari's own is `atari`
    assert "--preset" not in command("NDCartPole-v0", "fast")  # the family's: nothing to say
