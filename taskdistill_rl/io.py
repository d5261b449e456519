"""Atomic file writes: a temporary file in the same directory, then ``os.replace``.

A crash or kill mid-write leaves the previous file intact, never a truncated one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import tomli_w


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
