"""Reference runs (issue 25): what the commands under ``tests/data/reference/`` learn is frozen.

Every case re-runs one ``taskdistill`` command (fixed seed, ``--threads 1``, a few meta-epochs) and
asks for the reference's tensors bit for bit: each tensor of ``distilled.pt`` and of the
checkpoint's algorithm state with ``torch.equal`` (against the committed file) or its SHA-256 (the
big Pong files), and the file's ``meta`` key by key. A change to the outer algorithm that is meant
to be a pure refactor must leave them all equal; a change that is meant to change what is learned
regenerates them on purpose with ``tests/data/reference/make_references.py`` (see
docs/reliability.md, "Reference runs").
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch

REFERENCE = Path(__file__).parent / "data" / "reference"
_spec = importlib.util.spec_from_file_location("make_references", REFERENCE / "make_references.py")
refs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(refs)

# ``meta`` of a distilled file holds no timings, commit or library versions (DESIGN.md: volatile
# facts go to summary.json), so no key is exempt. A key named here would be skipped.
VOLATILE_META_KEYS: frozenset[str] = frozenset()
# A new ``meta`` key (e.g. a new record a later issue adds) fails the test unless it is named here
# by the change that adds it; its value cannot change what is learned.
ALLOWED_NEW_META_KEYS: frozenset[str] = frozenset()


def _manifest(name: str) -> dict[str, Any]:
    return json.loads((REFERENCE / name / "manifest.json").read_text())


def _meta_differences(where: str, new: dict, old: dict) -> list[str]:
    problems = []
    for key in sorted(set(old) - VOLATILE_META_KEYS):
        if key not in new:
            problems.append(f"{where}: meta[{key!r}] is missing (reference {old[key]!r})")
        elif new[key] != old[key]:
            problems.append(f"{where}: meta[{key!r}] = {new[key]!r}, reference {old[key]!r}")
    for key in sorted(set(new) - set(old) - VOLATILE_META_KEYS - ALLOWED_NEW_META_KEYS):
        problems.append(f"{where}: new meta[{key!r}] = {new[key]!r} (name it in ALLOWED_NEW_META_KEYS)")
    return problems


def _tensor_difference(where: str, new: torch.Tensor, old: torch.Tensor | dict) -> str | None:
    if isinstance(old, dict):  # a hash from the manifest
        got = refs.tensor_sha256(new)
        return (
            None
            if got == old
            else f"{where}: {got['dtype']} {got['shape']} differs from the reference's hash"
        )
    if new.dtype != old.dtype or new.shape != old.shape:
        return f"{where}: {new.dtype} {list(new.shape)}, reference {old.dtype} {list(old.shape)}"
    if torch.equal(new, old):
        return None
    if new.is_floating_point():
        gap = (new.double() - old.double()).abs().max().item()
        return f"{where}: not equal to the reference (max |difference| {gap:.3g})"
    return f"{where}: not equal to the reference ({int((new != old).sum())} of {new.numel()} entries differ)"


def _differences(rel: str, new_path: Path, entry: dict, stored: Path) -> list[str]:
    """Every way the new file's checked part differs from the reference's."""
    new = refs.checked_part(rel, refs.load(new_path))
    if entry["stored"]:
        old = refs.checked_part(rel, refs.load(stored))
    else:
        old = {**entry["tensors"], **entry["values"]}
        new = {k: v if isinstance(v, torch.Tensor) else refs.jsonable(v) for k, v in new.items()}
    problems = []
    for key in sorted(old.keys() - new.keys()):
        problems.append(f"{rel}: {key} is missing")
    for key in sorted(new.keys() - old.keys()):
        problems.append(f"{rel}: {key} is new")
    for key in sorted(old.keys() & new.keys()):
        a, b = new[key], old[key]
        if key == "meta":
            problems += _meta_differences(rel, a, b)
        elif isinstance(a, torch.Tensor):
            problems.append(_tensor_difference(f"{rel}: {key}", a, b))
        elif a != b:
            problems.append(f"{rel}: {key} = {a!r}, reference {b!r}")
    return [p for p in problems if p]


def _equals_another_cpu(manifest: dict, run: Path) -> bool:
    """Whether every checked tensor of the run hashes to one other CPU's set in full
    (``make_references.py --add-cpu``); its values were checked against the reference already."""
    for other in manifest.get("other_cpus", {}).values():
        problems = []
        for rel, entry in other["files"].items():
            hashed = {**manifest["files"][rel], "stored": False, "tensors": entry["tensors"]}
            problems += _differences(rel, run / rel, hashed, run / rel)
        if not problems:
            return True
    return False


@pytest.mark.parametrize("name", list(refs.CASES))
def test_the_reference_run_learns_the_same_tensors(name, tmp_path):
    manifest = _manifest(name)
    case = refs.CASES[name]
    # the frozen command is the generator's: a later edit of one without the other is caught here
    assert manifest["command"] == f"taskdistill {case['command']}"
    assert manifest["config_toml"] == case.get("config_toml") and manifest["threads"] == 1
    assert "--threads 1" in case["command"] and set(manifest["files"]) == set(case["files"])

    run = refs.run_case(case, tmp_path)
    problems = []
    for rel, entry in manifest["files"].items():
        problems += _differences(rel, run / rel, entry, REFERENCE / name / rel)
    if problems and _equals_another_cpu(manifest, run):
        problems = []
    assert not problems, (
        f"{name} learned something else than at commit {manifest['commit']}:\n"
        + "\n".join(problems[:25])
        + (f"\n... and {len(problems) - 25} more" if len(problems) > 25 else "")
    )


def test_the_committed_files_are_the_manifests():
    """The stored files hash to their manifests' entries (nothing was replaced by hand)."""
    for name in refs.CASES:
        for rel, entry in _manifest(name)["files"].items():
            if entry["stored"]:
                stored = refs.fingerprint(REFERENCE / name / rel, rel)
                assert stored == {"tensors": entry["tensors"], "values": entry["values"]}, (name, rel)


