"""One rank of tests/test_distributed.py's gloo world (started by torchrun): writes what the test
compares into OUT/rank{r}.pt.

1. One data-parallel update in float64 on this rank's own rollout, with one minibatch of the
   whole rollout: the rollout and θ⁰ it learned from, the dataset and critic before and after.
2. A few meta-epochs of an ordinary float32 run: the dataset after every optimiser step and the
   dataset and critic after every meta-epoch, and rank 0's periodic evaluations as every rank
   received them.
3. One update in which rank 1 alone meets a non-finite loss at its third minibatch: what every
   rank's dataset, critic and Adam lrs are afterwards.
4. One update of a run that normalises observations: each rank's rollout observations and the
   running statistics afterwards.
"""

from __future__ import annotations

import sys

import torch

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.callbacks import Callback, PeriodicEvaluation, StopAfterEpochs
from taskdistill_rl.config import DistillConfig
from taskdistill_rl.distributed import DataParallel, join, launched_world, leave
from taskdistill_rl.run import RunLoop

EQUIVALENCE = dict(k=2, num_envs=8, steps_per_env=16, minibatch_size=128, policy_epochs=1, inits_per_epoch=1)
STEPS = dict(k=2, num_envs=32, steps_per_env=16, minibatch_size=128, policy_epochs=2, inits_per_epoch=2)


def to_float64(tree):
    return tree.apply(lambda t: t.double() if t.is_floating_point() else t)


def snapshot(algo) -> dict:
    return {
        name: t.detach().clone()
        for module in ("dataset", "critic")
        for name, t in {f"{module}.{k}": v for k, v in getattr(algo, module).state_dict().items()}.items()
    }


class RecordDataset(Callback):
    def __init__(self):
        self.after_step: list[dict] = []

    def on_meta_epoch_end(self, loop, metrics):
        self.after_step.append(snapshot(loop.algo))


def main(out: str, env: str, equivalence: bool) -> None:
    world = launched_world()
    join(world, "cpu", timeout_s=60)
    record: dict = {}
    if equivalence:
        record.update(one_float64_step(env, world))
        record["divergence"] = one_update_diverging_on_rank_1(env, world)
        record["obs_statistics"] = one_update_with_normalised_observations(env, world)
    cfg = DistillConfig(env=env, seed=5, **STEPS)
    algo = DataParallel(PPMO(env, config=cfg, stream=world.rank), world)
    after_every_optimiser_step: list[torch.Tensor] = []
    algo.dataset_optim.register_step_post_hook(
        lambda *_: after_every_optimiser_step.append(
            torch.cat([t.detach().reshape(-1).double() for t in algo.dataset.state_dict().values()])
        )
    )
    recorder, evaluation = RecordDataset(), PeriodicEvaluation(1, learners=2, episodes=1, seed=0)
    RunLoop(algo, [StopAfterEpochs(3), evaluation, recorder]).run()
    record["after_step"] = recorder.after_step
    record["after_every_optimiser_step"] = after_every_optimiser_step
    record["evaluation"] = evaluation.last
    record["frames_per_rank"] = algo.frames
    torch.save(record, f"{out}/rank{world.rank}.pt")
    leave()


def one_float64_step(env: str, world) -> dict:
    record = {}
    cfg = DistillConfig(env=env, seed=3, **EQUIVALENCE)
    algo = DataParallel(PPMO(env, config=cfg, stream=world.rank), world)
    rollout = algo.collect()
    algo.dataset.double()
    algo.critic.double()
    rollout.data = to_float64(rollout.data)
    rollout.theta0 = {name: p.double() for name, p in rollout.theta0.items()}
    record["before"] = snapshot(algo)
    record["rollout"] = rollout.data.to_dict()
    record["theta0"] = rollout.theta0
    algo.update(rollout)
    record["after"] = snapshot(algo)
    algo.close()
    return record


def one_update_diverging_on_rank_1(env: str, world) -> dict:
    algo = DataParallel(PPMO(env, config=DistillConfig(env=env, seed=7, **STEPS), stream=world.rank), world)
    rollout = algo.collect()
    before = snapshot(algo)
    if world.rank == 1:  # this rank's third loss evaluation is non-finite
        calls = []

        def poison(module, args, out):
            calls.append(1)
            if len(calls) == 3:
                out.set("loss_objective", out.get("loss_objective") * float("nan"))
            return out

        algo.loss.register_forward_hook(poison)
    metrics = algo.update(rollout)
    return {
        "before": before,
        "after": snapshot(algo),
        "diverged": metrics["train/diverged"],
        "lrs": [o.param_groups[0]["lr"] for o in (algo.dataset_optim, algo.critic_optim)],
        "configured_lr": algo.config.distiller_lr,
    }


def one_update_with_normalised_observations(env: str, world) -> dict:
    """One update of a run that normalises observations: this rank's rollout observations and the
    running statistics every rank holds afterwards."""
    cfg = DistillConfig(env=env, seed=9, normalize_obs=True, **EQUIVALENCE)
    algo = DataParallel(PPMO(env, config=cfg, stream=world.rank), world)
    rollout = algo.collect()
    algo.update(rollout)
    ds = algo.dataset
    out = {
        "observation": rollout.data["observation"].detach().clone(),
        **{name: getattr(ds, name).detach().clone() for name in ("obs_mean", "obs_var", "obs_count")},
    }
    algo.close()
    return out


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], equivalence=sys.argv[3:] != ["--steps-only"])
