"""The distilled ``.pt`` file: write format v2, read formats v1 and v2, validate.

Format v2 (issue 12) is ``torch.save`` of a **plain nested dict**: tensors plus a ``meta`` dict of
primitives (str, int, float, bool, None, list, dict with str keys). Stock ``torch.load(path)``, whose
default is ``weights_only=True``, opens it on a machine without taskdistill_rl or tensordict, and
``TensorDict({k: v for k, v in d.items() if k != "meta"}, batch_size=[])`` rebuilds the TensorDict
TorchRL users expect (``meta`` stays out: its ints would become tensors).

=============  ===========================  =====================================================
key            shape / type                 meaning
=============  ===========================  =====================================================
observation    ``[k, *obs_shape]`` float32  the synthetic states
label          ``[k, out]`` float32         logits (discrete) or action means (continuous)
inner_lr       ``[]`` float32, > 0          the inner SGD step size
log_std        ``[out]`` float32            optional: continuous actions only
obs_norm       ``{"mean", "var"}``          optional: ``[*obs_shape]`` float32 each, var >= 0
encoder        ``{param_name: tensor}``     optional: the meta-learned layers (``"0.weight"``, ...)
meta           dict of primitives           ``format_version``, ``k``, ``learner``, ``env_id``, ...
=============  ===========================  =====================================================

Format v1 was ``torch.save`` of a ``TensorDict`` with a ``NonTensorData`` meta. Reading it needs a
narrow allow-list of tensordict classes; :func:`read_distilled` uses it only for a file whose pickle
names nothing else, and returns the same dict layout (with ``meta["format_version"] == 1``).

Nothing here ever unpickles with ``weights_only=False``: a hostile file is refused, not executed.
"""

from __future__ import annotations

import copy
import os
import pickle
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from taskdistill_rl.errors import DistilledFileError, InvalidInputError, TaskDistillError
from taskdistill_rl.io import atomic_write

__all__ = ["FORMAT_VERSION", "read_distilled", "validate", "write_distilled"]

FORMAT_VERSION = 2

OBSERVATION, LABEL, INNER_LR, LOG_STD, OBS_NORM, ENCODER, META = (
    "observation",
    "label",
    "inner_lr",
    "log_std",
    "obs_norm",
    "encoder",
    "meta",
)
REQUIRED_KEYS = (OBSERVATION, LABEL, INNER_LR, META)
OPTIONAL_KEYS = (LOG_STD, OBS_NORM, ENCODER)
KEYS = (OBSERVATION, LABEL, INNER_LR, LOG_STD, OBS_NORM, ENCODER, META)  # the order written
OBS_NORM_KEYS = ("mean", "var")

_PRIMITIVES = (str, int, float, bool, type(None))
_MAX_META_DEPTH = 32  # deeper is a mistake (or a cycle), not metadata
_META_ALLOWED = "str, int, float, bool, None, list and dict with str keys"

# What a v1 file's pickle names: tensordict's rebuild function and classes. ``torch.Size`` is in
# torch's default weights_only allow-list already; it is listed for tensordict versions that differ.
_V1_GLOBALS = frozenset(
    {
        "tensordict._reductions._make_td",
        "tensordict._td.TensorDict",
        "tensordict.tensorclass.NonTensorData",
        "torch.Size",
    }
)


