"""Fit stable-baselines3 and TorchRL policies from a distilled file, in one SGD step.

The labels teach a network's *raw* output: logits (discrete) or the action mean (continuous).
SB3's ``ActorCriticPolicy`` computes that as ``action_net(mlp_extractor.forward_actor(
extract_features(obs)))``; one step of MSE on it, on the actor's parameters only, is the same
inner step :meth:`DistilledDataset.fit` applies to a learner.

Atari files are fitted into an SB3 ``CnnPolicy`` that acts on *our* preprocessing
(:func:`taskdistill_rl.envs.atari.make_atari`), built by :func:`sb3_atari_model`. SB3's NatureCNN
has the layer sizes of our learner α_a (``features_extractor.cnn.{0,2,4}``,
``features_extractor.linear.0``, ``action_net``), so a file's encoder can be copied into it.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from taskdistill_rl.compat import check_compatible, file_actions, space_actions
from taskdistill_rl.envs.atari import as_float_frames
from taskdistill_rl.errors import InvalidInputError, InvalidInputTypeError

if TYPE_CHECKING:
    from torchrl.data import TensorSpec
    from torchrl.envs import EnvBase
    from torchrl.modules import ProbabilisticActor

    from taskdistill_rl.dataset import DistilledDataset

_SB3_ACTOR_PREFIXES = (
    "features_extractor",
    "pi_features_extractor",
    "mlp_extractor.policy_net",
    "action_net",
)


def _check_spaces(ds: DistilledDataset, observation_space, action_space, who: str) -> None:
    env_id = ds.meta.get("env_id")
    check_compatible(
        who,
        tuple(observation_space.shape),
        space_actions(action_space, who),
        file="the dataset",
        file_observations=ds.obs_shape,
        taught=file_actions(ds.continuous, ds.out_features),
        hint=f" (a file distilled on {env_id})" if env_id else "",
    )


def _check_image_scaling(ds: DistilledDataset, policy) -> None:
    """A policy that divides uint8 images by 255 cannot learn from our float observations."""
    from stable_baselines3.common.preprocessing import is_image_space

    if policy.normalize_images and is_image_space(policy.observation_space):
        raise InvalidInputError(
            f"the SB3 policy takes uint8 images {tuple(policy.observation_space.shape)} and divides them "
            "by 255 (SB3's make_atari_env pipeline), but the dataset's observations are taskdistill's "
            "float32 frames in [0, 1] (gymnasium AtariPreprocessing, another grayscale); build the model "
            "on our pipeline with taskdistill_rl.interop.sb3_atari_model(ds)"
        )


def _sb3_raw_output(policy, obs: torch.Tensor) -> torch.Tensor:
    # BaseModel.extract_features by hand: ActorCriticPolicy's override returns a (pi, vf) pair when
    # the features extractor is not shared
    from stable_baselines3.common.preprocessing import preprocess_obs

    from taskdistill_rl.sb3_layers import NormalizedFlattenExtractor

    obs = preprocess_obs(obs, policy.observation_space, normalize_images=policy.normalize_images)
    extractor = policy.pi_features_extractor
    # the file's states are normalised already: skip the normalisation of a policy fitted before
    if isinstance(extractor, NormalizedFlattenExtractor):
        features = extractor.flatten(obs)
    else:
        features = extractor(obs)
    return policy.action_net(policy.mlp_extractor.forward_actor(features))


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _sb3_actor_layers(policy) -> list[nn.Module] | None:
    """The actor path's layers in forward order, for the feature extractors whose order is known
    (NatureCNN: ``cnn`` then ``linear``; FlattenExtractor); None for any other extractor."""
    from stable_baselines3.common.torch_layers import FlattenExtractor, NatureCNN

    extractor = policy.pi_features_extractor
    if isinstance(extractor, NatureCNN):
        front = [*extractor.cnn, *extractor.linear]
    elif isinstance(extractor, FlattenExtractor):
        front = [extractor.flatten]
    else:
        return None
    return [*front, *policy.mlp_extractor.policy_net, policy.action_net]


def _layer_signature(module: nn.Module) -> tuple:
    """What must agree for weights to be copied and to compute the same function."""
    if isinstance(module, nn.Linear):
        return ("Linear", module.in_features, module.out_features, module.bias is not None)
    if isinstance(module, nn.Conv2d):
        return (
            "Conv2d",
            module.in_channels,
            module.out_channels,
            tuple(module.kernel_size),
            tuple(module.stride),
            module.padding,
            tuple(module.dilation),
            module.groups,
            module.bias is not None,
        )
    return (type(module).__name__, _has_params(module))


def _sb3_encoder_layers(ds: DistilledDataset, policy) -> list[nn.Module]:
    """The SB3 layers that receive the file's encoder, one per parametric encoder layer.

    The policy's actor path must be the file's learner layer for layer (``Flatten`` aside, whose
    place differs: SB3's NatureCNN flattens inside ``cnn``)."""
    sb3_layers = _sb3_actor_layers(policy)
    if sb3_layers is None:
        raise InvalidInputError(
            f"this file has a meta-learned encoder (encoder_layers={ds.encoder_layers}) but the SB3 policy "
            f"uses a custom feature extractor ({type(policy.pi_features_extractor).__name__}), whose layers "
            "cannot be matched to the learner's; use NatureCNN/FlattenExtractor or ds.to_torchrl_actor"
        )
    with torch.device("meta"):  # the architecture only: no memory, no initialisation
        learner_layers = list(ds.learners().build())
    ours = [m for m in learner_layers if not isinstance(m, nn.Flatten)]
    theirs = [m for m in sb3_layers if not isinstance(m, nn.Flatten)]
    hint = (
        "build it with taskdistill_rl.interop.sb3_atari_model(ds)"
        if len(ds.obs_shape) == 3
        else "give the policy the learner's net_arch and activation"
    )
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False)):
        if _layer_signature(a) != _layer_signature(b):
            raise InvalidInputError(
                f"this file has a meta-learned encoder (encoder_layers={ds.encoder_layers}) but the SB3 "
                f"policy's actor is not its learner {ds.learner_spec['name']!r}: its layer {i} (Flatten not "
                f"counted) is {b} where the learner has {a}; {hint}"
            )
    if len(ours) != len(theirs):
        raise InvalidInputError(
            f"this file has a meta-learned encoder (encoder_layers={ds.encoder_layers}) but the SB3 "
            f"policy's actor has {len(theirs)} layers where the learner {ds.learner_spec['name']!r} has "
            f"{len(ours)}; {hint}"
        )
    n_encoder = sum(1 for m in ds.encoder if _has_params(m))
    return [m for m in theirs if _has_params(m)][:n_encoder]


