"""End to end: a real PPMO distillation of 1D cart-pole, the CLI demo path, resume and callbacks."""

import csv
import json

import pytest
import tomllib
import torch

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.cli import main
from taskdistill_rl.dataset import load_distilled
from taskdistill_rl.distill import Callback, Distiller
from taskdistill_rl.evaluate import evaluate_dataset


def test_short_distillation_of_1d_cartpole_reaches_475(tmp_path):
    """Fixed seed, default (fast) preset, stopped by epochs (not wall time) so it is deterministic on
    CPU whatever the machine's load: ~1 minute on 2 idle cores. Random agents score ~22."""
    d = Distiller("NDCartPole-v0", k=2, seed=0, quiet=True, out_dir=tmp_path / "run")
    ds = d.train(epochs=120, target_return=490)
    returns = evaluate_dataset(
        load_distilled(tmp_path / "run" / "distilled.pt"), n_learners=20, episodes=5, seed=99
    )
    assert returns.mean() >= 475, (returns.mean(), d.meta_epoch)
    assert ds.inner_lr.item() > 0.1  # the lr grew from 0.02 (returns stay flat until it passes ~0.6)


def test_cli_demo_path_with_a_tiny_budget(tmp_path, capsys):
    out = tmp_path / "cp2d"
    assert (
        main(
            [
                "distill",
                "--env",
                "NDCartPole-v0",
                "--env-kwargs",
                "n_dims=2",
                "--epochs",
                "2",
                "--out",
                str(out),
                "--final-learners",
                "4",
                "--final-episodes",
                "3",
                "-q",
            ]
        )
        == 0
    )
    for name in ("distilled.pt", "checkpoint.pt", "metrics.csv", "config.toml", "summary.json", "eval.json"):
        assert (out / name).is_file(), name
    ds = load_distilled(out / "distilled.pt")
    assert ds.k == 3 and ds.obs_shape == (8,) and ds.meta["env_kwargs"] == {"n_dims": 2}  # k_min(4) = 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta_epochs"] == 2 and summary["evaluation"]["results"]["lambda"]["n_learners"] == 4
    assert tomllib.loads((out / "config.toml").read_text())["k"] == 3
    assert len(list(csv.DictReader((out / "metrics.csv").open()))) == 2
    lambda_ = json.loads((out / "eval.json").read_text())["results"]["lambda"]
    means = sorted(lambda_["learner_means"])
    assert (
        len(means) == 4
        and lambda_["median"] == pytest.approx((means[1] + means[2]) / 2)
        and lambda_["p01"] >= means[0]
    )
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard")).Reload()
    inner_lr = [e.value for e in events.Scalars("train/inner_lr")]
    assert inner_lr == pytest.approx(
        [float(r["train/inner_lr"]) for r in csv.DictReader((out / "metrics.csv").open())]
    )
    assert (
        main(
            [
                "evaluate",
                str(out / "distilled.pt"),
                "--n-learners",
                "3",
                "--episodes",
                "2",
                "--out",
                str(tmp_path / "eval.json"),
            ]
        )
        == 0
    )
    evaluation = json.loads((tmp_path / "eval.json").read_text())
    assert evaluation["action_rule"] == "sample" and evaluation["results"]["lambda"]["episodes"] == 2
    assert main(["plot", str(out), "--out", str(tmp_path / "fig.png")]) == 0
    assert (tmp_path / "fig.png").stat().st_size > 10_000


def test_resume_continues_and_refuses_another_config(tmp_path, capsys):
    out = str(tmp_path / "r")
    base = [
        "distill",
        "--k",
        "2",
        "--num-envs",
        "4",
        "--out",
        out,
        "--final-learners",
        "2",
        "--final-episodes",
        "2",
        "-q",
    ]
    assert main([*base, "--epochs", "2"]) == 0
    assert main([*base, "--epochs", "3", "--resume"]) == 0
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["meta_epochs"] == 3
    before = (tmp_path / "r" / "distilled.pt").read_bytes()
    assert main([*base, "--epochs", "4", "--resume", "--seed", "5"]) == 1
    assert "different config" in capsys.readouterr().err
    assert (tmp_path / "r" / "distilled.pt").read_bytes() == before  # nothing damaged
    assert main(["distill", "--epochs", "1", "--out", str(tmp_path / "none"), "--resume", "-q"]) == 1
    assert "no checkpoint" in capsys.readouterr().err


