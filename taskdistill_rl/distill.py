"""``Distiller``: one call from an env id to a distilled file and its run directory.

It puts the outer algorithm (``config.algo``: :class:`taskdistill_rl.algorithms.ppmo.PPMO` by default,
any :class:`~taskdistill_rl.algorithms.base.Algorithm`) in a :class:`taskdistill_rl.run.RunLoop` with the
default callbacks (stop criteria, periodic evaluation, metrics, checkpoints, progress)
plus any of the user's, and — given an output directory — writes what ``taskdistill report``
and ``taskdistill evaluate`` read: ``distilled.pt``, ``checkpoint.pt``, ``metrics.csv``,
``config.toml``, ``eval.json`` and ``summary.json``. The CLI's ``distill`` is this class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from torchrl.envs import EnvBase

from taskdistill_rl.algorithms import algorithm_class
from taskdistill_rl.callbacks import (
    Callback,
    CheckpointEvery,
    FunctionCallback,
    MetricsLogger,
    PeriodicEvaluation,
    ProgressBar,
    StopAfterEpochs,
    StopAfterSeconds,
    StopAtReturn,
)
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.devices import torch_threads
from taskdistill_rl.distributed import DataParallel, World
from taskdistill_rl.errors import DivergenceError, InvalidInputError
from taskdistill_rl.evaluate import evaluate_distributions
from taskdistill_rl.io import write_toml
from taskdistill_rl.metrics_log import run_loggers
from taskdistill_rl.results import (
    code_commit,
    distill_command,
    evaluation_record,
    results_entry,
    write_evaluation,
    write_summary,
)
from taskdistill_rl.run import RunLoop
from taskdistill_rl.seeds import EVAL_SEED_OFFSET

UserCallback = Callback | Callable[[dict], bool | None]


class Distiller:
    """Distil an environment into a :class:`DistilledDataset` with an outer algorithm (PPMO).

    Args:
        env: an env id (``"NDCartPole-v0"``, any gymnasium id) or a batched TorchRL env instance
            (then evaluation needs ``config.env`` to name its id).

    Keyword Args:
        config: a :class:`DistillConfig`; ``**overrides`` replace its fields. ``algo=`` picks the
            algorithm: a name of ``ALGORITHMS``, ``"module.path:ClassName"`` or the class itself.
        out_dir: the run directory (nothing is written when None).
        quiet: hide the progress bar.
        world: this process's rank in a data-parallel run (:mod:`taskdistill_rl.distributed`; the
            process group joined): every rank constructs its Distiller alike and calls ``train``;
            rank 0 alone writes and evaluates at the end.

    Attributes:
        algo: the algorithm (a :class:`DataParallel` around it on a rank of a data-parallel run).
        loop: the :class:`RunLoop` driving it.
        evaluation: the final ``eval.json`` record once :meth:`train` wrote one.

    Examples:
        >>> d = Distiller("NDCartPole-v0", k=2, num_envs=4, steps_per_env=16, quiet=True)
        >>> ds = d.train(epochs=1)
        >>> tuple(ds.observation.shape), d.meta_epoch
        ((2, 4), 1)
    """

    def __init__(
        self,
        env: str | EnvBase | None = None,
        *,
        config: DistillConfig | None = None,
        out_dir: str | Path | None = None,
        quiet: bool = False,
        world: World | None = None,
        **overrides,
    ):
        config = config or DistillConfig()
        if isinstance(env, str):
            overrides["env"] = env
        if isinstance(overrides.get("algo"), type):  # recorded by import path, for --resume and reproduce
            cls = overrides["algo"]
            overrides["algo"] = f"{cls.__module__}:{cls.__qualname__}"
        config = replace(config, **overrides) if overrides else config
        env = config.env if env is None or isinstance(env, str) else env
        self.world = world
        self.writes = world is None or world.is_main
        algorithm = algorithm_class(config.algo)
        if world is None:
            self.algo = algorithm(env, config=config)
        else:
            self.algo = DataParallel(algorithm(env, config=config, stream=world.rank), world)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.quiet = quiet or not self.writes
        cfg = self.algo.config
        self.periodic_evaluation = PeriodicEvaluation(
            cfg.eval_interval, learners=cfg.eval_learners, episodes=cfg.eval_episodes, seed=cfg.seed
        )
        checkpoint = self.out_dir / "checkpoint.pt" if self.out_dir is not None else None
        self.loop = RunLoop(self.algo, [self.periodic_evaluation], checkpoint_path=checkpoint)
        self.evaluation: dict | None = None
        self.started_at = 0

    # what users reach for first
    @property
    def config(self) -> DistillConfig:
        return self.algo.config

    @property
    def dataset(self) -> DistilledDataset:
        return self.algo.dataset

    @property
    def meta_epoch(self) -> int:
        return self.algo.meta_epoch

    @property
    def wall_seconds(self) -> float:
        return self.loop.wall_seconds

    @property
    def metric_fields(self) -> list[str]:
        """The columns of ``metrics.csv``: the algorithm's metrics between the loop's."""
        return ["meta_epoch", "time/wall_seconds", *self.algo.metric_fields, "eval/return_mean"]

    def evaluate(self, *, n_learners: int, episodes: int, seed: int):
        """``[n_learners, episodes]`` returns of fresh learners fitted on the current dataset."""
        return self.algo.evaluate(n_learners=n_learners, episodes=episodes, seed=seed)

    def load_checkpoint(self, path: str | Path | None = None) -> None:
        """Resume from ``path`` (default: the run directory's ``checkpoint.pt``)."""
        self.loop.load_checkpoint(path)

    def save_checkpoint(self, path: str | Path | None = None) -> Path:
        return self.loop.save_checkpoint(path)

    def callbacks(
        self,
        *,
        epochs: int | None,
        time_budget: float | None,
        target_return: float | None,
        user: Iterable[Callback] = (),
    ) -> list[Callback]:
        """The default callbacks of a run, in order, with the user's before the target-return stop.
        Only rank 0 logs metrics; signals are the loop's own."""
        cfg = self.config
        out: list[Callback] = []
        if epochs is not None:
            out.append(StopAfterEpochs(epochs))
        if time_budget is not None:
            out.append(StopAfterSeconds(time_budget))
        out.append(self.periodic_evaluation)
        if self.out_dir is not None and self.writes:
            loggers = run_loggers(self.out_dir, self.metric_fields, resume_from=self.meta_epoch)
            out.append(MetricsLogger(loggers))
        out.append(ProgressBar(epochs, time_budget=time_budget, disable=self.quiet))
        if self.out_dir is not None:
            out.append(CheckpointEvery(cfg.checkpoint_interval))
        out += user
        if target_return is not None:
            out.append(StopAtReturn(target_return))
        return out

    def train(
        self,
        epochs: int | None = None,
        *,
        time_budget: float | None = None,
        target_return: float | None = None,
        callback: UserCallback | Iterable[UserCallback] | None = None,
    ) -> DistilledDataset:
        """Run meta-epochs until ``epochs`` / ``time_budget`` / ``target_return`` (any that is set)
        or a callback stops the run.

        Returns the dataset with the best periodic evaluation (the last one if none beat it).
        With an output directory, also writes the run's files, evaluates the result
        (``final_learners`` × ``final_episodes`` sampled) into ``eval.json`` and ``summary.json``.

        Raises:
            InvalidInputError: no stop criterion.
            DivergenceError: the loss kept diverging (the last good files are written first).
            Interrupted: SIGINT/SIGTERM (a checkpoint is written first).
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        time_budget = cfg.time_budget if time_budget is None else time_budget
        target_return = cfg.target_return if target_return is None else target_return
        if epochs is None and time_budget is None and target_return is None:
            raise InvalidInputError("give a stop criterion: epochs, time_budget or target_return")
        user = [] if callback is None else callback if isinstance(callback, list | tuple) else [callback]
        user = [cb if isinstance(cb, Callback) else FunctionCallback(cb) for cb in user]
        stops = {"epochs": epochs, "time_budget": time_budget, "target_return": target_return}
        if self.world is not None:
            stops["world_size"] = self.world.size
        if self.out_dir is not None and self.writes:
            code_commit()  # read as the run starts: summary.json names the code that ran
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_toml(self.out_dir / "config.toml", {**cfg.to_dict(), **stops})
        self.started_at = self.meta_epoch  # > 0 when resumed (or trained before)
        self.loop.callbacks = self.callbacks(
            epochs=epochs, time_budget=time_budget, target_return=target_return, user=user
        )
        with torch_threads(cfg.threads):
            try:
                self.loop.run()
            except DivergenceError:
                self._save_outputs()  # the last good state, rolled back to
                raise
            self._save_outputs()
            if self.out_dir is not None and self.writes:
                self._write_results(stops)
        return self.dataset

    def _save_outputs(self) -> None:
        """Checkpoint the current state, then keep the best-evaluated dataset and write it."""
        if self.out_dir is not None:
            self.loop.save_checkpoint()  # collective in a distributed run
        self.periodic_evaluation.restore_best(self.loop)
        if self.out_dir is not None and self.writes:
            self.dataset.save(self.out_dir / "distilled.pt")

    def _write_results(self, stops: dict) -> None:
        """``eval.json``, ``summary.json`` and the reproducing command in ``config.toml``."""
        cfg, out = self.config, self.out_dir
        seed = cfg.seed + EVAL_SEED_OFFSET
        name = self.dataset.learner_spec["name"]  # the distribution it was distilled for
        returns = evaluate_distributions(
            self.dataset,
            [name],
            env_id=cfg.env,
            env_kwargs=cfg.env_kwargs,
            n_learners=cfg.final_learners,
            episodes=cfg.final_episodes,
            seed=seed,
            inner_steps=cfg.inner_steps,
            device=cfg.device,
            backend=cfg.env_backend,
        )
        capped = returns.capped[name] if returns.capped is not None else None  # Atari: cut games
        entry = results_entry(returns[name], n_learners=cfg.final_learners, capped=capped)
        self.evaluation = evaluation_record(
            env_id=cfg.env,
            env_kwargs=cfg.env_kwargs,
            k=cfg.k,
            seed=seed,
            deterministic=False,
            results={name: entry},
        )
        write_evaluation(out / "eval.json", self.evaluation)
        nproc = 1 if self.world is None else self.world.size
        command = distill_command(cfg, self.meta_epoch, nproc=nproc, algo_flags=self.algo.flags)
        write_toml(
            out / "config.toml",
            {**cfg.to_dict(), **stops, "meta_epochs_reached": self.meta_epoch, "reproduce": command},
        )
        best = self.periodic_evaluation.best
        write_summary(
            out,
            {
                "kind": "distill",
                "algo": cfg.algo,
                "env": cfg.env,
                "env_kwargs": cfg.env_kwargs,
                "k": cfg.k,
                "preset": cfg.preset,
                "threads": cfg.threads,
                "wall_seconds": self.wall_seconds,
                "env_frames": self.algo.total_frames,
                "world_size": 1 if self.world is None else self.world.size,
                "meta_epochs": self.meta_epoch,
                "started_at_meta_epoch": self.started_at,
                "best_meta_epoch": None if best is None else best[1],
                "final_inner_lr": float(self.dataset.inner_lr.detach()),
                "evaluation": self.evaluation,
                "fit_seconds_per_learner": fit_seconds_per_learner(self.dataset),
                "reproduce": command,
            },
        )


def fit_seconds_per_learner(ds: DistilledDataset, n: int = 1000, *, max_floats: int = 50_000_000) -> float:
    """Wall time to obtain one fitted agent: draw ``n`` fresh learners from the file's Λ straight
    into stacked parameters and fit them in one batched step (what ``evaluate`` does), per agent.
    Fewer than ``n`` when their parameters would pass ``max_floats`` (a Nature-CNN has 1.7M)."""
    import torch

    from taskdistill_rl.population import sample_population

    with torch.device("meta"):
        size = sum(p.numel() for p in ds.learners().build().parameters())
    n = max(1, min(n, max_floats // size))
    start = time.perf_counter()
    sample_population(ds, ds.learners(), n, torch.Generator().manual_seed(0))
    return (time.perf_counter() - start) / n


__all__ = ["Distiller", "fit_seconds_per_learner"]
