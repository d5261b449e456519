import os

import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    """Run every test in its own directory so nothing (MUJOCO_LOG.TXT, runs/) litters the tree."""
    monkeypatch.chdir(tmp_path)
    os.environ.setdefault("TASKDISTILL_QUIET", "1")
