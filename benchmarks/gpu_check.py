"""The Python stages of ``benchmarks/gpu_check.sh``; each subcommand is one stage, run in its own process.

Run: ``python benchmarks/gpu_check.py STAGE [--device cuda]``, STAGE one of

- ``preflight``: Python, torch, the packages the stages import, and the device (for CUDA: visible,
  its name, NCCL built in). Prints one summary line last.
- ``collect`` / ``update`` / ``evaluate`` / ``resume``: :class:`~taskdistill_rl.algorithms.ppmo.PPMO` on 1D
  cart-pole (k=2, a few envs) through the library API on ``--device``. Each asserts that what it
  touched lives on the device (dataset, critic, loss buffers, rollout, θ⁰, optimiser state).
  ``resume`` saves ``state_dict()`` with ``torch.save`` after two meta-epochs, loads it with
  ``torch.load(..., map_location="cpu")`` into a fresh PPMO, steps once more and asserts that the
  whole state equals that of a run that was never interrupted (the idea of
  ``tests/test_reliability.py``), on the device.
- ``cpu-files PATH...``: stock ``torch.load(path)`` (``weights_only`` default) of written files,
  every tensor on the CPU. Imports torch only; the caller runs it with ``CUDA_VISIBLE_DEVICES=""``.
- ``run-summary DIR --meta-epochs N [--started-at S] [--world-size W]``: a run's ``summary.json``.
- ``same-run A B``: two run directories (a resumed run and an uninterrupted one) hold equal
  checkpoint state and ``distilled.pt`` tensors (on CUDA a difference is reported, not failed).
- ``bench-ratio LOG``: the PPMO ÷ plain-PPO epoch ratios from ``bench_atari.py``'s table.

A failed check prints ``error: ...`` on stderr and exits 1; anything else raises with its traceback.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
from pathlib import Path

import torch

RTOL = 1e-4  # CUDA: how far a learned tensor may drift in one non-bit-reproducible update
PAPER_RATIO = 1.15  # the paper: one PPMO meta-epoch costs 1.15x a PPO epoch on an A100
# the stages' tiny PPMO: 1D cart-pole, k = 2, 16 envs x 16 steps in 2 initialisations
TINY = {"k": 2, "num_envs": 16, "steps_per_env": 16, "inits_per_epoch": 2, "minibatch_size": 64, "seed": 0}
REQUIRED = ("numpy", "torchrl", "tensordict", "gymnasium", "ale_py", "stable_baselines3", "tomli_w", "typer",
            "rich", "matplotlib", "PIL", "cv2", "taskdistill_rl")  # fmt: skip


class CheckError(Exception):
    """A stage's check failed: printed as one ``error:`` line."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckError(message)