def test_callback_stops_training_and_sees_metrics():
    seen = []

    class Stop(Callback):
        def on_meta_epoch_end(self, loop, metrics):
            seen.append(metrics)
            return len(seen) < 2

    d = Distiller("NDCartPole-v0", k=2, num_envs=4, steps_per_env=32, quiet=True)
    d.train(epochs=10, callback=Stop())
    assert d.meta_epoch == 2 and seen[-1]["train/inner_lr"] > 0
    d.train(epochs=4, callback=lambda m: None)
    assert d.meta_epoch == 4


def test_needs_a_stop_criterion_and_valid_options():
    with pytest.raises(ValueError, match="stop criterion"):
        Distiller("NDCartPole-v0", k=2, num_envs=2, steps_per_env=4, quiet=True).train()
    with pytest.raises(ValueError, match="k must be"):
        Distiller("NDCartPole-v0", k=0)
    with pytest.raises(ValueError, match="preset"):
        Distiller("NDCartPole-v0", preset="slow")


def test_same_seed_same_dataset():
    runs = [
        Distiller("NDCartPole-v0", k=2, num_envs=4, steps_per_env=32, seed=3, quiet=True).train(epochs=2)
        for _ in range(2)
    ]
    assert torch.equal(runs[0].observation, runs[1].observation) and torch.equal(runs[0].label, runs[1].label)


def test_episode_returns_equal_a_step_by_step_count():
    """The vectorised episode bookkeeping equals summing rewards step by step, across rollouts."""
    algo = PPMO("NDCartPole-v0", k=2, num_envs=8, steps_per_env=30, seed=1)
    running = torch.zeros(8, dtype=torch.float64)
    for _ in range(5):
        rollout = algo.collect()
        td = rollout.data
        reward = td["next", "reward"].reshape(8, 30).double()
        done = td["next", "done"].reshape(8, 30)
        expected = []
        for t in range(30):
            running += reward[:, t]
            expected += running[done[:, t]].tolist()
            running[done[:, t]] = 0
        assert sorted(rollout.episode_returns) == sorted(expected) and len(expected) > 0
        assert torch.equal(algo._running_return, running)
    algo.close()


def test_periodic_evaluation_does_not_change_what_is_learned():
    """Evaluation samples actions from a forked RNG, so eval_interval (run control, outside the
    config hash) cannot shift the distillation's random stream."""

    def run(evaluate: bool) -> list[torch.Tensor]:
        algo = PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=16, seed=2)
        for _ in range(3):
            algo.step()
            if evaluate:
                algo.evaluate(n_learners=3, episodes=2, seed=0)
        algo.close()
        return [p.detach().clone() for p in algo.dataset.parameters()]

    for a, b in zip(run(evaluate=True), run(evaluate=False), strict=True):
        assert torch.equal(a, b)


def test_progress_bar_counts_toward_the_stop_criterion_and_continues_after_resume(tmp_path):
    """Issue 13: the bar shows meta-epochs out of --epochs (or seconds out of --time-budget),
    starts a resumed run where it stopped, and says "not yet" rather than nan before evaluating."""
    from taskdistill_rl.callbacks import ProgressBar

    def make():
        return Distiller(
            "NDCartPole-v0", k=2, num_envs=4, steps_per_env=16, quiet=True, out_dir=tmp_path,
            eval_interval=2, eval_learners=2, eval_episodes=1, final_learners=2, final_episodes=1,
        )  # fmt: skip

    def bar(d):
        return next(cb for cb in d.loop.callbacks if isinstance(cb, ProgressBar))

    d = make()
    d.train(epochs=1)
    assert (bar(d).completed, bar(d).total, bar(d).evaluation) == (1, 1, "not yet")
    d.train(epochs=3)
    assert (bar(d).completed, bar(d).total) == (3, 3) and float(bar(d).evaluation) > 0
    resumed, starts = make(), []

    class SeeStart(Callback):
        def on_training_start(self, loop):
            starts.append(next(cb for cb in loop.callbacks if isinstance(cb, ProgressBar)).completed)

    resumed.load_checkpoint()
    resumed.train(epochs=5, callback=SeeStart())
    assert starts == [3] and (bar(resumed).completed, bar(resumed).total) == (5, 5)
    timed = Distiller("NDCartPole-v0", k=2, num_envs=4, steps_per_env=16, quiet=True)
    timed.train(time_budget=0.5)
    assert bar(timed).total == 0.5 and bar(timed).completed == 0.5  # seconds, capped at the budget


