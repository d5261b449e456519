"""Rollout clips: a fresh learner, fitted in one step on a file, playing the file's env.

A distilled file is judged by what one SGD step on it produces, and watching that learner is the
quickest way to see it. Frames come from each env's own ``rgb_array`` renderer (ND cart-pole's
Pillow drawing, MuJoCo's offscreen renderer, the Atari emulator's screen) and are written as a
GIF with Pillow; MP4 needs the optional ``[video]`` extra (imageio with its own ffmpeg binary), since
these machines have no system ffmpeg.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import InvalidInputError

CLIP_SUFFIXES = (".gif", ".mp4")
ATARI_HZ = 60  # frames per second of the NTSC Atari 2600
MAX_WIDTH = 640  # pixels: wider frames are scaled down, so a docs page can embed the clip


@dataclass
class Clip:
    """The frames of one episode and what the learner scored in it."""

    frames: list[np.ndarray]  # each [H, W, 3] uint8
    episode_return: float
    steps: int
    fps: int
    finished: bool  # the episode ended (terminated or truncated) within the frame cap


def check_clip_path(path: str | os.PathLike) -> Path:
    """A clip path with a suffix we can write (checked before any rollout is spent)."""
    path = Path(path)
    if path.suffix.lower() not in CLIP_SUFFIXES:
        raise InvalidInputError(
            f"--out {str(path)!r}: a clip is written as {' or '.join(CLIP_SUFFIXES)}, got {path.suffix!r}"
        )
    if path.suffix.lower() == ".mp4":
        _mp4_writer()  # a missing extra fails here, not after the rollout
    return path


def render_env(ds: DistilledDataset) -> gym.Env:
    """The file's env in gymnasium with ``render_mode="rgb_array"`` (Atari: the same preprocessing
    as training, so the learner sees what it was distilled on, while the frames are the screen).

    Raises:
        InvalidInputError: the env's renderer needs a package that is not installed.
    """
    from taskdistill_rl.envs.families import family_of

    env_id, env_kwargs = ds.meta["env_id"], dict(ds.meta.get("env_kwargs") or {})
    try:
        return family_of(env_id).render(env_id, env_kwargs)
    except gym.error.DependencyNotInstalled as err:
        raise _missing_renderer(env_id, err) from err


def _render(env: gym.Env) -> np.ndarray:
    """The env's frame, at most MAX_WIDTH wide. gymnasium's classic-control envs draw with pygame,
    imported at the first frame: without it, one line that says what to install (issue 24)."""
    try:
        return _fit_width(env.render())
    except gym.error.DependencyNotInstalled as err:
        raise _missing_renderer(env.spec.id if env.spec else type(env.unwrapped).__name__, err) from err


def _missing_renderer(env_id: str, err: Exception) -> InvalidInputError:
    if "pygame" in str(err):
        return InvalidInputError(
            f"drawing {env_id!r} needs pygame: pip install 'pygame>=2.1.3' (taskdistill_rl's [render] extra)"
        )
    return InvalidInputError(f"drawing {env_id!r} needs a package that is not installed: {err}")


def record_episode(
    ds: DistilledDataset,
    *,
    seed: int = 0,
    max_frames: int = 1000,
    every: int = 1,
    deterministic: bool = False,
) -> Clip:
    """Fit a fresh learner from the file's Λ (``seed`` draws it, its actions and the episode's
    start) and record one episode, keeping every ``every``-th frame, at most ``max_frames``.

    Raises:
        InvalidInputError: ``max_frames`` or ``every`` below 1.
    """
    if max_frames < 1 or every < 1:
        raise InvalidInputError(f"max_frames and every must be >= 1, got {max_frames} and {every}")
    env = render_env(ds)
    try:
        torch.manual_seed(seed)  # the learner's action samples
        policy = ds.make_policy(seed=seed, action_space=env.action_space)
        obs, _ = env.reset(seed=seed)
        frames = [_render(env)]
        total, steps, done = 0.0, 0, False
        while not done and len(frames) < max_frames:
            obs, reward, terminated, truncated, _ = env.step(policy.predict(obs, deterministic=deterministic))
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
            if steps % every == 0 or done:
                frames.append(_render(env))
        fps = _steps_per_second(env)
    finally:
        env.close()
    return Clip(frames, total, steps, fps=max(1, round(fps / every)), finished=done)


def _steps_per_second(env: gym.Env) -> float:
    """Env steps per second of real time, so the clip plays at the speed of the game: the
    renderer's ``render_fps``; for Atari the console's 60 Hz over AtariPreprocessing's frame skip
    (ale-py declares 30 fps for its single frames)."""
    wrapper = env
    while isinstance(wrapper, gym.Wrapper):
        if isinstance(getattr(wrapper, "frame_skip", None), int):
            return ATARI_HZ / max(1, wrapper.frame_skip)
        wrapper = wrapper.env
    return float(env.metadata.get("render_fps") or 30)


def _fit_width(frame: np.ndarray) -> np.ndarray:
    """An ``[H, W, 3]`` uint8 frame no wider than MAX_WIDTH (aspect kept)."""
    from PIL import Image

    frame = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
    height, width = frame.shape[:2]
    if width <= MAX_WIDTH:
        return frame
    size = (MAX_WIDTH, max(1, round(height * MAX_WIDTH / width)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))


def write_clip(clip: Clip, path: str | os.PathLike) -> Path:
    """Write ``clip`` as a looping GIF (Pillow) or an MP4 (the ``[video]`` extra), atomically."""
    from taskdistill_rl.io import atomic_write

    path = check_clip_path(path)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(frame) for frame in clip.frames]
        # GIF timing is in hundredths of a second: round the frame time to what it can store
        duration = max(20, 10 * round(100 / clip.fps))
        atomic_write(
            path,
            lambda f: images[0].save(
                f, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
            ),
        )
        return path
    writer = _mp4_writer()
    atomic_write(path, lambda f: writer(f, clip))
    return path


def _mp4_writer():
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary imageio needs)
    except ImportError as err:
        raise InvalidInputError(
            "writing MP4 needs the video extra (imageio with its own ffmpeg): "
            "pip install imageio imageio-ffmpeg (the [video] extra), or write a .gif"
        ) from err

    def write(f, clip: Clip) -> None:
        f.write(iio.imwrite("<bytes>", np.stack(clip.frames), extension=".mp4", fps=clip.fps))

    return write


__all__ = ["CLIP_SUFFIXES", "Clip", "check_clip_path", "record_episode", "render_env", "write_clip"]
