"""The SB3 PPO baseline on Atari: SB3's pipeline with our conventions, a Monitor-based curve, full
evaluation games with raw scores, and a wall-clock budget."""

import csv
import json
import math

import pytest
import tomllib

from taskdistill_rl.baselines import sb3_ppo
from taskdistill_rl.baselines.sb3_ppo import evaluate_ppo_games, make_vec_envs, train_ppo
from taskdistill_rl.cli import main
from taskdistill_rl.envs.families import ATARI

pytest.importorskip("stable_baselines3")
pytest.importorskip("ale_py")
pytest.importorskip("cv2")

PONG = "ALE/Pong-v5"
# rl-zoo's Atari entry with a rollout small enough for a test: 2 games x 32 steps per update
TINY = {"n_envs": 2, "n_steps": 32, "batch_size": 64, "n_epochs": 1}


@pytest.fixture
def tiny_atari(monkeypatch):
    for key, value in TINY.items():
        monkeypatch.setitem(ATARI.sb3, key, value)
    return ATARI.sb3


@pytest.fixture
def short_evaluation(monkeypatch):
    """Final evaluation games cut at 50 agent steps (a full Pong game costs ~1,000 forward passes)."""
    real = evaluate_ppo_games
    monkeypatch.setattr(sb3_ppo, "evaluate_ppo_games", lambda *a, **k: real(*a, **k, max_agent_steps=50))


def _wrappers(env) -> list[str]:
    names = []
    while hasattr(env, "env"):
        names.append(type(env).__name__)
        env = env.env
    return names


def _frames_per_step(gym_env) -> int:
    ale = gym_env.unwrapped.ale
    before = ale.getEpisodeFrameNumber()
    gym_env.step(0)
    return ale.getEpisodeFrameNumber() - before


def test_rl_zoo_atari_hyperparameters():
    hp = ATARI.sb3
    assert (hp["n_envs"], hp["frame_stack"], hp["n_steps"], hp["n_epochs"], hp["batch_size"]) == (
        8,
        4,
        128,
        4,
        256,
    )
    assert (hp["learning_rate"], hp["clip_range"], hp["vf_coef"], hp["ent_coef"]) == (2.5e-4, 0.1, 0.5, 0.01)
    assert hp["anneal"] and hp["policy"] == "CnnPolicy"


@pytest.mark.parametrize(
    "env_id,emulator_skip,wrapper_skip", [(PONG, 4, None), ("PongNoFrameskip-v4", 1, 4)], ids=["v5", "v4"]
)
def test_training_and_evaluation_envs_follow_our_conventions(env_id, emulator_skip, wrapper_skip):
    train = make_vec_envs(env_id, 1, 0, {}, 4)
    evaluation = make_vec_envs(env_id, 1, 0, {}, 4, evaluation=True, max_agent_steps=27_000)
    for venv in (train, evaluation):
        venv.reset()
        game = venv.venv.envs[0]
        wrappers = _wrappers(game)
        # one frame skip only: v5's own emulator frameskip=4 (SB3's frame_skip=1), or SB3's 4 on v4
        assert game.unwrapped._frameskip == emulator_skip
        if wrapper_skip is None:
            assert "MaxAndSkipEnv" not in wrappers
        else:
            skipper = game.env
            while type(skipper).__name__ != "MaxAndSkipEnv":
                skipper = skipper.env
            assert skipper._skip == wrapper_skip
        assert _frames_per_step(game) == 4
        assert venv.observation_space.shape == (84, 84, 4)
        assert wrappers.index("AtariWrapper") < wrappers.index("Monitor")  # Monitor sees whole games
    sticky = train.venv.envs[0].unwrapped.ale.getFloat("repeat_action_probability")
    assert sticky == pytest.approx(0.25 if env_id == PONG else 0.0)
    # training: SB3's defaults (rl-zoo); evaluation: full games, raw scores, 27,000 agent steps
    assert {"EpisodicLifeEnv", "ClipRewardEnv"} <= set(_wrappers(train.venv.envs[0]))
    assert not {"EpisodicLifeEnv", "ClipRewardEnv"} & set(_wrappers(evaluation.venv.envs[0]))
    assert evaluation.venv.envs[0].unwrapped.ale.getInt("max_num_frames_per_episode") == 108_000
    train.close()
    evaluation.close()


def test_baseline_cli_writes_summary_eval_and_a_monitor_curve(tiny_atari, short_evaluation, tmp_path):
    out = tmp_path / "ppo"
    # training games cut at 60 agent steps (240 frames, reset no-ops included): the curve has games
    args = ["baseline", "--algo", "ppo", "--env", PONG, "--env-kwargs", "max_num_frames_per_episode=240"]
    args += ["--timesteps", "256", "--chunk", "128", "--episodes", "2", "--out", str(out), "-q"]
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "baseline-ppo" and summary["env_frames"] == 256 and not summary["out_of_time"]
    evaluation = json.loads((out / "eval.json").read_text())
    entry = evaluation["results"]["ppo"]
    # two evaluation games, both cut by the ALE at 50 agent steps (not training's 60), raw scores
    assert entry["episodes"] == 2 and entry["capped"] == 2
    assert (
        -5 <= entry["mean"] <= 0
        and entry["mean"] == int(entry["mean"])
        and summary["evaluation"] == evaluation
    )
    with (out / "curve.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["timesteps", "wall_seconds", "eval_mean", "eval_std", "games"]
    assert [int(r["timesteps"]) for r in rows] == [128, 256]
    # 2 envs x 64 agent steps per chunk, games of 30 to 60 agent steps
    games = [int(r["games"]) for r in rows]
    assert 2 <= games[0] < games[1] <= 10
    assert all(-5 <= float(r["eval_mean"]) <= 5 and float(r["eval_std"]) >= 0 for r in rows)
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["schedule"] == "linear" and config["episodes"] == 2


def test_linear_schedule_over_the_budget_constant_under_a_time_budget(tiny_atari):
    annealed = train_ppo(PONG, timesteps=128, chunk=64)
    assert annealed.schedule == "linear"
    # lr falls with the timesteps trained so far: 2.5e-4 * (1 - 64/128), then 0 at the budget
    assert [p["learning_rate"] for p in annealed.curve] == pytest.approx([1.25e-4, 0.0])
    assert annealed.model.clip_range(0.5) == pytest.approx(0.05)
    assert all(p["games"] == 0 and math.isnan(p["eval_mean"]) for p in annealed.curve)  # no game over yet

    timed = train_ppo(PONG, timesteps=100_000, time_budget=1e-3, chunk=64)
    assert timed.out_of_time and timed.schedule == "constant" and len(timed.curve) == 1
    assert timed.model.num_timesteps == 64 < 100_000
    assert timed.curve[0]["learning_rate"] == pytest.approx(2.5e-4)


def test_time_budget_stops_the_cli_run_early(tiny_atari, short_evaluation, tmp_path):
    out = tmp_path / "timed"
    args = ["baseline", "--algo", "ppo", "--env", PONG, "--timesteps", "1000000", "--time-budget", "0.001"]
    assert main([*args, "--chunk", "64", "--out", str(out), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["out_of_time"] and summary["env_frames"] == 64 < 1_000_000
    # no --episodes: 10 games for Atari (here cut at 50 agent steps)
    assert summary["evaluation"]["results"]["ppo"]["episodes"] == 10
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["time_budget"] == 0.001 and config["schedule"] == "constant" and config["episodes"] == 10
