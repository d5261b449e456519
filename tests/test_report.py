"""`taskdistill baseline --algo ppo` outputs and `taskdistill report` (ratio, break-even, cost curve)."""

import csv
import json

import pytest

from taskdistill_rl.cli import main

pytest.importorskip("stable_baselines3")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    common = ["--env", "NDCartPole-v0", "-q"]
    assert (
        main(
            [
                "distill",
                *common,
                "--k",
                "2",
                "--epochs",
                "2",
                "--final-learners",
                "3",
                "--final-episodes",
                "2",
                "--out",
                str(root / "distill"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "baseline",
                *common,
                "--algo",
                "ppo",
                "--timesteps",
                "512",
                "--chunk",
                "256",
                "--episodes",
                "3",
                "--out",
                str(root / "ppo"),
            ]
        )
        == 0
    )
    assert (
        main(["baseline", *common, "--algo", "random", "--episodes", "20", "--out", str(root / "random")])
        == 0
    )
    return root


def test_ppo_baseline_writes_curve_model_and_summary(runs):
    from stable_baselines3 import PPO

    curve = list(csv.DictReader((runs / "ppo" / "curve.csv").open()))
    assert [int(row["timesteps"]) for row in curve] == [256, 512]
    summary = json.loads((runs / "ppo" / "summary.json").read_text())
    assert summary["kind"] == "baseline-ppo" and summary["env_frames"] == 512
    assert summary["evaluation"]["results"]["ppo"]["episodes"] == 3 and summary["wall_seconds"] > 0
    model = PPO.load(runs / "ppo" / "model.zip", device="cpu")
    assert model.observation_space.shape == (4,)


def test_report_table_ratio_break_even_and_cost_curve(runs, tmp_path):
    out = tmp_path / "report.md"
    assert (
        main(["report", str(runs / "distill"), str(runs / "ppo"), str(runs / "random"), "--out", str(out)])
        == 0
    )
    text = out.read_text()
    summaries = {
        name: json.loads((runs / name / "summary.json").read_text()) for name in ("distill", "ppo", "random")
    }
    mean = {name: next(iter(s["evaluation"]["results"].values()))["mean"] for name, s in summaries.items()}
    row = next(line for line in text.splitlines() if line.startswith("| NDCartPole-v0 1D"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert float(cells[1]) == pytest.approx(mean["random"], abs=0.05)
    assert float(cells[4]) == pytest.approx(mean["distill"] / mean["ppo"], abs=0.005)
    saving = summaries["ppo"]["wall_seconds"] - summaries["distill"]["fit_seconds_per_learner"]
    assert float(cells[8]) == pytest.approx(summaries["distill"]["wall_seconds"] / saving, abs=0.05)
    assert (tmp_path / "report-cost.png").stat().st_size > 10_000


def test_report_and_baseline_refuse_bad_input(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 1
    assert "no summary.json" in capsys.readouterr().err
    assert main(["baseline", "--algo", "dqn"]) == 1
    assert "--algo must be 'ppo' or 'random'" in capsys.readouterr().err
