"""The ``.pt`` file format (issue 12, item 3): v2 opens with stock ``torch.load``, round-trips
bit for bit, v1 files keep loading, and bad, newer or hostile files give one clear error."""

import hashlib
import json
import os
import random
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from tensordict import NonTensorData, TensorDict

from taskdistill_rl.errors import DistilledFileError, InvalidInputError
from taskdistill_rl.fileformat import FORMAT_VERSION, read_distilled, validate, write_distilled

DATA = Path(__file__).parent / "data"
V1_DISCRETE = DATA / "v1_ndcartpole_k2.pt"
V1_CONTINUOUS = DATA / "v1_continuous_norm.pt"
LEARNER = {"name": "lambda", "kwargs": {"in_features": 4, "out_features": 2}}


def _payload(**extra):
    """A valid discrete payload (k=2, obs_shape (4,)), plus ``extra`` top-level keys."""
    g = torch.Generator().manual_seed(0)
    return {
        "observation": torch.randn(2, 4, generator=g),
        "label": torch.randn(2, 2, generator=g),
        "inner_lr": torch.tensor(0.37),
        "meta": {"env_id": "NDCartPole-v0", "env_kwargs": {"n_dims": 1}, "learner": LEARNER},
        **extra,
    }


def _full_payload():
    """Every optional key: log_std, obs_norm, encoder; meta with every documented field."""
    g = torch.Generator().manual_seed(1)
    return {
        "observation": torch.randn(3, 4, generator=g),
        "label": torch.randn(3, 2, generator=g),
        "inner_lr": torch.tensor(0.02),
        "log_std": torch.tensor([-0.5, 0.25]),
        "obs_norm": {"mean": torch.randn(4, generator=g), "var": torch.rand(4, generator=g) + 0.1},
        "encoder": {"0.weight": torch.randn(5, 4, generator=g), "0.bias": torch.randn(5, generator=g)},
        "meta": {
            "env_id": "NDCartPole-v0",
            "env_kwargs": {"n_dims": 1},
            "preprocessing": [{"name": "FrameStack", "kwargs": {"n": 4}}],
            "learner": {"name": "lambda", "kwargs": {"in_features": 5, "out_features": 2}},
            "encoder_layers": 1,
            "preset": "fast",
            "inner_steps": 1,
            "source": "unit test",
            "obs_shape": [4],
            "evaluation": {"mean": 500.0, "std": None, "ok": True, "per_learner": [1.5, 2]},
        },
    }


def _assert_tensors_identical(a, b):
    assert type(b) is torch.Tensor and a.dtype == b.dtype and a.shape == b.shape
    assert torch.equal(a.view(torch.int32), b.view(torch.int32))  # bit for bit


def _raw_save(path, obj):
    """A file written without write_distilled's checks (what a buggy or foreign writer makes)."""
    torch.save(obj, path)
    return path


# -- stock torch.load ------------------------------------------------------------------------------
STOCK_LOAD = r"""
import json, pickle, sys
import torch

loaded = torch.load(sys.argv[1])  # stock: no weights_only argument, no allow-list
foreign = sorted(m for m in sys.modules if m.split(".")[0] in ("taskdistill_rl", "tensordict"))
assert not foreign, foreign
try:  # the same call refuses a v1 file (a pickled TensorDict): this really is the safe default
    torch.load(sys.argv[2])
    v1 = "loaded"
except pickle.UnpicklingError as err:
    v1 = "refused" if "tensordict" in str(err) else str(err)

def plain(value):
    if isinstance(value, torch.Tensor):
        assert type(value) is torch.Tensor, type(value)
        return {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.flatten().tolist()}
    if type(value) is dict:
        return {"dict": {key: plain(item) for key, item in value.items()}}
    return value

print(json.dumps({"loaded": plain(loaded), "v1": v1, "modules": foreign}))
"""


def _from_plain(value):
    if isinstance(value, dict) and "dtype" in value:
        dtype = getattr(torch, value["dtype"].removeprefix("torch."))
        return torch.tensor(value["values"], dtype=dtype).reshape(value["shape"])
    if isinstance(value, dict):
        return {key: _from_plain(item) for key, item in value["dict"].items()}
    return value


