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


PACKAGE = Path(taskdistill_rl.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_time_imports(statements: list[ast.stmt], modules: set[str]) -> set[str]:
    """The package modules these statements import when the module is imported: top-level
    imports, and those under a plain ``if``/``try`` (not ``if TYPE_CHECKING``, not in a function)."""
    found: set[str] = set()
    for node in statements:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
            found |= _import_time_imports(node.body + node.orelse, modules)
        elif isinstance(node, ast.Try):
            blocks = node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
            found |= _import_time_imports(blocks, modules)
    return found & modules


def test_the_package_has_no_import_cycle():
    """Issue 26: no chain of import-time imports leads a package module back to itself (lazy
    imports inside functions are how a module reaches one that imports it). A package's
    ``__init__`` naming its own submodules is no cycle: Python sets the package up first."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {
        name: _import_time_imports(ast.parse(path.read_text()).body, modules) - {name}
        for name, path in paths.items()
    }

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for c in (cycle_from(name) for name in sorted(modules)) if c]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