def test_a_one_ulp_change_a_changed_and_a_new_meta_key_are_each_reported(tmp_path):
    """The comparison itself: what the re-runs rely on to fail."""
    stored = REFERENCE / "cartpole1d-k2" / "distilled.pt"
    entry = _manifest("cartpole1d-k2")["files"]["distilled.pt"]
    payload = refs.load(stored)
    payload["label"][0, 0] = torch.nextafter(payload["label"][0, 0], torch.tensor(float("inf")))
    payload["meta"] = {**payload["meta"], "k": 3, "extra": 1}
    torch.save(payload, tmp_path / "doctored.pt")
    problems = _differences("distilled.pt", tmp_path / "doctored.pt", entry, stored)
    assert problems == [
        "distilled.pt: label: not equal to the reference (max |difference| 2.98e-08)",
        "distilled.pt: meta['k'] = 3, reference 2",
        "distilled.pt: new meta['extra'] = 1 (name it in ALLOWED_NEW_META_KEYS)",
    ]
    hashed = {**entry, "stored": False}  # the Pong way: against the manifest's hashes
    assert _differences("distilled.pt", tmp_path / "doctored.pt", hashed, stored) == [
        "distilled.pt: label: torch.float32 [2, 2] differs from the reference's hash",
        "distilled.pt: meta['k'] = 3, reference 2",
        "distilled.pt: new meta['extra'] = 1 (name it in ALLOWED_NEW_META_KEYS)",
    ]
    assert _differences("distilled.pt", stored, hashed, stored) == []


def test_another_cpus_hashes_count_only_as_a_full_set(tmp_path):
    """A run that differs from the reference by rounding on another CPU passes when all of its
    tensors equal that CPU's recorded set (``--add-cpu``), never when only some do."""
    stored = REFERENCE / "cartpole1d-k2" / "distilled.pt"
    entry = _manifest("cartpole1d-k2")["files"]["distilled.pt"]
    payload = refs.load(stored)
    payload["label"][0, 0] = torch.nextafter(payload["label"][0, 0], torch.tensor(float("inf")))
    torch.save(payload, tmp_path / "distilled.pt")
    other_cpu = refs.fingerprint(tmp_path / "distilled.pt", "distilled.pt")["tensors"]
    manifest = {"files": {"distilled.pt": entry}}
    assert not _equals_another_cpu(manifest, tmp_path)  # no other CPU recorded
    manifest["other_cpus"] = {"cpu B": {"commit": "x", "files": {"distilled.pt": {"tensors": other_cpu}}}}
    assert _equals_another_cpu(manifest, tmp_path)
    mixed = {**other_cpu, "observation": {**other_cpu["observation"], "sha256": "0" * 64}}
    manifest["other_cpus"]["cpu B"]["files"]["distilled.pt"]["tensors"] = mixed
    assert not _equals_another_cpu(manifest, tmp_path)
