"""Run directories (issue 13, "Nothing a user made is lost"): the lock, the refusal to clobber a
previous run, --overwrite, --resume, no empty directory left behind, and file modes."""

import doctest
import json
import os
import socket
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import taskdistill_rl.rundir
from taskdistill_rl.errors import RunDirError, TaskDistillError
from taskdistill_rl.io import atomic_write, write_json
from taskdistill_rl.rundir import (
    BASELINE,
    DISTILL,
    KMIN,
    LOCK_NAME,
    RunLock,
    check_new_file,
    open_run_dir,
)


def test_docstring_examples_run():
    assert doctest.testmod(taskdistill_rl.rundir).failed == 0


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(directory: Path, **fields) -> Path:
    holder = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "command": "distill",
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        **fields,
    }
    path = directory / LOCK_NAME
    path.write_text(json.dumps(holder))
    return path


# -- the lock ------------------------------------------------------------------------------------
def test_the_lock_names_its_holder_and_is_removed_on_exit(tmp_path):
    with RunLock(tmp_path, command="distill"):
        holder = json.loads((tmp_path / LOCK_NAME).read_text())
        assert holder["pid"] == os.getpid() and holder["hostname"] == socket.gethostname()
        assert holder["command"] == "distill" and datetime.fromisoformat(holder["started"])
    assert not (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_the_lock_is_removed_on_error_and_ctrl_c(tmp_path, error):
    with pytest.raises(type(error)), open_run_dir(tmp_path, command="distill", layout=DISTILL):
        assert (tmp_path / LOCK_NAME).is_file()
        raise error
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_second_lock_on_a_running_holder_is_refused_and_names_it(tmp_path):
    with RunLock(tmp_path, command="distill"):
        with pytest.raises(
            RunDirError, match=rf"in use by a running `taskdistill distill` \(pid {os.getpid()} "
        ):
            RunLock(tmp_path, command="distill", take_over_stale=True).acquire()  # never breaks a live one
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_stale_lock_is_reported_then_taken_over_only_when_asked(tmp_path):
    pid = _dead_pid()
    lock = _write_lock(tmp_path, pid=pid)
    with pytest.raises(RunDirError, match=rf"stale lock: pid {pid} is not running.*--resume.*--overwrite"):
        RunLock(tmp_path, command="distill", resumable=True).acquire()
    assert json.loads(lock.read_text())["pid"] == pid  # reported, left alone
    with pytest.raises(RunDirError, match=r"re-run with --overwrite to start afresh \(it takes over"):
        RunLock(tmp_path, command="baseline").acquire()  # no --resume to suggest
    with RunLock(tmp_path, command="distill", take_over_stale=True):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not lock.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_reused_pid_does_not_keep_a_stale_lock_alive(tmp_path):
    # a restarted container can give the new process the killed one's pid: ours here
    long_ago = (datetime.now().astimezone() - timedelta(days=30)).isoformat(timespec="seconds")
    _write_lock(tmp_path, started=long_ago)
    with pytest.raises(RunDirError, match=f"stale lock: pid {os.getpid()} is not running"):
        RunLock(tmp_path, command="distill").acquire()


def test_a_lock_from_another_host_is_never_broken(tmp_path):
    lock = _write_lock(tmp_path, hostname="elsewhere.example", pid=_dead_pid())
    with pytest.raises(RunDirError, match=r"pid \d+ on host elsewhere.example.*cannot be checked"):
        RunLock(tmp_path, command="distill", take_over_stale=True).acquire()
    assert "elsewhere.example" in lock.read_text()


def test_an_unreadable_lock_is_refused_and_left_alone(tmp_path):
    (tmp_path / LOCK_NAME).write_text("{not json")
    with pytest.raises(RunDirError, match="cannot be read; if no run is writing to it, delete"):
        RunLock(tmp_path, command="distill", take_over_stale=True).acquire()
    assert (tmp_path / LOCK_NAME).read_text() == "{not json"


def test_run_dir_errors_are_library_errors():
    assert issubclass(RunDirError, TaskDistillError)  # the CLI prints them as one line, exit code 1


# -- refusing to clobber, --overwrite, --resume --------------------------------------------------
def _previous_run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("distilled.pt", "checkpoint.pt", "metrics.csv", "summary.json", "eval.json", "config.toml"):
        (out / name).write_text(name)
    (out / "tensorboard").mkdir()
    (out / "tensorboard" / "events").write_text("x")
    (out / "notes.txt").write_text("mine")


@pytest.mark.parametrize(
    "layout,marker,flags",
    [
        (DISTILL, "distilled.pt", "give --resume to continue it or --overwrite"),
        (BASELINE, "summary.json", "give --overwrite to replace its outputs, or choose another --out"),
        (KMIN, "kmin.json", "give --resume to continue it or --overwrite"),
        (KMIN, "k2/result.json", "give --resume"),
    ],
    ids=["distill", "baseline", "kmin", "kmin-partial"],
)
def test_a_previous_run_is_refused_naming_the_file_and_the_flags(tmp_path, layout, marker, flags):
    (tmp_path / marker).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / marker).write_text("previous")
    with pytest.raises(RunDirError, match=rf"already holds a run \({marker} exists\): {flags}"):
        with open_run_dir(tmp_path, command="x", layout=layout):
            pass
    assert (tmp_path / marker).read_text() == "previous"
    assert not (tmp_path / LOCK_NAME).exists()