def device_name(device: str) -> str:
    """``torch.cuda.get_device_name`` for a CUDA device, else the processor."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()})"


def _on(tensor: torch.Tensor, device: torch.device) -> bool:
    if tensor.device.type != device.type:
        return False
    return device.index is None or tensor.device.index in (device.index, None)


def tensors(obj, path: str = ""):
    """``(path, tensor)`` for every tensor inside nested dicts, lists, tuples and TensorDicts."""
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from tensors(value, f"{path}/{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from tensors(value, f"{path}/{i}")
    elif hasattr(obj, "items") and hasattr(obj, "batch_size"):  # a TensorDict
        yield from tensors(obj.to_dict(), path)


def assert_on_device(named: dict, device: str) -> int:
    """Every tensor reachable from ``named`` (name -> module, optimiser, dict or tensor) is on
    ``device``; returns how many were checked."""
    want, wrong, count = torch.device(device), [], 0
    for name, obj in named.items():
        if isinstance(obj, torch.nn.Module):
            items = [*obj.named_parameters(), *obj.named_buffers()]
        elif isinstance(obj, torch.optim.Optimizer):
            items = list(tensors(obj.state_dict()["state"]))
        else:
            items = list(tensors(obj))
        for path, tensor in items:
            count += 1
            if not _on(tensor, want):
                wrong.append(f"{name}{'/' if not path.startswith('/') else ''}{path} on {tensor.device}")
    check(not wrong, f"{len(wrong)} tensor(s) not on {device}: {', '.join(wrong[:5])}")
    return count


def _algo(device: str):
    from taskdistill_rl.algorithms.ppmo import PPMO

    return PPMO("NDCartPole-v0", device=device, **TINY)


def _learned(algo) -> dict:
    return {"dataset": algo.dataset, "critic": algo.critic, "policy_net": algo.policy_net, "loss": algo.loss}


# -- stages ---------------------------------------------------------------------------------------
def preflight(args) -> str:
    import importlib

    print(f"python {sys.version.split()[0]} at {sys.executable}")
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}) at {Path(torch.__file__).parent}")
    missing = []
    for name in REQUIRED:
        try:
            module = importlib.import_module(name)
        except Exception as err:  # an import that fails for any reason is a missing package here
            missing.append(f"{name} ({type(err).__name__}: {err})")
            continue
        print(f"{name} {getattr(module, '__version__', '?')} at {Path(module.__file__).parent}")
    check(not missing, f"cannot import {'; '.join(missing)}")
    try:  # TorchRL's C++ extension (prioritized replay's segment trees only): loads or not, no stage needs it
        importlib.import_module("torchrl._torchrl")
        print("torchrl._torchrl: loads")
    except ImportError as err:
        print(f"torchrl._torchrl: does not load ({err}); only prioritized replay buffers need it")
    import taskdistill_rl

    root = Path(__file__).resolve().parents[1]
    where = Path(taskdistill_rl.__file__).resolve().parent
    check(where == root / "taskdistill_rl", f"taskdistill_rl is imported from {where}, not this tree {root}")
    device = torch.device(args.device)
    if device.type == "cuda":
        check(
            torch.cuda.is_available(),
            f"torch {torch.__version__} sees no CUDA GPU (CUDA build: {torch.version.cuda})",
        )
        check(
            (device.index or 0) < torch.cuda.device_count(),
            f"{args.device}: only {torch.cuda.device_count()} GPU(s)",
        )
        check(torch.distributed.is_nccl_available(), "this torch has no NCCL")
        print(f"cuda devices: {torch.cuda.device_count()}; nccl {torch.cuda.nccl.version()}")
        torch.ones(2, device=device).sum().item()  # a kernel really runs
    import tensordict
    import torchrl

    return (
        f"Python {sys.version.split()[0]}, torch {torch.__version__}, torchrl {torchrl.__version__}, "
        f"tensordict {tensordict.__version__}; device {device_name(args.device)}"
    )


def collect(args) -> str:
    algo = _algo(args.device)
    rollout = algo.collect()
    algo.close()
    frames = TINY["num_envs"] * TINY["steps_per_env"]
    check(rollout.data.numel() == frames, f"rollout holds {rollout.data.numel()} frames, not {frames}")
    n = assert_on_device({"rollout": rollout.data, "theta0": rollout.theta0, **_learned(algo)}, args.device)
    return f"{frames} frames, {len(rollout.episode_returns)} episodes; {n} tensors on {args.device}"


def update(args) -> str:
    algo = _algo(args.device)
    before = [p.detach().clone() for p in algo.dataset.parameters()]
    metrics = algo.update(algo.collect())
    algo.close()
    check(not metrics["train/diverged"], "the first update diverged")
    for key in ("train/loss_objective", "train/loss_critic", "train/inner_lr"):
        check(torch.isfinite(torch.tensor(metrics[key])).item(), f"{key} = {metrics[key]}")
    after = list(algo.dataset.parameters())
    check(
        any(not torch.equal(a, b) for a, b in zip(before, after, strict=True)), "the dataset did not change"
    )
    optims = {"dataset_optim": algo.dataset_optim, "critic_optim": algo.critic_optim}
    n = assert_on_device({**_learned(algo), **optims}, args.device)
    return f"loss_objective {metrics['train/loss_objective']:.4f}; {n} tensors on {args.device}"


def evaluate(args) -> str:
    algo = _algo(args.device)
    algo.step()
    before = [p.detach().clone() for p in algo.dataset.parameters()]
    returns = algo.evaluate(n_learners=3, episodes=2, seed=0)
    again = algo.evaluate(n_learners=3, episodes=2, seed=0)
    algo.close()
    check(tuple(returns.shape) == (3, 2), f"returns of shape {tuple(returns.shape)}, not (3, 2)")
    check(bool(torch.isfinite(returns).all()), f"non-finite returns {returns.tolist()}")
    repeatable = torch.equal(returns, again)
    if torch.device(args.device).type == "cuda" and not repeatable:
        print(
            f"note: the same seed gave other returns on {args.device}: {returns.tolist()} vs {again.tolist()}"
        )
    else:
        check(repeatable, "the same seed gave other returns")
    after = list(algo.dataset.parameters())
    check(
        all(torch.equal(a, b) for a, b in zip(before, after, strict=True)), "evaluation changed the dataset"
    )
    assert_on_device(_learned(algo), args.device)
    mean = returns.double().mean().item()
    return f"3 learners x 2 episodes, mean return {mean:.1f}; same seed, same returns: {repeatable}"


def _compare(a, b, path: str = "state", rtol: float | None = None) -> list[str]:
    """Paths where two state dicts differ: tensors compared on the CPU bit for bit, or, with
    ``rtol``, floating tensors outside :func:`_exact` paths within ``rtol`` (atol ``rtol / 100``)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(set(a) ^ set(b), key=str)}"]
        return [d for key in a for d in _compare(a[key], b[key], f"{path}/{key}", rtol)]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _compare(x, y, f"{path}/{i}", rtol)]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype:
            return [f"{path}: {a.dtype}{list(a.shape)} != {b.dtype}{list(b.shape)}"]
        a, b = a.cpu(), b.cpu()
        if rtol is not None and a.is_floating_point() and not _exact(path):
            return [] if torch.allclose(a, b, rtol=rtol, atol=rtol / 100) else [path]
        return [] if torch.equal(a, b) else [path]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def _exact(path: str) -> bool:
    """What float noise in an update cannot explain: where the rollout stands (env state, RNGs,
    counters). A resume that restores RNGs differs from the uninterrupted run here only if it lost
    state, however the device rounds."""
    return any(part in path for part in ("rollout", "rng", "generator", "meta_epoch", "frames"))


