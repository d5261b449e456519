"""``DistilledDataset``: the product — k synthetic states, their labels and the inner step size.

Saved as a plain nested dict of tensors and primitive metadata (file format v2,
:mod:`taskdistill_rl.fileformat`) that stock ``torch.load`` opens, and loaded back without
executing pickled code.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from taskdistill_rl.envs.atari import as_float_frames
from taskdistill_rl.errors import DistilledFileError, InvalidInputError
from taskdistill_rl.fileformat import (
    ENCODER,
    INNER_LR,
    LABEL,
    LOG_STD,
    META,
    OBS_NORM,
    OBSERVATION,
    read_distilled,
    write_distilled,
)
from taskdistill_rl.inner import inner_step
from taskdistill_rl.learners import default_learner, make_learners, split_learner
from taskdistill_rl.obs_norm import INITIAL_COUNT, normalize

INITIAL_INNER_LR = 2e-2  # paper appendix A


class DistilledDataset(nn.Module):
    """Learnable synthetic batch ``(X [k, *obs_shape], Y [k, out])`` plus a positive inner lr.

    The inner lr is trained as ``log_inner_lr``: a raw lr clamped at a floor can go negative and
    stop learning (seen on one seed in four); the log keeps it positive with a live gradient.

    Keyword Args:
        k: number of synthetic instances.
        obs_shape: shape of one observation (``X`` is ``[k, *obs_shape]``, in the env's layout).
        out_features: logits (discrete) or action dimensions (continuous).
        continuous: if True a state-independent ``log_std [out_features]`` is learned too.
        normalize_obs: keep running observation statistics; ``X`` lives in the normalised space.
        learner: ``{"name", "kwargs"}`` of the learner distribution Λ it is distilled for
            (default: the Nature-CNN for image observations, else Λ, for ``obs_shape``).
        encoder_layers: encoder rollback (paper §5): the first ``l`` layers of the learner are an
            encoder learned with the dataset and shared by every learner; the inner step trains
            the rest. 0 (default) is full distillation.
        meta: extra metadata (``env_id``, ``env_kwargs``, ``preprocessing``, ``preset``, ...).
        generator: initial values of X, Y (and the encoder) are drawn from it.
    """

    def __init__(
        self,
        *,
        k: int,
        obs_shape: tuple[int, ...],
        out_features: int,
        continuous: bool = False,
        normalize_obs: bool = False,
        learner: dict | None = None,
        encoder_layers: int = 0,
        meta: dict | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k (the number of distilled instances) must be an int >= 1, got {k!r}")
        self.k, self.obs_shape, self.out_features, self.continuous = (
            k,
            tuple(obs_shape),
            out_features,
            continuous,
        )
        self.observation = nn.Parameter(torch.randn(k, *self.obs_shape, generator=generator))
        self.label = nn.Parameter(torch.randn(k, out_features, generator=generator) * 0.1)
        self.log_inner_lr = nn.Parameter(torch.tensor(math.log(INITIAL_INNER_LR)))
        self.log_std = nn.Parameter(torch.zeros(out_features)) if continuous else None
        # Running observation statistics (buffers: never trained); X lives in the normalised space.
        self.normalize_obs = normalize_obs
        if normalize_obs:
            self.register_buffer("obs_mean", torch.zeros(self.obs_shape))
            self.register_buffer("obs_var", torch.ones(self.obs_shape))
            self.register_buffer("obs_count", torch.tensor(INITIAL_COUNT, dtype=torch.float64))
        self.learner_spec = learner or default_learner(self.obs_shape, out_features)
        self.encoder_layers = encoder_layers
        # the meta-learned first layers (empty: the identity), initialised as a Λ learner's
        self.encoder = (
            split_learner(self.learners().sample(generator), encoder_layers)[0]
            if encoder_layers
            else nn.Sequential()
        )
        self.meta = dict(meta or {})

    def __repr__(self) -> str:
        return (
            f"DistilledDataset(env={self.meta.get('env_id')!r}, k={self.k}, obs_shape={self.obs_shape}, "
            f"learner={self.learner_spec['name']!r}, inner_lr={float(self.inner_lr.detach()):.4g}"
            + (f", encoder_layers={self.encoder_layers}" if self.encoder_layers else "")
            + ")"
        )

    @property
    def device(self) -> torch.device:
        """Where the dataset's tensors live (a run's device; files always load on the CPU)."""
        return self.observation.device

    def on(self, device: torch.device | str) -> DistilledDataset:
        """This dataset if it lives on ``device``, else a copy moved there (the original stays)."""
        device = torch.device(device)
        if self.device == device or (device.index is None and self.device.type == device.type):
            return self
        return copy.deepcopy(self).to(device)

    @property
    def inner_lr(self) -> torch.Tensor:
        return self.log_inner_lr.exp()

    @property
    def obs_norm(self) -> dict[str, torch.Tensor] | None:
        """``{"mean", "var"}`` the file's observations are normalised with, or None."""
        if not self.normalize_obs:
            return None
        return {"mean": self.obs_mean.detach(), "var": self.obs_var.detach()}

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Environment observations as the learners see them: uint8 frames scaled to [0, 1], then
        ``obs_norm`` applied (the identity for float observations without it)."""
        obs = as_float_frames(obs)  # uint8 Atari frames as the float [0, 1] the learners saw
        return obs if not self.normalize_obs else normalize(obs, self.obs_mean, self.obs_var)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """The shared encoder's features of (normalised) observations: what the inner step's
        head sees. The identity without encoder rollback."""
        return self.encoder(obs) if len(self.encoder) else obs

    # -- learners ---------------------------------------------------------------------------------
    def learners(self):
        """The learner distribution Λ this dataset is distilled for."""
        return make_learners(self.learner_spec["name"], **self.learner_spec["kwargs"])

    def make_learner(self, seed: int | None = None) -> nn.Module:
        """A fresh, untrained learner from the distribution Λ this dataset was distilled for."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.learners().sample(generator)

    def trainable(self, module: nn.Module) -> nn.Module:
        """The part of ``module`` the inner step trains: all of it, or the head after the encoder."""
        return split_learner(module, self.encoder_layers)[1] if self.encoder_layers else module

    def fitted_params(self, module: nn.Module, *, steps: int = 1, create_graph: bool = False) -> dict:
        """θ1 of ``module``'s trainable part after the inner step(s); differentiable w.r.t. the
        dataset if asked."""
        head = self.trainable(module)
        params = {n: p.detach() for n, p in head.named_parameters()}
        device = next(iter(params.values())).device if params else self.device
        if device != self.device:  # a CPU module fitted on a file of a CUDA run: compute where it is
            return self.on(device).fitted_params(module, steps=steps, create_graph=create_graph)
        X, Y, lr = self.encode(self.observation), self.label, self.inner_lr
        if not create_graph:
            X, Y, lr = X.detach(), Y.detach(), lr.detach()
        return inner_step(head, params, X, Y, lr, steps=steps)

    @torch.no_grad()
    def fit(self, module: nn.Module, *, steps: int = 1) -> nn.Module:
        """Train ``module`` in place with ONE SGD step (MSE to the labels at ``inner_lr``).

        With an encoder, ``module`` must have the learner's architecture: its first layers become
        the file's encoder and the step trains the rest. With ``obs_norm``, the module learns on
        normalised observations: feed it ``ds.normalize(obs)`` (``make_policy`` does this).

        A file whose ``meta["obs_norm_unpublished"]`` is set (imported from the paper authors'
        MuJoCo release, which never published its normalisation statistics) warns: the module
        will see raw observations where the file was distilled on normalised ones."""
        if self.meta.get("obs_norm_unpublished"):
            import warnings

            warnings.warn(
                "this file was distilled on normalised observations whose statistics were never "
                "published: the fitted learner sees raw observations, so its returns will be lower "
                "than the paper's",
                UserWarning,
                stacklevel=2,
            )
        self._check_module(module)
        if self.encoder_layers:
            encoder, _ = split_learner(module, self.encoder_layers)
            encoder.load_state_dict(self.encoder.state_dict())
        new = self.fitted_params(module, steps=steps)
        for name, p in self.trainable(module).named_parameters():
            p.copy_(new[name])
        return module

    def make_policy(self, seed: int | None = None, *, action_space: Any = None) -> Policy:
        """A fresh learner from Λ, fitted in one step, with ``predict(obs, deterministic=False)``,
        on this dataset's device (learners are sampled on the CPU, then moved).

        ``action_space`` (a gymnasium ``Box``) clips continuous NumPy actions, as SB3 does; without
        it they are unclipped (see :class:`Policy`)."""
        env = self.meta.get("env_id")
        if env and self.meta.get("env_kwargs"):
            env = f"{env} {self.meta['env_kwargs']}"
        return Policy(
            self.fit(self.make_learner(seed).to(self.device)),
            log_std=None if self.log_std is None else self.log_std.detach(),
            obs_norm=self.obs_norm,
            obs_shape=self.obs_shape,
            learner=self.learner_spec["name"],
            env=env,
            action_space=action_space,
        )

    def fit_sb3(self, model_or_policy, *, steps: int = 1):
        """Train a stable-baselines3 PPO/A2C model or ``ActorCriticPolicy`` in place in one step
        (see :func:`taskdistill_rl.interop.fit_sb3`)."""
        from taskdistill_rl.interop import fit_sb3

        return fit_sb3(self, model_or_policy, steps=steps)

    def to_torchrl_actor(self, seed: int | None = None, *, env: Any = None, action_spec: Any = None):
        """A TorchRL ``ProbabilisticActor``: a fresh learner from Λ fitted in one step, matched to
        ``env`` (or ``action_spec``; required for discrete actions, see
        :func:`taskdistill_rl.interop.to_torchrl_actor`)."""
        from taskdistill_rl.interop import to_torchrl_actor

        return to_torchrl_actor(self, seed=seed, env=env, action_spec=action_spec)

    def _check_module(self, module: nn.Module) -> None:
        devices = {p.device for p in module.parameters()}
        if self.encoder_layers and devices - {self.device}:
            raise InvalidInputError(
                f"module is on {sorted(map(str, devices))} but this dataset and its encoder are on "
                f"{self.device}: move one of them (module.to(ds.device), or ds.to(device))"
            )
        X = self.observation.detach()[:1]
        if len(devices) == 1:
            X = X.to(next(iter(devices)))
        try:
            with torch.no_grad():
                out = module(X)
        except RuntimeError as err:
            raise InvalidInputError(
                f"module cannot take this dataset's observations {tuple(self.obs_shape)}: {err}"
            ) from err
        if out.shape[-1] != self.out_features:
            raise InvalidInputError(
                f"module outputs {out.shape[-1]} values per observation but the labels have "
                f"{self.out_features} (one per {'action dimension' if self.continuous else 'action'})"
            )

    # -- files ------------------------------------------------------------------------------------
    def to_payload(self) -> dict:
        """The file's content (format v2): a plain dict of cloned CPU tensors and primitive meta,
        whatever device the dataset is on (stock ``torch.load`` opens it on a machine without a GPU)."""

        def saved(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to("cpu", torch.float32, copy=True)

        payload: dict[str, Any] = {
            OBSERVATION: saved(self.observation),
            LABEL: saved(self.label),
            INNER_LR: saved(self.inner_lr),
        }
        if self.log_std is not None:
            payload[LOG_STD] = saved(self.log_std)
        if self.normalize_obs:
            payload[OBS_NORM] = {"mean": saved(self.obs_mean), "var": saved(self.obs_var)}
        if self.encoder_layers:
            payload[ENCODER] = {n: saved(p) for n, p in self.encoder.named_parameters()}
        payload[META] = {
            **self.meta,
            "k": self.k,
            "obs_shape": list(self.obs_shape),
            "learner": self.learner_spec,
            "encoder_layers": self.encoder_layers,
        }
        return payload

    def to_tensordict(self):
        """The tensors as the TensorDict TorchRL users expect (meta left out: it is not tensors)."""
        from tensordict import TensorDict

        return TensorDict({k: v for k, v in self.to_payload().items() if k != META}, batch_size=[])

    def save(self, path: str | Path) -> Path:
        """Write the ``.pt`` (format v2) atomically (temporary file + rename)."""
        return write_distilled(path, self.to_payload())

    @classmethod
    def from_payload(cls, payload: dict, *, source: str = "<payload>") -> DistilledDataset:
        """A dataset from a validated file payload (:func:`taskdistill_rl.fileformat.read_distilled`)."""
        meta = dict(payload[META])
        obs, label = payload[OBSERVATION], payload[LABEL]
        own = ("format_version", "k", "learner", "obs_shape", "encoder_layers")
        try:
            ds = cls(
                k=obs.shape[0],
                obs_shape=tuple(obs.shape[1:]),
                out_features=label.shape[1],
                continuous=LOG_STD in payload,
                normalize_obs=OBS_NORM in payload,
                learner=meta["learner"],
                encoder_layers=int(meta.get("encoder_layers", 0)),
                meta={k: v for k, v in meta.items() if k not in own},
            )
            learners = ds.learners()
        except (TypeError, ValueError) as err:  # the learner it names cannot be built
            raise DistilledFileError(
                f"{source}: meta['learner'] is not a valid learner distribution ({err})"
            ) from err
        sizes = (tuple(learners.obs_shape), learners.out_features)
        if sizes != (ds.obs_shape, ds.out_features):
            raise DistilledFileError(
                f"{source}: meta['learner'] takes observations {sizes[0]} and gives {sizes[1]} outputs, "
                f"but the file's observations are {ds.obs_shape} and its labels have {ds.out_features}"
            )
        with torch.no_grad():
            ds.observation.copy_(obs)
            ds.label.copy_(label)
            ds.log_inner_lr.copy_(_exact_log(payload[INNER_LR]))
            if ds.log_std is not None:
                ds.log_std.copy_(payload[LOG_STD])
            if ds.normalize_obs:
                ds.obs_mean.copy_(payload[OBS_NORM]["mean"])
                ds.obs_var.copy_(payload[OBS_NORM]["var"])
            if ds.encoder_layers:
                if ENCODER not in payload:
                    raise DistilledFileError(f"{source}: meta encoder_layers > 0 but the file has no encoder")
                try:
                    ds.encoder.load_state_dict(payload[ENCODER])
                except RuntimeError as err:
                    raise DistilledFileError(
                        f"{source}: the encoder does not fit the learner ({err})"
                    ) from err
        return ds


def _exact_log(value: torch.Tensor) -> torch.Tensor:
    """A float32 log whose ``exp`` gives back ``value`` bit for bit when one exists nearby,
    so that save -> load -> save round-trips exactly."""
    log = value.log()
    candidates = [log]
    for direction in (math.inf, -math.inf):
        c = log
        for _ in range(3):
            c = torch.nextafter(c, torch.tensor(direction))
            candidates.append(c)
    return next((c for c in candidates if torch.equal(c.exp(), value)), log)


class Policy:
    """A fitted learner that acts: ``predict(obs, deterministic=False) -> action``, like
    stable-baselines3's ``predict`` but returning the action alone (no recurrent state).

    Made by :meth:`DistilledDataset.make_policy`. NumPy (or list) observations give what a
    gymnasium env's ``step`` accepts; torch tensors give tensors, for batched torch code.

    Keyword Args:
        log_std: the learned state-independent log-std (continuous actions), or None (discrete).
        obs_norm: ``{"mean", "var"}`` applied to raw observations before the learner, or None.
        obs_shape: shape of one observation; other sizes raise a clear error before the learner
            runs (None: not checked).
        learner: name of the learner distribution the module was drawn from (shown in the repr).
        env: the environment the file was distilled on (shown in the repr and in shape errors).
        action_space: the env's action space. A ``Box``: continuous NumPy actions are clipped to
            it, as SB3's ``predict`` clips. None (default): actions are returned unclipped, as the
            library's own evaluation produces them (it clips only on the way into the env, and
            MuJoCo clamps controls to their range). Ignored for discrete actions.

    Examples:
        >>> import gymnasium, taskdistill_rl
        >>> policy = taskdistill_rl.load_distilled("zoo:ndcartpole-1d").make_policy(seed=0)
        >>> env = gymnasium.make("NDCartPole-v0", n_dims=1)
        >>> obs, _ = env.reset(seed=0)
        >>> action = policy.predict(obs)
        >>> isinstance(action, int) and env.action_space.contains(action)
        True
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        log_std: torch.Tensor | None = None,
        obs_norm: dict | None = None,
        obs_shape: tuple[int, ...] | None = None,
        learner: str | None = None,
        env: str | None = None,
        action_space: Any = None,
    ):
        self.module, self.log_std, self.obs_norm = module, log_std, obs_norm
        self.obs_shape = None if obs_shape is None else tuple(obs_shape)
        self.learner, self.env = learner, env
        # only a Box has bounds to clip to (SB3's predict clips Box actions and nothing else)
        self.clip = None
        if log_std is not None and hasattr(action_space, "low") and hasattr(action_space, "high"):
            self.clip = (np.asarray(action_space.low), np.asarray(action_space.high))

    def __repr__(self) -> str:
        if self.log_std is None:
            rule = "sample Categorical(logits), argmax if deterministic"
        else:
            clip = "clipped to action_space" if self.clip is not None else "unclipped"
            rule = f"sample Normal(mean, exp(log_std)), mean if deterministic, {clip}"
        norm = ", obs_norm" if self.obs_norm is not None else ""
        return (
            f"Policy(env={self.env!r}, learner={self.learner!r}, obs_shape={self.obs_shape}{norm}, "
            f"actions={rule!r})"
        )

    @torch.no_grad()
    def predict(self, obs: Any, deterministic: bool = False) -> Any:
        """Actions for raw environment observations (the file's normalisation is applied here).

        Args:
            obs: one observation ``[*obs_shape]`` or a batch ``[B, *obs_shape]``: a NumPy array
                (or nested list), or a torch tensor.
            deterministic: the most likely action (argmax / the mean) instead of a sample.

        Returns:
            For NumPy input, what gymnasium's ``step`` accepts: discrete, a Python ``int`` for
            one observation and an ``int64`` array ``[B]`` for a batch; continuous, a ``float32``
            array ``[act_dim]`` or ``[B, act_dim]``. For tensor input, a tensor (``int64 [B]`` or
            the float actions), on the learner's device.

        Raises:
            InvalidInputError: the observation's trailing shape is not ``obs_shape``.
        """
        as_numpy = not isinstance(obs, torch.Tensor)
        param = next(self.module.parameters(), None)
        device = param.device if param is not None else None
        x = as_float_frames(torch.as_tensor(np.asarray(obs) if as_numpy else obs, device=device))
        x = x.to(torch.float32)
        self._check_shape(x)
        if self.obs_norm is not None:
            x = normalize(x, self.obs_norm["mean"], self.obs_norm["var"])
        out = self.module(x)
        if deterministic:
            action = out.argmax(-1) if self.log_std is None else out
        else:
            from taskdistill_rl.actors import action_distribution  # the distribution every path acts by

            action = action_distribution(out, self.log_std).sample()
        if not as_numpy:
            return action
        action = action.cpu().numpy()
        if self.log_std is None:
            return int(action) if action.ndim == 0 else action.astype(np.int64)
        if self.clip is not None:
            action = np.clip(action, *self.clip)
        return action.astype(np.float32)

    def _check_shape(self, obs: torch.Tensor) -> None:
        if self.obs_shape is None:
            return
        n = len(self.obs_shape)
        if obs.ndim < n or tuple(obs.shape[obs.ndim - n :]) != self.obs_shape:
            batch = "(B, " + ", ".join(map(str, self.obs_shape)) + ")"
            on = f" of {self.env}" if self.env else ""
            raise InvalidInputError(
                f"expected an observation of shape {self.obs_shape} (or a batch of shape {batch}), "
                f"got shape {tuple(obs.shape)}: the policy takes the observations{on} its file was "
                "distilled on"
            )


def load_distilled(path: str | Path) -> DistilledDataset:
    """Load a distilled ``.pt`` (format v2 or v1, or a packaged ``"zoo:NAME"``) without executing
    pickled code, and validate it.

    Raises:
        FileNotFoundError: the path does not exist.
        DistilledFileError: corrupt, truncated, hostile, newer-format or wrong-schema file.
    """
    from taskdistill_rl import zoo

    path = zoo.resolve(path) if zoo.is_zoo_ref(path) else Path(path)
    return DistilledDataset.from_payload(read_distilled(path), source=str(path))