# -- writing ---------------------------------------------------------------------------------------
def write_distilled(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` as a format-v2 ``.pt`` file, atomically (temporary file + rename).

    Args:
        path: where to write; parent directories are created.
        payload: ``observation``, ``label``, ``inner_lr``, ``meta`` (with ``meta["learner"] =
            {"name": str, "kwargs": dict}``) and optionally ``log_std``, ``obs_norm``
            (``{"mean", "var"}``) and ``encoder`` (``{param_name: tensor}``). An optional key whose
            value is None is left out. The payload is not modified.

    Returns:
        ``Path(path)``.

    Raises:
        InvalidInputError: the payload breaks the format (the message names the key); nothing is
            written then. ``meta`` must hold primitives only; tuples become lists, but numpy
            scalars, tensors, ``torch.Size`` and other objects are refused so that stock
            ``torch.load`` can open the file.

    Every tensor is stored as a detached, contiguous CPU clone: a saved view would drag its whole
    storage into the file, and a tensor subclass would need an allow-list to load. ``meta`` gets
    ``format_version = 2`` and ``k`` (the number of observations).

    Examples:
        >>> import tempfile, torch
        >>> payload = {"observation": torch.zeros(2, 4), "label": torch.zeros(2, 2),
        ...            "inner_lr": torch.tensor(0.02),
        ...            "meta": {"learner": {"name": "lambda", "kwargs": {}}}}
        >>> path = write_distilled(tempfile.mkdtemp() + "/d.pt", payload)
        >>> back = read_distilled(path)
        >>> back["meta"]["format_version"], back["meta"]["k"], torch.equal(back["label"], payload["label"])
        (2, 2, True)
        >>> sorted(torch.load(path))  # stock torch.load: no allow-list, no taskdistill_rl needed
        ['inner_lr', 'label', 'meta', 'observation']
    """
    path = Path(path)
    source = f"cannot write {path}"
    if not isinstance(payload, dict):
        raise InvalidInputError(f"{source}: the payload must be a dict, got {type(payload).__name__}")
    if not isinstance(payload.get(META), dict):
        raise InvalidInputError(
            f"{source}: payload['meta'] must be a dict of primitives with at least 'learner', "
            f"got {type(payload.get(META)).__name__}"
        )
    stored: dict[str, Any] = {}
    for key in [*KEYS, *(key for key in payload if key not in KEYS)]:  # unknown keys: refused below
        if key not in payload or key == META or (payload[key] is None and key in OPTIONAL_KEYS):
            continue
        stored[key] = _storable(payload[key])
    meta = _plain_meta(payload[META], "meta", source)
    observation = stored.get(OBSERVATION)
    k = observation.shape[0] if isinstance(observation, torch.Tensor) and observation.dim() > 0 else None
    stored[META] = {
        "format_version": FORMAT_VERSION,
        "k": k,
        **{key: value for key, value in meta.items() if key not in ("format_version", "k")},
    }
    _validate(stored, source, InvalidInputError)
    return atomic_write(path, lambda f: torch.save(stored, f))


def _storable(value: Any) -> Any:
    """A detached, contiguous CPU clone of a plain ``torch.Tensor`` (dicts of them: each entry)."""
    if isinstance(value, torch.Tensor):
        return value.detach().as_subclass(torch.Tensor).to("cpu").clone(memory_format=torch.contiguous_format)
    if isinstance(value, dict):
        return {key: _storable(v) for key, v in value.items()}
    return value  # not a tensor: validation says what was expected


def _plain_meta(value: Any, where: str, source: str, depth: int = 0) -> Any:
    """A copy of ``value`` with tuples as lists and dict subclasses as dicts (the rest is checked by
    validation, which names the key path of anything that is not a primitive)."""
    if depth > _MAX_META_DEPTH:
        raise InvalidInputError(f"{source}: {where} is nested deeper than {_MAX_META_DEPTH} levels")
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return [_plain_meta(v, f"{where}[{i}]", source, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {key: _plain_meta(v, f"{where}[{key!r}]", source, depth + 1) for key, v in value.items()}
    return value


# -- reading ---------------------------------------------------------------------------------------
def read_distilled(path: str | os.PathLike) -> dict:
    """Read a format v1 or v2 ``.pt`` file without executing pickled code, and validate it.

    Args:
        path: the file.

    Returns:
        The v2 layout: ``{"observation", "label", "inner_lr", ["log_std"], ["obs_norm"],
        ["encoder"], "meta"}`` with CPU tensors, ``obs_norm`` and ``encoder`` as plain dicts and
        ``meta`` a plain dict; ``meta["format_version"]`` is the file's (1 or 2).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DistilledFileError: the file is corrupt, truncated, not a ``.pt`` archive, hostile (its
            pickle names code to call), of a newer format, or breaks the schema; the message names
            the file and the problem.

    ``torch.load(weights_only=True)`` is tried with no allow-list first (format v2 needs none).
    Only if the pickle names tensordict's TensorDict classes and nothing else (format v1) is it
    loaded again with exactly those allowed.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"distilled file {str(path)!r} does not exist")
    if path.is_dir():
        hint = f"; did you mean {path / 'distilled.pt'}?" if (path / "distilled.pt").is_file() else ""
        raise DistilledFileError(f"{path}: a directory, not a distilled .pt file{hint}")
    if not path.is_file():
        raise DistilledFileError(f"{path}: not a file")
    if not _is_zipfile(path):
        kind = {".csv": "a CSV table", ".json": "a JSON file", ".toml": "a TOML file", ".png": "an image"}
        raise DistilledFileError(
            f"{path}: not a PyTorch .pt archive ("
            + (
                f"it is {kind[path.suffix]}"
                if path.suffix in kind
                else "truncated, corrupt, or another kind of file"
            )
            + "); give a distilled .pt file"
        )
    loaded, is_tensordict = _load(path)
    source = str(path)
    if is_tensordict:
        payload = _from_tensordict(loaded, source)
        layout, expected = "a pickled TensorDict", 1
    else:
        payload = loaded
        layout, expected = "a plain dict", FORMAT_VERSION
    meta = _validate(payload, source, DistilledFileError)
    if meta["format_version"] != expected:
        raise DistilledFileError(
            f"{source}: the file is {layout} but says format_version {meta['format_version']} "
            f"(format v1 is a pickled TensorDict, v2 a plain dict)"
        )
    out = {key: payload[key] for key in KEYS if key in payload and key != META}
    for key in (OBS_NORM, ENCODER):
        if key in out:
            out[key] = dict(out[key])
    out[META] = meta
    return out


def _is_zipfile(path: Path) -> bool:
    try:  # is_zipfile lets BadZipFile through for some damaged end records
        return zipfile.is_zipfile(path)
    except zipfile.BadZipFile:
        return False


def _load(path: Path) -> tuple[Any, bool]:
    """``(object, is_v1_tensordict)`` from ``torch.load(weights_only=True)``, or one
    ``DistilledFileError``."""
    try:
        return _torch_load(path), False
    except pickle.UnpicklingError as err:
        refused = err
    try:  # scans the pickle's opcodes; executes nothing
        needed = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:
        needed = []
    if not needed or not set(needed) <= _V1_GLOBALS:
        named = f"it names {needed}" if needed else _reason(refused)
        raise DistilledFileError(
            f"{path}: refused to load: {named}, which a distilled file never contains "
            "(weights_only=True; nothing was executed)"
        ) from refused
    allow_list = _v1_allow_list(path)
    with torch.serialization.safe_globals(allow_list):
        try:
            return _torch_load(path), True
        except pickle.UnpicklingError as err:
            raise DistilledFileError(f"{path}: refused to load: {_reason(err)}") from err


def _torch_load(path: Path) -> Any:
    """``torch.load(weights_only=True)``; any failure but a refusal means a corrupt file."""
    try:
        with warnings.catch_warnings():  # a damaged pickle header makes torch warn, then fail
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, PermissionError):
        raise
    except Exception as err:  # a damaged archive surfaces as RuntimeError, EOFError, KeyError, ...
        raise DistilledFileError(
            f"{path}: corrupt or truncated file ({type(err).__name__}: {_reason(err)})"
        ) from err


def _v1_allow_list(path: Path) -> list:
    try:
        from tensordict import NonTensorData, TensorDict
        from tensordict._reductions import _make_td  # private; the narrowest allow-list that works
    except ImportError as err:
        raise DistilledFileError(
            f"{path}: a format v1 file (a pickled TensorDict) needs tensordict to read: {err}"
        ) from err
    return [_make_td, TensorDict, NonTensorData, torch.Size]


def _from_tensordict(td: Any, source: str) -> Any:
    """The nested dict held by a v1 TensorDict (``NonTensorData`` unwrapped)."""
    from tensordict import NonTensorData, TensorDictBase

    if not isinstance(td, TensorDictBase):
        return td  # validation says what it is
    if td.batch_size != torch.Size([]):
        raise DistilledFileError(
            f"{source}: expected a TensorDict with batch size [], got {list(td.batch_size)}"
        )
    out = {}
    for key in td.keys():
        value = td.get(key)
        if isinstance(value, NonTensorData):
            value = value.data
        elif isinstance(value, TensorDictBase):
            value = _from_tensordict(value, source)
        out[key] = value
    return out


def _reason(err: BaseException) -> str:
    """The informative line of an exception (torch's refusals are paragraphs of advice)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "GLOBAL" in line or "Unsupported" in line:
            return line[:300]
    return (lines[0] if lines else type(err).__name__)[:300]


# -- validating ------------------------------------------------------------------------------------
def validate(payload: dict, source: str) -> dict:
    """Check a loaded payload against the format; return a deep copy of its ``meta``.

    Args:
        payload: the dict a file holds (the v2 layout; a v1 file converted to it).
        source: the file name, the first word of every error message.

    Returns:
        A deep copy of ``payload["meta"]``.

    Raises:
        DistilledFileError: the first problem found, as ``"{source}: {problem}"``.
    """
    return _validate(payload, source, DistilledFileError)


def _validate(payload: Any, source: str, error: Callable[[str], TaskDistillError]) -> dict:
    def bad(problem: str) -> TaskDistillError:
        return error(f"{source}: {problem}")

    if not isinstance(payload, dict):
        raise bad(f"expected a dict of tensors and 'meta', got {type(payload).__name__}")
    if META not in payload:
        if "config_hash" in payload:  # what taskdistill_rl.run.RunLoop writes
            raise bad(
                "this is a training checkpoint, not a distilled dataset: evaluate the distilled.pt "
                "beside it (or continue the run with `taskdistill distill ... --resume`)"
            )
        raise bad("missing key 'meta'")
    meta = payload[META]
    if type(meta) is not dict:
        raise bad(f"'meta' must be a dict, got {_type_name(meta)}")
    # The version first: a newer file may differ in everything else.
    version = meta.get("format_version")
    if type(version) is not int or version < 1:
        raise bad(f"meta['format_version'] must be an int >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise bad(
            f"format_version {version} is newer than this taskdistill_rl reads ({FORMAT_VERSION}); "
            "upgrade taskdistill_rl"
        )
    unknown = [key for key in payload if key not in KEYS]
    if unknown:
        raise bad(f"unknown top-level key(s) {unknown}; a distilled file holds only {list(KEYS)}")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise bad(f"missing key(s) {missing}")
    _check_primitive(meta, "meta", bad)

    obs = _check_tensor(payload[OBSERVATION], OBSERVATION, bad)
    label = _check_tensor(payload[LABEL], LABEL, bad)
    lr = _check_tensor(payload[INNER_LR], INNER_LR, bad)
    if obs.dim() < 2 or obs.shape[0] < 1:
        raise bad(f"observation must be [k, *obs_shape] with k >= 1, got shape {list(obs.shape)}")
    k, obs_shape = obs.shape[0], list(obs.shape[1:])
    if label.dim() != 2 or label.shape[0] != k:
        raise bad(
            f"label must be [k, out] with the observation's k = {k} rows, got shape {list(label.shape)}"
        )
    if lr.dim() != 0 or not lr.item() > 0:
        raise bad(f"inner_lr must be a positive scalar, got shape {list(lr.shape)} value {lr.tolist()}")
    if LOG_STD in payload:
        log_std = _check_tensor(payload[LOG_STD], LOG_STD, bad)
        if list(log_std.shape) != [label.shape[1]]:
            raise bad(
                f"log_std must have shape [{label.shape[1]}] (one per label), got {list(log_std.shape)}"
            )
    if OBS_NORM in payload:
        norm = payload[OBS_NORM]
        if not isinstance(norm, dict) or sorted(norm) != sorted(OBS_NORM_KEYS):
            keys = sorted(norm, key=str) if isinstance(norm, dict) else type(norm).__name__
            raise bad(f"obs_norm must be a dict with exactly 'mean' and 'var', got {keys}")
        for key in OBS_NORM_KEYS:
            t = _check_tensor(norm[key], f"obs_norm['{key}']", bad)
            if list(t.shape) != obs_shape:
                raise bad(
                    f"obs_norm['{key}'] must have the observation shape {obs_shape}, got {list(t.shape)}"
                )
        if (norm["var"] < 0).any():
            raise bad("obs_norm['var'] must be >= 0")
    if ENCODER in payload:
        encoder = payload[ENCODER]
        if not isinstance(encoder, dict):
            raise bad(f"encoder must be a dict {{param_name: tensor}}, got {type(encoder).__name__}")
        for name, t in encoder.items():
            if type(name) is not str:
                raise bad(f"encoder parameter names must be str, got {name!r}")
            _check_tensor(t, f"encoder[{name!r}]", bad, dtype=None)

    _check_meta_fields(meta, payload, k, obs_shape, bad)
    return copy.deepcopy(meta)


def _check_tensor(
    t: Any, name: str, bad: Callable[[str], Exception], dtype: torch.dtype | None = torch.float32
) -> torch.Tensor:
    """A dense tensor of ``dtype`` (any floating dtype if None) with finite values."""
    if not isinstance(t, torch.Tensor) or t.layout != torch.strided:
        raise bad(f"{name} must be a dense tensor, got {_type_name(t)}")
    if (dtype is None and not t.is_floating_point()) or (dtype is not None and t.dtype != dtype):
        raise bad(f"{name} must be a {dtype or 'floating-point'} tensor, got {t.dtype}")
    if not torch.isfinite(t).all():
        raise bad(f"{name} contains non-finite values (nan or inf)")
    return t


def _check_primitive(value: Any, where: str, bad: Callable[[str], Exception], depth: int = 0) -> None:
    """``value`` is built from str, int, float, bool, None, list and dict with str keys only.

    Exact types: ``numpy.float64`` subclasses ``float`` and ``numpy.str_`` subclasses ``str``,
    but stock ``torch.load`` refuses numpy scalars."""
    if depth > _MAX_META_DEPTH:
        raise bad(f"{where} is nested deeper than {_MAX_META_DEPTH} levels")
    kind = type(value)
    if kind in _PRIMITIVES:
        return
    if kind is list:
        for i, item in enumerate(value):
            _check_primitive(item, f"{where}[{i}]", bad, depth + 1)
    elif kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise bad(f"{where} has a key {key!r} of type {_type_name(key)}; meta keys must be str")
            _check_primitive(item, f"{where}[{key!r}]", bad, depth + 1)
    else:
        raise bad(f"{where} is a {_type_name(value)}; meta may hold only {_META_ALLOWED}{_hint(value)}")


def _hint(value: Any) -> str:
    if isinstance(value, torch.Size):
        return " (use list(shape))"
    if isinstance(value, torch.Tensor):
        return " (use .item() or .tolist(), or keep tensors out of meta)"
    if type(value).__module__ == "numpy":
        return " (use .item() or .tolist())"
    if isinstance(value, tuple):
        return " (use a list)"
    return ""


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass: excluded


def _is_spec(value: Any) -> bool:
    """``{"name": str, "kwargs": dict}``, exactly (a learner or a preprocessing wrapper)."""
    return (
        type(value) is dict
        and sorted(value) == ["kwargs", "name"]
        and type(value["name"]) is str
        and type(value["kwargs"]) is dict
    )


def _check_meta_fields(
    meta: dict, payload: dict, k: int, obs_shape: list[int], bad: Callable[[str], Exception]
) -> None:
    if "learner" not in meta:
        raise bad("meta has no 'learner' ({'name': str, 'kwargs': dict})")
    if not _is_spec(meta["learner"]):
        raise bad(f"meta['learner'] must be {{'name': str, 'kwargs': dict}}, got {meta['learner']!r}")
    for key, kind in (("env_id", str), ("preset", str), ("source", str), ("env_kwargs", dict)):
        if key in meta and type(meta[key]) is not kind:
            raise bad(f"meta[{key!r}] must be a {kind.__name__}, got {meta[key]!r}")
    if "k" in meta and (not _is_int(meta["k"]) or meta["k"] != k):
        raise bad(f"meta['k'] is {meta['k']!r} but the file has {k} observations")
    if "encoder_layers" in meta and (not _is_int(meta["encoder_layers"]) or meta["encoder_layers"] < 0):
        raise bad(f"meta['encoder_layers'] must be an int >= 0, got {meta['encoder_layers']!r}")
    if "inner_steps" in meta and (not _is_int(meta["inner_steps"]) or meta["inner_steps"] < 1):
        raise bad(f"meta['inner_steps'] must be an int >= 1, got {meta['inner_steps']!r}")
    if "obs_shape" in meta and (
        type(meta["obs_shape"]) is not list
        or not all(_is_int(n) for n in meta["obs_shape"])
        or meta["obs_shape"] != obs_shape
    ):
        raise bad(f"meta['obs_shape'] is {meta['obs_shape']!r} but the observations have shape {obs_shape}")
    if "preprocessing" in meta:
        steps = meta["preprocessing"]
        if type(steps) is not list or not all(_is_spec(step) for step in steps):
            raise bad(
                "meta['preprocessing'] must be a list of {'name': str, 'kwargs': dict} (wrappers by "
                f"name), got {steps!r}"
            )
    if ENCODER in payload and not meta.get("encoder_layers", 0) > 0:
        raise bad(
            f"the file has an encoder but meta['encoder_layers'] is {meta.get('encoder_layers')!r}; "
            "an encoder needs encoder_layers > 0"
        )
