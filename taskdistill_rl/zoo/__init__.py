"""The zoo: distilled ND cart-pole files shipped inside the package, loadable offline as ``zoo:NAME``.

``index.json`` lists each entry's file, environment, k, its evaluation and the command that
reproduces it; ``results/ppmo/build_zoo.py`` in the repository writes it from finished runs.
"""

from __future__ import annotations

import json
from pathlib import Path

PREFIX = "zoo:"
_DIR = Path(__file__).parent


def entries() -> dict[str, dict]:
    """``{name: {"file", "env_id", "env_kwargs", "k", "evaluation", "command", ...}}``."""
    index = _DIR / "index.json"
    return json.loads(index.read_text()) if index.is_file() else {}


def is_zoo_ref(ref: object) -> bool:
    return isinstance(ref, str | Path) and str(ref).startswith(PREFIX)


def resolve(ref: str | Path) -> Path:
    """``"zoo:ndcartpole-2d"`` -> the packaged file's path."""
    name = str(ref)[len(PREFIX) :]
    known = entries()
    if name not in known:
        raise FileNotFoundError(f"no zoo entry {name!r}; available: {', '.join(sorted(known)) or 'none'}")
    return _DIR / known[name]["file"]


__all__ = ["PREFIX", "entries", "is_zoo_ref", "resolve"]
