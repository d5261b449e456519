"""`taskdistill baseline --algo ppo` outputs and `taskdistill report` (medians, ratio, break-even,
cost curve)."""

import csv
import json

import pytest

from taskdistill_rl.cli import main
from taskdistill_rl.report import EQUIVALENT_RETURN, collect, write_report

RESULT_NAME = {"distill": "lambda", "baseline-ppo": "ppo", "baseline-random": "random", "baseline-dqn": "dqn"}


def _run(root, name, kind, mean, wall, fit=None, n_dims=1):
    """A run directory holding only the summary.json that `report` reads."""
    summary = {
        "kind": kind,
        "env": "NDCartPole-v0",
        "env_kwargs": {"n_dims": n_dims},
        "wall_seconds": wall,
        "evaluation": {"results": {RESULT_NAME[kind]: {"mean": mean}}},
    }
    if fit is not None:
        summary["fit_seconds_per_learner"] = fit
    (root / name).mkdir()
    (root / name / "summary.json").write_text(json.dumps(summary))
    return root / name


def _rows(text):
    """``{label: [cells]}`` of the report's table."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| NDCartPole-v0"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture
def seeds(tmp_path):
    """Three distillation seeds (479.3, 495.3, 500.0), two PPO seeds, one random run; the best
    distillation and the fastest/slowest walls are where keeping one run would show."""
    return [
        _run(tmp_path, "d0", "distill", 479.3, 60.9, fit=1e-4),
        _run(tmp_path, "d1", "distill", 500.0, 60.1, fit=3e-4),
        _run(tmp_path, "d2", "distill", 495.3, 60.3, fit=2e-4),
        _run(tmp_path, "p0", "baseline-ppo", 500.0, 8.0),
        _run(tmp_path, "p1", "baseline-ppo", 480.0, 12.0),
        _run(tmp_path, "r0", "baseline-random", 22.4, 0.5),
    ]


@pytest.mark.parametrize("order", [(0, 1, 2, 3, 4, 5), (5, 4, 3, 2, 1, 0)], ids=["forward", "reversed"])
def test_report_gives_median_range_and_count_of_every_seed_not_the_best(seeds, tmp_path, order):
    out = tmp_path / "report.md"
    write_report([seeds[i] for i in order], out)
    text = out.read_text()
    random, rl, distilled, ratio, rl_wall, distill_wall, fit, break_even = _rows(text)["NDCartPole-v0 1D"]
    assert distilled == "495.3 (479.3–500.0, 3 runs)"  # the best seed would give 500.0
    assert rl == "490.0 (480.0–500.0, 2 runs)"
    assert random == "22.4 (1 run)"
    assert distill_wall == "60.3 (60.1–60.9, 3 runs)" and rl_wall == "10.0 (8.0–12.0, 2 runs)"
    assert fit == "0.0002 (0.0001–0.0003, 3 runs)"
    assert float(ratio) == pytest.approx(495.3 / 490.0, abs=0.005)
    assert float(break_even) == pytest.approx(60.3 / (10.0 - 2e-4), abs=0.05)  # medians, unflagged
    assert "median over the runs" in text and "range (min–max)" in text and "not equivalent" not in text
    assert all(str(s) in text for s in seeds)  # every run is listed


def test_summary_statistics_use_medians(seeds):
    runs = collect(seeds)["NDCartPole-v0 1D"]
    assert len(runs.distill) == 3 and len(runs.rl) == 2 and len(runs.random) == 1
    assert runs.returns("distill").median == 495.3 and runs.ratio() == pytest.approx(495.3 / 490.0)
    assert runs.break_even() == pytest.approx(60.3 / (10.0 - 2e-4))
    assert runs.equivalent() is True


@pytest.mark.parametrize(
    ("distilled", "flagged"),
    [(225.0, True), (444.0, True), (450.0, False), (500.0, False)],
    ids=["45%", "just-below-90%", "exactly-90%", "equal"],
)
def test_break_even_of_worse_distilled_agents_is_flagged(tmp_path, distilled, flagged):
    """Below EQUIVALENT_RETURN x the RL median the break-even still prints, with † and a footnote
    giving the return ratio; at or above it, neither."""
    assert EQUIVALENT_RETURN == 0.9
    runs = [
        _run(tmp_path, "d", "distill", distilled, 60.0, fit=1e-4),
        _run(tmp_path, "p", "baseline-ppo", 500.0, 8.0),
    ]
    out = tmp_path / "report.md"
    write_report(runs, out)
    text = out.read_text()
    break_even = _rows(text)["NDCartPole-v0 1D"][-1]
    assert float(break_even.rstrip(" †")) == pytest.approx(60.0 / (8.0 - 1e-4), abs=0.05)
    assert break_even.endswith("†") is flagged
    footnote = f"distilled return is {distilled / 500:.0%} of RL's (below 90%): agents are not equivalent"
    assert (footnote in text) is flagged
    if flagged:
        assert f"† NDCartPole-v0 1D: {footnote}" in text


def test_each_environment_is_summarised_separately(tmp_path):
    runs = [
        _run(tmp_path, "d1", "distill", 500.0, 60.0, fit=1e-4),
        _run(tmp_path, "d2a", "distill", 200.0, 150.0, fit=1e-4, n_dims=2),
        _run(tmp_path, "d2b", "distill", 300.0, 150.0, fit=1e-4, n_dims=2),
        _run(tmp_path, "p2", "baseline-ppo", 490.0, 15.0, n_dims=2),
    ]
    out = tmp_path / "report.md"
    write_report(runs, out)
    rows = _rows(out.read_text())
    assert rows["NDCartPole-v0 1D"][2] == "500.0 (1 run)" and rows["NDCartPole-v0 1D"][-1] == "—"
    assert rows["NDCartPole-v0 2D"][2] == "250.0 (200.0–300.0, 2 runs)"
    assert rows["NDCartPole-v0 2D"][-1].endswith("†")  # 51% of RL's
    assert "† NDCartPole-v0 2D: distilled return is 51% of RL's" in out.read_text()


# -- the real commands --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("stable_baselines3")
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
    cells = _rows(text)["NDCartPole-v0 1D"]
    assert cells[0] == f"{mean['random']:.1f} (1 run)"
    assert float(cells[3]) == pytest.approx(mean["distill"] / mean["ppo"], abs=0.005)
    saving = summaries["ppo"]["wall_seconds"] - summaries["distill"]["fit_seconds_per_learner"]
    assert float(cells[7].rstrip(" †")) == pytest.approx(
        summaries["distill"]["wall_seconds"] / saving, abs=0.05
    )
    # 2 meta-epochs and 512 PPO steps give agents of unrelated quality: flagged exactly when unequal
    assert cells[7].endswith("†") is (mean["distill"] < EQUIVALENT_RETURN * mean["ppo"])
    assert (tmp_path / "report-cost.png").stat().st_size > 10_000


def test_report_and_baseline_refuse_bad_input(tmp_path, capsys):
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 1
    assert "no summary.json" in capsys.readouterr().err
    (tmp_path / "summary.json").write_text(json.dumps({"kind": "baseline-dqn", "env": "CartPole-v1"}))
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "r.md")]) == 1
    assert "not a taskdistill summary" in capsys.readouterr().err
    _run(tmp_path, "odd", "baseline-dqn", 10.0, 1.0)
    assert main(["report", str(tmp_path / "odd"), "--out", str(tmp_path / "r.md")]) == 1
    assert "unknown run kind 'baseline-dqn'" in capsys.readouterr().err
    assert main(["baseline", "--algo", "dqn"]) == 1
    assert "--algo must be 'ppo', 'random' or 'teacher-states'" in capsys.readouterr().err