def test_overwrite_deletes_the_run_outputs_and_nothing_else(tmp_path):
    _previous_run(tmp_path)
    with open_run_dir(tmp_path, command="distill", layout=DISTILL, overwrite=True):
        assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME, "notes.txt"]
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_kmin_overwrite_empties_its_k_directories(tmp_path):
    for k in (1, 2):
        _previous_run(tmp_path / f"k{k}")
        (tmp_path / f"k{k}" / "result.json").write_text("{}")
    (tmp_path / "k1" / "notes.txt").unlink()
    (tmp_path / "kmin.json").write_text("{}")
    with open_run_dir(tmp_path, command="kmin", layout=KMIN, overwrite=True):
        pass
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["k2", "k2/notes.txt"]


def test_resume_keeps_the_run_and_overwrite_with_resume_is_refused(tmp_path):
    _previous_run(tmp_path)
    with open_run_dir(tmp_path, command="distill", layout=DISTILL, resume=True):
        assert (tmp_path / "distilled.pt").read_text() == "distilled.pt"
    with pytest.raises(RunDirError, match="give --resume or --overwrite, not both"):
        with open_run_dir(tmp_path, command="distill", layout=DISTILL, resume=True, overwrite=True):
            pass


def test_an_existing_file_is_refused_unless_overwrite(tmp_path):
    target = tmp_path / "fig.png"
    assert check_new_file(target) == target
    target.write_text("old")
    with pytest.raises(RunDirError, match=r"fig.png' exists: give --overwrite to replace it"):
        check_new_file(target)
    assert check_new_file(target, overwrite=True) == target
    with pytest.raises(RunDirError, match="is a directory"):
        check_new_file(tmp_path)


# -- no empty directory left behind --------------------------------------------------------------
def test_a_failure_before_writing_removes_the_directories_it_created(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    with pytest.raises(RuntimeError), open_run_dir(out, command="distill", layout=DISTILL):
        assert out.is_dir()
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_a_failure_after_writing_keeps_the_directory_and_a_user_directory_is_kept(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), open_run_dir(out, command="distill", layout=DISTILL):
        (out / "config.toml").write_text("x")
        raise RuntimeError
    assert [p.name for p in out.iterdir()] == ["config.toml"]
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(RuntimeError), open_run_dir(mine, command="distill", layout=DISTILL):
        raise RuntimeError
    assert mine.is_dir()


def test_out_that_is_a_file_is_refused_and_kept(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    with pytest.raises(RunDirError, match="exists and is not a directory"):
        with open_run_dir(blocker, command="distill", layout=DISTILL):
            pass
    with pytest.raises(RunDirError, match="not a directory"):
        with open_run_dir(blocker / "sub", command="distill", layout=DISTILL):
            pass
    assert blocker.read_text() == "keep me"


# -- file modes (io.atomic_write) ----------------------------------------------------------------
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=oct)
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        written = [
            atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x")),
            write_json(tmp_path / "b.json", {"a": 1}),
            atomic_write(tmp_path / "a.bin", lambda f: f.write(b"replaced")),
        ]
    finally:
        os.umask(old)
    assert {stat.S_IMODE(p.stat().st_mode) for p in written} == {mode}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.json"]  # no temporary left


def test_a_run_names_the_commit_it_started_on_even_if_the_checkout_moves(monkeypatch):
    """summary.json is written at the end of a run; its commit is read once, as the run starts
    (Distiller.fit calls code_commit first), so a commit made during the run does not relabel it."""
    import subprocess
    import types

    from taskdistill_rl import results

    heads = iter(["a" * 40, "b" * 40])
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: types.SimpleNamespace(stdout=next(heads)))
    results.code_commit.cache_clear()
    try:
        started = results.code_commit()  # the run starts
        assert results.run_metadata()["git_commit"] == started == "a" * 40  # HEAD moved since
    finally:
        results.code_commit.cache_clear()
