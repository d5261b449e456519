"""Rebuild the reference runs that ``tests/test_reference_runs.py`` checks (issue 25).

A reference run is one ``taskdistill`` command with a fixed seed, a pinned thread count
(``--threads 1``) and a fixed number of meta-epochs, frozen as what it learned: the tensors of its
``distilled.pt`` (and of its checkpoint's algorithm state) and the file's ``meta``. The test re-runs
every command and asks for the same tensors bit for bit, so that a refactor of the outer algorithm
can be shown not to change what is learned. The files were first made from commit b52b1e4.

Each case writes ``tests/data/reference/<name>/manifest.json``: the command (``{out}`` and
``{config}`` stand for the run directory and the case's TOML file), the commit it was made from,
the thread count, library versions (for the record: runs are reproducible on one CPU, not across
machines or versions) and, per checked file, a SHA-256 per tensor (of
``tensor.contiguous().cpu().numpy().tobytes()``, with its dtype and shape) and every non-tensor
value. Files under ``STORE_LIMIT`` bytes are copied beside the manifest too, so that a failing test
can show by how much a tensor moved; the big ones (Pong's checkpoint is ~47 MB) are checked by
their hashes only.

Run it only when a change is MEANT to change what is learned, from a clean checkout of that change,
on the machine the test runs on (runs are bit-reproducible per CPU, not across CPUs)::

    PYTHONPATH=. python tests/data/reference/make_references.py            # every case
    PYTHONPATH=. python tests/data/reference/make_references.py pong kmin  # some cases

and commit the result with the reason in the message.

Rounding differs between CPUs (vector width, oneDNN's and MKL's kernels), and the convolutions of
Pong's case show it: on another CPU the same command learns tensors a few 1e-5 away. A CPU the
tests also run on gets its own hashes beside the first, from an unchanged checkout (the commit the
manifest names, or one that leaves the reference runs equal)::

    PYTHONPATH=. python tests/data/reference/make_references.py --add-cpu pong-l4

``manifest["other_cpus"][cpu_key()]`` then holds that CPU's tensor hashes; every non-tensor value
must come out as the first CPU's, or nothing is added. The test accepts a run whose tensors equal
one CPU's set in full, never a mix.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
STORE_LIMIT = 200_000  # bytes: files up to this size are committed whole, bigger ones as hashes
SMALL_EVAL = "--final-learners 2 --final-episodes 1"  # the reference is the tensors, not the score

# name -> the command (``{out}``: the run directory; ``{config}``: the case's TOML file), the
# TOML text if any, and the files of the run directory that are checked. For a checkpoint, its
# ``algo`` entry (the algorithm's state_dict) and ``meta_epoch`` are checked; the rest of it
# (wall seconds, a hash of the config, callbacks' bookkeeping) is not what was learned.
CASES: dict[str, dict[str, Any]] = {
    "cartpole1d-k2": {
        "command": "distill --env NDCartPole-v0 --k 2 --epochs 12 --seed 0 --threads 1 "
        f"{SMALL_EVAL} --out {{out}}",
        "files": ["distilled.pt", "checkpoint.pt"],
    },
    "cartpole2d-k3": {
        "command": "distill --env NDCartPole-v0 --env-kwargs n_dims=2 --k 3 --epochs 5 --seed 0 --threads 1 "
        f"{SMALL_EVAL} --out {{out}}",
        "files": ["distilled.pt", "checkpoint.pt"],
    },
    "hopper": {
        "command": f"distill --env Hopper-v5 --epochs 3 --seed 0 --threads 1 {SMALL_EVAL} --out {{out}}",
        "files": ["distilled.pt", "checkpoint.pt"],
    },
    "pong-l4": {
        "command": "distill --env ALE/Pong-v5 --encoder-layers 4 --epochs 2 --num-envs 2 --config {config} "
        f"--seed 0 --threads 1 {SMALL_EVAL} --out {{out}}",
        "config_toml": "steps_per_env = 32\nminibatch_size = 64\n",
        "files": ["distilled.pt", "checkpoint.pt"],
    },
    "torchrun-2proc": {  # rank 0 writes the files
        "command": "distill --nproc 2 --env NDCartPole-v0 --k 2 --epochs 3 --num-envs 64 --seed 0 "
        f"--threads 1 {SMALL_EVAL} --out {{out}}",
        "files": ["distilled.pt", "checkpoint.pt"],
    },
    "teacher-states": {  # --search-batches instead of a time budget: the same file every time
        "command": "baseline --algo teacher-states --env NDCartPole-v0 --env-kwargs n_dims=1 --k 2 "
        "--timesteps 1024 --chunk 1024 --search-batches 2,1 --episodes 1 --seed 0 --threads 1 --out {out}",
        "files": ["distilled.pt"],
    },
    "kmin": {
        "command": "kmin --env NDCartPole-v0 --k 1,2 --epochs 3 --n-learners 2 --episodes 1 --seed 0 "
        "--threads 1 --out {out}",
        "files": ["k1/distilled.pt", "k2/distilled.pt"],
    },
}


def tensor_sha256(tensor: torch.Tensor) -> dict[str, Any]:
    """The tensor's fingerprint: SHA-256 of its bytes (C order, on the CPU), dtype and shape."""
    data = tensor.detach().contiguous().cpu().numpy().tobytes()
    digest = hashlib.sha256(data).hexdigest()
    return {"sha256": digest, "dtype": str(tensor.dtype), "shape": list(tensor.shape)}


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a/b/0": leaf}`` for a nested dict/list/tuple of tensors and primitives."""
    if isinstance(tree, dict):
        items = ((str(key), value) for key, value in tree.items())
    elif isinstance(tree, (list, tuple)) and any(
        isinstance(v, (dict, list, tuple, torch.Tensor)) for v in tree
    ):
        # lists of numbers (Adam's betas, recent returns) stay one value
        items = ((str(i), value) for i, value in enumerate(tree))
    else:
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}/{key}" if prefix else key))
    return out


