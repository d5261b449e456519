"""Learner distributions Λ: samplers of freshly initialised policy networks, by name."""

from taskdistill_rl.learners.mlp import MLPLearners

# CLI / file name -> distribution class; the evaluation issue adds the other distributions.
LEARNERS = {"lambda": MLPLearners}


def make_learners(name: str = "lambda", **kwargs) -> MLPLearners:
    """Build the registered learner distribution ``name`` with its keyword arguments."""
    if name not in LEARNERS:
        raise ValueError(f"unknown learner distribution {name!r}; registered: {', '.join(sorted(LEARNERS))}")
    return LEARNERS[name](**kwargs)


__all__ = ["LEARNERS", "MLPLearners", "make_learners"]
