"""Issue 25's proof of the algorithm seam: ``examples/own_algorithm.py`` (a random search, one file,
nothing else registered) runs under ``taskdistill distill --algo module:Class`` with the whole tool:
the run directory, checkpoints and ``--resume``, ``--nproc 2``; and ``--algo`` mistakes are refused
in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import tomllib
import torch

from taskdistill_rl.algorithms import algorithm_class
from taskdistill_rl.cli import main
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.errors import InvalidInputError

ROOT = Path(__file__).resolve().parents[1]
SEARCH = "examples.own_algorithm:RandomSearch"
SMALL = ["--final-learners", "10", "--final-episodes", "2", "--algo-option", "learners=8", "--quiet"]


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # where `examples.own_algorithm` imports from, as a user's project root


def distil(out: Path, epochs: int, *extra: str) -> int:
    return main(["distill", "--algo", SEARCH, "--epochs", str(epochs), "--out", str(out), *SMALL, *extra])


def tensors(path: Path) -> dict:
    return {k: v for k, v in torch.load(path, weights_only=True).items() if isinstance(v, torch.Tensor)}


def assert_same_tensors(a: Path, b: Path) -> None:
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys() and ta
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key


def test_the_example_algorithm_learns_resumes_and_writes_a_run_directory(at_root, tmp_path):
    assert distil(tmp_path / "straight", 12) == 0
    assert distil(tmp_path / "resumed", 6) == 0
    assert distil(tmp_path / "resumed", 12, "--resume") == 0
    assert_same_tensors(tmp_path / "straight" / "distilled.pt", tmp_path / "resumed" / "distilled.pt")

    run = tmp_path / "straight"
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["meta_epoch"]) for r in rows] == list(range(1, 13))
    assert {"train/best_return", "train/accepted"} <= rows[0].keys()  # its own metrics, as columns
    start, end = float(rows[0]["train/current_return"]), float(rows[-1]["train/current_return"])
    assert end > 2 * start, (start, end)  # it learns: the starting dataset's learners score ~20
    summary = json.loads((run / "summary.json").read_text())
    assert summary["algo"] == SEARCH and summary["meta_epochs"] == 12
    assert summary["evaluation"]["results"]["lambda"]["mean"] > 2 * start
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["algo"] == SEARCH and config["algo_options"] == {"learners": 8}
    assert f"--algo {SEARCH} --algo-option learners=8" in config["reproduce"]
    assert "--preset" not in config["reproduce"]  # PPMO's flags are PPMO's
    meta = torch.load(run / "distilled.pt", weights_only=True)["meta"]
    assert meta["algo"] == SEARCH and "preset" not in meta


def test_the_example_algorithm_on_two_processes_equals_one(at_root, tmp_path):
    """Every rank draws the same candidates and scores its share on the candidates' seeds: the
    gathered scores, and so the run, are the one-process run's."""
    assert distil(tmp_path / "one", 3) == 0
    assert distil(tmp_path / "two", 3, "--nproc", "2") == 0
    assert_same_tensors(tmp_path / "one" / "distilled.pt", tmp_path / "two" / "distilled.pt")
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["world_size"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--algo", "nope"], "unknown algorithm 'nope': expected one of"),
        (["--algo", "examples.no_such_module:X"], "cannot import 'examples.no_such_module'"),
        (
            ["--algo", "taskdistill_rl.config:DistillConfig"],
            "has no Algorithm subclass named 'DistillConfig'",
        ),
        (["--algo", SEARCH, "--inits-per-epoch", "4"], "inits_per_epoch: option(s) of --algo ppmo"),
        (["--algo-option", "sigma=1"], "--algo ppmo takes its options as fields"),
    ],
)
def test_algo_mistakes_are_one_clear_line_and_write_nothing(at_root, tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert main(["distill", "--epochs", "1", "--out", str(out), *argv]) != 0
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_ppmo_config_keeps_its_learning_hash():
    """The hash every PPMO checkpoint written before the algorithm seam holds (measured on b041c43):
    adding ``algo`` and ``algo_options`` leaves it, so those checkpoints still resume."""
    assert DistillConfig().learning_hash() == "2aac52a2a435daab"
    assert DistillConfig(algo=SEARCH).learning_hash() != "2aac52a2a435daab"
    search = DistillConfig(algo=SEARCH, algo_options={"sigma": 1.0})
    assert search.learning_hash() != DistillConfig(algo=SEARCH).learning_hash()


def test_a_registered_name_and_a_class_resolve(at_root):
    cls = algorithm_class(SEARCH)
    assert algorithm_class("random_search") is cls  # the example registers itself on import
    assert algorithm_class("ppmo").__name__ == "PPMO"
    with pytest.raises(InvalidInputError, match="unknown algorithm"):
        algorithm_class("Random_Search")


def test_distiller_takes_the_algorithm_class_and_records_its_import_path(at_root, tmp_path):
    from examples.own_algorithm import RandomSearch
    from taskdistill_rl.distill import Distiller

    d = Distiller("NDCartPole-v0", algo=RandomSearch, out_dir=tmp_path, quiet=True, final_learners=2)
    d.train(epochs=1)
    assert d.config.algo == SEARCH and isinstance(d.algo, RandomSearch)
    assert d.metric_fields[2:-1] == list(RandomSearch.metric_fields)
    assert tomllib.loads((tmp_path / "config.toml").read_text())["algo"] == SEARCH