def fit_sb3(ds: DistilledDataset, model_or_policy, *, steps: int = 1):
    """Train an SB3 ``PPO``/``A2C`` model (or its ``ActorCriticPolicy``) in place in one step.

    Only the actor's path moves; the value head (``value_net``) is untouched. (SB3 shares the
    feature extractor between actor and critic by default, so the critic then reads the fitted
    features; ``policy_kwargs={"share_features_extractor": False}`` keeps the critic's own.)

    With a meta-learned encoder (``ds.encoder_layers = l > 0``) the policy's actor must have the
    file's learner architecture: its first ``l`` layers become the file's encoder, copied exactly,
    and the step trains the layers after them, as :meth:`DistilledDataset.fit` does. For Atari
    files build the model on our preprocessing with :func:`sb3_atari_model`.

    For Box actions the policy's ``log_std`` becomes the file's. When the file carries
    ``obs_norm``, the normalisation goes *inside* the policy: its ``FlattenExtractor`` becomes a
    :class:`~taskdistill_rl.sb3_layers.NormalizedFlattenExtractor` holding the file's statistics
    (also in ``policy_kwargs``, so ``model.save`` / ``PPO.load`` rebuild it). The policy then maps
    raw observations to the fitted actions everywhere SB3 uses it: ``evaluate_policy`` on a plain
    ``gym.make`` env, a saved and loaded model, ``model.learn``. Returns the model or policy it was
    given.

    Raises:
        InvalidInputError: observation or action spaces that differ from the file's, a policy that
            divides uint8 images by 255, ``use_sde=True``, (with an encoder) an actor that is
            not the file's learner, (with ``obs_norm``) a features extractor other than
            ``FlattenExtractor``, or a model whose env is a ``VecNormalize`` that normalises
            observations (the policy would see them normalised twice, or unlike the file's).
        InvalidInputTypeError: not an SB3 on-policy model or ``ActorCriticPolicy``.
    """
    try:
        from stable_baselines3.common.policies import ActorCriticPolicy
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "fit_sb3 needs stable-baselines3: pip install stable-baselines3 (the [sb3] extra)"
        ) from err
    policy = getattr(model_or_policy, "policy", model_or_policy)
    if not isinstance(policy, ActorCriticPolicy):
        raise InvalidInputTypeError(
            f"fit_sb3 expects an SB3 on-policy model or ActorCriticPolicy, got {type(policy).__name__}"
        )
    if policy.use_sde:
        raise InvalidInputError(
            "fit_sb3 does not support use_sde=True policies (their log_std is state-dependent)"
        )
    _check_spaces(ds, policy.observation_space, policy.action_space, "the SB3 policy")
    _check_image_scaling(ds, policy)
    _check_normalisation(ds, model_or_policy, policy)
    encoder_layers = _sb3_encoder_layers(ds, policy) if ds.encoder_layers else []
    with torch.no_grad():
        for theirs, ours in zip(encoder_layers, (m for m in ds.encoder if _has_params(m)), strict=True):
            theirs.load_state_dict(ours.state_dict())
    frozen = {id(p) for layer in encoder_layers for p in layer.parameters()}
    params = [
        p
        for name, p in policy.named_parameters()
        if name.startswith(_SB3_ACTOR_PREFIXES) and id(p) not in frozen
    ]
    X = ds.observation.detach().to(policy.device)
    Y = ds.label.detach().to(policy.device)
    lr = float(ds.inner_lr.detach())
    for _ in range(steps if params else 0):  # an encoder of every layer leaves nothing to fit
        loss = ((_sb3_raw_output(policy, X) - Y) ** 2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(lr * g)
    if ds.continuous:
        with torch.no_grad():
            policy.log_std.copy_(ds.log_std.detach().to(policy.device))
    _set_normalisation(ds, model_or_policy, policy)
    return model_or_policy


def _check_normalisation(ds: DistilledDataset, model_or_policy, policy) -> None:
    """Refuse what would feed the fitted policy other observations than the file's learners saw."""
    from stable_baselines3.common.torch_layers import FlattenExtractor
    from stable_baselines3.common.vec_env import VecNormalize, unwrap_vec_wrapper

    env = model_or_policy.get_env() if hasattr(model_or_policy, "get_env") else None
    vec_normalize = unwrap_vec_wrapper(env, VecNormalize) if env is not None else None
    if vec_normalize is not None and vec_normalize.norm_obs:
        raise InvalidInputError(
            "the model's env is a VecNormalize that normalises observations, but the fitted policy "
            + (
                "normalises raw observations itself with the file's statistics"
                if ds.obs_norm is not None
                else "takes raw observations"
            )
            + ": build the model on the raw env (VecNormalize(env, norm_obs=False) to scale rewards only)"
        )
    extractors = {policy.features_extractor, policy.pi_features_extractor, policy.vf_features_extractor}
    if ds.obs_norm is not None and not all(isinstance(e, FlattenExtractor) for e in extractors):
        raise InvalidInputError(
            "this file's observations are normalised and fit_sb3 puts the normalisation in the policy's "
            "features extractor, which must be SB3's FlattenExtractor (the MlpPolicy default), got "
            f"{type(policy.pi_features_extractor).__name__}"
        )


def _set_normalisation(ds: DistilledDataset, model_or_policy, policy) -> None:
    """Put the file's normalisation inside the policy (issue 24): a frozen ``VecNormalize`` in the
    model's env was lost by ``evaluate_policy(model, gym.make(...))`` and by ``save`` / ``load``.
    A policy fitted before from a normalised file gets its plain ``FlattenExtractor`` back."""
    from stable_baselines3.common.torch_layers import FlattenExtractor

    from taskdistill_rl.sb3_layers import NormalizedFlattenExtractor

    if ds.obs_norm is not None:
        cls: type = NormalizedFlattenExtractor
        kwargs = {key: ds.obs_norm[key].float().cpu().tolist() for key in ("mean", "var")}
    elif isinstance(policy.features_extractor, NormalizedFlattenExtractor):
        cls, kwargs = FlattenExtractor, {}
    else:
        return
    policy.features_extractor_class, policy.features_extractor_kwargs = cls, kwargs
    if hasattr(model_or_policy, "policy_kwargs"):  # what PPO.load rebuilds the policy from
        model_or_policy.policy_kwargs = {
            **model_or_policy.policy_kwargs,
            "features_extractor_class": cls,
            "features_extractor_kwargs": kwargs,
        }
    # as ActorCriticPolicy.__init__ builds them (buffers only: the optimizer's parameters stay)
    policy.features_extractor = policy.make_features_extractor().to(policy.device)
    policy.pi_features_extractor = policy.features_extractor
    policy.vf_features_extractor = (
        policy.features_extractor
        if policy.share_features_extractor
        else policy.make_features_extractor().to(policy.device)
    )


# SB3's CnnPolicy on our Atari frames: they are float32 in [0, 1] already (no /255), and the
# actor is NatureCNN + action_net, the learner α_a layer for layer (no MLP between them).
ATARI_POLICY_KWARGS: dict[str, Any] = {
    "normalize_images": False,
    "features_extractor_kwargs": {"normalized_image": True},
    "net_arch": [],
}


def sb3_atari_model(
    ds_or_env_id: DistilledDataset | str,
    *,
    n_envs: int = 1,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    **ppo_kwargs: Any,
):
    """An SB3 ``PPO("CnnPolicy")`` acting on taskdistill's Atari preprocessing, ready for :func:`fit_sb3`.

    The env is a ``DummyVecEnv`` of ``n_envs`` :func:`taskdistill_rl.envs.atari.make_atari` games
    (the file's ``meta["env_id"]`` and ``meta["env_kwargs"]`` for a dataset): observations
    ``[4, 84, 84]`` float32 in [0, 1], full games, raw scores. The policy is
    :data:`ATARI_POLICY_KWARGS` (keys in ``ppo_kwargs["policy_kwargs"]`` win): NatureCNN, the
    learner α_a's layers, so a file's encoder can be copied into it.

    Why not SB3's ``make_atari_env``: its ``WarpFrame`` turns the rendered RGB frame to gray with
    OpenCV's ``cvtColor`` (0.299 R + 0.587 G + 0.114 B), while gymnasium's ``AtariPreprocessing``
    takes the ALE's own grayscale palette (``getScreenGrayscale``); the two differ pixel by pixel,
    and SB3's frames are uint8 channels-last. A policy fitted from a file must see the frames the
    file was distilled on, so it acts on our pipeline.

    Args:
        ds_or_env_id: a distilled Atari file, or an Atari id (``"ALE/Pong-v5"``).

    Keyword Args:
        n_envs: games in the vector env.
        seed: the model's and the envs' seed.
        env_kwargs: emulator arguments (default: the file's ``meta["env_kwargs"]``, or none).
        **ppo_kwargs: passed to ``PPO`` (``device``, ``n_steps``, ...).

    Raises:
        InvalidInputError: an id that is not an Atari game, or a file without one.

    Examples:
        >>> from taskdistill_rl.interop import sb3_atari_model
        >>> model = sb3_atari_model("ALE/Pong-v5", device="cpu")
        >>> model.observation_space.shape, model.policy.normalize_images
        ((4, 84, 84), False)
    """
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from taskdistill_rl.envs.atari import is_atari, make_atari

    if isinstance(ds_or_env_id, str):
        env_id, file_kwargs = ds_or_env_id, {}
    else:
        env_id, file_kwargs = ds_or_env_id.meta.get("env_id"), ds_or_env_id.meta.get("env_kwargs") or {}
    kwargs = dict(file_kwargs if env_kwargs is None else env_kwargs)
    if not isinstance(env_id, str) or not is_atari(env_id):
        raise InvalidInputError(
            f"sb3_atari_model needs an Atari game (e.g. 'ALE/Pong-v5'), got {env_id!r}"
            + ("" if isinstance(ds_or_env_id, str) else " from the file's meta['env_id']")
        )
    if n_envs < 1:
        raise InvalidInputError(f"n_envs must be >= 1, got {n_envs}")
    policy_kwargs = {**ATARI_POLICY_KWARGS, **ppo_kwargs.pop("policy_kwargs", {})}
    env = DummyVecEnv([functools.partial(make_atari, env_id, **kwargs)] * n_envs)
    return PPO("CnnPolicy", env, seed=seed, policy_kwargs=policy_kwargs, **ppo_kwargs)


class _EnvIO(nn.Module):
    """A learner between an env's tensors and its own: uint8 frames scaled to [0, 1] and other
    observations cast to the learner's dtype (a plain ``GymEnv`` of MuJoCo gives float64), then the
    file's ``obs_norm``, as :meth:`Policy.predict` does; the output cast to the action spec's dtype.
    The dataset is referenced, not registered, so its tensors never join the actor's."""

    def __init__(self, net: nn.Module, dataset: DistilledDataset, *, out_dtype: torch.dtype | None = None):
        super().__init__()
        self.net = net
        self.__dict__["dataset"] = dataset
        self.out_dtype = out_dtype

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        param = next(self.net.parameters(), None)  # read each call: follows actor.double()
        obs = as_float_frames(obs).to(torch.float32 if param is None else param.dtype)
        out = self.net(self.dataset.normalize(obs))
        return out if self.out_dtype is None else out.to(self.out_dtype)


def _action_spec(ds: DistilledDataset, env, action_spec):
    """The env's action spec (a leaf), checked against the file's actions; None if none was given."""
    from torchrl.data import Categorical, Composite, OneHot

    if env is not None and action_spec is not None:
        raise InvalidInputError("to_torchrl_actor takes env= or action_spec=, not both")
    if env is not None:
        observation = env.observation_spec.get("observation", None)
        if observation is None:
            keys = [str(k) for k in env.observation_spec.keys(True, True)]
            raise InvalidInputError(
                f"the actor reads 'observation', which the env does not have (its observations: {keys})"
            )
        n = len(ds.obs_shape)
        if tuple(observation.shape[len(observation.shape) - n :]) != ds.obs_shape:
            raise InvalidInputError(
                f"the env observes {tuple(observation.shape)} but the dataset's observations "
                f"are {ds.obs_shape}"
            )
        if list(env.action_keys) != ["action"]:
            raise InvalidInputError(f"the actor writes 'action', the env's action keys are {env.action_keys}")
        action_spec = env.action_spec
    if action_spec is None:
        return None
    if isinstance(action_spec, Composite):
        action_spec = action_spec.get("action", None)
    kind = "continuous" if ds.continuous else "discrete"
    if ds.continuous:
        ok = action_spec is not None and action_spec.domain == "continuous"
        ok = ok and action_spec.shape[-1:] == (ds.out_features,)
    else:
        ok = isinstance(action_spec, (OneHot, Categorical)) and action_spec.space.n == ds.out_features
    if not ok:
        raise InvalidInputError(
            f"the env's action spec is {type(action_spec).__name__}"
            f"{tuple(action_spec.shape) if action_spec is not None else ''} but the dataset teaches "
            f"{kind} actions of size {ds.out_features}"
        )
    return action_spec


def to_torchrl_actor(
    ds: DistilledDataset,
    *,
    seed: int | None = None,
    module: nn.Module | None = None,
    env: EnvBase | None = None,
    action_spec: TensorSpec | None = None,
) -> ProbabilisticActor:
    """A TorchRL ``ProbabilisticActor`` around a fresh learner (or ``module``) fitted in one step,
    built by the same factory distillation uses (:func:`taskdistill_rl.actors.make_actor`).

    Reads ``"observation"`` as the env gives it (uint8 frames, float64 MuJoCo states: no
    ``DoubleToFloat`` needed; the file's ``obs_norm`` is applied inside); writes ``"action"``,
    ``"action_log_prob"`` and the distribution's parameters (``"logits"``, or ``"loc"`` and
    ``"scale"``). Discrete: a categorical distribution over the logits. Continuous: a diagonal
    Gaussian with the file's log-std, unclipped, in the action spec's dtype. TorchRL's exploration
    type picks sampling (collectors, ``set_exploration_type(RANDOM)``) or the mode (``env.rollout``
    outside such a context). With a meta-learned encoder the learner's first layers are the file's
    (:meth:`DistilledDataset.fit`).

    Keyword Args:
        seed: the fresh learner's seed.
        module: fit this network instead of a fresh learner.
        env: the TorchRL env the actor will act in; its action spec decides the encoding and its
            observation and action specs are checked against the file.
        action_spec: the action spec alone, instead of ``env``.

    A discrete actor needs ``env`` or ``action_spec``: TorchRL's ``GymEnv`` takes one-hot actions
    unless made with ``categorical_action_encoding=True`` (our :func:`make_env` takes integers), and
    an integer action in a one-hot env is read as action 0 without an error.

    Raises:
        InvalidInputError: a discrete file without ``env`` / ``action_spec``; an env whose
            observations or actions differ from the file's.
    """
    from torchrl.data import OneHot

    from taskdistill_rl.actors import make_actor

    spec = _action_spec(ds, env, action_spec)
    if spec is None and not ds.continuous:
        raise InvalidInputError(
            "a discrete actor must match the env's action encoding: pass env=your_env or "
            "action_spec=env.action_spec (TorchRL's GymEnv takes one-hot actions unless "
            "categorical_action_encoding=True)"
        )
    net = ds.fit(module if module is not None else ds.make_learner(seed).to(ds.device))
    device = next((p.device for p in net.parameters()), ds.device)
    ds = ds.on(device)  # the actor's tensors on its learner's device
    out_dtype = spec.dtype if spec is not None and ds.continuous else None
    return make_actor(
        _EnvIO(net, ds, out_dtype=out_dtype),
        log_std=None if ds.log_std is None else ds.log_std.detach().clone(),
        one_hot=isinstance(spec, OneHot),
        spec=spec,
    )


__all__ = ["ATARI_POLICY_KWARGS", "fit_sb3", "sb3_atari_model", "to_torchrl_actor"]
