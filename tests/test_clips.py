"""``taskdistill rollout``: a freshly fitted learner playing its file's env, as a GIF (issue 17)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image, ImageSequence

from taskdistill_rl import Distiller
from taskdistill_rl.cli import main
from taskdistill_rl.clips import record_episode
from taskdistill_rl.dataset import load_distilled


def _gif(path):
    """The GIF's frames as RGB arrays and its play time in ms (Pillow folds a frame equal to the
    one before into that one's duration, so time is what counts frames)."""
    with Image.open(path) as im:
        assert im.format == "GIF" and im.info.get("loop") == 0  # plays, and loops
        frames, total_ms = [], 0
        for frame in ImageSequence.Iterator(im):
            total_ms += frame.info["duration"]
            frames.append(np.asarray(frame.convert("RGB")))
        return frames, total_ms, im.size


def test_rollout_writes_a_playable_gif_of_the_2d_zoo_file(tmp_path, capsys):
    out = tmp_path / "clip.gif"
    assert main(["rollout", "zoo:ndcartpole-2d", "--out", str(out), "--max-frames", "60", "--seed", "3"]) == 0
    assert "wrote" in capsys.readouterr().out
    frames, total_ms, size = _gif(out)
    # 2D: a top view and two side views of 400 x 300 px, scaled to 640 px wide; 50 fps = 20 ms a frame
    assert size == (640, 160)
    assert total_ms == 60 * 20  # 60 frames: the cap, since the fitted learner balances for 500 steps
    assert len(frames) > 30
    assert any(not np.array_equal(frames[0], f) for f in frames[1:])  # the carts move
    assert np.asarray(frames[0]).std() > 10  # something is drawn


def test_a_seed_picks_the_learner_and_the_episode(tmp_path):
    ds = load_distilled("zoo:ndcartpole-1d")
    a = record_episode(ds, seed=1, max_frames=40)
    b = record_episode(ds, seed=1, max_frames=40)
    c = record_episode(ds, seed=2, max_frames=40)
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a.frames, c.frames, strict=True))
    assert a.steps == 39 and not a.finished and a.episode_return == 39.0


def test_rollout_of_a_mujoco_file_is_not_a_black_clip(tmp_path):
    run = tmp_path / "ip"
    Distiller(
        "InvertedPendulum-v5", num_envs=4, steps_per_env=16, quiet=True, out_dir=run, final_learners=1
    ).train(epochs=1)
    out = tmp_path / "ip.gif"
    assert main(["rollout", str(run / "distilled.pt"), "--out", str(out), "--max-frames", "20", "-q"]) == 0
    frames, total_ms, size = _gif(out)
    assert size == (480, 480) and total_ms > 0
    lit = [(f > 60).any(axis=-1).mean() for f in frames]
    assert min(lit) > 0.01  # the cart and pole are drawn in every frame, not a black clip


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--out", "clip.avi"], "written as .gif or .mp4"),
        (["--out", "clip.gif", "--max-frames", "0"], "max-frames"),
    ],
    ids=["suffix", "no-frames"],
)
def test_bad_rollout_options_are_one_clear_error(args, match, capsys):
    code = main(["rollout", "zoo:ndcartpole-1d", *args])
    assert code != 0
    assert match in capsys.readouterr().err


def test_an_existing_clip_is_kept_without_overwrite(tmp_path, capsys):
    out = tmp_path / "clip.gif"
    out.write_bytes(b"mine")
    assert main(["rollout", "zoo:ndcartpole-1d", "--out", str(out), "--max-frames", "5"]) == 1
    assert out.read_bytes() == b"mine" and "--overwrite" in capsys.readouterr().err


def test_mp4_without_the_video_extra_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if the extra were not installed
    assert main(["rollout", "zoo:ndcartpole-1d", "--out", "clip.mp4"]) == 1
    assert "pip install imageio imageio-ffmpeg (the [video] extra)" in capsys.readouterr().err


def test_a_classic_control_clip_without_pygame_is_one_line_that_says_what_to_install(
    tmp_path, monkeypatch, capsys
):
    """Issue 24, item 5: gymnasium draws CartPole-v1 with pygame, imported at the first frame;
    without it `rollout` printed a 63-line traceback."""
    ds = load_distilled("zoo:ndcartpole-1d")  # 1D ND cart-pole is CartPole-v1: the file acts there
    ds.meta.update(env_id="CartPole-v1", env_kwargs={})
    path = ds.save(tmp_path / "cartpole.pt")
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if pygame were not installed
    out = tmp_path / "clip.gif"
    assert main(["rollout", str(path), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "taskdistill: error: drawing 'CartPole-v1' needs pygame: pip install 'pygame>=2.1.3' "
        "(taskdistill_rl's [render] extra)\n"
    )
    assert not out.exists()


def test_the_render_extra_brings_pygame_and_dev_installs_it():
    from pathlib import Path

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["render"] == ["pygame>=2.1.3"]
    assert any(dep.startswith("taskdistill_rl[") and "render" in dep for dep in extras["dev"])
