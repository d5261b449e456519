"""Package hygiene (issue 12): a torch-free import, lazy exports, ``python -m taskdistill_rl``."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import taskdistill_rl
import taskdistill_rl.envs

HEAVY = ("torch", "torchrl", "tensordict")

# Build and step the gymnasium env, then report which heavy modules got imported.
_STEP_AND_REPORT = """
import json, sys
import gymnasium
{setup}
env = gymnasium.make({env_id!r}, n_dims=2)
obs, _ = env.reset(seed=0)
obs, reward, terminated, truncated, _ = env.step(1)
print(json.dumps({{"shape": list(obs.shape), "reward": float(reward),
                  "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    "setup,env_id",
    [
        ("import taskdistill_rl", "NDCartPole-v0"),
        # What a spawned gymnasium worker does: import only gymnasium, name the module in the id.
        ("", "taskdistill_rl:NDCartPole-v0"),
    ],
    ids=["import-package", "gymnasium-module-id"],
)
def test_ndcartpole_builds_and_steps_without_torch(setup, env_id):
    result = _python("-c", _STEP_AND_REPORT.format(setup=setup, env_id=env_id, heavy=HEAVY))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == {"shape": [8], "reward": 1.0, "heavy": []}


def test_python_m_runs_the_cli():
    result = _python("-m", "taskdistill_rl", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"taskdistill_rl {taskdistill_rl.__version__}"


def test_version_is_a_plain_string_for_setuptools_attr():
    # pyproject.toml reads it statically (setuptools `attr`): it must stay a literal assignment.
    tree = ast.parse(Path(taskdistill_rl.__file__).read_text())
    literal = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["__version__"]
        and isinstance(node.value, ast.Constant)
    ]
    assert literal == [taskdistill_rl.__version__]


@pytest.mark.parametrize("package", [taskdistill_rl, taskdistill_rl.envs], ids=["taskdistill_rl", "envs"])
def test_every_export_resolves(package):
    assert set(package.__all__) - {"__version__"} == set(package._EXPORTS)
    for name in package.__all__:
        value = getattr(package, name)
        assert value is not None
        assert name in dir(package)
        if name != "__version__":
            assert value is getattr(sys.modules[package._EXPORTS[name]], name)


@pytest.mark.parametrize("package", [taskdistill_rl, taskdistill_rl.envs], ids=["taskdistill_rl", "envs"])
def test_unknown_attribute_raises_attribute_error(package):
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        package.no_such_name  # noqa: B018
    assert not hasattr(package, "no_such_name")


def test_errors_are_exported_and_input_errors_keep_their_builtin_bases():
    from taskdistill_rl import InvalidInputError, InvalidInputTypeError, TaskDistillError

    for name in (
        "CheckpointError",
        "DistilledFileError",
        "DivergenceError",
        "Interrupted",
        "UnknownEnvError",
    ):
        assert issubclass(getattr(taskdistill_rl, name), TaskDistillError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(InvalidInputTypeError, InvalidInputError) and issubclass(
        InvalidInputTypeError, TypeError
    )


def test_register_envs_keeps_its_old_import_path():
    from taskdistill_rl.envs.factory import NDCARTPOLE_ID, register_envs
    from taskdistill_rl.envs.registration import register_envs as registration_register_envs

    assert register_envs is registration_register_envs
    assert NDCARTPOLE_ID == "NDCartPole-v0"
