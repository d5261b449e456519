"""The generated reference pages cannot drift from what they describe (issue 17).

- ``docs/cli-reference.md`` is rendered at build time by the MkDocs hook
  ``docs/hooks/cli_reference.py`` from the typer app. These tests walk the app's click commands
  themselves and check that the rendering has every command and every option, so a command or
  option the generator drops fails here, and one added to the app appears without a docs edit.
- ``docs/reproducing.md`` is written by ``results/reproducing_page.py`` from the committed results,
  and ``docs/minatar-results.md`` by ``results/minatar/page.py`` from the committed MinAtar runs;
  each committed page must be what its script writes now.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import pytest
import typer
import typer.main

from taskdistill_rl.cli import app

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "docs" / "hooks" / "cli_reference.py"
REPRODUCING_SCRIPT = ROOT / "results" / "reproducing_page.py"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hook():
    return _load(HOOK, "cli_reference_hook")


@pytest.fixture(scope="module")
def reference(hook) -> str:
    return hook.render()


def _commands(typer_app, prog: str = "taskdistill") -> dict[str, object]:
    """``{"taskdistill zoo list": click command, ...}``: every command below the app, walked here
    independently of the hook (typer vendors click: no isinstance checks)."""
    root = typer.main.get_command(typer_app)
    found = {}

    def walk(command, ctx, path):
        found[" ".join(path)] = command
        if hasattr(command, "list_commands"):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                walk(sub, typer.Context(sub, info_name=name, parent=ctx), [*path, name])

    walk(root, typer.Context(root, info_name=prog), [prog])
    return found


def _sections(markdown: str) -> dict[str, str]:
    """``{"taskdistill distill": its section's markdown}`` from the ``## taskdistill ...`` headings."""
    parts = re.split(r"^## (taskdistill\b.*)$", markdown, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _option_names(command) -> list[str]:
    return [
        name
        for param in command.params
        if param.param_type_name == "option" and not param.hidden
        for name in (*param.opts, *param.secondary_opts)
    ]


def test_the_reference_has_a_section_for_every_command(reference):
    commands = _commands(app)
    # the walk itself sees the commands this test was written for
    assert {"taskdistill distill", "taskdistill rollout", "taskdistill zoo", "taskdistill zoo list"} <= set(
        commands
    )
    sections = _sections(reference)
    missing = sorted(set(commands) - set(sections))
    assert not missing, f"the CLI reference has no section for {missing}"
    assert len(sections) == len(commands), sorted(set(sections) - set(commands))


@pytest.mark.parametrize("path", sorted(_commands(app)), ids=lambda p: p.replace(" ", "-"))
def test_every_option_and_argument_of_a_command_is_in_its_section(reference, path):
    command = _commands(app)[path]
    section = _sections(reference)[path]
    assert f"```text\n{path} " in section, f"{path}: no usage line"
    assert (command.help or "").split()[0] in section, f"{path}: no help text"
    missing = [
        name for name in _option_names(command) if f"`{name}" not in section and f" {name}" not in section
    ]
    assert not missing, f"{path}: options {missing} are not in its reference section"
    for param in command.params:
        if param.param_type_name == "argument":
            assert f"`{param.name}" in section, f"{path}: argument {param.name!r} is missing"


def test_every_distill_option_has_its_default(reference):
    command = _commands(app)["taskdistill distill"]
    rows = {
        line.split(" | ")[0].strip("| `"): line
        for line in _sections(reference)["taskdistill distill"].splitlines()
    }
    assert {"--epochs <int range>", "--time-budget <float>", "--k <int range>", "--nproc <int range>"} <= set(
        rows
    )
    for param in command.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        row = next(line for key, line in rows.items() if key.split(" ")[0].rstrip(",") in param.opts)
        if param.default is not None and param.default is not False and not param.secondary_opts:
            assert f"`{param.default}`" in row, f"{param.opts}: default {param.default!r} not in {row!r}"
    assert "| `--out <path>` | `runs/distill` |" in _sections(reference)["taskdistill distill"]


def test_a_command_or_option_added_to_an_app_appears_without_editing_the_docs(hook):
    extra = typer.Typer()

    @extra.command()
    def alpha(
        beta: Annotated[int, typer.Option(help="The beta <value> | with *markdown* characters.")] = 3,
        gamma_flag: Annotated[bool, typer.Option("--gamma-flag", help="A flag.")] = False,
    ) -> None:
        """Alpha does a thing.

        Second paragraph."""

    group = typer.Typer(help="A group.")
    extra.add_typer(group, name="things")

    @group.command("new")
    def new(name: Annotated[str, typer.Argument(help="Its name.")]) -> None:
        """Make a new thing."""

    markdown = hook.render(extra, prog_name="prog")
    assert set(_sections(markdown.replace("## prog", "## taskdistill"))) == {
        "taskdistill",
        "taskdistill alpha",
        "taskdistill things",
        "taskdistill things new",
    }
    assert "| `--beta <int>` | `3` | The beta &lt;value&gt; \\| with \\*markdown\\* characters. |" in markdown
    assert "| `--gamma-flag` | off | A flag. |" in markdown
    assert "Alpha does a thing.\n\nSecond paragraph." in markdown
    assert "| `name <str>` | Its name. (required) |" in markdown
    assert "[`prog things new`](#prog-things-new)" in markdown


def test_the_stub_page_is_filled_by_the_hook_registered_in_mkdocs(hook, reference):
    stub = (ROOT / "docs" / hook.PAGE).read_text()
    assert hook.MARKER in stub
    assert "## taskdistill" not in stub, "the committed page must stay a stub: the hook renders it"
    assert re.search(
        r"^hooks:\n(?:  - .*\n)*  - docs/hooks/cli_reference\.py", (ROOT / "mkdocs.yml").read_text(), re.M
    )
    page = SimpleNamespace(file=SimpleNamespace(src_uri=hook.PAGE))
    built = hook.on_page_markdown(stub, page=page, config=None, files=None)
    assert hook.MARKER not in built and reference in built
    other = SimpleNamespace(file=SimpleNamespace(src_uri="index.md"))
    assert hook.on_page_markdown(stub, page=other, config=None, files=None) == stub


def test_the_reproducing_page_is_what_the_script_writes_from_the_committed_results():
    script = _load(REPRODUCING_SCRIPT, "reproducing_page")
    committed = (ROOT / script.PAGE).read_text()
    assert committed == script.render(), (
        "docs/reproducing.md is out of date with results/: run `.venv/bin/python results/reproducing_page.py`"
    )


def _table_rows(markdown: str) -> list[list[str]]:
    """The body rows of every markdown table (header and separator left out), as cells."""
    lines, rows = markdown.splitlines(), []
    for i, line in enumerate(lines):
        is_header = i + 1 < len(lines) and lines[i + 1].startswith("|---")
        if line.startswith("| ") and not is_header:
            rows.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return rows


def test_every_row_of_the_reproducing_page_names_its_source():
    rows = _table_rows((ROOT / "docs" / "reproducing.md").read_text())
    assert len(rows) >= 30
    for row in rows:
        assert re.fullmatch(r"`(results|taskdistill_rl/zoo)/[^`]+`|Table \d+", row[-1]), f"no source: {row}"


def test_the_minatar_results_page_is_what_the_script_writes_from_the_committed_runs():
    script = _load(ROOT / "results" / "minatar" / "page.py", "minatar_page")
    stale = "docs/minatar-results.md is out of date: run `.venv/bin/python results/minatar/page.py`"
    assert script.PAGE.read_text() == script.page(), stale
    # every committed run directory is on the page, and each run on it is one of the planned ones
    committed = {path.parent.name for path in (ROOT / "results" / "minatar").glob("*/eval.json")}
    planned = {name for name, *_ in script.RUNS} | set(script.ROLLBACK)
    assert committed <= planned
