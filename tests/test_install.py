"""The README's install lines work as written (issue 24, item 7: it said ``pip install
taskdistill_rl``, a package that is not on PyPI, while ``taskdistill`` there is someone else's).

The block after the README's ``<!-- install`` comment runs line by line in a copy of the
repository, in a fresh virtual environment whose ``pip`` reaches no index (``PIP_NO_INDEX``):
the dependencies come from this environment (its site-packages, without this package, joined to
the new one by a ``.pth`` file), and builds use the setuptools at hand (``PIP_NO_BUILD_ISOLATION``
off) instead of fetching one. After each install of the package, ``import taskdistill_rl`` (from
another directory) and the ``taskdistill`` entry point are checked; the wheel's install must
resolve to the new environment's site-packages, not to a source tree.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OUR_NAMES = {"taskdistill", "taskdistill-rl"}  # on an index: not ours yet, or someone else's
VALUE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint"}
# what the package needs at run time and pip needs to install it, found in this environment
NEEDED = ("torch", "torchrl", "tensordict", "gymnasium", "numpy", "typer", "rich", "matplotlib", "PIL")
NEEDED += ("tomli_w", "pip", "setuptools")


def _install_block() -> list[str]:
    """The commands of the fenced block after ``<!-- install``, without comments."""
    text = README.read_text()
    start = text.find("<!-- install")
    assert start >= 0, "README.md marks no install block with <!-- install"
    block = re.search(r"```bash\n(.*?)^```", text[start:], re.S | re.M)
    assert block and text[start:].index("```") == block.start(), "<!-- install must precede a bash block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def _requirements(command: str) -> list[str]:
    """What ``pip install ...`` in ``command`` asks for (option values skipped; ``-e X`` gives X)."""
    words = shlex.split(command, comments=True)
    if words[:2] != ["pip", "install"]:
        return []
    out, skip = [], False
    for word in words[2:]:
        if skip:
            skip = False
        elif word in VALUE_OPTIONS:
            skip = True
        elif not word.startswith("-"):
            out.append(word)
    return out


def _is_local(requirement: str) -> bool:
    return requirement.startswith((".", "/", "~")) or "/" in requirement or ".whl" in requirement


def test_the_readme_installs_this_package_only_from_a_clone_or_a_wheel():
    commands = [
        line
        for block in re.findall(r"```bash\n(.*?)^```", README.read_text(), re.S | re.M)
        for line in block.splitlines()
    ]
    requirements = [r for c in commands for r in _requirements(c)]
    assert requirements, "the README shows no pip install"
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]*", requirement).group().lower().replace("_", "-")
        assert _is_local(requirement) or name not in OUR_NAMES, (
            f"README: `pip install {requirement}` asks an index for a package that is not this one"
        )
    install = _install_block()
    assert any(c.startswith("make wheel") for c in install) and any(".whl" in c for c in install)
    assert any(r == "." for c in install for r in _requirements(c))  # the clone's own install


def _site_packages_of(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    origin = Path(spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin)
    return origin.parent


def _fresh_venv(tmp_path: Path) -> Path:
    """A venv with this environment's dependencies (a mirror of their site-packages without this
    package) and a ``pip`` that is this environment's pip run by the venv's python."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, env=_clean_env(),
    ).stdout.strip()  # fmt: skip
    mirrors = []
    for i, site in enumerate(sorted({_site_packages_of(m) for m in NEEDED})):
        mirror = tmp_path / f"deps{i}"
        mirror.mkdir()
        for entry in site.iterdir():
            if not entry.name.lower().startswith(("taskdistill", "__editable__")) and entry.suffix != ".pth":
                (mirror / entry.name).symlink_to(entry)
        mirrors.append(str(mirror))
    (Path(purelib) / "dependencies.pth").write_text("\n".join(mirrors) + "\n")
    (venv / "bin" / "pip").write_text(f'#!/bin/sh\nexec "{python}" -m pip "$@"\n')
    (venv / "bin" / "pip").chmod(0o755)
    return venv


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    if venv is not None:
        env |= {
            "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "VIRTUAL_ENV": str(venv),
            "PIP_NO_INDEX": "1",  # offline: nothing comes from an index
            "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of --no-build-isolation
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
    return env


def _copy_of_the_repository(tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "Makefile"):
        shutil.copy2(ROOT / name, clone / name)
    shutil.copytree(
        ROOT / "taskdistill_rl", clone / "taskdistill_rl", ignore=shutil.ignore_patterns("__pycache__")
    )
    return clone


@pytest.mark.skipif(sys.platform == "win32" or shutil.which("make") is None, reason="needs make and sh")
def test_the_readme_install_lines_work_offline_in_a_fresh_environment(tmp_path):
    import torch

    clone, venv = _copy_of_the_repository(tmp_path), _fresh_venv(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _clean_env(venv)

    def run(command: str, cwd: Path) -> str:
        done = subprocess.run(
            command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    checked = []
    for command in _install_block():
        pin = re.search(r"\btorch==([\w.]+)", command)
        if pin and torch.__version__.split("+")[0] != pin.group(1):
            continue  # another torch here: the README's pin cannot be installed offline
        run(command, clone)
        if _requirements(command) and not pin:  # an install of this package
            where = Path(
                run("python -c 'import taskdistill_rl; print(taskdistill_rl.__file__)'", elsewhere).strip()
            )
            expected = clone if command.split()[2] == "-e" else venv
            assert where.is_relative_to(expected), (command, where)
            assert "Usage: taskdistill" in run("taskdistill --help", elsewhere)
            checked.append(expected.name)
    assert checked == ["clone", "venv"]  # the clone's editable install, then the wheel
