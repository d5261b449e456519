"""Distil 1D cart-pole through the Python API, stopped by a callback of your own.

Run: ``python examples/own_stop_callback.py [OUT]``, then ``taskdistill report OUT``: the run
directory is the same as a ``taskdistill distill`` run's (distilled.pt, summary.json, eval.json).
``MAX_EPOCHS`` (default 300; 5 with ``TASKDISTILL_EXAMPLE_TINY=1``) caps the run; ``STOP_AT``
(default 0.6) is the inner lr to stop at. More on callbacks: docs/tutorials/callbacks-and-logging.md.
"""

import os
import sys
from pathlib import Path

from taskdistill_rl import Callback, Distiller

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"
RUN_FILES = ("distilled.pt", "summary.json", "eval.json", "metrics.csv", "config.toml")


class StopOnceTheInnerLrHasGrown(Callback):
    """Returns stay flat until the learned inner lr passes ~0.6 (1D), then jump: stop there."""

    def __init__(self, inner_lr: float):
        self.inner_lr = inner_lr

    def on_meta_epoch_end(self, loop, metrics: dict) -> bool:
        return metrics["train/inner_lr"] < self.inner_lr  # False stops the run


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/own-stop-callback")
    distiller = Distiller("NDCartPole-v0", k=2, seed=0, out_dir=out, final_learners=20, final_episodes=5)
    epochs = int(os.environ.get("MAX_EPOCHS", 5 if TINY else 300))
    ds = distiller.train(
        epochs=epochs,
        callback=StopOnceTheInnerLrHasGrown(float(os.environ.get("STOP_AT", 0.6))),
    )
    result = distiller.evaluation["results"]["lambda"]
    print(f"{ds}: {distiller.meta_epoch} meta-epochs, 20 fresh learners x 5 episodes: {result['mean']:.1f}")
    assert distiller.meta_epoch <= epochs and all((out / name).is_file() for name in RUN_FILES)
