"""``rgb_array`` frames of ND cart-pole: a side view per axis, plus a top view for N >= 2.

Drawn with Pillow's ``ImageDraw`` (a dependency of matplotlib, so always here): no display or
pygame is needed, and a frame costs about a millisecond, so a 500-step clip renders in a second
(a matplotlib figure per frame took about 0.1 s).
"""

from __future__ import annotations

import itertools

import numpy as np

FRAME_HEIGHT = 300  # pixels
PANEL_WIDTH = 400  # pixels
TITLE_HEIGHT = 24  # pixels above each panel's drawing
MARGIN = 12  # pixels around each panel's drawing
CART_HALF_WIDTH, CART_HALF_HEIGHT = 0.25, 0.15  # world units (as drawn, not physical)
COLORS = {
    "background": (255, 255, 255),
    "text": (40, 40, 40),
    "track": (150, 150, 150),
    "threshold": (214, 39, 40),
    "cart": (20, 20, 20),
    "pole": (255, 127, 14),
    "tip": (140, 86, 75),
}


def render_ndcartpole(state: np.ndarray, *, x_threshold: float, pole_length: float) -> np.ndarray:
    """Return an ``[H, W, 3]`` uint8 image of ``state`` (``[n_dims, 4]``).

    Side view of axis i: the cart on its track at ``x_i``, the pole leaning by ``theta_i``, the
    failure thresholds dotted. Top view (N >= 2, like the paper's Figure 2): the cart at
    ``(x_0, x_1)`` seen from above, the pole's tip projected at
    ``(x_0 + l sin theta_0, x_1 + l sin theta_1)``, the allowed square dashed.
    """
    from PIL import Image, ImageDraw

    state = np.asarray(state, dtype=np.float64)
    n_dims = state.shape[0]
    panels = n_dims + (1 if n_dims >= 2 else 0)
    image = Image.new("RGB", (panels * PANEL_WIDTH, FRAME_HEIGHT), COLORS["background"])
    draw = ImageDraw.Draw(image)
    span = x_threshold * 1.2  # world units shown either side of the centre
    left = 0
    if n_dims >= 2:
        _top_view(draw, left, state, span=span, x_threshold=x_threshold, pole_length=pole_length)
        left += PANEL_WIDTH
    for axis in range(n_dims):
        _side_view(draw, left, axis, state[axis], span=span, x_threshold=x_threshold, pole_length=pole_length)
        left += PANEL_WIDTH
    return np.asarray(image, dtype=np.uint8).copy()


def _title(draw, left: int, text: str) -> None:
    width = draw.textlength(text)
    draw.text((left + (PANEL_WIDTH - width) / 2, 6), text, fill=COLORS["text"])


def _side_view(draw, left: int, axis: int, row: np.ndarray, *, span, x_threshold, pole_length) -> None:
    _title(draw, left, f"side view (axis {axis})")
    scale = (PANEL_WIDTH - 2 * MARGIN) / (2 * span)  # pixels per world unit
    ground = TITLE_HEIGHT + (FRAME_HEIGHT - TITLE_HEIGHT) * 0.72  # pixels from the top

    def px(x: float, y: float) -> tuple[float, float]:
        return left + PANEL_WIDTH / 2 + x * scale, ground - y * scale

    draw.line([px(-span, 0), px(span, 0)], fill=COLORS["track"], width=1)
    for bound in (-x_threshold, x_threshold):
        _dotted(draw, px(bound, -0.5), px(bound, 1.4), COLORS["threshold"])
    x, theta = row[0], row[2]
    draw.rectangle(
        [px(x - CART_HALF_WIDTH, CART_HALF_HEIGHT), px(x + CART_HALF_WIDTH, -CART_HALF_HEIGHT)],
        fill=COLORS["cart"],
    )
    tip = px(x + pole_length * np.sin(theta), pole_length * np.cos(theta))
    draw.line([px(x, 0), tip], fill=COLORS["pole"], width=6)


def _top_view(draw, left: int, state: np.ndarray, *, span, x_threshold, pole_length) -> None:
    _title(draw, left, "top view (axes 0, 1)")
    side = min(PANEL_WIDTH, FRAME_HEIGHT - TITLE_HEIGHT) - 2 * MARGIN  # pixels of the square
    scale = side / (2 * span)
    centre = (left + PANEL_WIDTH / 2, TITLE_HEIGHT + (FRAME_HEIGHT - TITLE_HEIGHT) / 2)

    def px(x: float, y: float) -> tuple[float, float]:
        return centre[0] + x * scale, centre[1] - y * scale

    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]
    for (ax, ay), (bx, by) in itertools.pairwise(corners):
        _dotted(
            draw,
            px(ax * x_threshold, ay * x_threshold),
            px(bx * x_threshold, by * x_threshold),
            COLORS["track"],
        )
    x0, x1 = state[0, 0], state[1, 0]
    draw.rectangle(
        [px(x0 - CART_HALF_WIDTH, x1 + CART_HALF_WIDTH), px(x0 + CART_HALF_WIDTH, x1 - CART_HALF_WIDTH)],
        fill=COLORS["cart"],
    )
    tip = px(x0 + pole_length * np.sin(state[0, 2]), x1 + pole_length * np.sin(state[1, 2]))
    draw.line([px(x0, x1), tip], fill=COLORS["pole"], width=6)
    draw.ellipse([tip[0] - 5, tip[1] - 5, tip[0] + 5, tip[1] + 5], fill=COLORS["tip"])


def _dotted(draw, start: tuple[float, float], end: tuple[float, float], color, dash: float = 5.0) -> None:
    """A dashed line from ``start`` to ``end`` (pixels): ImageDraw has solid lines only."""
    (ax, ay), (bx, by) = start, end
    length = float(np.hypot(bx - ax, by - ay))
    pieces = max(1, int(length // (2 * dash)))
    for i in range(pieces):
        f0, f1 = (2 * i) / (2 * pieces), (2 * i + 1) / (2 * pieces)
        draw.line(
            [(ax + (bx - ax) * f0, ay + (by - ay) * f0), (ax + (bx - ax) * f1, ay + (by - ay) * f1)],
            fill=color,
        )
