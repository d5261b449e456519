"""Callbacks of the run loop (:class:`taskdistill_rl.run.RunLoop`), in the spirit of SB3's.

Everything a run does besides the algorithm's own meta-epoch is one of these, so a user can add to
or replace any of it: when to stop (epochs, wall time, target return), periodic evaluation (and
keeping the best dataset), metrics logging, checkpoints, a progress bar. SIGINT/SIGTERM are the
loop's own (:class:`taskdistill_rl.run.RunLoop`: one place for one process and for many).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from taskdistill_rl.seeds import EPOCH_SEED_STRIDE

if TYPE_CHECKING:
    from taskdistill_rl.run import RunLoop


class Callback:
    """Hooks into :meth:`RunLoop.run`. Return ``False`` from :meth:`on_meta_epoch_start` (before
    a meta-epoch) or :meth:`on_meta_epoch_end` (after it) to stop the run there.

    A callback with state that a resumed run needs (e.g. the best evaluation so far) returns it
    from :meth:`state_dict`; it is saved in checkpoints under the callback's ``state_key``.
    """

    state_key: str | None = None

    def on_training_start(self, loop: RunLoop) -> None:
        pass

    def on_meta_epoch_start(self, loop: RunLoop) -> bool | None:
        return True

    def on_meta_epoch_end(self, loop: RunLoop, metrics: dict) -> bool | None:
        return True

    def on_training_end(self, loop: RunLoop) -> None:
        """Always called, also when the run stops with an exception."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class FunctionCallback(Callback):
    """``fn(metrics)`` after every meta-epoch; returning ``False`` stops the run."""

    def __init__(self, fn: Callable[[dict], bool | None]):
        self.fn = fn

    def on_meta_epoch_end(self, loop: RunLoop, metrics: dict) -> bool:
        return self.fn(metrics) is not False


class StopAfterEpochs(Callback):
    """Stop once the algorithm has completed ``epochs`` meta-epochs (counting resumed ones)."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_meta_epoch_start(self, loop: RunLoop) -> bool:
        return loop.algo.meta_epoch < self.epochs


class StopAfterSeconds(Callback):
    """Stop before a meta-epoch once the run's training wall time (resumed time included)
    reaches ``seconds``: the last meta-epoch may run past the budget."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_meta_epoch_start(self, loop: RunLoop) -> bool:
        return loop.wall_seconds < self.seconds


class StopAtReturn(Callback):
    """Stop once a periodic evaluation's mean return reaches ``target``. It decides before the next
    meta-epoch, from the metrics the last one ended with, so it sees the evaluation wherever it
    stands in the callback list (and never cuts off the callbacks of the meta-epoch that reached
    the target)."""

    def __init__(self, target: float):
        self.target = target
        self._last: dict = {}

    def on_training_start(self, loop: RunLoop) -> None:
        self._last = {}

    def on_meta_epoch_start(self, loop: RunLoop) -> bool:
        return not (self._last.get("eval/return_mean", math.nan) >= self.target)

    def on_meta_epoch_end(self, loop: RunLoop, metrics: dict) -> bool:
        self._last = metrics  # the evaluation writes into it, before or after this callback
        return True


