"""Import the paper authors' published distilled files into our format v2 (``taskdistill import``).

The authors' repository (`wconnorr/RL-to-SL_Distillation`_, folder ``distilled_envs/``) releases
its datasets as PyTorch state dicts saved from CUDA, in two layouts:

- ``{x [k, *obs_shape], y [k, c], inner_lr []}`` (cart-pole, Atari): ``y`` are the logits the
  learner is fitted to;
- ``{distiller: {x [k, obs], y_mean [k, act], y_logstd [1, act], inner_lr []}}`` (MuJoCo): the
  action means, and the state-independent log-std handed to every learner.

An encoder-rollback dataset (paper §5) comes with a second state dict, the encoder: layers
``[0, l)`` of the learner (``{"0.weight", "0.bias"}`` is ``l = 1``).

Their inner step is ours (:mod:`taskdistill_rl.inner`): one plain SGD step of size ``inner_lr``
on the MSE between the learner's raw output and ``y``, averaged over all entries. Their learners
are ours too: Λ (``"lambda"``: 64-64 tanh MLP, orthogonal gains √2 / 0.01, zero biases) for
cart-pole and MuJoCo, the Nature-CNN (``"nature-cnn"``) for Atari, whose ``nn.Sequential``
parameter names (``"0.weight"``, ...) are theirs. Their ND cart-pole conventions are ours as well
(observation: N quadruples ``[x, ẋ, θ, θ̇]``; action ``a`` pushes axis ``a // 2``, positively when
``a`` is odd; :mod:`taskdistill_rl.envs.batched`), so the tensors are copied unchanged.

Files are read with ``torch.load(weights_only=True)``: nothing pickled is ever executed.

.. _wconnorr/RL-to-SL_Distillation: https://github.com/wconnorr/RL-to-SL_Distillation
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from taskdistill_rl.dataset import DistilledDataset
from taskdistill_rl.errors import DistilledFileError
from taskdistill_rl.fileformat import (
    ENCODER,
    FORMAT_VERSION,
    INNER_LR,
    LABEL,
    LOG_STD,
    META,
    OBSERVATION,
    _is_zipfile,
    _reason,
    _torch_load,
    validate,
)
from taskdistill_rl.learners import default_learner, make_learners, split_learner
from taskdistill_rl.learners.base import layer_starts

REPOSITORY = "wconnorr/RL-to-SL_Distillation"
IMPORTED_BY = "taskdistill import"
STATE_DICT_KEYS = ("x", "y", "inner_lr")  # cart-pole, Atari
MUJOCO_KEYS = ("x", "y_mean", "y_logstd", "inner_lr")  # under "distiller"
OBS_NORM_UNPUBLISHED = (
    "the observation-normalisation statistics this file was distilled with were never published: "
    "learners fitted on it see raw observations while it was distilled on normalised ones, so "
    "their returns will be lower than the paper's"
)


@dataclass(frozen=True)
class PublishedFile:
    """A file of the authors' release (commit ``e2effc2``), known by its SHA-256.

    Attributes:
        path: its path in the repository.
        env: the environment the authors distilled it on (named in error messages).
        encoder_sha256: SHA-256 of the encoder file it needs (encoder rollback), or None.
        encoder_path: the encoder's path in the repository, or None.
        paper_result: the paper's reported return for it.
    """

    path: str
    env: str
    encoder_sha256: str | None = None
    encoder_path: str | None = None
    paper_result: str | None = None


COMMIT = "e2effc2"
PUBLISHED: dict[str, PublishedFile] = {
    "30361e274c9472001b812980173fbfb79327075d8cadcbfdd76edc6c81c4801f": PublishedFile(
        "distilled_envs/Atari/Centipede/fulldistill/distiller_sd_centipede_fulldistill.pt",
        env="CentipedeNoFrameskip-v4",
        paper_result="Table 2, l = 0: 8,042 ± 492",
    ),
    "6779c33c398294db6eced25fee13a0f126f1fa747a9db69c0ce003a67d1cfccf": PublishedFile(
        "distilled_envs/Atari/Centipede/l1/distiller_sd.pt",
        env="CentipedeNoFrameskip-v4",
        encoder_sha256="50bacc84237625b57fd185f1e031664898528f7293e31d2599eba0190d079232",
        encoder_path="distilled_envs/Atari/Centipede/l1/encoder_sd.pt",
        paper_result="Table 2, l = 1: 8,144 ± 614",
    ),
    "b00fb171825ba686919de51ea1b8e0f118fd8e12580fdb0bf9533241332cf059": PublishedFile(
        "distilled_envs/ND_cartpole/distiller_sd_2dcp_b3.pt",
        env="NDCartPole-v0 --env-kwargs n_dims=2",
        paper_result="Table 1, 2D 3-shot: 365 ± 31.9",
    ),
    "ba46909b62ef2585a7d0b7b3cd20fe0c6aee315f43ef81acaacf663c383b0d81": PublishedFile(
        "distilled_envs/MuJoCo/hopper_b64_state.ckpt", env="Hopper (MuJoCo)"
    ),
}
PUBLISHED_ENCODERS = {f.encoder_sha256: f.encoder_path for f in PUBLISHED.values() if f.encoder_sha256}


@dataclass
class AuthorsFile:
    """The tensors of one of the authors' files, checked and on the CPU.

    Attributes:
        x: ``[k, *obs_shape]`` float32 synthetic observations.
        y: ``[k, c]`` float32 labels (logits, or action means).
        inner_lr: ``[]`` float32, positive.
        log_std: ``[act]`` float32 for the MuJoCo layout, else None.
        sha256: the file's SHA-256.
    """

    x: torch.Tensor
    y: torch.Tensor
    inner_lr: torch.Tensor
    log_std: torch.Tensor | None
    sha256: str


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load(path: str | Path, what: str) -> tuple[Path, Any]:
    """``torch.load(weights_only=True, map_location="cpu")`` of a user's file, or one clear error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist")
    if path.is_dir():
        raise DistilledFileError(f"{path}: a directory, not {what}")
    if not path.is_file() or not _is_zipfile(path):
        raise DistilledFileError(
            f"{path}: not a PyTorch archive (truncated, corrupt, or another kind of file); give {what}"
        )
    try:
        return path, _torch_load(path)  # any failure but a refusal: DistilledFileError (corrupt)
    except pickle.UnpicklingError as err:
        raise DistilledFileError(
            f"{path}: refused to load: {_reason(err)}; the authors' files hold tensors only "
            "(weights_only=True; nothing was executed)"
        ) from err


