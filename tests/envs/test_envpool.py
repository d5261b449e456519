"""EnvPool as a second Atari backend (issue 23): the gymnasium pipeline's conventions, frame for frame."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

pytest.importorskip("ale_py")
pytest.importorskip("envpool")

from torchrl.envs.utils import check_env_specs

from taskdistill_rl.algorithms.ppmo import PPMO
from taskdistill_rl.cli import main
from taskdistill_rl.config import RUN_CONTROL, WARNED_ON_RESUME, DistillConfig
from taskdistill_rl.envs import atari, envpool_atari, make_env
from taskdistill_rl.envs.builders import describe_preprocessing
from taskdistill_rl.envs.envpool_atari import envpool_task, make_envpool_atari
from taskdistill_rl.errors import InvalidInputError, UnknownEnvError


def _uint8(obs: torch.Tensor) -> torch.Tensor:
    """Frames as the ALE's bytes: the gymnasium pipeline's [0, 1] floats (scale_obs=True) are
    exactly ``byte / 255``; its uint8 frames (scale_obs=False) pass as they are."""
    return obs if obs.dtype == torch.uint8 else (obs * 255).round().to(torch.uint8)


@pytest.mark.parametrize(
    ("env_id", "sticky"),
    [("PongNoFrameskip-v4", 0.0), ("ALE/Pong-v5", 0.25)],
    ids=["noframeskip-v4", "ale-v5"],
)
def test_both_conventions_map_to_envpools_v5_game_with_their_sticky_actions(env_id, sticky):
    assert envpool_task(env_id) == ("Pong-v5", {"repeat_action_probability": sticky})
    env = make_env(env_id, num_envs=2, seed=0, backend="envpool")
    config = env._env.spec.config
    assert config.task == "pong" and config.repeat_action_probability == pytest.approx(sticky)
    assert (config.frame_skip, config.stack_num, config.noop_max) == (4, 4, 30)
    assert (config.img_height, config.img_width, config.gray_scale, config.use_inter_area_resize) == (
        84,
        84,
        True,
        True,
    )
    assert not (config.episodic_life or config.use_fire_reset or config.reward_clip)
    assert config.max_episode_steps == atari.MAX_AGENT_STEPS == 27_000
    assert env.env_backend == "envpool"
    env.close()


def test_specs_and_preprocessing_record_match_the_gymnasium_backend():
    pool = make_env("ALE/Pong-v5", num_envs=2, seed=0, backend="envpool")
    gym_env = make_env("ALE/Pong-v5", num_envs=2, seed=0)
    try:
        check_env_specs(pool)
        assert gym_env.env_backend == "gymnasium"
        assert pool.action_spec == gym_env.action_spec  # Categorical(6), integer indices
        assert pool.full_done_spec == gym_env.full_done_spec
        assert pool.full_reward_spec == gym_env.full_reward_spec
        obs = pool.observation_spec["observation"]
        assert obs.shape == gym_env.observation_spec["observation"].shape == (2, 4, 84, 84)
        assert obs.dtype == torch.uint8  # the gymnasium pipeline's frames are uint8 too once scale_obs=False
        assert pool.reset()["observation"].dtype == torch.uint8
        # the file's meta["preprocessing"] is the same on both: either backend evaluates the other's files
        assert describe_preprocessing(pool) == describe_preprocessing(gym_env)
    finally:
        pool.close()
        gym_env.close()


def test_same_frames_rewards_and_game_ends_as_gymnasium_with_one_noop_and_no_sticky_actions(monkeypatch):
    """A fixed action sequence through a whole game of Pong and into the next: with the reset's
    random draws taken out (1 no-op, no sticky actions) the backends give the same frames, except
    the newest frame of a game's last observation (documented in envpool_atari)."""
    monkeypatch.setattr(atari, "NOOP_MAX", 1)  # the gymnasium pipeline reads it when it is built
    gym_env = make_env("PongNoFrameskip-v4", num_envs=1, seed=0)
    pool = make_envpool_atari("PongNoFrameskip-v4", num_envs=1, seed=0, noop_max=1)
    actions = torch.randint(6, (3_000,), generator=torch.Generator().manual_seed(0))
    td_gym, td_pool = gym_env.reset(), pool.reset()
    assert torch.equal(_uint8(td_gym["observation"]), td_pool["observation"])
    ends, after_end, rewards = [], 0, 0.0
    for t, action in enumerate(actions.tolist()):
        td_gym["action"] = td_pool["action"] = torch.tensor([action])
        out_gym, td_gym = gym_env.step_and_maybe_reset(td_gym)
        out_pool, td_pool = pool.step_and_maybe_reset(td_pool)
        assert torch.equal(out_gym["next", "reward"], out_pool["next", "reward"]), t
        assert torch.equal(out_gym["next", "done"], out_pool["next", "done"]), t
        rewards += float(out_pool["next", "reward"].sum())
        last_gym, last_pool = _uint8(out_gym["next", "observation"]), out_pool["next", "observation"]
        if bool(out_pool["next", "done"].any()):
            ends.append(t)
            assert torch.equal(last_gym[:, :3], last_pool[:, :3]), t  # only the newest frame may differ
        else:
            assert torch.equal(last_gym, last_pool), t
        # the next game starts in the same step on both, from the same frames
        assert torch.equal(_uint8(td_gym["observation"]), td_pool["observation"]), t
        after_end += bool(ends)
        if after_end > 50:
            break
    assert ends and after_end > 50, "the action sequence should finish a game of Pong"
    assert rewards <= -20  # a random player's Pong: raw scores, not clipped or cut at a life