class PeriodicEvaluation(Callback):
    """Every ``interval`` meta-epochs: ``learners`` fresh learners × ``episodes`` sampled episodes
    (seed ``seed + EPOCH_SEED_STRIDE · meta_epoch``); writes ``eval/return_mean`` into the metrics and keeps a
    copy of the best-evaluated dataset (:meth:`restore_best` puts it back)."""

    state_key = "periodic_evaluation"

    def __init__(self, interval: int, *, learners: int, episodes: int, seed: int):
        self.interval, self.learners, self.episodes, self.seed = interval, learners, episodes, seed
        self.last: float | None = None
        self.best: tuple[float, int, dict] | None = None  # (mean, meta-epoch, dataset state)

    def on_meta_epoch_end(self, loop: RunLoop, metrics: dict) -> bool:
        metrics["eval/return_mean"] = math.nan
        algo = loop.algo
        if algo.meta_epoch % self.interval:
            return True
        mean = float(
            algo.evaluate(
                n_learners=self.learners,
                episodes=self.episodes,
                seed=self.seed + EPOCH_SEED_STRIDE * algo.meta_epoch,
            ).mean()
        )
        metrics["eval/return_mean"] = self.last = mean
        if self.best is None or mean >= self.best[0]:
            state = {k: v.detach().clone() for k, v in algo.dataset.state_dict().items()}
            self.best = (mean, algo.meta_epoch, state)
        return True

    def restore_best(self, loop: RunLoop) -> bool:
        """Put the best-evaluated dataset back if it beat the last evaluation; True if it did."""
        if self.best is None or (self.last is not None and self.best[0] <= self.last):
            return False
        loop.algo.dataset.load_state_dict(self.best[2])
        return True

    def state_dict(self) -> dict:
        best = self.best
        return {
            "last": self.last,
            "best": None if best is None else {"mean": best[0], "meta_epoch": best[1], "state": best[2]},
        }

    def load_state_dict(self, state: dict) -> None:
        self.last = state["last"]
        best = state["best"]
        self.best = None if best is None else (best["mean"], best["meta_epoch"], best["state"])


class MetricsLogger(Callback):
    """Hands every meta-epoch's metrics (with ``time/wall_seconds``) to TorchRL loggers
    (``torchrl.record.loggers.Logger``: our ``metrics.csv`` table, TensorBoard, W&B, ...)."""

    def __init__(self, loggers: list):
        self.loggers = loggers

    def on_meta_epoch_end(self, loop: RunLoop, metrics: dict) -> bool:
        metrics["time/wall_seconds"] = loop.wall_seconds
        step = int(metrics["meta_epoch"])
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)
        return True

    def on_training_end(self, loop: RunLoop) -> None:
        for logger in self.loggers:
            logger.close()


class CheckpointEvery(Callback):
    """Write ``loop.checkpoint_path`` every ``interval`` meta-epochs."""

    def __init__(self, interval: int):
        self.interval = interval

    def on_meta_epoch_end(self, loop: RunLoop, metrics: dict) -> bool:
        if loop.checkpoint_path is not None and loop.algo.meta_epoch % self.interval == 0:
            loop.save_checkpoint()
        return True