def _tensor(value: Any, name: str, path: Path) -> torch.Tensor:
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided or not value.is_floating_point():
        raise DistilledFileError(f"{path}: {name} must be a dense floating-point tensor, got {_kind(value)}")
    if not torch.isfinite(value).all():
        raise DistilledFileError(f"{path}: {name} contains non-finite values (nan or inf)")
    return value.detach().to("cpu", torch.float32)


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} {value.layout} tensor"
    return type(value).__name__


def _keys(value: dict) -> str:
    return ", ".join(sorted(map(str, value)))


def read_authors_file(path: str | Path) -> AuthorsFile:
    """Read one of the authors' distilled files (either layout) without executing pickled code.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DistilledFileError: not a PyTorch archive, corrupt or truncated, needs unpickling of code,
            or not one of the two layouts (keys, tensor types and shapes are checked); the message
            names the file.
    """
    path, loaded = _load(path, "a distilled file of the paper's authors")
    layouts = (
        f"expected the authors' state dict {{{', '.join(STATE_DICT_KEYS)}}} or their MuJoCo checkpoint "
        f"{{distiller: {{{', '.join(MUJOCO_KEYS)}}}}}"
    )
    if not isinstance(loaded, dict):
        raise DistilledFileError(f"{path}: holds a {type(loaded).__name__}; {layouts}")
    if META in loaded and OBSERVATION in loaded:
        raise DistilledFileError(f"{path}: already a taskdistill file: use it directly, nothing to import")
    log_std = None
    if set(loaded) == set(STATE_DICT_KEYS):
        x, y, lr = (_tensor(loaded[key], key, path) for key in STATE_DICT_KEYS)
    elif set(loaded) == {"distiller"} and isinstance(loaded["distiller"], dict):
        inner = loaded["distiller"]
        if set(inner) != set(MUJOCO_KEYS):
            raise DistilledFileError(f"{path}: its 'distiller' holds {{{_keys(inner)}}}; {layouts}")
        x, y, log_std, lr = (_tensor(inner[key], f"distiller[{key!r}]", path) for key in MUJOCO_KEYS)
    else:
        hint = ""
        if loaded and all(isinstance(key, str) and key[:1].isdigit() for key in loaded):
            hint = " (this looks like an encoder: give it with --encoder, beside its distilled file)"
        raise DistilledFileError(f"{path}: holds {{{_keys(loaded)}}}; {layouts}{hint}")
    if x.dim() < 2 or x.shape[0] < 1:
        raise DistilledFileError(f"{path}: x must be [k, *obs_shape] with k >= 1, got {list(x.shape)}")
    if y.dim() != 2 or y.shape[0] != x.shape[0] or y.shape[1] < 1:
        raise DistilledFileError(
            f"{path}: the labels must be [k, outputs] with x's k = {x.shape[0]} rows, got {list(y.shape)}"
        )
    if lr.numel() != 1 or not lr.item() > 0:
        raise DistilledFileError(
            f"{path}: inner_lr must be one positive number, got shape {list(lr.shape)} {lr.tolist()}"
        )
    if log_std is not None:
        if log_std.numel() != y.shape[1] or log_std.dim() > 2:
            raise DistilledFileError(
                f"{path}: y_logstd must be [1, {y.shape[1]}] (one per action dimension), "
                f"got {list(log_std.shape)}"
            )
        log_std = log_std.reshape(-1)
    return AuthorsFile(x=x, y=y, inner_lr=lr.reshape(()), log_std=log_std, sha256=sha256(path))


