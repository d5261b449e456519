"""The MinAtar family (issue 27): ids registered on first use, channel-first float frames, the
game's settings and episode cap recorded and counted, the MinAtar learner, a file that stock
``torch.load`` opens and ``evaluate`` scores, rendering, the SB3 baseline, and one clear error
without the extra. (l = L being PPO's update is in tests/test_atari.py, beside Pong's.)"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from taskdistill_rl.cli import main
from taskdistill_rl.envs import make_env
from taskdistill_rl.envs.families import MINATAR, MLP_LEARNERS, family_of
from taskdistill_rl.errors import InvalidInputError, UnknownEnvError

GAMES = {  # channels, minimal actions, k_min = ceil(actions / 2) + 1
    "Breakout": (4, 3, 3),
    "SpaceInvaders": (6, 4, 3),
    "Asterix": (4, 5, 4),
    "Freeway": (7, 3, 3),
    "Seaquest": (10, 6, 4),
}
TINY = ["--num-envs", "4", "--final-learners", "3", "--final-episodes", "1", "-q"]


@pytest.fixture(autouse=True)
def _needs_minatar(request):
    if "without_the_extra" not in request.node.name:
        pytest.importorskip("minatar")


@pytest.mark.parametrize("game", GAMES)
def test_each_game_gives_channel_first_float_frames_and_its_minimal_actions(game):
    channels, actions, k_min = GAMES[game]
    env = make_env(f"MinAtar/{game}-v1", num_envs=2, seed=0)
    try:
        obs = env.reset()["observation"]
        assert obs.shape == (2, channels, 10, 10) and obs.dtype == torch.float32
        assert set(obs.unique().tolist()) <= {0.0, 1.0} and obs.sum() > 0  # a board, not noise
        assert env.action_spec.space.n == actions
    finally:
        env.close()
    from taskdistill_rl.config import DistillConfig

    assert DistillConfig(env=f"MinAtar/{game}-v1").with_k(actions, False).k == k_min
    assert make_env(f"MinAtar/{game}-v0", num_envs=1).action_spec.space.n == 6  # the full action set


def test_two_meta_epochs_of_breakout_write_a_file_that_torch_load_opens_and_evaluate_scores(tmp_path):
    run = tmp_path / "breakout"
    assert main(["distill", "--env", "MinAtar/Breakout-v1", "--epochs", "2", "--out", str(run), *TINY]) == 0
    raw = torch.load(run / "distilled.pt", weights_only=True)  # stock torch.load, safe mode
    assert raw["meta"]["format_version"] == 2
    assert raw["observation"].shape == (3, 4, 10, 10) and raw["label"].shape == (3, 3)
    meta = raw["meta"]
    # the family's learner (HaDES's 2x512) on per-pixel standardised frames, statistics in the file
    assert raw["obs_norm"]["mean"].shape == raw["obs_norm"]["var"].shape == (4, 10, 10)
    assert meta["learner"]["name"] == "2x512" and meta["frame_channels"] == [
        "paddle",
        "ball",
        "trail",
        "brick",
    ]
    assert meta["action_names"] == ["noop", "left", "right"]
    assert meta["minatar"] == {
        "sticky_action_prob": 0.1,
        "difficulty_ramping": True,
        "max_episode_steps": 10_000,
    }

    out = tmp_path / "eval.json"
    assert (
        main(
            [
                "evaluate",
                str(run / "distilled.pt"),
                "--n-learners",
                "4",
                "--episodes",
                "2",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())["results"]["2x512"]
    assert result["n_learners"] == 4 and result["episodes"] == 2 and result["capped"] == 0
    assert all(r >= 0 for r in result["learner_means"])  # Breakout scores bricks: never negative


def test_a_file_with_every_layer_in_the_encoder_evaluates(tmp_path):
    """l = L: the head is empty, so every fresh learner is the meta-learned encoder and the inner
    step fits nothing (the evaluation used to vmap over no parameters and fail)."""
    run = tmp_path / "l3"
    args = ["--learner", "minatar-cnn", "--encoder-layers", "3", "--inits-per-epoch", "1", "--epochs", "1"]
    args += ["--out", str(run)]
    assert main(["distill", "--env", "MinAtar/Breakout-v1", *args, *TINY]) == 0
    raw = torch.load(run / "distilled.pt", weights_only=True)
    assert {"0.weight", "3.weight", "5.weight"} <= set(raw["encoder"])  # conv, hidden and output layers
    result = json.loads((run / "eval.json").read_text())["results"]["minatar-cnn"]
    assert result["n_learners"] == 3 and len(result["learner_means"]) == 3


def test_the_episode_cap_and_the_games_settings_come_from_env_kwargs_and_cuts_are_counted(tmp_path):
    run = tmp_path / "capped"
    kwargs = ["--env-kwargs", "sticky_action_prob=0", "--env-kwargs", "max_episode_steps=5"]
    assert (
        main(["distill", "--env", "MinAtar/Breakout-v1", *kwargs, "--epochs", "1", "--out", str(run), *TINY])
        == 0
    )
    meta = torch.load(run / "distilled.pt", weights_only=True)["meta"]
    assert meta["minatar"] == {"sticky_action_prob": 0, "difficulty_ramping": True, "max_episode_steps": 5}
    result = json.loads((run / "eval.json").read_text())["results"]["2x512"]
    # a Breakout ball takes longer than 5 steps to be missed: every episode is cut, and counted
    assert result["capped"] == result["n_learners"] * result["episodes"] == 3
    with pytest.raises(InvalidInputError, match="MinAtar takes only"):
        make_env("MinAtar/Breakout-v1", ramping=False)
    with pytest.raises(InvalidInputError, match="sticky_action_prob must be"):
        make_env("MinAtar/Breakout-v1", sticky_action_prob=2)


def test_the_family_record_learner_and_learners_all():
    family = family_of("MinAtar/SpaceInvaders-v1")
    assert family is MINATAR and family.default_learner == "2x512" and family.normalize_obs
    assert family.preset == "fast"
    assert family.learners_all == MLP_LEARNERS and "minatar-cnn" not in MLP_LEARNERS  # images stay out
    from taskdistill_rl.learners import make_learners

    net = make_learners("minatar-cnn", obs_shape=(6, 10, 10), out_features=4).sample(
        torch.Generator().manual_seed(0)
    )
    layers = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert [tuple(m.weight.shape) for m in layers] == [(16, 6, 3, 3), (128, 1024), (4, 128)]
    assert net(torch.zeros(2, 6, 10, 10)).shape == (2, 4)


def test_rollout_draws_the_board_as_a_coloured_grid(tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    assert main(["distill", "--env", "MinAtar/Breakout-v1", "--epochs", "1", "--out", str(run), *TINY]) == 0
    clip = tmp_path / "clip.gif"
    assert main(["rollout", str(run / "distilled.pt"), "--out", str(clip), "--max-frames", "5"]) == 0
    frame = np.asarray(Image.open(clip).convert("RGB"))
    assert frame.shape == (240, 240, 3)  # 10 cells of 24 pixels
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4  # black, grid lines and object colours


def test_the_sb3_baseline_trains_minatars_network(tmp_path):
    pytest.importorskip("stable_baselines3")
    from taskdistill_rl.baselines.sb3_ppo import train_ppo
    from taskdistill_rl.sb3_layers import MinAtarCNN

    result = train_ppo("MinAtar/Breakout-v1", timesteps=1024, chunk=1024, eval_episodes=1)
    policy = result.model.policy
    assert isinstance(policy.features_extractor, MinAtarCNN)
    assert result.model.observation_space.shape == (4, 10, 10) and result.model.action_space.n == 3


def test_without_the_extra_one_line_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "minatar", None)  # `import minatar` raises ImportError
    monkeypatch.setitem(sys.modules, "minatar.gym", None)
    with pytest.raises(UnknownEnvError, match=r"pip install 'taskdistill_rl\[minatar\]'"):
        make_env("MinAtar/Breakout-v1")
    assert main(["distill", "--env", "MinAtar/Breakout-v1", "--epochs", "1", "-q"]) == 1
    err = capsys.readouterr().err
    assert "taskdistill_rl[minatar]" in err and len(err.strip().splitlines()) == 1


def test_an_mlp_learner_on_minatar_frames_gets_an_mlp_critic():
    """The critic follows the learner: a CNN of the learner's kind for CNN learners, an MLP on the
    flattened frame for MLP learners (a Nature-CNN cannot take 10x10 frames)."""
    from taskdistill_rl.algorithms.ppmo import PPMO

    for learner, conv in (("lambda", False), ("minatar-cnn", True)):
        algo = PPMO("MinAtar/Breakout-v1", learner=learner, num_envs=4, steps_per_env=8, minibatch_size=32)
        has_conv = any(isinstance(m, torch.nn.Conv2d) for m in algo.critic.modules())
        assert has_conv == conv, learner
        algo.update(algo.collect())  # acts, collects and learns with that critic
