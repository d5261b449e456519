"""stable-baselines3 features extractors: one that applies a file's frozen observation
normalisation, and MinAtar's network for the PPO baseline.

:func:`taskdistill_rl.interop.fit_sb3` puts it inside the policy (issue 24), so the policy maps raw
observations to the fitted actions by itself: ``evaluate_policy`` on a plain ``gym.make`` env,
``model.save`` / ``PPO.load`` and ``model.learn`` all keep the normalisation, with no
``VecNormalize`` to lose. It lives in its own module, importable by name, because SB3 pickles
``policy_kwargs["features_extractor_class"]`` by reference when it saves a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor

from taskdistill_rl.errors import InvalidInputError
from taskdistill_rl.obs_norm import normalize


class NormalizedFlattenExtractor(FlattenExtractor):
    """``flatten(clip((obs - mean) / sqrt(var + 1e-8), -10, 10))``: the file's normalisation
    (:func:`taskdistill_rl.obs_norm.normalize`, the same float32 operations), then SB3's
    ``FlattenExtractor``.

    ``mean`` and ``var`` are constructor arguments (SB3 rebuilds the policy from
    ``features_extractor_kwargs`` when it loads a model) and buffers (so they follow
    ``policy.to(device)`` and appear in the saved ``state_dict``); nothing here is trained.

    Args:
        observation_space: the policy's Box observation space.
        mean: per-element mean, shape ``observation_space.shape`` (nested lists or a tensor).
        var: per-element variance, same shape.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        mean: Sequence | torch.Tensor,
        var: Sequence | torch.Tensor,
    ) -> None:
        super().__init__(observation_space)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).clone())
        self.register_buffer("var", torch.as_tensor(var, dtype=torch.float32).clone())
        if self.mean.shape != observation_space.shape or self.var.shape != observation_space.shape:
            raise InvalidInputError(
                f"mean {tuple(self.mean.shape)} and var {tuple(self.var.shape)} must have the "
                f"observation shape {observation_space.shape}"
            )

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.flatten(normalize(observations, self.mean, self.var))


__all__ = ["NormalizedFlattenExtractor"]


class MinAtarCNN(BaseFeaturesExtractor):
    """MinAtar's examples' network below its output layer (Conv 16×3, Linear 1024→128, ReLU):
    the same layers as our learner ``minatar-cnn``, so SB3 PPO and the distilled learners act
    through one architecture. SB3 initialises it (orthogonal, gain √2) as its own extractors."""

    def __init__(self, observation_space: spaces.Box):
        from taskdistill_rl.learners.cnn import MinAtarCNNLearners

        learners = MinAtarCNNLearners(obs_shape=observation_space.shape, out_features=1)
        super().__init__(observation_space, features_dim=learners.hidden)
        self.net = learners.build()[:-1]  # everything but the output layer

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations)


# Features extractors the env families' SB3 settings name (``"features"``), so settings stay data.
FEATURES = {"minatar-cnn": MinAtarCNN}