def test_the_distilled_files_meta_records_the_backend_in_its_own_key(tmp_path):
    tiny = {"num_envs": 2, "steps_per_env": 8, "minibatch_size": 16}
    pool = PPMO("ALE/Pong-v5", env_backend="envpool", **tiny)
    gym_ppmo = PPMO("ALE/Pong-v5", **tiny)
    try:
        assert pool.env.env_backend == "envpool"
        assert pool.dataset.meta["env_backend"] == "envpool"
        assert gym_ppmo.dataset.meta["env_backend"] == "gymnasium"
        assert pool.dataset.meta["preprocessing"] == gym_ppmo.dataset.meta["preprocessing"]
        assert pool.dataset.meta["atari"] == gym_ppmo.dataset.meta["atari"]
        pool.dataset.save(tmp_path / "d.pt")
        assert torch.load(tmp_path / "d.pt", weights_only=True)["meta"]["env_backend"] == "envpool"
    finally:
        pool.env.close()
        gym_ppmo.env.close()
    cart = PPMO("NDCartPole-v0", k=2, num_envs=4, steps_per_env=8)
    assert "env_backend" not in cart.dataset.meta  # Atari only


def test_the_backend_option_keeps_older_checkpoints_resumable():
    # the hash of a config without the field (what checkpoints written before it hold)
    before = {
        k: v
        for k, v in DistillConfig().to_dict().items()
        if k not in RUN_CONTROL | WARNED_ON_RESUME
        and k not in ("learner", "env_backend", "algo", "algo_options", "env_family", "scale_rewards")
    }
    digest = hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode()).hexdigest()[:16]
    assert DistillConfig().learning_hash() == digest
    assert DistillConfig(env_backend="envpool").learning_hash() != digest


@pytest.mark.parametrize(
    ("env_id", "kwargs", "error", "match"),
    [
        ("CartPole-v1", {}, InvalidInputError, "Atari games only"),
        ("NDCartPole-v0", {}, InvalidInputError, "Atari games only"),
        ("Pong-v4", {}, InvalidInputError, r"ALE/<Game>-v5 or <Game>NoFrameskip-v4"),
        ("ALE/Pong-v5", {"frameskip": 2}, InvalidInputError, "frameskip is set by the preprocessing"),
        ("ALE/Pong-v5", {"max_num_frames_per_episode": 10}, InvalidInputError, "takes only"),
    ],
    ids=["classic", "ndcartpole", "pong-v4", "frameskip", "unknown-kwarg"],
)
def test_clear_errors_for_what_the_envpool_backend_cannot_run(env_id, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_env(env_id, backend="envpool", **kwargs)


def test_unknown_backend_and_missing_envpool_name_the_fix(monkeypatch):
    with pytest.raises(InvalidInputError, match=r"env backend must be one of \['gymnasium', 'envpool'\]"):
        make_env("ALE/Pong-v5", backend="envpol")
    monkeypatch.setattr(envpool_atari, "envpool_available", lambda: False)
    with pytest.raises(UnknownEnvError, match=r"pip install envpool==1\.2\.5 \(the \[envpool\] extra\)"):
        make_env("ALE/Pong-v5", backend="envpool")
    with pytest.raises(UnknownEnvError, match=r"pip install envpool==1\.2\.5 \(the \[envpool\] extra\)"):
        make_envpool_atari("ALE/Pong-v5")


def test_cli_refuses_envpool_for_a_non_atari_env_in_one_line(capsys):
    assert main(["distill", "--env", "CartPole-v1", "--env-backend", "envpool", "--epochs", "1", "-q"]) == 1
    assert "Atari games only" in capsys.readouterr().err


def test_the_reproduce_command_names_the_backend():
    from taskdistill_rl.results import distill_command

    command = distill_command(DistillConfig(env="ALE/Pong-v5", env_backend="envpool").resolved(), 3)
    assert "--env-backend envpool" in command and "# and" not in command
    assert "--env-backend" not in distill_command(DistillConfig(env="ALE/Pong-v5").resolved(), 3)


def test_a_pong_run_on_envpool_distils_evaluates_and_writes_its_backend(tmp_path):
    out = tmp_path / "pong"
    config = tmp_path / "tiny.toml"
    config.write_text("steps_per_env = 16\nminibatch_size = 32\n")
    args = ["distill", "--env", "ALE/Pong-v5", "--env-backend", "envpool", "--epochs", "1", "--num-envs", "2"]
    args += [
        "--config",
        str(config),
        "--final-learners",
        "1",
        "--final-episodes",
        "1",
        "--out",
        str(out),
        "-q",
    ]
    assert main(args) == 0
    payload = torch.load(out / "distilled.pt", weights_only=True)
    assert payload["meta"]["env_backend"] == "envpool"
    final = json.loads((out / "eval.json").read_text())["results"]["nature-cnn"]
    assert -21 <= final["mean"] <= 21  # one full game of Pong, raw score
    assert "--env-backend envpool" in json.loads((out / "summary.json").read_text())["reproduce"]