def _learning_diffs(a, b, rtol: float | None = None) -> list[str]:
    """:func:`_compare` less the collector's trajectory ids, which count from 0 again in a new
    collector (bookkeeping that nothing learns from)."""
    return [d for d in _compare(a, b, rtol=rtol) if "/collector/traj_ids" not in d]


def _max_abs_diff(a, b) -> float:
    pairs = zip(dict(tensors(a)).items(), dict(tensors(b)).values(), strict=False)
    diffs = [
        (x.double().cpu() - y.double().cpu()).abs().max().item()
        for (_, x), y in pairs
        if x.is_floating_point() and x.shape == y.shape and x.numel()
    ]
    return max(diffs, default=0.0)


def resume(args) -> str:
    import copy
    import tempfile

    path = Path(args.workdir or tempfile.mkdtemp(prefix="gpu_check_")) / "ppmo_state.pt"
    whole = _algo(args.device)
    for _ in range(2):
        whole.step()
    saved = whole.state_dict()
    count = sum(1 for _ in tensors(saved))
    on_device = sum(not _on(t, torch.device("cpu")) for _, t in tensors(saved))
    print(f"state_dict after 2 meta-epochs: {count} tensors, {on_device} not on the CPU")
    torch.save(saved, path)
    whole.step()  # the uninterrupted run's third meta-epoch
    expected = copy.deepcopy(whole.state_dict())
    whole.close()

    def resume_once() -> dict:
        resumed = _algo(args.device)  # as a fresh process builds it: its seeding resets torch's RNGs
        resumed.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        check(resumed.meta_epoch == 2, f"resumed at meta-epoch {resumed.meta_epoch}, not 2")
        assert_on_device({**_learned(resumed), "dataset_optim": resumed.dataset_optim}, args.device)
        resumed.step()
        assert_on_device({**_learned(resumed), "dataset_optim": resumed.dataset_optim}, args.device)
        state = copy.deepcopy(resumed.state_dict())
        resumed.close()
        return state

    got = resume_once()
    count = sum(1 for _ in tensors(got))
    diffs = _learning_diffs(expected, got)
    if not diffs:
        return f"meta-epoch 3 after resume equals the uninterrupted run bit for bit ({count} tensors)"
    where = f"the resumed run differs from the uninterrupted one at {len(diffs)} place(s): {diffs[:4]}"
    check(torch.device(args.device).type == "cuda", where)
    # CUDA: an update may not be bit-reproducible (atomics in backward). A second resume of the same
    # state tells rounding from lost state: if two resumes agree, the difference is lost state.
    noise = _learning_diffs(got, resume_once())
    check(bool(noise), f"{where}, though two resumes of one state agree bit for bit: the resume lost state")
    lost = [d for d in diffs if _exact(d)]
    check(not lost, f"{where}; the rollout or an RNG differs ({lost[:4]}): the resume lost state")
    loose = _learning_diffs(expected, got, rtol=RTOL)
    check(not loose, f"{where}; beyond rtol {RTOL} at {loose[:4]}")
    return (
        f"meta-epoch 3 after resume: rollout and RNGs bit for bit, learned tensors within rtol {RTOL} "
        f"(max |diff| {_max_abs_diff(expected, got):.2e}; two resumes of one state differ at {len(noise)} "
        f"place(s): this device's update is not bit-reproducible)"
    )


