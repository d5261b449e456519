"""Atomic file writes: a temporary file in the same directory, then ``os.replace``.

A crash or kill mid-write leaves the previous file intact, never a truncated one. Files get the
permissions any program would give them (``0o666`` less the umask: ``0o644`` under the usual
``022``), so colleagues on a shared machine can read the results (issue 13).
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import tomli_w


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new empty file ``.NAME.XXXXXXXX.tmp`` beside ``path``, opened for writing.

    ``tempfile.mkstemp`` creates files with mode 0600 whatever the umask; opening with 0666 lets
    the kernel apply the process's umask, without reading it (``os.umask`` can only be read by
    setting it, which races with other threads creating files).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name beside {path}")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    return atomic_write(path, lambda f: f.write((json.dumps(data, indent=2) + "\n").encode()))


def write_csv(path: str | os.PathLike, fields: list[str], rows: list[dict]) -> Path:
    """A header and ``rows`` (keys outside ``fields`` ignored), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, lambda f: f.write(buffer.getvalue().encode()))


def write_toml(path: str | os.PathLike, data: dict) -> Path:
    return atomic_write(path, lambda f: f.write(tomli_w.dumps(_toml_safe(data)).encode()))


def _toml_safe(value: Any) -> Any:
    """TOML has no null: drop ``None`` entries; tuples become lists."""
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_safe(v) for v in value]
    return value
