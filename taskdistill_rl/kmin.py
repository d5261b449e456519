"""The minimum distillation size (paper §4.2, Eq. 3): distil at each k, evaluate, mark where learning
starts. ``taskdistill kmin`` parses its options and prints; the sweep and its "learns" rule are here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from taskdistill_rl.config import DistillConfig, k_min
from taskdistill_rl.io import write_json
from taskdistill_rl.results import distill_command

LEARNS_OF_BEST = 0.5  # a k learns: mean >= this share of the best k's mean ...
LEARNS_OF_RANDOM = 3.0  # ... and >= this multiple of the uniform-random agent's mean


@dataclass
class KminSweep:
    """The rows by k (each its final evaluation, meta-epochs, reproducing command, ``learns``), the
    first k that learns (None: none did), Eq. 3's prediction and the env's action count."""

    results: dict[int, dict]
    starts: int | None
    predicted: int
    n_actions: int
    random_mean: float


def learns(mean: float, best: float, random_mean: float) -> bool:
    """The sweep's rule: a k learns when its mean reaches half the best k's and 3x the random agent's."""
    return bool(mean >= LEARNS_OF_BEST * best and mean >= LEARNS_OF_RANDOM * random_mean)


def kmin_sweep(
    out: Path, ks: list[int], *, base: dict, random_mean: float, resume: bool, quiet: bool
) -> KminSweep:
    """Distil at every k of ``ks`` into ``OUT/k{k}`` (a :class:`~taskdistill_rl.distill.Distiller`
    run of ``DistillConfig(**base, k=k)``, whose final evaluation is the k's row), skipping the
    k values already finished when ``resume``; write ``OUT/kmin.json``."""
    from taskdistill_rl.distill import Distiller

    results: dict[int, dict] = {}
    n_actions = None
    for value in ks:
        run_dir = out / f"k{value}"
        done = run_dir / "result.json"
        if resume and done.is_file():
            results[value] = json.loads(done.read_text())
            n_actions = results[value]["n_actions"]
            continue
        config = DistillConfig(**{**base, "k": value})  # a --config file's k gives way to the sweep's
        distiller = Distiller(base["env"], config=config, out_dir=run_dir, quiet=quiet)
        distiller.train()  # its final evaluation (seed + EVAL_SEED_OFFSET) is this k's row
        n_actions = distiller.dataset.out_features
        results[value] = {
            **next(iter(distiller.evaluation["results"].values())),
            "k": value,
            "meta_epochs": distiller.meta_epoch,
            "reproduce": distill_command(distiller.config, distiller.meta_epoch),
            "wall_seconds": distiller.wall_seconds,
            "n_actions": n_actions,
        }
        write_json(done, results[value])
    best = max(r["mean"] for r in results.values())
    for r in results.values():
        r["learns"] = learns(r["mean"], best, random_mean)
    starts = next((v for v in ks if results[v]["learns"]), None)
    predicted = k_min(n_actions)
    write_json(
        out / "kmin.json",
        {
            "env_id": base["env"],
            "env_kwargs": base["env_kwargs"],
            "random_mean": random_mean,
            "predicted_k_min": predicted,
            "learning_starts_at": starts,
            "results": {str(v): results[v] for v in ks},
        },
    )
    return KminSweep(results, starts, predicted, n_actions, random_mean)


__all__ = ["KminSweep", "kmin_sweep", "learns"]
