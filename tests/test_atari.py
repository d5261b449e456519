"""Atari distillation with encoder rollback (paper §5, Algorithm 2) on ALE/Pong-v5, with tiny budgets."""

from __future__ import annotations

import copy
import json

import pytest
import torch

pytest.importorskip("ale_py")

from tensordict.nn import TensorDictModule
from torch import distributions as D
from torch import nn
from torchrl.modules import ProbabilisticActor, ValueOperator
from torchrl.objectives import ClipPPOLoss

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.cli import main
from taskdistill_rl.distill import Distiller
from taskdistill_rl.envs.atari import as_float_frames
from taskdistill_rl.envs.families import family_of

TINY = {"num_envs": 2, "steps_per_env": 32, "minibatch_size": 64}


def test_atari_is_recognised_by_entry_point_for_v5_and_noframeskip_v4():
    assert family_of("ALE/Pong-v5").name == "atari"
    assert family_of("CentipedeNoFrameskip-v4").name == "atari"
    assert family_of("CartPole-v1").name == "classic"


@pytest.mark.parametrize("layers", [0, 4])
def test_two_meta_epochs_of_pong_write_a_file_that_torch_load_opens_and_evaluate_scores(tmp_path, layers):
    out = tmp_path / f"l{layers}"
    config = tmp_path / "tiny.toml"
    config.write_text("steps_per_env = 32\nminibatch_size = 64\n")
    args = ["distill", "--env", "ALE/Pong-v5", "--epochs", "2", "--num-envs", "2", "--config", str(config)]
    args += ["--encoder-layers", str(layers), "--final-learners", "2", "--out", str(out), "-q"]
    assert main(args) == 0
    payload = torch.load(out / "distilled.pt", weights_only=True)  # stock torch.load, no allow-list
    assert tuple(payload["observation"].shape) == (4, 4, 84, 84)  # k = ceil(6/2)+1 for Pong's 6 actions
    assert tuple(payload["label"].shape) == (4, 6)
    assert ("encoder" in payload) == (layers > 0)
    if layers:
        assert set(payload["encoder"]) == {
            "0.weight",
            "0.bias",
            "2.weight",
            "2.bias",
            "4.weight",
            "4.bias",
        } | {
            "7.weight",
            "7.bias",
        }
    meta = payload["meta"]
    assert meta["encoder_layers"] == layers and meta["learner"]["name"] == "nature-cnn"
    assert meta["atari"] == {
        "convention": "v5",
        "training_rewards": "sign",
        "episodic_life": False,
        "max_agent_steps": 27_000,
    }
    assert [step["name"] for step in meta["preprocessing"][:3]] == [
        "AtariEnv",
        "AtariPreprocessing",
        "FrameStackObservation",
    ]
    final = json.loads((out / "eval.json").read_text())["results"]["nature-cnn"]
    assert final["n_learners"] == 2 and -21 <= final["mean"] <= 21  # full games, raw score

    eval_out = tmp_path / f"eval-l{layers}.json"
    cmd = [
        "evaluate",
        str(out / "distilled.pt"),
        "--n-learners",
        "2",
        "--episodes",
        "1",
        "--max-steps",
        "100",
    ]
    assert main([*cmd, "--out", str(eval_out), "-q"]) == 0
    entry = json.loads(eval_out.read_text())["results"]["nature-cnn"]
    # a Pong game needs far more than 100 agent steps: both games are cut and say so
    assert entry["capped"] == 2 and -21 <= entry["mean"] <= 0


def _state(algo: PPMO) -> dict:
    return {
        "dataset": algo.dataset.state_dict(),
        "critic": algo.critic.state_dict(),
        "dataset_optim": algo.dataset_optim.state_dict()["state"],
        "critic_optim": algo.critic_optim.state_dict()["state"],
    }


