"""Whether an env (or a policy's spaces) fits a distilled file: the same observations, the actions
its labels teach. One check, one message, wherever a file meets an env: evaluation, fitting an SB3
policy, importing the authors' files.
"""

from __future__ import annotations

from taskdistill_rl.errors import InvalidInputError

Actions = tuple[str, int]  # ("discrete", number of actions) or ("continuous", action dimensions)


def env_actions(env) -> Actions:
    """A TorchRL env's actions: discrete (a space with ``n``) or continuous (its last dimension)."""
    space = env.action_spec.space
    if hasattr(space, "n"):
        return "discrete", int(space.n)
    return "continuous", int(env.action_spec.shape[-1])


def space_actions(action_space, who: str) -> Actions:
    """A gymnasium action space's actions (``Discrete`` or one-dimensional ``Box``)."""
    from gymnasium import spaces

    if isinstance(action_space, spaces.Discrete):
        return "discrete", int(action_space.n)
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return "continuous", int(action_space.shape[0])
    raise InvalidInputError(
        f"{who}: only Discrete and 1-D Box action spaces are supported, got {action_space}"
    )


def file_actions(continuous: bool, out_features: int) -> Actions:
    return ("continuous" if continuous else "discrete"), int(out_features)


def check_compatible(
    who: str,
    observations: tuple[int, ...],
    actions: Actions,
    *,
    file: str,
    file_observations: tuple[int, ...],
    taught: Actions,
    hint: str = "",
) -> None:
    """Refuse, in one line, a ``who`` whose observations or actions are not ``file``'s."""
    if tuple(observations) != tuple(file_observations):
        raise InvalidInputError(
            f"{who} observes {tuple(observations)} but {file}'s observations are "
            f"{tuple(file_observations)}{hint}"
        )
    if tuple(actions) != tuple(taught):
        raise InvalidInputError(
            f"{who} has {actions[0]} actions of size {actions[1]} but {file} teaches {taught[0]} actions "
            f"of size {taught[1]}{hint}"
        )


__all__ = ["check_compatible", "env_actions", "file_actions", "space_actions"]