def cpu_files(args) -> str:
    counts = []
    for path in args.paths:
        obj = torch.load(path)  # stock: weights_only default, no map_location
        found = list(tensors(obj))
        wrong = [f"{p} on {t.device}" for p, t in found if t.device.type != "cpu"]
        check(not wrong, f"{path}: {len(wrong)} tensor(s) not on the CPU: {', '.join(wrong[:4])}")
        check(bool(found), f"{path}: no tensors")
        counts.append(f"{Path(path).parent.name}/{Path(path).name} {len(found)}")
        print(f"{path}: {len(found)} tensors, all on the CPU")
    visible = torch.cuda.is_available()
    return f"torch.load on CPU (CUDA visible: {visible}): {', '.join(counts)} tensors"


def run_summary(args) -> str:
    summary = json.loads((Path(args.run) / "summary.json").read_text())
    for key, want in (
        ("meta_epochs", args.meta_epochs),
        ("started_at_meta_epoch", args.started_at),
        ("world_size", args.world_size),
    ):
        if want is not None:
            check(summary.get(key) == want, f"summary.json {key} = {summary.get(key)!r}, not {want}")
    check((Path(args.run) / "distilled.pt").is_file(), f"no distilled.pt in {args.run}")
    results = (summary.get("evaluation") or {}).get("results") or {}
    check(bool(results), f"{args.run}/summary.json holds no final evaluation")
    name, result = next(iter(results.items()))
    return (
        f"{summary['meta_epochs']} meta-epochs (from {summary.get('started_at_meta_epoch')}); "
        f"final evaluation {name} {result['mean']:.1f} over {result['n_learners']} learners x "
        f"{result['episodes']} episodes"
    )


def same_run(args) -> str:
    """Two run directories (a resumed run and an uninterrupted one): their checkpoints' algorithm
    state and their distilled.pt tensors are equal; on CUDA, where an update need not be
    bit-reproducible, a difference is reported with its size rather than failed."""

    def load(run: str, name: str):
        return torch.load(Path(run) / name, map_location="cpu", weights_only=True)

    a, b = (
        {"checkpoint": load(r, "checkpoint.pt")["algo"], "file": load(r, "distilled.pt")} for r in args.paths
    )
    diffs = _learning_diffs(a, b)
    count = sum(1 for _ in tensors(a))
    if not diffs:
        return f"checkpoint state and distilled.pt equal bit for bit ({count} tensors)"
    where = f"{args.paths[0]} and {args.paths[1]} differ at {len(diffs)} place(s): {diffs[:4]}"
    check(torch.device(args.device).type == "cuda", where)
    print(f"note: {where}")
    return (
        f"not bit-equal on {args.device} (max |diff| {_max_abs_diff(a, b):.2e} at {len(diffs)} place(s); "
        "ppmo-resume tells rounding from lost state)"
    )


def bench_ratio(args) -> str:
    text = Path(args.log).read_text()
    ratios = dict(re.findall(r"^\| (PPMO l=\d+) \|[^\n]*\| ([0-9.]+)x \|$", text, flags=re.M))
    check(bool(ratios), f"no 'PPMO l=... | N.NNx |' rows in {args.log}")
    device = re.search(r"^\| plain PPO \| (\S+) \|", text, flags=re.M)
    parts = [f"{name} ÷ plain PPO {ratio}x" for name, ratio in ratios.items()]
    where = device_name(device.group(1) if device else args.device)
    return f"{'; '.join(parts)} per epoch (paper {PAPER_RATIO}x on an A100); device {where}"


STAGES = {
    "preflight": preflight,
    "collect": collect,
    "update": update,
    "evaluate": evaluate,
    "resume": resume,
    "cpu-files": cpu_files,
    "run-summary": run_summary,
    "same-run": same_run,
    "bench-ratio": bench_ratio,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("paths", nargs="*", help="cpu-files: the files; run-summary: DIR; same-run: A B")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workdir", help="resume: where the state file goes (default: a temp dir)")
    parser.add_argument("--meta-epochs", type=int)
    parser.add_argument("--started-at", type=int)
    parser.add_argument("--world-size", type=int)
    parser.add_argument("--summary-file", help="also write the summary line here")
    args = parser.parse_args(argv)
    args.run = args.log = args.paths[0] if args.paths else None
    if args.stage == "same-run" and len(args.paths) != 2:
        parser.error("same-run takes two run directories")
    try:
        line = STAGES[args.stage](args)
    except CheckError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"summary: {line}")
    if args.summary_file:
        Path(args.summary_file).write_text(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