def _assert_equal(a, b, path="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_equal(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    else:
        assert a == b, path


def test_an_interrupted_pong_run_resumes_at_its_meta_epoch_with_identical_state(tmp_path):
    """Resume restores dataset, encoder, critic, optimisers and RNGs bit for bit; the emulators
    restart new games seeded from the meta-epoch, so two resumes of one checkpoint agree."""
    d = Distiller(
        "ALE/Pong-v5", encoder_layers=2, out_dir=tmp_path, quiet=True, checkpoint_interval=1, **TINY
    )
    d.loop.callbacks = d.callbacks(epochs=2, time_budget=None, target_return=None, user=[])
    d.loop.run()  # "interrupted" after 2 meta-epochs: the checkpoint is what survives
    d.loop.save_checkpoint()
    saved = copy.deepcopy(_state(d.algo))
    d.algo.close()

    resumed = []
    for _ in range(2):
        r = Distiller("ALE/Pong-v5", encoder_layers=2, out_dir=tmp_path, quiet=True, **TINY)
        r.load_checkpoint()
        assert r.meta_epoch == 2
        _assert_equal(_state(r.algo), saved)
        assert r.dataset.encoder_layers == 2 and torch.equal(
            r.dataset.encoder[0].weight, saved["dataset"]["encoder.0.weight"]
        )
        r.algo.step()
        resumed.append(copy.deepcopy(_state(r.algo)))
        r.algo.close()
    _assert_equal(resumed[0], resumed[1])
    changed = not torch.equal(resumed[0]["dataset"]["observation"], saved["dataset"]["observation"])
    assert changed  # the resumed step really learned


@pytest.mark.parametrize(
    ("env", "layers"), [("ALE/Pong-v5", 5), ("MinAtar/Breakout-v1", 3)], ids=["pong", "minatar-breakout"]
)
def test_encoder_rollback_at_every_layer_is_standard_ppo_clipping_included(env, layers):
    """l = L (5 for the Nature-CNN, 3 for MinAtar's CNN): the whole learner is the encoder, the
    inner step fits nothing, and PPMO's update equals TorchRL's ClipPPOLoss + Adam (same lrs, eps,
    per-module gradient clipping, minibatch order). Two policy epochs of two minibatches, with a
    small clip ε and a large lr, so that the later minibatches' ratios leave [1 - ε, 1 + ε]: the
    equality sees the clipping."""
    if env.startswith("MinAtar/"):
        pytest.importorskip("minatar")
    algo = PPMO(
        env,
        learner="minatar-cnn" if env.startswith("MinAtar/") else None,
        normalize_obs=False,  # MinAtar's family standardises pixels; PPO's update here sees raw frames
        encoder_layers=layers,
        inits_per_epoch=1,  # the Atari preset's; every initialisation is the same network at l = L
        policy_epochs=2,
        num_envs=2,
        steps_per_env=16,
        minibatch_size=16,
        clip_epsilon=0.02,
        distiller_lr=3e-3,
    )
    rollout = algo.collect()
    policy_net = copy.deepcopy(algo.dataset.encoder)
    critic_net = copy.deepcopy(algo.critic.module)
    actor = ProbabilisticActor(
        TensorDictModule(policy_net, in_keys=["observation"], out_keys=["logits"]),
        in_keys=["logits"],
        distribution_class=D.Categorical,
        return_log_prob=True,
    )
    critic = ValueOperator(critic_net, in_keys=["observation"])
    loss = ClipPPOLoss(
        actor,
        critic,
        clip_epsilon=algo.config.clip_epsilon,
        entropy_bonus=False,
        loss_critic_type="l2",
        normalize_advantage=True,
        clip_value=None,
    )
    actor_optim = torch.optim.Adam(policy_net.parameters(), lr=algo.config.distiller_lr, eps=1e-5)
    critic_optim = torch.optim.Adam(critic_net.parameters(), lr=algo.config.critic_lr, eps=1e-5)
    batch = rollout.data.reshape(-1).clone()
    batch.set("observation", as_float_frames(batch.get("observation")))  # uint8 frames, read as float
    shuffle = torch.Generator()
    shuffle.set_state(algo.shuffle_generator.get_state())  # PPMO's minibatch order
    clipped = []
    for _ in range(2):
        perm = torch.randperm(batch.shape[0], generator=shuffle)
        for start in range(0, batch.shape[0], 16):
            out = loss(batch[perm[start : start + 16]])
            clipped.append(float(out["clip_fraction"]))
            actor_optim.zero_grad()
            critic_optim.zero_grad()
            (out["loss_objective"] + out["loss_critic"]).backward()
            for net in (policy_net, critic_net):
                nn.utils.clip_grad_norm_(net.parameters(), algo.config.max_grad_norm)
            actor_optim.step()
            critic_optim.step()
    assert clipped[0] == 0 and max(clipped[1:]) > 0  # the first step has ratio 1; later ones clip

    before = {n: p.detach().clone() for n, p in algo.dataset.encoder.named_parameters()}
    algo.update(rollout)  # 2 epochs x 2 minibatches of 16 frames
    for name, p in algo.dataset.encoder.named_parameters():
        assert not torch.equal(p, before[name]), name  # it moved ...
        torch.testing.assert_close(p.detach(), dict(policy_net.named_parameters())[name], atol=1e-5, rtol=0)
    for name, p in algo.critic.module.named_parameters():
        torch.testing.assert_close(p.detach(), dict(critic_net.named_parameters())[name], atol=1e-5, rtol=0)
    algo.close()