class ProgressBar(Callback):
    """A rich progress line toward the run's stop criterion: meta-epochs out of ``epochs``, else
    seconds out of ``time_budget`` (a resumed run starts where it stopped), else a count; with
    the last evaluation ("not yet" before the first), the training episodes' recent return (the
    raw game score on Atari), the elapsed and the remaining time, the inner lr and env frames per
    second. Hidden (but still counting) with ``disable`` or when the output is not a terminal, so
    a pipe or a log file gets no bar frames.

    The line fits any terminal (issue 24): fields are whole or left out, the least important
    first as the width shrinks (``RANKS``); the bar takes the room that is left.
    """

    # field -> rank: 0 stays longest. At 80 columns: count, eval, bar, train return.
    RANKS: ClassVar[dict[str, int]] = {
        "count": 0,
        "eval": 1,
        "bar": 2,
        "train": 3,
        "elapsed": 4,
        "left": 5,
        "lr": 6,
        "fps": 7,
        "label": 8,
    }

    def __init__(self, epochs: int | None = None, *, time_budget: float | None = None, disable: bool = False):
        self.epochs, self.time_budget, self.disable = epochs, time_budget, disable
        self._progress = None
        self.evaluation = "not yet"

    def _completed(self, loop: RunLoop) -> float:
        if self.epochs is None and self.time_budget is not None:
            return min(loop.wall_seconds, self.time_budget)
        return loop.algo.meta_epoch

    def _elapsed(self, task) -> float:
        """The run's wall time now (a resumed run's earlier time included), between updates too."""
        return task.fields["wall"] + self._progress.get_time() - task.fields["updated"]

    def _left(self, task) -> float | None:
        """Seconds to the stop criterion: the time budget's rest, or the meta-epochs still to go at
        this session's pace (whichever comes first); None before there is a pace, or with neither."""
        left = []
        if self.time_budget is not None:
            left.append(self.time_budget - self._elapsed(task))
        if self.epochs is not None and task.fields["pace"] is not None:
            left.append(task.fields["pace"] * (self.epochs - task.fields["epoch"]) - self._since_update(task))
        return max(0.0, min(left)) if left else None

    def _since_update(self, task) -> float:
        return self._progress.get_time() - task.fields["updated"]

    def _fields(self, by_time: bool):
        from taskdistill_rl.progress import BAR, Field, clock

        rank = self.RANKS
        if by_time:
            count = lambda task: f"{task.completed:.0f}/{task.total:.0f} s"
        elif self.epochs:
            count = lambda task: f"{task.completed:.0f}/{task.total:.0f} meta-epochs"
        else:
            count = lambda task: f"{task.completed:.0f} meta-epochs"
        left = lambda task: None if (s := self._left(task)) is None else f"{clock(s)} left"
        value = lambda name, fmt: (
            lambda task: (  # None (not measured yet) leaves the field out
                None if task.fields[name] is None else fmt.format(task.fields[name])
            )
        )
        return (
            Field("label", rank["label"], lambda task: "distilling", style="bold"),
            Field("count", rank["count"], count),
            Field(BAR, rank["bar"]),
            Field("eval", rank["eval"], lambda task: f"eval return {task.fields['evaluation']}"),
            Field("train", rank["train"], lambda task: f"train return {task.fields['recent']}"),
            Field("elapsed", rank["elapsed"], lambda task: f"{clock(self._elapsed(task))} elapsed"),
            Field("left", rank["left"], left),
            Field("lr", rank["lr"], value("lr", "inner lr {:.3g}")),
            Field("fps", rank["fps"], value("fps", "{:,.0f} frames/s")),
        )

    def on_training_start(self, loop: RunLoop) -> None:
        from rich import get_console

        from taskdistill_rl.progress import FittedProgress

        by_time = self.epochs is None and self.time_budget is not None
        self._progress = FittedProgress(
            *self._fields(by_time), disable=self.disable or not get_console().is_terminal
        )
        self._progress.start()
        self.task = self._progress.add_task(
            "distilling",
            total=self.time_budget if by_time else self.epochs,
            completed=self._completed(loop),
            evaluation=self.evaluation,
            recent="not yet",
            fps=None,
            lr=float(loop.algo.dataset.inner_lr.detach()),
            wall=loop.wall_seconds,
            updated=self._progress.get_time(),
            epoch=loop.algo.meta_epoch,
            pace=None,
        )
        self._frames_at_start = (loop.algo.total_frames, loop.wall_seconds, loop.algo.meta_epoch)

    def on_meta_epoch_end(self, loop: RunLoop, metrics: dict) -> bool:
        value = metrics.get("eval/return_mean", math.nan)
        if value == value:  # evaluated this meta-epoch
            self.evaluation = f"{value:.1f}"
        recent = metrics.get("train/recent_return", math.nan)
        frames, seconds, epoch = self._frames_at_start
        took = max(loop.wall_seconds - seconds, 1e-9)
        epochs = loop.algo.meta_epoch - epoch
        self._progress.update(
            self.task,
            completed=self._completed(loop),
            evaluation=self.evaluation,
            recent=f"{recent:.1f}" if recent == recent else "not yet",
            fps=(loop.algo.total_frames - frames) / took,
            lr=float(loop.algo.dataset.inner_lr.detach()),  # whatever the algorithm reports
            wall=loop.wall_seconds,
            updated=self._progress.get_time(),
            epoch=loop.algo.meta_epoch,
            pace=took / epochs if epochs > 0 else None,  # seconds per meta-epoch in this session
        )
        return True

    @property
    def completed(self) -> float:
        """How far the bar stands (meta-epochs or seconds)."""
        return self._progress.tasks[0].completed

    @property
    def total(self) -> float | None:
        return self._progress.tasks[0].total

    def on_training_end(self, loop: RunLoop) -> None:
        if self._progress is not None:
            self._progress.stop()


__all__ = [
    "Callback",
    "CheckpointEvery",
    "FunctionCallback",
    "MetricsLogger",
    "PeriodicEvaluation",
    "ProgressBar",
    "StopAfterEpochs",
    "StopAfterSeconds",
    "StopAtReturn",
]
