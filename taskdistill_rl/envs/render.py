"""``rgb_array`` frames of ND cart-pole: a side view per axis, plus a top view for N >= 2.

Drawn with matplotlib's Agg canvas (a core dependency) so no display or pygame is needed.
"""

from __future__ import annotations

import numpy as np

FRAME_HEIGHT = 300  # pixels
PANEL_WIDTH = 400  # pixels


def render_ndcartpole(state: np.ndarray, *, x_threshold: float, pole_length: float) -> np.ndarray:
    """Return an ``[H, W, 3]`` uint8 image of ``state`` (``[n_dims, 4]``).

    Side view of axis i: the cart on its track at ``x_i``, the pole leaning by ``theta_i``.
    Top view (N >= 2, like the paper's Figure 2): the cart at ``(x_0, x_1)`` seen from above,
    the pole's tip projected at ``(x_0 + l sin theta_0, x_1 + l sin theta_1)``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_dims = state.shape[0]
    panels = n_dims + (1 if n_dims >= 2 else 0)
    dpi = 100
    fig = Figure(figsize=(panels * PANEL_WIDTH / dpi, FRAME_HEIGHT / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    span = x_threshold * 1.2
    col = 0
    if n_dims >= 2:
        ax = fig.add_subplot(1, panels, 1)
        x0, x1 = state[0, 0], state[1, 0]
        tip = (x0 + pole_length * np.sin(state[0, 2]), x1 + pole_length * np.sin(state[1, 2]))
        ax.add_patch(
            matplotlib.patches.Rectangle(
                (-x_threshold, -x_threshold),
                2 * x_threshold,
                2 * x_threshold,
                fill=False,
                ls="--",
                color="grey",
            )
        )
        ax.add_patch(matplotlib.patches.Rectangle((x0 - 0.25, x1 - 0.25), 0.5, 0.5, color="black"))
        ax.plot([x0, tip[0]], [x1, tip[1]], color="tab:orange", lw=4)
        ax.plot(*tip, "o", color="tab:brown")
        ax.set(xlim=(-span, span), ylim=(-span, span), aspect="equal", title="top view (axes 0, 1)")
        col = 1
    for i in range(n_dims):
        ax = fig.add_subplot(1, panels, col + i + 1)
        x, theta = state[i, 0], state[i, 2]
        ax.axhline(0, color="grey", lw=1)
        ax.add_patch(matplotlib.patches.Rectangle((x - 0.25, -0.15), 0.5, 0.3, color="black"))
        ax.plot(
            [x, x + pole_length * np.sin(theta)], [0, pole_length * np.cos(theta)], color="tab:orange", lw=4
        )
        ax.axvline(-x_threshold, color="red", ls=":", lw=1)
        ax.axvline(x_threshold, color="red", ls=":", lw=1)
        ax.set(xlim=(-span, span), ylim=(-0.5, 1.5), aspect="equal", title=f"side view (axis {i})")
        ax.set_yticks([])
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
