"""``DistilledDataset``: the product — k synthetic states, their labels and the inner step size.

Saved as ``torch.save`` of one ``TensorDict`` (DESIGN.md "The .pt file") and loaded back without
executing pickled code.
"""

from __future__ import annotations

import copy
import io
import math
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from tensordict import NonTensorData, TensorDict
from torch import nn

from taskdistill_rl.errors import TaskDistillError
from taskdistill_rl.inner import inner_step
from taskdistill_rl.io import atomic_write
from taskdistill_rl.learners import make_learners
from taskdistill_rl.obs_norm import INITIAL_COUNT, normalize

OBSERVATION, LABEL, INNER_LR, LOG_STD, META = "observation", "label", "inner_lr", "log_std", "meta"
OBS_NORM = "obs_norm"
FORMAT_VERSION = 1
INITIAL_INNER_LR = 2e-2  # paper appendix A


class DistilledFileError(TaskDistillError):
    """A ``.pt`` file that is not a valid distilled dataset (names the file and the problem)."""


class DistilledDataset(nn.Module):
    """Learnable synthetic batch ``(X [k, *obs_shape], Y [k, out])`` plus a positive inner lr.

    The inner lr is trained as ``log_inner_lr`` (DESIGN method notes: a raw lr clamped at a floor
    can go negative and stop learning; the log keeps it positive with a live gradient).

    Keyword Args:
        k: number of synthetic instances.
        obs_shape: shape of one observation.
        out_features: logits (discrete) or action dimensions (continuous).
        continuous: if True a state-independent ``log_std [out_features]`` is learned too.
        learner: ``{"name", "kwargs"}`` of the learner distribution Λ it is distilled for.
        meta: extra metadata (``env_id``, ``env_kwargs``, ``preset``, ...).
        generator: initial values of X and Y are drawn from it.
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
        meta: dict | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k (the number of distilled instances) must be an int >= 1, got {k!r}")
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
        self.learner_spec = learner or {
            "name": "lambda",
            "kwargs": {"in_features": int(math.prod(self.obs_shape)), "out_features": out_features},
        }
        self.meta = dict(meta or {})

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
        """Environment observations as the learners see them (identity without ``obs_norm``)."""
        return obs if not self.normalize_obs else normalize(obs, self.obs_mean, self.obs_var)

    # -- learners ---------------------------------------------------------------------------------
    def learners(self):
        return make_learners(self.learner_spec["name"], **self.learner_spec["kwargs"])

    def make_learner(self, seed: int | None = None) -> nn.Module:
        """A fresh, untrained learner from the distribution Λ this dataset was distilled for."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        return self.learners().sample(generator)

    def fitted_params(self, module: nn.Module, *, steps: int = 1, create_graph: bool = False) -> dict:
        """θ1 of ``module`` after the inner step(s); differentiable w.r.t. the dataset if asked."""
        params = {n: p.detach() for n, p in module.named_parameters()}
        X, Y, lr = self.observation, self.label, self.inner_lr
        if not create_graph:
            X, Y, lr = X.detach(), Y.detach(), lr.detach()
        return inner_step(module, params, X, Y, lr, steps=steps)

    @torch.no_grad()
    def fit(self, module: nn.Module, *, steps: int = 1) -> nn.Module:
        """Train ``module`` in place with ONE SGD step (MSE to the labels at ``inner_lr``).

        With ``obs_norm``, the module learns on normalised observations: feed it
        ``ds.normalize(obs)`` (``make_policy`` does this for you)."""
        self._check_module(module)
        new = self.fitted_params(module, steps=steps)
        for name, p in module.named_parameters():
            p.copy_(new[name])
        return module

    def make_policy(self, seed: int | None = None) -> Policy:
        """A fresh learner from Λ, fitted in one step, with ``predict(obs, deterministic=False)``."""
        return Policy(
            self.fit(self.make_learner(seed)),
            log_std=None if self.log_std is None else self.log_std.detach(),
            obs_norm=self.obs_norm,
        )

    def fit_sb3(self, model_or_policy, *, steps: int = 1):
        """Train a stable-baselines3 PPO/A2C model or ``ActorCriticPolicy`` in place in one step
        (see :func:`taskdistill_rl.interop.fit_sb3`)."""
        from taskdistill_rl.interop import fit_sb3

        return fit_sb3(self, model_or_policy, steps=steps)

    def to_torchrl_actor(self, seed: int | None = None):
        """A TorchRL ``ProbabilisticActor``: a fresh learner from Λ fitted in one step
        (see :func:`taskdistill_rl.interop.to_torchrl_actor`)."""
        from taskdistill_rl.interop import to_torchrl_actor

        return to_torchrl_actor(self, seed=seed)

    def _check_module(self, module: nn.Module) -> None:
        try:
            with torch.no_grad():
                out = module(self.observation.detach()[:1])
        except RuntimeError as err:
            raise ValueError(
                f"module cannot take this dataset's observations {tuple(self.obs_shape)}: {err}"
            ) from err
        if out.shape[-1] != self.out_features:
            raise ValueError(
                f"module outputs {out.shape[-1]} values per observation but the labels have "
                f"{self.out_features} (one per {'action dimension' if self.continuous else 'action'})"
            )

    # -- files ------------------------------------------------------------------------------------
    def to_tensordict(self) -> TensorDict:
        td = TensorDict(
            {
                OBSERVATION: self.observation.detach().float().clone(),
                LABEL: self.label.detach().float().clone(),
                INNER_LR: self.inner_lr.detach().float().clone(),
            },
            batch_size=[],
        )
        if self.log_std is not None:
            td[LOG_STD] = self.log_std.detach().float().clone()
        if self.normalize_obs:
            td[OBS_NORM] = TensorDict(
                {"mean": self.obs_mean.float().clone(), "var": self.obs_var.float().clone()}, batch_size=[]
            )
        meta = {**self.meta, "format_version": FORMAT_VERSION, "k": self.k, "learner": self.learner_spec}
        td[META] = NonTensorData(meta)
        return td

    def save(self, path: str | Path) -> Path:
        """Write the ``.pt`` atomically (temporary file + rename)."""
        td = self.to_tensordict()
        return atomic_write(path, lambda f: torch.save(td, f))

    @classmethod
    def from_tensordict(cls, td: TensorDict, *, source: str = "<tensordict>") -> DistilledDataset:
        meta = _validate(td, source)
        obs, label = td[OBSERVATION], td[LABEL]
        ds = cls(
            k=obs.shape[0],
            obs_shape=tuple(obs.shape[1:]),
            out_features=label.shape[1],
            continuous=LOG_STD in td.keys(),
            normalize_obs=OBS_NORM in td.keys(),
            learner=meta["learner"],
            meta={k: v for k, v in meta.items() if k not in ("format_version", "k", "learner")},
        )
        with torch.no_grad():
            ds.observation.copy_(obs)
            ds.label.copy_(label)
            ds.log_inner_lr.copy_(_exact_log(td[INNER_LR]))
            if ds.log_std is not None:
                ds.log_std.copy_(td[LOG_STD])
            if ds.normalize_obs:
                ds.obs_mean.copy_(td[OBS_NORM, "mean"])
                ds.obs_var.copy_(td[OBS_NORM, "var"])
        try:  # the learner the file names must be buildable, and fit its observations and labels
            learners = ds.learners()
        except (TypeError, ValueError) as err:
            raise DistilledFileError(
                f"{source}: meta['learner'] is not a valid learner distribution ({err})"
            ) from err
        sizes = (getattr(learners, "in_features", None), getattr(learners, "out_features", None))
        if sizes != (math.prod(ds.obs_shape), ds.out_features):
            raise DistilledFileError(
                f"{source}: meta['learner'] takes {sizes[0]} inputs and gives {sizes[1]} outputs, but "
                f"the file's observations have {math.prod(ds.obs_shape)} features and its labels "
                f"{ds.out_features}"
            )
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
    """A fitted learner that acts: ``predict(obs, deterministic=False) -> actions`` (SB3-like)."""

    def __init__(
        self, module: nn.Module, *, log_std: torch.Tensor | None = None, obs_norm: dict | None = None
    ):
        self.module, self.log_std, self.obs_norm = module, log_std, obs_norm

    @torch.no_grad()
    def predict(self, obs: Any, deterministic: bool = False) -> torch.Tensor:
        """Actions for raw environment observations (the file's normalisation is applied here)."""
        obs = torch.as_tensor(obs, dtype=torch.float32)
        if self.obs_norm is not None:
            obs = normalize(obs, self.obs_norm["mean"], self.obs_norm["var"])
        out = self.module(obs)
        if self.log_std is None:
            return out.argmax(-1) if deterministic else torch.distributions.Categorical(logits=out).sample()
        return out if deterministic else torch.normal(out, self.log_std.exp().expand_as(out))