def read_encoder(path: str | Path, learner: dict) -> tuple[dict[str, torch.Tensor], int]:
    """The authors' encoder state dict and the number ``l`` of learner layers it holds.

    Args:
        path: the encoder file (layers ``[0, l)`` of the learner, e.g. ``{0.weight, 0.bias}``).
        learner: ``{"name", "kwargs"}`` of the learner distribution the dataset teaches.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DistilledFileError: unreadable, or its parameter names and shapes are not the first
            ``l`` layers of the learner for any ``l``.
    """
    path, state = _load(path, "an encoder file")
    if not isinstance(state, dict) or not state:
        raise DistilledFileError(f"{path}: an encoder must be a state dict {{param_name: tensor}}")
    learners = make_learners(learner["name"], **learner["kwargs"])
    with torch.device("meta"):  # names and shapes only: no memory, no random draws
        net = learners.build()
    expected: dict[int, dict[str, list[int]]] = {}
    for layers in range(1, len(layer_starts(net)) + 1):
        encoder, _ = split_learner(net, layers)
        expected[layers] = {name: list(p.shape) for name, p in encoder.named_parameters()}
    for layers, shapes in expected.items():
        if set(state) != set(shapes):
            continue
        got = {name: _tensor(state[name], f"encoder {name}", path) for name in shapes}
        for name, shape in shapes.items():
            if list(got[name].shape) != shape:
                raise DistilledFileError(
                    f"{path}: encoder {name} has shape {list(got[name].shape)}, but the "
                    f"{learner['name']} learner for observations {list(learners.obs_shape)} needs {shape}"
                )
        return got, layers
    options = "; ".join(f"l = {n}: {{{_keys(s)}}}" for n, s in list(expected.items())[:2])
    raise DistilledFileError(
        f"{path}: not an encoder for this file's {learner['name']} learner: it holds {{{_keys(state)}}}, "
        f"but an encoder of the first l layers holds {options}, ..."
    )