def test_stock_torch_load_opens_v2_without_the_package(tmp_path):
    """Issue 12 must-show: stock ``torch.load`` in a process that never imports taskdistill_rl or
    tensordict opens a v2 file, with tensors equal to the originals."""
    payload = _full_payload()
    path = write_distilled(tmp_path / "d.pt", payload)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE")}
    proc = subprocess.run(
        [sys.executable, "-I", "-c", STOCK_LOAD, str(path), str(V1_DISCRETE)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["modules"] == [] and out["v1"] == "refused"
    loaded = _from_plain(out["loaded"])
    assert set(loaded) == set(payload)
    for key in ("observation", "label", "inner_lr", "log_std"):
        _assert_tensors_identical(payload[key], loaded[key])
    for key in ("obs_norm", "encoder"):
        assert loaded[key].keys() == payload[key].keys()
        for name, t in payload[key].items():
            _assert_tensors_identical(t, loaded[key][name])
    assert loaded["meta"] == {**payload["meta"], "format_version": 2, "k": 3}
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []


def test_tensor_part_of_a_v2_file_is_a_tensordict(tmp_path):
    payload = _full_payload()
    loaded = torch.load(write_distilled(tmp_path / "d.pt", payload))
    td = TensorDict({k: v for k, v in loaded.items() if k != "meta"}, batch_size=[])
    assert set(td.keys(include_nested=True, leaves_only=True)) == set(
        [
            "observation",
            "label",
            "inner_lr",
            "log_std",
            ("obs_norm", "mean"),
            ("obs_norm", "var"),
            ("encoder", "0.weight"),
            ("encoder", "0.bias"),
        ]
    )
    for key in ("observation", "label", "inner_lr", "log_std"):
        _assert_tensors_identical(payload[key], td[key])
    _assert_tensors_identical(payload["obs_norm"]["var"], td["obs_norm", "var"])
    _assert_tensors_identical(payload["encoder"]["0.weight"], td["encoder", "0.weight"])


# -- round trip ------------------------------------------------------------------------------------
def test_round_trip_is_bit_exact(tmp_path):
    payload = _full_payload()
    back = read_distilled(write_distilled(tmp_path / "d.pt", payload))
    assert list(back) == ["observation", "label", "inner_lr", "log_std", "obs_norm", "encoder", "meta"]
    for key in ("observation", "label", "inner_lr", "log_std"):
        _assert_tensors_identical(payload[key], back[key])
    for key in ("obs_norm", "encoder"):
        assert type(back[key]) is dict and back[key].keys() == payload[key].keys()
        for name, t in payload[key].items():
            _assert_tensors_identical(t, back[key][name])
    assert back["meta"] == {**payload["meta"], "format_version": FORMAT_VERSION, "k": 3}


def test_write_sets_version_and_k_and_leaves_the_payload_alone(tmp_path):
    payload = _payload()
    payload["meta"].update(format_version=1, k=99, shape=(2, 3), nested={"pair": (1, "a")})
    before = {**payload, "meta": dict(payload["meta"])}
    payload["log_std"] = None  # an optional key set to None is left out
    back = read_distilled(write_distilled(tmp_path / "d.pt", payload))
    assert back["meta"]["format_version"] == 2 and back["meta"]["k"] == 2
    assert back["meta"]["shape"] == [2, 3] and back["meta"]["nested"] == {"pair": [1, "a"]}  # tuples -> lists
    assert "log_std" not in back
    assert payload["meta"] == before["meta"] and payload["meta"]["shape"] == (2, 3)


def test_views_are_stored_as_compact_cpu_clones(tmp_path):
    big = torch.randn(1000, 4, requires_grad=True)
    payload = _payload(observation=big[10:12], label=torch.randn(4, 2)[::2])  # views; one non-contiguous
    path = write_distilled(tmp_path / "d.pt", payload)
    assert path.stat().st_size < 10_000  # the 16 kB storage of `big` is not in the file
    back = torch.load(path)
    for key in ("observation", "label"):
        t = back[key]
        assert not t.requires_grad and t.is_contiguous()
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size()
        _assert_tensors_identical(payload[key].detach(), t)


def test_parameters_are_stored_as_plain_tensors(tmp_path):
    payload = _payload(observation=torch.nn.Parameter(torch.randn(2, 4)))
    path = write_distilled(tmp_path / "d.pt", payload)
    assert type(torch.load(path)["observation"]) is torch.Tensor
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []


def test_same_payload_gives_the_same_bytes(tmp_path):
    a = write_distilled(tmp_path / "a.pt", _full_payload()).read_bytes()
    b = write_distilled(tmp_path / "b.pt", _full_payload()).read_bytes()
    assert a == b


# -- format v1 -------------------------------------------------------------------------------------
# Written by tests/data/make_v1.py; their bytes equal what DistilledDataset.save wrote in format v1.
V1_FILES = {
    V1_DISCRETE: {
        "sha256": "3efc2d405d3d1f59708c709499651beb748150ec6f5919515339ca8ac717883d",
        "observation": [
            [1.5409960746765137, -0.293428897857666, -2.1787893772125244, 0.5684312582015991],
            [-1.0845223665237427, -1.3985954523086548, 0.40334683656692505, 0.8380263447761536],
        ],
        "label": [
            [-0.07192575931549072, -0.04033435508608818],
            [-0.05966353416442871, 0.018203649669885635],
        ],
        "inner_lr": 0.019999999552965164,
        "meta": {
            "env_id": "NDCartPole-v0",
            "env_kwargs": {"n_dims": 1},
            "format_version": 1,
            "k": 2,
            "learner": {"name": "lambda", "kwargs": {"in_features": 4, "out_features": 2}},
        },
    },
    V1_CONTINUOUS: {
        "sha256": "89f8c3f93fdb460916983501a9d389ef326c7e226fa334646961e69b9cf88a88",
        "observation": [
            [0.6613521575927734, 0.266924113035202, 0.06167725846171379],
            [0.6213173270225525, -0.4519059658050537, -0.16613022983074188],
        ],
        "label": [
            [-0.15227685868740082, 0.038168393075466156],
            [-0.10276086628437042, -0.05630527809262276],
        ],
        "inner_lr": 0.019999999552965164,
        "log_std": [-0.5, 0.25],
        "obs_norm": {"mean": [0.5, -1.0, 2.0], "var": [1.5, 0.25, 4.0]},
        "meta": {
            "env_id": "InvertedPendulum-v5",
            "env_kwargs": {},
            "preset": "fast",
            "format_version": 1,
            "k": 2,
            "learner": {"name": "lambda", "kwargs": {"in_features": 3, "out_features": 2}},
        },
    },
}


@pytest.mark.parametrize("path", list(V1_FILES), ids=lambda p: p.stem)
def test_v1_file_reads_with_its_values(path):
    expected = V1_FILES[path]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected["sha256"]  # the committed v1 bytes
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) != []  # really a pickled TensorDict
    back = read_distilled(path)
    assert back["meta"] == expected["meta"] and back["meta"]["format_version"] == 1
    for key in ("observation", "label", "inner_lr", "log_std"):
        if key in expected:
            _assert_tensors_identical(torch.tensor(expected[key], dtype=torch.float32), back[key])
        else:
            assert key not in back
    if "obs_norm" in expected:
        assert type(back["obs_norm"]) is dict and list(back["obs_norm"]) == ["mean", "var"]
        for key, values in expected["obs_norm"].items():
            _assert_tensors_identical(torch.tensor(values), back["obs_norm"][key])
    else:
        assert "obs_norm" not in back


def test_v1_file_reread_as_v2_keeps_its_values(tmp_path):
    v1 = read_distilled(V1_CONTINUOUS)
    v2 = read_distilled(write_distilled(tmp_path / "d.pt", v1))
    assert v2["meta"] == {**v1["meta"], "format_version": 2}
    for key in ("observation", "label", "inner_lr", "log_std"):
        _assert_tensors_identical(v1[key], v2[key])
    _assert_tensors_identical(v1["obs_norm"]["var"], v2["obs_norm"]["var"])


# -- refused files ---------------------------------------------------------------------------------
def test_newer_format_version_is_one_clear_error(tmp_path):
    payload = _payload()
    payload["meta"] = {**payload["meta"], "format_version": 3, "k": 2, "something_new": {"x": 1}}
    path = _raw_save(tmp_path / "new.pt", payload | {"new_key": torch.zeros(1)})  # v3 may add keys
    with pytest.raises(DistilledFileError) as info:
        read_distilled(path)
    assert str(info.value) == (
        f"{path}: format_version 3 is newer than this taskdistill_rl reads (2); upgrade taskdistill_rl"
    )


class _Evil:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _evil_files(tmp_path, marker):
    return {
        "plain": _raw_save(tmp_path / "evil.pt", _Evil(marker)),
        "in_meta": _raw_save(
            tmp_path / "evil_meta.pt", _payload(meta={"learner": LEARNER, "x": _Evil(marker)})
        ),
        "in_v1_tensordict": _raw_save(
            tmp_path / "evil_td.pt",
            TensorDict(
                {"observation": torch.zeros(2, 4), "meta": NonTensorData(_Evil(marker))}, batch_size=[]
            ),
        ),
    }


@pytest.mark.parametrize("kind", ["plain", "in_meta", "in_v1_tensordict"])
def test_hostile_file_is_refused_and_not_executed(tmp_path, kind):
    marker = tmp_path / "PWNED"
    path = _evil_files(tmp_path, marker)[kind]
    with pytest.raises(DistilledFileError, match=r"refused to load: it names \[.*'posix\.system'") as info:
        read_distilled(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    # The file really is hostile: an unsafe load (never done by the package) runs the command.
    code = "import sys, torch; torch.load(sys.argv[1], weights_only=False)"
    subprocess.run([sys.executable, "-I", "-c", code, str(path)], capture_output=True, timeout=300)
    assert marker.exists()


def _truncated(tmp_path):
    raw = write_distilled(tmp_path / "good.pt", _payload()).read_bytes()
    (tmp_path / "half.pt").write_bytes(raw[: len(raw) // 2])
    return tmp_path / "half.pt"


def _tail_cut(tmp_path):
    raw = write_distilled(tmp_path / "good.pt", _payload()).read_bytes()
    (tmp_path / "tail.pt").write_bytes(raw[:-1])
    return tmp_path / "tail.pt"


def _junk(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    return tmp_path / "junk.pt"


def _empty(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    return tmp_path / "empty.pt"


def _other_zip(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.pt", "w") as z:
        z.writestr("hello.txt", "a zip, but no torch.save archive")
    return tmp_path / "other.pt"


def _missing_record(tmp_path):
    good = write_distilled(tmp_path / "good.pt", _payload())
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "gap.pt", "w") as dst:
        for item in src.infolist():
            if not item.filename.endswith("data/0"):  # drop the observation's storage
                dst.writestr(item, src.read(item))
    return tmp_path / "gap.pt"


def _directory(tmp_path):
    (tmp_path / "dir.pt").mkdir()
    return tmp_path / "dir.pt"


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_truncated, "not a PyTorch .pt archive"),
        (_tail_cut, "not a PyTorch .pt archive"),
        (_junk, "not a PyTorch .pt archive"),
        (_empty, "not a PyTorch .pt archive"),
        (_other_zip, "corrupt or truncated file"),
        (_missing_record, "corrupt or truncated file"),
        (_directory, "a directory, not a distilled .pt file"),
    ],
    ids=["truncated", "last_byte_cut", "junk", "empty", "zip_not_torch", "missing_storage", "directory"],
)
def test_damaged_file_is_one_distilled_file_error(tmp_path, make, match):
    path = make(tmp_path)
    with pytest.raises(DistilledFileError, match=match) as info:
        read_distilled(path)
    assert str(info.value).startswith(f"{path}: ")


def test_randomly_damaged_files_give_only_distilled_file_error(tmp_path):
    raw = write_distilled(tmp_path / "good.pt", _full_payload()).read_bytes()
    rng, path, refused = random.Random(0), tmp_path / "m.pt", 0
    for _ in range(150):
        damaged = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            validate(read_distilled(path), str(path))  # a damage that leaves a valid file is fine
        except DistilledFileError:
            refused += 1
    assert refused > 50


def test_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        read_distilled(tmp_path / "nope.pt")


# -- schema ----------------------------------------------------------------------------------------
class _Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "where", "match"),
    [
        (np.float64(0.5), "['x']", "numpy.float64.*use .item()"),
        (np.int64(3), "['env_kwargs']['n_dims']", "numpy.int64"),
        (np.str_("a"), "['x']", "numpy.str_"),
        (np.zeros(2), "['x']", "numpy.ndarray"),
        (torch.tensor(1.0), "['x']", "torch.Tensor.*use .item()"),
        (torch.Size([4]), "['obs_shape']", r"torch.Size.*use list\(shape\)"),
        ([1, {"deep": _Opaque()}], "['x'][1]['deep']", "_Opaque"),
        ({1, 2}, "['x']", "set"),
        ({1: "a"}, "['x']", "key 1 of type int; meta keys must be str"),
    ],
    ids=[
        "np_float",
        "np_int_nested",
        "np_str",
        "ndarray",
        "tensor",
        "torch_size",
        "object",
        "set",
        "int_key",
    ],
)
def test_write_refuses_meta_that_is_not_primitive(tmp_path, value, where, match):
    payload = _payload()
    if where == "['env_kwargs']['n_dims']":
        payload["meta"]["env_kwargs"] = {"n_dims": value}
    elif where == "['obs_shape']":
        payload["meta"]["obs_shape"] = value
    else:
        payload["meta"]["x"] = value
    path = tmp_path / "d.pt"
    with pytest.raises(InvalidInputError, match=match) as info:
        write_distilled(path, payload)
    assert f"meta{where}" in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and not path.exists()


def test_write_refuses_a_shape_mismatch_and_keeps_the_old_file(tmp_path):
    path = write_distilled(tmp_path / "d.pt", _payload())
    before = path.read_bytes()
    with pytest.raises(
        InvalidInputError, match=r"label must be \[k, out\] with the observation's k = 2 rows"
    ):
        write_distilled(path, _payload(label=torch.zeros(3, 2)))
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]  # no temporary left