def checked_part(name: str, payload: dict) -> dict[str, Any]:
    """What is compared of one file: a distilled file whole (its ``meta`` kept as one dict, compared
    key by key); of a checkpoint, the algorithm state and the meta-epoch."""
    if Path(name).name == "checkpoint.pt":
        return {"meta_epoch": payload["meta_epoch"], **flatten(payload["algo"], "algo")}
    tensors = {key: value for key, value in payload.items() if key != "meta"}
    return {**flatten(tensors), "meta": payload["meta"]}


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True, map_location="cpu")


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value))


def cpu_key() -> str:
    """What decides a CPU's rounding here: torch's vector ISA, and the vendor and model that MKL and
    oneDNN pick their kernels by (``"AVX2 AuthenticAMD AMD EPYC"``)."""
    info: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    vendor, model = info.get("vendor_id", platform.processor()), info.get("model name", platform.machine())
    return f"{torch.backends.cpu.get_cpu_capability()} {vendor} {model}"


def fingerprint(path: Path, name: str) -> dict[str, Any]:
    """The manifest entry of one file: hashes of its tensors, its other values as JSON."""
    part = checked_part(name, load(path))
    return {
        "tensors": {key: tensor_sha256(v) for key, v in part.items() if isinstance(v, torch.Tensor)},
        "values": {key: jsonable(v) for key, v in part.items() if not isinstance(v, torch.Tensor)},
    }


def command_for(case: dict[str, Any], out: Path, config: Path | None) -> list[str]:
    return [arg.format(out=out, config=config) for arg in case["command"].split()]


@contextlib.contextmanager
def _child_path():
    """``--nproc`` starts torchrun: its ranks import this checkout."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), saved) if p)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def run_case(case: dict[str, Any], workdir: Path) -> Path:
    """Run one case's command in-process into ``workdir/run``; returns the run directory."""
    from taskdistill_rl.cli import main

    out = workdir / "run"
    config = None
    if "config_toml" in case:
        config = workdir / "config.toml"
        config.write_text(case["config_toml"])
    with _child_path():
        code = main([*command_for(case, out, config), "-q"])
    if code != 0:
        raise RuntimeError(f"{case['command']} exited with {code}")
    return out


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def make(name: str, *, commit: str) -> None:
    case = CASES[name]
    target = HERE / name
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        run = run_case(case, Path(tmp))
        seconds = time.perf_counter() - started
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        files = {}
        for rel in case["files"]:
            source = run / rel
            stored = source.stat().st_size <= STORE_LIMIT
            if stored:
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / rel)
            files[rel] = {"stored": stored, "bytes": source.stat().st_size, **fingerprint(source, rel)}
    manifest = {
        "name": name,
        "command": f"taskdistill {case['command']}",
        "config_toml": case.get("config_toml"),
        "threads": 1,
        "commit": commit,
        "made_with": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "seconds": round(seconds, 1),
        },
        "files": files,
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{name}: {seconds:.1f} s, " + ", ".join(f"{k} {v['bytes']} B" for k, v in files.items()))


def add_cpu(name: str, *, commit: str) -> None:
    """This CPU's tensor hashes for a case, beside the first CPU's (its values must be the same)."""
    target = HERE / name
    manifest = json.loads((target / "manifest.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        run = run_case(CASES[name], Path(tmp))
        files = {}
        for rel, entry in manifest["files"].items():
            here = fingerprint(run / rel, rel)
            if here["values"] != entry["values"]:
                raise RuntimeError(f"{name}/{rel}: values differ from the reference, not only rounding")
            files[rel] = {"tensors": here["tensors"]}
    manifest.setdefault("other_cpus", {})[cpu_key()] = {"commit": commit, "files": files}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{name}: hashes for {cpu_key()!r} added")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help=f"default: all of {', '.join(CASES)}")
    parser.add_argument("--allow-dirty", action="store_true", help="the library has uncommitted changes")
    parser.add_argument("--add-cpu", action="store_true", help="add this CPU's hashes, keep the reference")
    args = parser.parse_args(argv)
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s) {sorted(unknown)}; expected some of {list(CASES)}")
    if _git("status", "--porcelain", "--", "taskdistill_rl", "pyproject.toml") and not args.allow_dirty:
        print("the library has uncommitted changes: commit them first (or --allow-dirty)", file=sys.stderr)
        return 1
    commit = _git("rev-parse", "--short", "HEAD")
    for name in args.cases or CASES:
        (add_cpu if args.add_cpu else make)(name, commit=commit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
