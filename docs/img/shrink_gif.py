"""Shrink a GIF clip for the docs: scale every frame to WIDTH pixels wide, keep its timing.

    python docs/img/shrink_gif.py CLIP.gif WIDTH   # rewrites CLIP.gif in place

`taskdistill rollout` writes frames at the renderer's size (MuJoCo: 480 x 480); the docs show
them smaller, so the file is scaled here rather than by the browser (a third of the bytes).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageSequence


def shrink(path: Path, width: int) -> None:
    with Image.open(path) as clip:
        duration = clip.info.get("duration", 40)
        loop = clip.info.get("loop", 0)
        height = round(clip.height * width / clip.width)
        frames = [  # 32 colours, no dithering: the renderers draw flat shapes
            frame.convert("RGB").resize((width, height), Image.LANCZOS).quantize(32, dither=Image.Dither.NONE)
            for frame in ImageSequence.Iterator(clip)
        ]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration, loop=loop, optimize=True)


if __name__ == "__main__":
    shrink(Path(sys.argv[1]), int(sys.argv[2]))
