"""Evaluation sizes by env family: the final evaluation of a slow env stays bounded."""

import pytest

from taskdistill_rl.config import DistillConfig
from taskdistill_rl.envs.families import MUJOCO, defaults_for


@pytest.mark.parametrize(
    ("env", "family", "final"),
    [
        ("NDCartPole-v0", "ndcartpole", (100, 100)),
        ("InvertedPendulum-v5", "mujoco", (20, 10)),
        ("Hopper-v5", "mujoco", (20, 10)),
        ("CartPole-v1", "classic", (50, 10)),
        ("ALE/Pong-v5", "atari", (10, 1)),
        ("NoSuchEnv-v0", "ndcartpole", (100, 100)),  # make_env names the unknown id later
    ],
    ids=["ndcartpole", "inverted-pendulum", "hopper", "cartpole-v1", "atari", "unknown"],
)
def test_each_env_family_gets_its_evaluation_sizes(env, family, final):
    if family == "atari":
        pytest.importorskip("ale_py")
    if family == "mujoco":
        pytest.importorskip("mujoco")
    assert defaults_for(env).name == family
    cfg = DistillConfig(env=env).resolved()
    assert (cfg.final_learners, cfg.final_episodes) == final
    sizes = defaults_for(env).evaluation
    assert (cfg.eval_interval, cfg.eval_learners, cfg.eval_episodes) == (
        sizes["eval_interval"],
        sizes["eval_learners"],
        sizes["eval_episodes"],
    )
    assert cfg.preset == ("atari" if family == "atari" else "fast")


def test_sizes_given_by_the_user_win_over_the_familys():
    cfg = DistillConfig(env="CartPole-v1", final_learners=3, eval_episodes=7).resolved()
    assert (cfg.final_learners, cfg.final_episodes, cfg.eval_episodes) == (3, 10, 7)


def test_a_mujoco_final_evaluation_is_bounded():
    """At most 200,000 MuJoCo steps (1,000 per episode): well under a minute on 2 cores."""
    sizes = MUJOCO.evaluation
    assert sizes["final_learners"] * sizes["final_episodes"] * 1000 <= 200_000
