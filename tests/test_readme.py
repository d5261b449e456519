"""The README and the docs show code that runs as written (issue 13).

Every fenced ``python`` block of ``README.md`` and ``docs/*.md`` runs, top to bottom, in one
namespace per file, in a fresh directory (a fresh checkout: nothing under ``runs/``). Tracebacks
name the markdown file and its line. Two exceptions, both listed here rather than hidden:

- ``FAST``: the README distils for 150 s and then evaluates 100 learners x 100 episodes. The test
  replaces exactly those literal strings, each of which must occur once in the README (so a README
  edit shows up here instead of silently running for minutes): 1 meta-epoch and a 2 x 2 final
  evaluation. Everything else runs as printed. The run's ``summary.json`` times the fit of 10
  learners instead of 1000 (``fit_seconds_per_learner``: sampling 1000 orthogonal-init learners
  takes 10-30 s on 2 cores, a cost of the timing, not of anything the README shows).
- ``ILLUSTRATIVE``: a block whose first line is ``# illustrative`` is not meant to run and is
  skipped; the test checks the markdown marks exactly the blocks listed (none today).

``bash`` blocks do not run (they train for minutes). Instead every ``taskdistill ...`` line in the
README's and the docs' shell blocks must name a command that exists and only options its
``--help`` lists. The options are read from the click command the help is rendered from (every
option that is not hidden), not scraped from the rendered help, whose table truncates long names
at narrow widths; each command's ``--help`` is run too.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from taskdistill_rl import distill
from taskdistill_rl.cli import app, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))

FAST = {  # README text -> what the test runs instead (see the module docstring)
    ".train(time_budget=150)": ".train(epochs=1)",
    'out_dir="runs/py2d")': 'out_dir="runs/py2d", final_learners=2, final_episodes=2)',
}
ILLUSTRATIVE: dict[str, list[int]] = {}  # file name -> first lines of its `# illustrative` blocks
REQUIRES = {"interop.md": "stable_baselines3"}  # docs whose blocks need an extra
SHELL = {"bash", "sh", "shell", "console", ""}  # fence languages holding commands ("" = no language)

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


def _blocks(path: Path, languages: set[str]) -> list[tuple[int, str]]:
    """``(line of the block's first code line, code)`` for each fenced block in ``languages``."""
    text = path.read_text()
    return [
        (text.count("\n", 0, m.start(2)) + 1, m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) in languages
    ]


def _is_illustrative(code: str) -> bool:
    return code.lstrip().startswith("# illustrative")


def _run_blocks(path: Path, replace: dict[str, str] | None = None) -> dict:
    """Run ``path``'s python blocks in order in one namespace; return the namespace."""
    namespace: dict = {"__name__": "__main__"}
    for line, code in _blocks(path, {"python"}):
        if _is_illustrative(code):
            continue
        for old, new in (replace or {}).items():
            code = code.replace(old, new)
        # padded so that a traceback points at the markdown file's own line numbers
        exec(compile("\n" * (line - 1) + code, str(path), "exec"), namespace)
    return namespace


def test_readme_python_blocks_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    fit_seconds = distill.fit_seconds_per_learner
    monkeypatch.setattr(distill, "fit_seconds_per_learner", lambda ds: fit_seconds(ds, n=10))
    text = README.read_text()
    for old in FAST:
        assert text.count(old) == 1, f"FAST expects {old!r} once in README.md: update FAST with the README"
    namespace = _run_blocks(README, FAST)
    printed = capsys.readouterr().out
    # the repr of the dataset (issue 13): env, k, observation shape, learner and inner lr
    assert re.search(
        r"DistilledDataset\(env='NDCartPole-v0', k=3, obs_shape=\(8,\), learner='lambda', "
        r"inner_lr=[\d.e-]+\)",
        printed,
    ), printed
    assert (tmp_path / "runs" / "py2d" / "distilled.pt").is_file()
    # the episode loop ran to its end, with predict's result passed straight to env.step
    episode_return = namespace["episode_return"]
    assert isinstance(episode_return, float) and episode_return >= 1
    assert namespace["terminated"] or namespace["truncated"]
    assert f"episode return: {episode_return}" in printed


@pytest.mark.parametrize("doc", [d for d in DOCS if _blocks(d, {"python"})], ids=lambda d: d.name)
def test_docs_python_blocks_run_as_written(doc, tmp_path, monkeypatch):
    if doc.name in REQUIRES:
        pytest.importorskip(REQUIRES[doc.name])
    monkeypatch.chdir(tmp_path)
    _run_blocks(doc)


def test_illustrative_blocks_are_exactly_the_listed_ones():
    marked = {
        path.name: [line for line, code in _blocks(path, {"python"}) if _is_illustrative(code)]
        for path in [README, *DOCS]
    }
    assert {name: lines for name, lines in marked.items() if lines} == ILLUSTRATIVE


def _commands() -> list[tuple[str, list[str]]]:
    """``(where, argv after "taskdistill")`` for every ``taskdistill`` line in a shell block."""
    found = []
    for path in [README, *DOCS]:
        for first, code in _blocks(path, SHELL):
            for offset, line in enumerate(code.replace("\\\n", " ").splitlines()):
                line = line.strip().removeprefix("$ ")
                if line.startswith("taskdistill "):  # other lines need not be shell at all
                    tokens = shlex.split(line, comments=True)
                    found.append((f"{path.name}:{first + offset}", tokens[1:]))
    return found


def _options(command, ctx: typer.Context) -> set[str]:
    """Every option name ``command --help`` lists (typer vendors click: no isinstance checks)."""
    names = set(command.get_help_option_names(ctx))
    for param in command.params:
        if param.param_type_name == "option" and not param.hidden:
            names.update(param.opts, param.secondary_opts)
    return names


COMMANDS = _commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 10 and any(where.startswith("README.md") for where, _ in COMMANDS)


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_documented_command_lines_use_existing_commands_and_options(where, argv, capsys):
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="taskdistill")
    path: list[str] = []
    args = list(argv)
    while hasattr(command, "list_commands") and args and not args[0].startswith("-"):  # a group
        sub = command.get_command(ctx, args[0])
        assert sub is not None, (
            f"{where}: `taskdistill {' '.join(path + args[:1])}` is not a command; "
            f"`taskdistill {' '.join(path)} --help` lists {sorted(command.list_commands(ctx))}"
        )
        path.append(args.pop(0))
        command, ctx = sub, typer.Context(sub, info_name=path[-1], parent=ctx)
    known = _options(command, ctx)
    used = [arg.split("=", 1)[0] for arg in args if arg.startswith("-") and arg != "-"]
    unknown = [name for name in used if name not in known]
    assert not unknown, (
        f"{where}: `taskdistill {' '.join(path)}` has no option {unknown}; it has {sorted(known)}"
    )
    assert main([*path, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out
