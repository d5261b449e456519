"""The scripts in examples/ run as written (tiny budgets) and do what they say."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from taskdistill_rl.cli import main

EXAMPLES = Path(__file__).parents[1] / "examples"


def _run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return done


def test_own_stop_callback_stops_the_run_and_feeds_report(tmp_path):
    out = tmp_path / "run"
    _run("own_stop_callback.py", str(out), MAX_EPOCHS="40", STOP_AT="0.5")
    summary = json.loads((out / "summary.json").read_text())
    with (out / "metrics.csv").open() as f:
        lrs = [float(row["train/inner_lr"]) for row in csv.DictReader(f)]
    # the callback, not the 40-epoch cap, stopped it: at the first inner lr >= 0.5
    assert summary["meta_epochs"] == len(lrs) < 40 and lrs[-1] >= 0.5 > max(lrs[:-1])
    assert main(["report", str(out), "--out", str(tmp_path / "report.md")]) == 0
    report = (tmp_path / "report.md").read_text()
    assert (
        "NDCartPole-v0 1D" in report and f"{summary['evaluation']['results']['lambda']['mean']:.1f}" in report
    )


def test_random_agent_example():
    out = _run("random_agent_ndcartpole.py").stdout
    assert "over 1000 episodes" in out and float(out.split(": ")[1].split(" ")[0]) < 30
