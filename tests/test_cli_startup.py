"""The long commands say they started before they import torch (issue 24, item 4: nothing showed
for the first ~5 s of ``distill`` while torch and TorchRL loaded).

Each command runs in a fresh interpreter under a pseudo-terminal, with an import hook that writes
``<torch import>`` and ends the process at the first import of torch: what the terminal shows
before that marker is what a user sees while torch loads.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pty = pytest.importorskip("pty")  # POSIX only

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<torch import>"
WRAPPER = f"""
import os, sys

class StopAtTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.stderr.write("\\n{MARKER}\\n")
            sys.stderr.flush()
            os._exit(0)

sys.meta_path.insert(0, StopAtTorch())
from taskdistill_rl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "FORCE_COLOR", "NO_COLOR")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _in_terminal(args: list[str], cwd: Path) -> str:
    """What a terminal shows of ``taskdistill ARGS`` (stdout and stderr), up to torch's import."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *args], stdin=child, stdout=child, stderr=child, cwd=cwd, env=_env()
    )
    os.close(child)
    out, deadline = b"", time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if select.select([main], [], [], 0.5)[0]:
                try:
                    chunk = os.read(main, 4096)
                except OSError:  # EIO: every process on the terminal has exited
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(main)
    return out.decode(errors="replace").replace("\r\n", "\n")


def _piped(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WRAPPER, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_env(),
        timeout=120,
    )


COMMANDS = {
    "distill": ["distill", "--env", "NDCartPole-v0", "--epochs", "1", "--out", "run"],
    "distill-config-file": ["distill", "--config", "run.toml", "--out", "run"],
    "evaluate": ["evaluate", "zoo:ndcartpole-1d"],
    "kmin": ["kmin", "--epochs", "1", "--out", "kmin"],
    "baseline": ["baseline", "--algo", "random"],
}


@pytest.mark.parametrize("args", COMMANDS.values(), ids=COMMANDS.keys())
def test_the_first_line_comes_before_torch_is_imported(args, tmp_path):
    (tmp_path / "run.toml").write_text("epochs = 1\nclip_epsilon = 0.2\n")  # a field with no option
    shown = _in_terminal(args, tmp_path)
    assert MARKER in shown, shown  # the command does import torch
    before = shown.split(MARKER)[0].strip()
    assert before == f"taskdistill {args[0]}: starting (importing torch)…", shown


def test_quiet_or_a_pipe_gets_no_first_line(tmp_path):
    shown = _in_terminal([*COMMANDS["distill"], "--quiet"], tmp_path)
    assert shown.split(MARKER)[0].strip() == "" and MARKER in shown, shown
    piped = _piped(COMMANDS["evaluate"], tmp_path)  # stderr to a pipe or a log: errors stay one line
    assert piped.stdout == "" and piped.stderr.strip() == MARKER, piped.stderr


@pytest.mark.parametrize(
    "args", [["--help"], ["distill", "--help"], ["--version"]], ids=["help", "distill-help", "version"]
)
def test_help_and_version_stay_torch_free(args, tmp_path):
    """Guard: --help and --version print at once, without torch (this passed before issue 24 too)."""
    result = _piped(args, tmp_path)
    assert result.returncode == 0 and MARKER not in result.stderr, result.stderr
    assert "starting" not in result.stderr and ("Usage" in result.stdout or "taskdistill_rl" in result.stdout)
