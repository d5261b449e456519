"""Run directories: the ``--out`` a command writes into.

A command's outputs are created only when it is about to write (a failed validation leaves no
directory behind), a long command locks its directory while it runs (two runs into one ``--out``
used to mix their files, issue 13), and nothing a previous run wrote is replaced unless the user
asks for it with ``--resume`` (continue that run) or ``--overwrite`` (delete its outputs, start
afresh).

The lock is a file, ``OUT/.taskdistill.lock``, created with ``O_CREAT | O_EXCL`` (atomic, also on
NFS v3+) and holding ``{"pid", "hostname", "command", "started"}``. It is removed when the command
ends, error and Ctrl-C included. A process killed outright (SIGKILL, power loss) leaves it behind:
the next run sees that the pid no longer runs on this host, reports the lock as stale, and only
``--resume``/``--overwrite`` take it over. A lock held on another host is never broken.

Examples:
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with open_run_dir(out, command="distill", layout=DISTILL) as path:
    ...     _ = (path / "distilled.pt").write_bytes(b"")
    ...     (path / LOCK_NAME).is_file()
    True
    >>> (out / LOCK_NAME).exists()
    False
    >>> try:
    ...     with open_run_dir(out, command="distill", layout=DISTILL):
    ...         pass
    ... except RunDirError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    --out ... already holds a run (distilled.pt exists): give --resume to continue it or --overwrite ...
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from taskdistill_rl.errors import RunDirError

logger = logging.getLogger(__name__)

LOCK_NAME = ".taskdistill.lock"


@dataclass(frozen=True)
class RunLayout:
    """What one command writes into its run directory (glob patterns relative to it)."""

    markers: tuple[str, ...]
    """Any of these present means the directory holds a previous run."""
    outputs: tuple[str, ...]
    """What ``--overwrite`` deletes (a matching directory is deleted whole); nothing else is."""
    resumable: bool = False
    """Whether the command has ``--resume`` (named in the refusal message)."""


DISTILL = RunLayout(
    markers=("distilled.pt", "checkpoint.pt", "summary.json", "metrics.csv"),
    outputs=(
        "distilled.pt",
        "checkpoint.pt",
        "metrics.csv",
        "summary.json",
        "eval.json",
        "config.toml",
        "tensorboard",
    ),
    resumable=True,
)
BASELINE = RunLayout(
    markers=("summary.json", "eval.json", "curve.csv", "model.zip"),
    outputs=("summary.json", "eval.json", "curve.csv", "model.zip", "vecnormalize.pkl", "config.toml"),
)
_K_DIR = "k[0-9]*"  # kmin distils each k into OUT/k<k>/ (a distill run directory + result.json)
KMIN = RunLayout(
    markers=("kmin.json", f"{_K_DIR}/result.json", *(f"{_K_DIR}/{m}" for m in DISTILL.markers)),
    outputs=(
        "kmin.json",
        "config.toml",
        f"{_K_DIR}/result.json",
        *(f"{_K_DIR}/{o}" for o in DISTILL.outputs),
    ),
    resumable=True,
)


# -- the lock ------------------------------------------------------------------------------------
def _process_started(pid: int) -> float | None:
    """When ``pid`` started, in seconds since the epoch (Linux ``/proc``; ``None`` elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        stat = Path("/proc/stat").read_text().split()
        boot = int(stat[stat.index("btime") + 1])
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime, in ticks
    except (OSError, ValueError, IndexError):
        return None


def _holder_running(holder: dict[str, Any]) -> bool:
    """Whether the process that wrote ``holder`` (on this host) still runs; ``True`` when unknowable.

    A pid alone is not enough: after a kill the pid can be reused, by another program or, in a
    restarted container, by this very process. A live process that started after the lock was
    written is not its holder.
    """
    pid = holder["pid"]
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, under another user
        pass
    try:  # a killed child its parent has not reaped yet still answers kill(pid, 0)
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    started = _process_started(pid)
    try:
        locked = datetime.fromisoformat(holder["started"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return True
    # /proc/stat's btime moves by a second or so with clock adjustments: allow some slack
    return started is None or started <= locked + 5


def _describe(holder: dict[str, Any]) -> str:
    """```taskdistill distill` (pid 123 on host h, started 2026-01-01T12:00:00+01:00)``."""
    return (
        f"`taskdistill {holder.get('command', '?')}` (pid {holder.get('pid', '?')} on host "
        f"{holder.get('hostname', '?')}, started {holder.get('started', '?')})"
    )


class RunLock:
    """``OUT/.taskdistill.lock`` while a command writes into ``OUT`` (a context manager).

    Args:
        directory: the run directory (must exist).

    Keyword Args:
        command: the command that holds the lock, shown to a run that is refused.
        take_over_stale: take over a lock whose process no longer runs on this host (what
            ``--resume`` and ``--overwrite`` do) instead of refusing.
        resumable: whether the refusal of a stale lock may suggest ``--resume``.

    Raises:
        RunDirError: another run holds the lock, or the lock is stale and ``take_over_stale``
            is False, or the lock file cannot be read.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        command: str,
        take_over_stale: bool = False,
        resumable: bool = False,
    ):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.command = command
        self.take_over_stale = take_over_stale
        self.resumable = resumable
        self.holder: dict[str, Any] | None = None  # what we wrote, once acquired

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        me = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "command": self.command,
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        for _ in range(5):  # a lock that vanishes or is taken over meanwhile: look again
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                holder = self._read_holder()
                if holder is not None:
                    self._refuse_or_break(holder)
                continue
            except OSError as err:
                raise RunDirError(f"cannot lock --out {str(self.directory)!r}: {err.strerror}") from err
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
                f.flush()
                os.fsync(f.fileno())
            self.holder = me
            return
        raise RunDirError(f"--out {str(self.directory)!r}: could not take {self.path}; try again")

    def release(self) -> None:
        """Remove the lock file if it is still ours (never one another run has taken over)."""
        if self.holder is None or self.holder["pid"] != os.getpid():  # not in a forked child
            return
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text()) == self.holder:
                self.path.unlink()
        self.holder = None

    def _read_holder(self) -> dict[str, Any] | None:
        """The lock's content; ``None`` when it vanished (look again)."""
        for attempt in range(3):  # just created by O_EXCL, its JSON not written yet: wait a little
            try:
                holder = json.loads(self.path.read_text())
                if isinstance(holder, dict) and isinstance(holder.get("pid"), int):
                    return holder
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                pass
            time.sleep(0.1 * (attempt + 1))
        raise RunDirError(
            f"--out {str(self.directory)!r} is locked but {self.path} cannot be read; if no run is "
            "writing to it, delete that file and run again"
        )

    def _refuse_or_break(self, holder: dict[str, Any]) -> None:
        out = str(self.directory)
        if holder.get("hostname") != socket.gethostname():
            raise RunDirError(
                f"--out {out!r} is in use by {_describe(holder)}, which cannot be checked from host "
                f"{socket.gethostname()}; wait for it to finish, or if it has ended delete {self.path}"
            )
        pid = holder["pid"]
        if _holder_running(holder):
            raise RunDirError(
                f"--out {out!r} is in use by a running {_describe(holder)}; wait for it to finish or "
                f"choose another --out (if no such run exists, delete {self.path})"
            )
        if not self.take_over_stale:
            how = (
                "re-run with --resume to continue that run or --overwrite to start afresh (either "
                "takes over the lock)"
                if self.resumable
                else "re-run with --overwrite to start afresh (it takes over the lock)"
            )
            raise RunDirError(
                f"--out {out!r} has a stale lock: pid {pid} is not running (it was "
                f"`taskdistill {holder.get('command', '?')}` on host {holder.get('hostname', '?')}, "
                f"started {holder.get('started', '?')}; killed or crashed); {how}"
            )
        self._break(holder)

    def _break(self, holder: dict[str, Any]) -> None:
        """Move the stale lock aside, and put it back if it turns out not to be the one we read
        (another run took it over between our read and the move)."""
        aside = self.path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:  # someone else broke it first
            return
        try:
            moved = json.loads(aside.read_text())
        except (OSError, ValueError):
            moved = None
        if moved != holder:
            with contextlib.suppress(OSError):
                os.link(aside, self.path)
        else:
            logger.warning("took over the stale lock of %s in %s", _describe(holder), self.directory)
        aside.unlink(missing_ok=True)


# -- the directory -------------------------------------------------------------------------------
def check_out_dir(path: str | os.PathLike) -> Path:
    """Fail with one clear message if ``path`` cannot become a run directory (creates nothing)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--out {str(path)!r} exists and is not a directory")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise RunDirError(f"--out directory {str(path)!r} is not writable")
    return path


def _make_dirs(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the directories this call created, outermost first."""
    missing = []
    parent = path
    while not parent.is_dir():
        missing.append(parent)
        if parent.parent == parent:
            break
        parent = parent.parent
    created = []
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:  # made meanwhile by someone else, or a file: mkdir below says
            if directory.is_dir():
                continue
            raise RunDirError(f"--out {str(path)!r}: {directory} exists and is not a directory") from None
        except OSError as err:
            _remove_empty(created)
            raise RunDirError(f"cannot create --out directory {str(path)!r}: {err.strerror}") from err
        created.append(directory)
    return created


def _remove_empty(created: list[Path]) -> None:
    """Remove the directories we created, innermost first, as long as they are empty."""
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            return


def existing_outputs(path: str | os.PathLike, patterns: tuple[str, ...]) -> list[Path]:
    """The paths under ``path`` matching ``patterns``, in the order of the patterns."""
    path = Path(path)
    found = (match for pattern in patterns for match in sorted(path.glob(pattern)))
    return list(dict.fromkeys(found))


def refuse_existing(path: Path, layout: RunLayout) -> None:
    """Raise if ``path`` holds a previous run's outputs (see :class:`RunLayout`)."""
    found = existing_outputs(path, layout.markers)
    if not found:
        return
    how = (
        "give --resume to continue it or --overwrite to delete its outputs and start afresh"
        if layout.resumable
        else "give --overwrite to replace its outputs, or choose another --out"
    )
    name = found[0].relative_to(path).as_posix()
    raise RunDirError(f"--out {str(path)!r} already holds a run ({name} exists): {how}")


def remove_outputs(path: Path, layout: RunLayout) -> list[Path]:
    """Delete ``layout.outputs`` under ``path`` (only those: a user's own files stay), and the
    subdirectories they leave empty. Returns what was deleted."""
    removed = existing_outputs(path, layout.outputs)
    for match in removed:
        if match.is_dir() and not match.is_symlink():
            shutil.rmtree(match)
        else:
            match.unlink(missing_ok=True)
    for match in removed:  # e.g. kmin's OUT/k2/, now empty
        parent = match.parent
        while parent != path and path in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent
    if removed:
        logger.info("--overwrite: deleted %d previous output(s) in %s", len(removed), path)
    return removed


@contextlib.contextmanager
def open_run_dir(
    path: str | os.PathLike,
    *,
    command: str,
    layout: RunLayout,
    resume: bool = False,
    overwrite: bool = False,
) -> Iterator[Path]:
    """Create, lock and check the run directory ``path`` for the duration of a command.

    Call it when the command is about to write, after validating its options. On exit the lock is
    removed, and the directories created here are removed again if they are still empty (a run
    that failed before writing anything leaves nothing behind).

    Args:
        path: the ``--out`` directory (created with its parents if missing).

    Keyword Args:
        command: the command's name, recorded in the lock.
        layout: what the command writes (which files mean "a previous run is here").
        resume: ``--resume``: continue the run in ``path``; takes over a stale lock.
        overwrite: ``--overwrite``: delete ``layout.outputs`` first; takes over a stale lock.

    Yields:
        The run directory, locked.

    Raises:
        RunDirError: ``path`` is not a writable directory, another run holds it, its lock is
            stale (without ``resume``/``overwrite``), or it holds a previous run (without either).
    """
    path = Path(path)
    if resume and overwrite:
        raise RunDirError("give --resume or --overwrite, not both")
    check_out_dir(path)
    created = _make_dirs(path)
    try:
        with RunLock(path, command=command, take_over_stale=resume or overwrite, resumable=layout.resumable):
            if overwrite:
                remove_outputs(path, layout)
            elif not resume:
                refuse_existing(path, layout)
            yield path
    finally:
        _remove_empty(created)


def check_new_file(path: str | os.PathLike, *, overwrite: bool = False, option: str = "--out") -> Path:
    """Refuse to replace an existing output file unless ``overwrite`` (creates nothing)."""
    path = Path(path)
    if path.is_dir():
        raise RunDirError(f"{option} {str(path)!r} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise RunDirError(f"{option} {str(path)!r} exists: give --overwrite to replace it, or choose another")
    return path


__all__ = [
    "BASELINE",
    "DISTILL",
    "KMIN",
    "LOCK_NAME",
    "RunLayout",
    "RunLock",
    "check_new_file",
    "check_out_dir",
    "existing_outputs",
    "open_run_dir",
    "refuse_existing",
    "remove_outputs",
]
