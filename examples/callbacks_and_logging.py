"""Watch and steer a distillation with callbacks, then read what it logged: metrics.csv always,
TensorBoard when the ``tensorboard`` package is installed, and any TorchRL logger you add.

Run: ``python examples/callbacks_and_logging.py [OUT]`` (a run directory, default
``runs/callbacks-and-logging``). Budget: 1D cart-pole until the training return has not improved
for 20 meta-epochs, at most 200 meta-epochs' worth of frames. Expect training episodes to last
the full 500 steps after ~30 meta-epochs, a stop 20 later, and a final evaluation near 500.
``TASKDISTILL_EXAMPLE_TINY=1``: 16 envs, and the frame budget stops the run after 4 meta-epochs.
"""

import csv
import math
import os
import shutil
import sys
from importlib.util import find_spec
from pathlib import Path

import torch
from torchrl.record.loggers import CSVLogger

from taskdistill_rl import Callback, Distiller, MetricsLogger
from taskdistill_rl.callbacks import FunctionCallback

TINY = os.environ.get("TASKDISTILL_EXAMPLE_TINY") == "1"


# 1. A plain function is a callback: Distiller.train calls it with the metrics of every meta-epoch
# (wrapping it in FunctionCallback). Returning nothing, or anything but False, lets the run go on.
def print_progress(metrics: dict) -> None:
    value, lr = (
        metrics["train/episode_return_mean"],
        metrics["train/inner_lr"],
    )  # value: NaN if no episode ended
    print(f"meta-epoch {metrics['meta_epoch']:3d}: training return {value:5.1f}, inner lr {lr:.3f}")


# 2. Returning False stops the run after this meta-epoch (the run directory is written as usual).
def frame_budget(max_frames: int) -> FunctionCallback:
    return FunctionCallback(lambda metrics: metrics["time/frames"] < max_frames)


# 3. A Callback subclass gets every hook, and state that checkpoints keep (under state_key), so a
# run continued with --resume / load_checkpoint() goes on counting where it stopped.
class StopOnPlateau(Callback):
    """Stop once the training return has not improved for ``patience`` meta-epochs."""

    state_key = "stop_on_plateau"

    def __init__(self, patience: int):
        self.patience, self.best, self.best_epoch = patience, -math.inf, 0

    def on_training_start(self, loop) -> None:
        print(f"starting at meta-epoch {loop.algo.meta_epoch}, best return so far {self.best}")

    def on_meta_epoch_end(self, loop, metrics: dict) -> bool:
        value = metrics["train/episode_return_mean"]
        if value > self.best:  # False for NaN
            self.best, self.best_epoch = value, loop.algo.meta_epoch
        return loop.algo.meta_epoch - self.best_epoch < self.patience

    def on_training_end(self, loop) -> None:  # also runs when the run ends with an exception
        print(f"best training return {self.best:.1f} at meta-epoch {self.best_epoch}")

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/callbacks-and-logging")
    shutil.rmtree(out, ignore_errors=True)  # start afresh, as `taskdistill distill --overwrite` does
    small = {"num_envs": 16, "final_learners": 10, "final_episodes": 10} if TINY else {}
    distiller = Distiller("NDCartPole-v0", k=2, out_dir=out, quiet=True, **small)
    frames_per_epoch = distiller.config.num_envs * distiller.config.steps_per_env

    # Your callbacks run after the defaults (stop criteria, evaluation, metrics.csv, checkpoints),
    # in list order; once one returns False the rest are skipped for that meta-epoch: log first.
    own_logger = MetricsLogger([CSVLogger(exp_name="torchrl-csv", log_dir=str(out))])  # any TorchRL Logger
    plateau = StopOnPlateau(patience=20)
    budget = frame_budget((4 if TINY else 200) * frames_per_epoch)
    distiller.train(epochs=1000, callback=[print_progress, own_logger, plateau, budget])  # 1000: a mere cap
    epochs, final = distiller.meta_epoch, distiller.evaluation["results"]["lambda"]
    print(f"stopped after {epochs} meta-epochs; final evaluation {final['mean']:.1f}")
    assert epochs < 1000 and (not TINY or epochs == 4)  # a callback stopped it (tiny: the frame budget)

    # The checkpoint holds the callback's state under its state_key.
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["callbacks"]["stop_on_plateau"] == plateau.state_dict()

    # 4. metrics.csv: one row per meta-epoch, the same columns in every run (taskdistill plot reads it).
    with (out / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    print("metrics.csv columns:", ", ".join(rows[0]))
    assert [int(row["meta_epoch"]) for row in rows] == list(range(1, epochs + 1))
    assert float(rows[-1]["time/frames"]) == epochs * frames_per_epoch

    # 5. Your own logger's files: TorchRL's CSVLogger writes one file per metric.
    lr_rows = (out / "torchrl-csv" / "scalars" / "train" / "inner_lr.csv").read_text().splitlines()
    assert lr_rows[-1] == f"{epochs},{rows[-1]['train/inner_lr']}"  # "step,value" lines

    # 6. TensorBoard: events under OUT/tensorboard when the package is installed
    # (`tensorboard --logdir OUT/tensorboard` to browse them); NaN metrics are left out.
    if find_spec("tensorboard") is None:
        assert not (out / "tensorboard").exists()
        print("tensorboard is not installed: metrics.csv only (pip install tensorboard)")
    else:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(out / "tensorboard"))
        events.Reload()
        lrs = [event.value for event in events.Scalars("train/inner_lr")]
        print(f"TensorBoard: {len(events.Tags()['scalars'])} scalars, inner lr {lrs[0]:.3f} -> {lrs[-1]:.3f}")
        assert len(lrs) == epochs