def _meta(**changes):
    meta = {"format_version": 2, "k": 2, "env_id": "NDCartPole-v0", "learner": LEARNER}
    meta.update(changes)
    return {key: value for key, value in meta.items() if value is not _DROP}


_DROP = object()


def _bad(**changes):
    """A valid file dict (as write_distilled stores it) with ``changes``; ``_DROP`` removes a key."""
    payload = {**_payload(), "meta": _meta()}
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not _DROP}


BAD_FILES = {
    "not_a_dict": ([1, 2], "expected a dict of tensors and 'meta', got list"),
    "meta_missing": (_bad(meta=_DROP), "missing key 'meta'"),
    "meta_tensor": (_bad(meta=_meta(x=torch.tensor(1.0))), r"meta\['x'\] is a torch.Tensor"),
    "meta_tuple": (_bad(meta=_meta(x=(1, 2))), r"meta\['x'\] is a tuple"),
    "no_version": (
        _bad(meta=_meta(format_version=_DROP)),
        r"format_version'\] must be an int >= 1, got None",
    ),
    "bool_version": (_bad(meta=_meta(format_version=True)), r"format_version'\] must be an int >= 1"),
    "v1_as_plain_dict": (_bad(meta=_meta(format_version=1)), "is a plain dict but says format_version 1"),
    "unknown_key": (_bad(extra=torch.zeros(1)), r"unknown top-level key\(s\) \['extra'\]"),
    "missing_label": (_bad(label=_DROP), r"missing key\(s\) \['label'\]"),
    "label_rows": (_bad(label=torch.zeros(3, 2)), r"label must be \[k, out\] with the observation's k = 2"),
    "label_1d": (_bad(label=torch.zeros(2)), r"label must be \[k, out\]"),
    "observation_1d": (_bad(observation=torch.zeros(2)), r"observation must be \[k, \*obs_shape\]"),
    "observation_f64": (
        _bad(observation=torch.zeros(2, 4, dtype=torch.float64)),
        "float32 tensor, got torch.f",
    ),
    "observation_list": (_bad(observation=[[0.0] * 4] * 2), "observation must be a dense tensor, got list"),
    "observation_nan": (
        _bad(observation=torch.full((2, 4), float("nan"))),
        "observation contains non-finite",
    ),
    "label_inf": (_bad(label=torch.full((2, 2), float("inf"))), "label contains non-finite"),
    "lr_zero": (_bad(inner_lr=torch.tensor(0.0)), "inner_lr must be a positive scalar"),
    "lr_vector": (_bad(inner_lr=torch.tensor([0.1])), "inner_lr must be a positive scalar, got shape"),
    "log_std_shape": (_bad(log_std=torch.zeros(3)), r"log_std must have shape \[2\]"),
    "obs_norm_keys": (_bad(obs_norm={"mean": torch.zeros(4)}), "obs_norm must be a dict with exactly"),
    "obs_norm_shape": (
        _bad(obs_norm={"mean": torch.zeros(3), "var": torch.ones(3)}),
        r"obs_norm\['mean'\] must have the observation shape \[4\]",
    ),
    "obs_norm_negative_var": (
        _bad(obs_norm={"mean": torch.zeros(4), "var": -torch.ones(4)}),
        r"obs_norm\['var'\] must be >= 0",
    ),
    "encoder_without_layers": (
        _bad(encoder={"0.weight": torch.zeros(2, 2)}),
        "has an encoder but meta\\['encoder_layers'\\] is None",
    ),
    "encoder_int_tensor": (
        _bad(encoder={"0.weight": torch.zeros(2, dtype=torch.int64)}, meta=_meta(encoder_layers=1)),
        r"encoder\['0.weight'\] must be a floating-point tensor",
    ),
    "encoder_nan": (
        _bad(encoder={"0.weight": torch.tensor([float("nan")])}, meta=_meta(encoder_layers=1)),
        r"encoder\['0.weight'\] contains non-finite",
    ),
    "no_learner": (_bad(meta=_meta(learner=_DROP)), "meta has no 'learner'"),
    "learner_str": (_bad(meta=_meta(learner="lambda")), r"meta\['learner'\] must be \{'name': str"),
    "learner_extra": (
        _bad(meta=_meta(learner={**LEARNER, "code": "x"})),
        r"meta\['learner'\] must be \{'name': str, 'kwargs': dict\}",
    ),
    "env_id_int": (_bad(meta=_meta(env_id=3)), r"meta\['env_id'\] must be a str"),
    "env_kwargs_list": (_bad(meta=_meta(env_kwargs=[1])), r"meta\['env_kwargs'\] must be a dict"),
    "k_mismatch": (_bad(meta=_meta(k=5)), r"meta\['k'\] is 5 but the file has 2 observations"),
    "negative_encoder_layers": (
        _bad(meta=_meta(encoder_layers=-1)),
        r"encoder_layers'\] must be an int >= 0",
    ),
    "zero_inner_steps": (_bad(meta=_meta(inner_steps=0)), r"inner_steps'\] must be an int >= 1"),
    "obs_shape_mismatch": (
        _bad(meta=_meta(obs_shape=[3])),
        r"obs_shape'\] is \[3\] but the observations have",
    ),
    "preprocessing_code": (
        _bad(meta=_meta(preprocessing=[{"name": "Resize", "kwargs": {}, "fn": "lambda x: x"}])),
        r"meta\['preprocessing'\] must be a list of",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_read_refuses_a_file_that_breaks_the_schema(tmp_path, name):
    obj, match = BAD_FILES[name]
    path = _raw_save(tmp_path / f"{name}.pt", obj)
    with pytest.raises(DistilledFileError, match=match) as info:
        read_distilled(path)
    assert str(info.value).startswith(f"{path}: ")


def test_the_schema_cases_start_from_a_valid_file(tmp_path):
    """So that each refusal above is caused by its one change."""
    back = read_distilled(_raw_save(tmp_path / "ok.pt", _bad()))
    assert back["meta"] == _meta()
    full = {**_full_payload()}
    full["meta"] = {**full["meta"], "format_version": 2, "k": 3}
    assert read_distilled(_raw_save(tmp_path / "full.pt", full))["meta"] == full["meta"]


def test_v1_tensordict_claiming_v2_is_refused(tmp_path):
    td = TensorDict({k: v for k, v in _payload().items() if k != "meta"}, batch_size=[])
    td["meta"] = NonTensorData(_meta())
    path = _raw_save(tmp_path / "td.pt", td)
    with pytest.raises(DistilledFileError, match="is a pickled TensorDict but says format_version 2"):
        read_distilled(path)


def test_validate_returns_a_deep_copy_of_meta():
    payload = _bad(meta=_meta(env_kwargs={"n_dims": 1}))
    meta = validate(payload, "x.pt")
    assert meta == payload["meta"]
    meta["env_kwargs"]["n_dims"] = 7
    assert payload["meta"]["env_kwargs"] == {"n_dims": 1}
    with pytest.raises(DistilledFileError, match=r"^x.pt: missing key\(s\) \['label'\]$"):
        validate(_bad(label=_DROP), "x.pt")