# -- safe loading ---------------------------------------------------------------------------------
def _safe_globals() -> list:
    from tensordict._reductions import _make_td  # private; the narrowest allow-list that works

    return [_make_td, TensorDict, NonTensorData, torch.Size]


def load_distilled(path: str | Path) -> DistilledDataset:
    """Load a distilled ``.pt`` (or a packaged ``"zoo:NAME"``) without executing pickled code,
    and validate it.

    Raises:
        FileNotFoundError: the path does not exist.
        DistilledFileError: corrupt, truncated, hostile, newer-format or wrong-schema file.
    """
    from taskdistill_rl import zoo

    path = zoo.resolve(path) if zoo.is_zoo_ref(path) else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"distilled file {str(path)!r} does not exist")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            td = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0][:200]
        raise DistilledFileError(f"{path}: refused to load (not a plain distilled dataset: {first})") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, io.UnsupportedOperation) as err:
        raise DistilledFileError(f"{path}: corrupt or truncated file ({type(err).__name__}: {err})") from err
    return DistilledDataset.from_tensordict(td, source=str(path))


def _validate(td: Any, source: str) -> dict:
    def bad(problem: str) -> DistilledFileError:
        return DistilledFileError(f"{source}: {problem}")

    if not isinstance(td, TensorDict) or td.batch_size != torch.Size([]):
        raise bad(f"expected a TensorDict with batch size [], got {type(td).__name__}")
    for key in (OBSERVATION, LABEL, INNER_LR, META):
        if key not in td.keys():
            raise bad(f"missing key {key!r}")
    meta = td[META]
    meta = meta.data if isinstance(meta, NonTensorData) else meta
    if not isinstance(meta, dict):
        raise bad("'meta' is not a dict")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise bad(f"missing or invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise bad(
            f"format_version {version} is newer than this taskdistill_rl reads ({FORMAT_VERSION}); upgrade"
        )
    obs, label, lr = td[OBSERVATION], td[LABEL], td[INNER_LR]
    for name, t in ((OBSERVATION, obs), (LABEL, label), (INNER_LR, lr)):
        if not isinstance(t, torch.Tensor) or t.dtype != torch.float32:
            raise bad(f"{name!r} must be a float32 tensor")
        if not torch.isfinite(t).all():
            raise bad(f"{name!r} contains non-finite values")
    if obs.dim() < 2 or label.dim() != 2 or obs.shape[0] != label.shape[0] or obs.shape[0] < 1:
        raise bad(
            f"observation {tuple(obs.shape)} and label {tuple(label.shape)} must be [k, ...] and [k, out]"
        )
    if lr.dim() != 0 or lr.item() <= 0:
        raise bad(f"inner_lr must be a positive scalar, got shape {tuple(lr.shape)}")
    if LOG_STD in td.keys() and td[LOG_STD].shape != (label.shape[1],):
        raise bad(f"log_std must have shape [{label.shape[1]}]")
    if OBS_NORM in td.keys():
        norm = td[OBS_NORM]
        for key in ("mean", "var"):
            t = norm.get(key, None) if isinstance(norm, TensorDict) else None
            if not isinstance(t, torch.Tensor) or t.shape != obs.shape[1:] or not torch.isfinite(t).all():
                raise bad(f"obs_norm.{key} must be a finite tensor of shape {tuple(obs.shape[1:])}")
        if (norm["var"] < 0).any():
            raise bad("obs_norm.var must be >= 0")
    learner = meta.get("learner")
    if (
        not isinstance(learner, dict)
        or not isinstance(learner.get("name"), str)
        or not isinstance(learner.get("kwargs"), dict)
    ):
        raise bad("meta['learner'] must be {'name': str, 'kwargs': dict}")
    return copy.deepcopy(meta)