def import_authors_file(
    path: str | Path,
    *,
    env_id: str,
    env_kwargs: dict[str, Any] | None = None,
    encoder: str | Path | None = None,
) -> DistilledDataset:
    """A :class:`DistilledDataset` from one of the paper authors' published files.

    Args:
        path: their distilled file (state dict ``{x, y, inner_lr}`` or MuJoCo checkpoint
            ``{distiller: {x, y_mean, y_logstd, inner_lr}}``).

    Keyword Args:
        env_id: the environment it teaches (checked: observation shape and actions must fit).
        env_kwargs: its constructor arguments (``{"n_dims": 2}``).
        encoder: their encoder file, for an encoder-rollback dataset (the first ``l`` layers).

    Returns:
        The dataset, its tensors exactly the file's; ``meta`` records the env, its preprocessing
        and the source (``meta["source"]`` a line, ``meta["source_details"]`` the file, its
        SHA-256, the encoder's, the repository). A MuJoCo file also gets
        ``meta["obs_norm_unpublished"] = True``: its normalisation statistics were never
        published, and :meth:`DistilledDataset.fit` warns about it.

    Raises:
        FileNotFoundError: a file does not exist.
        DistilledFileError: a file is unreadable or not in the authors' layouts, the encoder does
            not fit, or a known published file comes without its encoder (or with another one).
        InvalidInputError: the env's observations or actions do not match the file's.
    """
    env_kwargs = dict(env_kwargs or {})
    data = read_authors_file(path)
    path = Path(path)
    known = PUBLISHED.get(data.sha256)
    k, obs_shape, out_features = data.x.shape[0], tuple(data.x.shape[1:]), data.y.shape[1]
    continuous = data.log_std is not None
    learner = default_learner(obs_shape, out_features)
    encoder_state, encoder_layers, encoder_sha = None, 0, None
    if encoder is not None:
        encoder_state, encoder_layers = read_encoder(encoder, learner)
        encoder_sha = sha256(Path(encoder))
    _check_published_encoder(path, known, encoder, encoder_sha)
    preprocessing = _check_env(path, env_id, env_kwargs, obs_shape, out_features, continuous, known)
    details = {
        "kind": "published",
        "file": path.name,
        "sha256": data.sha256,
        "encoder_file": None if encoder is None else Path(encoder).name,
        "encoder_sha256": encoder_sha,
        "repository": REPOSITORY,
        "repository_path": None if known is None else known.path,
        "commit": None if known is None else COMMIT,
        "verified": known is not None,  # the SHA-256 is that of the release
        "paper_result": None if known is None else known.paper_result,
        "imported_by": IMPORTED_BY,
    }
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "k": k,
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "preprocessing": preprocessing,
        "learner": learner,
        "encoder_layers": encoder_layers,
        "inner_steps": 1,
        # the file format keeps meta["source"] a string; the details are a dict beside it
        "source": f"published: {REPOSITORY} {known.path if known else path.name} ({IMPORTED_BY})",
        "source_details": details,
    }
    if continuous:
        meta["obs_norm_unpublished"] = True
    payload: dict[str, Any] = {
        OBSERVATION: data.x,
        LABEL: data.y,
        INNER_LR: data.inner_lr,
        META: meta,
    }
    if continuous:
        payload[LOG_STD] = data.log_std
    if encoder_state is not None:
        payload[ENCODER] = encoder_state
    validate(payload, str(path))
    return DistilledDataset.from_payload(payload, source=str(path))


def _check_published_encoder(
    path: Path, known: PublishedFile | None, encoder: str | Path | None, encoder_sha: str | None
) -> None:
    """A known published file gets exactly its own encoder (or none when it has none)."""
    if known is None:
        return
    name = known.path.rsplit("/", 1)[-1]
    if known.encoder_sha256 is None and encoder is not None:
        raise DistilledFileError(
            f"{path}: this is the authors' {known.path}, a full distillation (no encoder); drop --encoder"
        )
    if known.encoder_sha256 is not None and encoder is None:
        raise DistilledFileError(
            f"{path}: this is the authors' {known.path}, distilled with encoder rollback: it teaches only "
            f"the layers after its encoder; give that encoder with --encoder ({known.encoder_path})"
        )
    if known.encoder_sha256 is not None and encoder_sha != known.encoder_sha256:
        other = PUBLISHED_ENCODERS.get(encoder_sha)
        raise DistilledFileError(
            f"{encoder}: not the encoder of the authors' {name} ({known.encoder_path}, SHA-256 "
            f"{known.encoder_sha256[:12]}...)" + (f"; it is {other}" if other else "")
        )


def _check_env(
    path: Path,
    env_id: str,
    env_kwargs: dict[str, Any],
    obs_shape: tuple[int, ...],
    out_features: int,
    continuous: bool,
    known: PublishedFile | None,
) -> list[dict]:
    """Build the env once: its observations and actions must be the file's. Returns its
    preprocessing record (``meta["preprocessing"]``)."""
    from taskdistill_rl.compat import check_compatible, env_actions, file_actions
    from taskdistill_rl.envs.builders import describe_preprocessing
    from taskdistill_rl.envs.factory import make_env

    env = make_env(env_id, num_envs=1, **env_kwargs)
    try:
        env_obs = tuple(env.observation_spec["observation"].shape[1:])
        actions = env_actions(env)
        preprocessing = describe_preprocessing(env)
    finally:
        env.close()
    check_compatible(
        f"{env_id}" + (f" {env_kwargs}" if env_kwargs else ""),
        env_obs,
        actions,
        file=path.name,
        file_observations=obs_shape,
        taught=file_actions(continuous, out_features),
        hint=": import it with the env it was distilled on"
        + (f" (the authors distilled it on {known.env})" if known else ""),
    )
    return preprocessing


__all__ = [
    "OBS_NORM_UNPUBLISHED",
    "PUBLISHED",
    "REPOSITORY",
    "AuthorsFile",
    "PublishedFile",
    "import_authors_file",
    "read_authors_file",
    "read_encoder",
]
