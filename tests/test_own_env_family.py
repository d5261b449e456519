"""Issue 26's proof of the env-family seam: ``examples/own_env_family.py`` (a catch game and its
family record, one file, nothing else registered) runs under ``--env-family module:NAME`` with
the whole tool: distillation with the record's defaults, the reproduce command, evaluation and the
random baseline; and ``--env-family`` mistakes are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib

from taskdistill_rl.cli import main
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.envs import families
from taskdistill_rl.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[1]
CATCH = "examples.own_env_family:CATCH"


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # where `examples.own_env_family` imports from, as a user's project root
    monkeypatch.setattr(families, "FAMILIES", list(families.FAMILIES))  # registrations end with the test


def test_the_example_family_distils_with_its_own_defaults_and_evaluates(at_root, tmp_path):
    run = tmp_path / "catch"
    args = ["--env", "Catch-v0", "--env-family", CATCH, "--num-envs", "64", "--out", str(run), "-q"]
    assert main(["distill", *args, "--epochs", "25"]) == 0

    summary = json.loads((run / "summary.json").read_text())
    result = summary["evaluation"]["results"]["lambda"]
    # The record's final evaluation sizes, not the classic family's 50 x 10 nor ND cart-pole's 100 x 100.
    assert (result["n_learners"], result["episodes"]) == (50, 20)
    # It learns: a random paddle scores about -0.6, always moving toward the ball scores 1.0.
    assert result["mean"] > 0.5, result["mean"]
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["env_family"] == CATCH and config["eval_interval"] == 5
    assert "--env-family examples.own_env_family:CATCH" in config["reproduce"]

    out = tmp_path / "eval.json"
    assert main(["evaluate", str(run / "distilled.pt"), "--env-family", CATCH, "--n-learners", "10",
                 "--episodes", "10", "--out", str(out), "-q"]) == 0  # fmt: skip
    assert json.loads(out.read_text())["results"]["lambda"]["mean"] > 0.5

    baseline = tmp_path / "random"
    common = ["--env", "Catch-v0", "--env-family", CATCH, "--episodes", "400", "-q"]
    assert main(["baseline", *common, "--algo", "random", "--out", str(baseline)]) == 0
    random_mean = json.loads((baseline / "eval.json").read_text())["results"]["random"]["mean"]
    assert -0.8 < random_mean < -0.4, random_mean  # a uniform paddle catches about one ball in five

    sweep = tmp_path / "kmin"
    tiny = ["--k", "1", "--epochs", "1", "--n-learners", "2", "--episodes", "2", "-q"]
    assert main(["kmin", "--env", "Catch-v0", "--env-family", CATCH, *tiny, "--out", str(sweep)]) == 0
    assert tomllib.loads((sweep / "config.toml").read_text())["env_family"] == CATCH


def test_a_registered_family_is_asked_before_the_packages(at_root):
    from examples.own_env_family import CATCH as record

    families.register_family(record)
    assert families.family_of("Catch-v0") is record
    assert families.family_of("CartPole-v1") is families.CLASSIC  # the others keep theirs
    assert DistillConfig(env="Catch-v0").resolved().final_episodes == 20


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("examples.own_env_family", "expected module.path:NAME"),
        ("examples.no_such_module:X", "cannot import 'examples.no_such_module'"),
        ("examples.own_env_family:CatchEnv", "has no EnvFamily record named 'CatchEnv'"),
    ],
)
def test_env_family_mistakes_are_one_line_errors(at_root, capsys, spec, message):
    argv = ["distill", "--env", "CartPole-v1", "--env-family", spec, "--epochs", "1", "-q"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    with pytest.raises(InvalidInputError, match="must be an EnvFamily record"):
        families.register_family("catch")