def test_a_file_is_distilled_for_the_learner_distribution_it_names(tmp_path):
    """Issue 17: ``--learner`` (``DistillConfig.learner``): every initialisation is drawn from that
    distribution, the file records it, its learners and final evaluation use it, and the
    reproducing command carries it."""
    from torch import nn

    out = tmp_path / "run"
    common = ["--num-envs", "16", "--epochs", "2", "--final-learners", "2", "--final-episodes", "1", "-q"]
    assert main(["distill", "--learner", "2x32", *common, "--out", str(out)]) == 0
    ds = load_distilled(out / "distilled.pt")
    assert ds.learner_spec["name"] == "2x32"
    assert [m.out_features for m in ds.make_learner(seed=0) if isinstance(m, nn.Linear)] == [32, 32, 2]
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["evaluation"]["results"]) == ["2x32"] and "--learner 2x32" in summary["reproduce"]
    assert main(["distill", *common, "--out", str(tmp_path / "default")]) == 0
    default = load_distilled(tmp_path / "default" / "distilled.pt")
    assert default.learner_spec["name"] == "lambda"
    assert not torch.equal(default.observation, ds.observation)  # other learners, other gradients


def test_the_learner_option_keeps_older_checkpoints_resumable_and_refuses_random_architectures():
    import hashlib

    from taskdistill_rl.config import RUN_CONTROL, WARNED_ON_RESUME, DistillConfig
    from taskdistill_rl.errors import InvalidInputError

    # the hash of a config without the field (what checkpoints written before it hold)
    before = {
        k: v
        for k, v in DistillConfig().to_dict().items()
        if k not in RUN_CONTROL | WARNED_ON_RESUME
        and k not in ("learner", "env_backend", "algo", "algo_options", "env_family", "scale_rewards")
    }
    digest = hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert DistillConfig().learning_hash() == digest
    assert DistillConfig(learner="xavier").learning_hash() != digest
    with pytest.raises(InvalidInputError, match="random architectures"):
        PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=8, learner="random-h")
    with pytest.raises(InvalidInputError, match="unknown learner distribution 'nope'"):
        PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=8, learner="nope")


def test_an_encoder_below_the_last_layer_is_meta_learned_and_saved(tmp_path):
    """l < 5 (here 1): one update changes the encoder; the saved file carries the trained encoder
    (stock torch.load) and its fitted learners start from it (a fast stand-in for the Atari runs)."""
    from taskdistill_rl.algorithms.ppmo import PPMO
    from taskdistill_rl.dataset import load_distilled

    algo = PPMO(
        "NDCartPole-v0", k=2, seed=2, num_envs=4, steps_per_env=16, encoder_layers=1, minibatch_size=32
    )
    try:
        before = {n: p.detach().clone() for n, p in algo.dataset.encoder.named_parameters()}
        algo.update(algo.collect())
        trained = {n: p.detach().clone() for n, p in algo.dataset.encoder.named_parameters()}
    finally:
        algo.close()
    assert sorted(trained) == ["0.bias", "0.weight"]
    assert not torch.equal(before["0.weight"], trained["0.weight"])  # not frozen
    path = algo.dataset.save(tmp_path / "distilled.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["meta"]["encoder_layers"] == 1
    for name, tensor in trained.items():
        assert torch.equal(payload["encoder"][name], tensor), name
    learner = load_distilled(path).fit(algo.dataset.make_learner(seed=0))
    assert torch.equal(learner[0].weight.detach(), trained["0.weight"])


@pytest.mark.parametrize("stop_first", [True, False])
def test_stop_at_return_does_not_depend_on_its_place_among_the_callbacks(stop_first):
    """The target is reached at the first evaluation (meta-epoch 2); placed before or after the
    evaluation, the stop comes before meta-epoch 3, and every callback saw meta-epoch 2 end."""
    from taskdistill_rl.callbacks import PeriodicEvaluation, StopAfterEpochs, StopAtReturn
    from taskdistill_rl.run import RunLoop

    seen = []

    class Record(Callback):
        def on_meta_epoch_end(self, loop, metrics):
            seen.append(loop.algo.meta_epoch)

    algo = PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=8)
    evaluation = PeriodicEvaluation(2, learners=2, episodes=1, seed=0)
    stop = StopAtReturn(-1.0)  # any return reaches it
    callbacks = [stop, evaluation] if stop_first else [evaluation, stop]
    RunLoop(algo, [StopAfterEpochs(10), *callbacks, Record()]).run()
    assert algo.meta_epoch == 2 and seen == [1, 2]
