"""How one run seed becomes the separate random streams a run draws from, each offset written once.

Every value here decides what a seed gives: changing one changes every seeded result (the reference
runs under ``tests/data/reference/`` would see it). Primes keep the streams of different strides
from meeting.
"""

from __future__ import annotations

EVAL_SEED_OFFSET = 10_000
"""A final evaluation (``distill``, ``kmin``, the PPO baseline's scored games, its evaluation env)
uses ``seed + EVAL_SEED_OFFSET``: never a seed that training or a periodic evaluation used."""
EPOCH_SEED_STRIDE = 7919
"""Streams that move on with the meta-epoch ``m``: the periodic evaluation at ``m`` uses
``seed + stride * m``, and a run resumed at ``m`` reseeds its env workers with it."""
STREAM_SEED_STRIDE = 104_729
"""Random stream ``s`` (a data-parallel rank) draws from ``seed + stride * s``; stream 0 is the
one-process run."""
SEARCH_SEED_MULTIPLIER = 1_000_003
"""Teacher-states search: batch ``b`` scores on ``seed * multiplier + EPOCH_SEED_STRIDE * b``, the
final phase on ``seed * multiplier + STREAM_SEED_STRIDE``."""

__all__ = ["EPOCH_SEED_STRIDE", "EVAL_SEED_OFFSET", "SEARCH_SEED_MULTIPLIER", "STREAM_SEED_STRIDE"]
