"""MkDocs hook: the command-line reference, rendered from the typer app at build time.

``docs/cli-reference.md`` is a stub holding :data:`MARKER`; :func:`on_page_markdown` replaces the
marker with :func:`render` of ``taskdistill_rl.cli.app``. Every command and sub-command is read
from the click command typer builds (``typer.main.get_command``): its usage line, its help text,
its arguments and a table of its options with their defaults, taken from the same help records
``--help`` prints. A command or option added to the app appears here without editing any page
(``tests/test_docs_reference.py`` checks it).

Registered under ``hooks:`` in ``mkdocs.yml``.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

MARKER = "<!-- cli-reference: generated from taskdistill_rl.cli.app by docs/hooks/cli_reference.py -->"
PAGE = "cli-reference.md"

_CODE_SPAN = re.compile(r"(`[^`]*`)")


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """Replace :data:`MARKER` on the reference page with the rendered reference."""
    if page.file.src_uri != PAGE or MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


def render(app: Any = None, prog_name: str = "taskdistill") -> str:
    """Markdown for every command of ``app`` (default: ``taskdistill_rl.cli.app``), in the order
    ``--help`` lists them, groups followed by their sub-commands."""
    import typer.main

    if app is None:
        from taskdistill_rl.cli import app
    root = typer.main.get_command(app)
    ctx = typer.Context(root, info_name=prog_name, **root.context_settings)
    sections: list[str] = []
    for command, command_ctx in walk(root, ctx):
        sections.append(_command_section(command, command_ctx))
    return "\n".join(sections).rstrip() + "\n"


def walk(command: Any, ctx: Any) -> list[tuple[Any, Any]]:
    """``(command, context)`` for ``command`` and, if it is a group, every command below it,
    depth first, in each group's ``list_commands`` order; hidden commands are left out."""
    import typer

    found = [(command, ctx)]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            sub_ctx = typer.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
            found.extend(walk(sub, sub_ctx))
    return found


def _command_section(command: Any, ctx: Any) -> str:
    path = ctx.command_path
    out = [f"## {path}", "", "```text", _usage(command, ctx), "```", ""]
    help_text = _help_markdown(command.help or "")
    if help_text:
        out += [help_text, ""]
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    arguments = [p for p in params if p.param_type_name == "argument"]
    options = [p for p in params if p.param_type_name == "option"]
    if arguments:
        out += ["| argument | description |", "|---|---|"]
        for param in arguments:
            name, _ = param.get_help_record(ctx)
            required = " (required)" if param.required else ""
            out.append(f"| {_code(name)} | {_cell(param.help or '')}{required} |")
        out.append("")
    if options:
        out += ["| option | default | description |", "|---|---|---|"]
        for param in options:
            out.append(_option_row(param, ctx))
        out.append("")
    if hasattr(command, "list_commands"):
        subs = [
            (name, command.get_command(ctx, name))
            for name in command.list_commands(ctx)
            if not getattr(command.get_command(ctx, name), "hidden", False)
        ]
        out += ["| command | what it does |", "|---|---|"]
        for name, sub in subs:
            anchor = _anchor(f"{path} {name}")
            summary = _help_markdown(_first_paragraph(sub.help or ""), table=True)
            out.append(f"| [{_code(f'{path} {name}')}](#{anchor}) | {summary} |")
        out.append("")
    return "\n".join(out)


def _usage(command: Any, ctx: Any) -> str:
    return " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])


def _option_row(param: Any, ctx: Any) -> str:
    """``| flags | default | help |`` from the help record ``--help`` prints: the record's text is
    the option's help followed by ``  [default: ...; range; required]``."""
    name, record = param.get_help_record(ctx)
    own_help = param.help or ""
    extras = record[len(own_help) :].strip() if record.startswith(own_help) else ""
    if extras.startswith("[") and extras.endswith("]"):
        parts = [part.strip() for part in extras[1:-1].split(";")]
    else:
        parts = [extras] if extras else []
    default = next((p.removeprefix("default:").strip() for p in parts if p.startswith("default:")), None)
    notes = [p for p in parts if not p.startswith("default:")]
    if default is not None:
        default_cell = _code(default)
    elif param.is_flag and not param.secondary_opts and not param.default:
        default_cell = "off"
    elif param.required:
        default_cell, notes = "required", [note for note in notes if note != "required"]
    else:
        default_cell = "—"
    description = _help_markdown(own_help, table=True)
    if notes:
        description += f" ({', '.join(_code(note) if note != 'required' else note for note in notes)})"
    return f"| {_code(name)} | {default_cell} | {description.strip()} |"


def _help_markdown(text: str, *, table: bool = False) -> str:
    """Click help text as markdown: ``\\f`` ends it, paragraphs are re-joined (click rewraps them
    too), ``\\b`` paragraphs keep their lines, and markdown's special characters outside code
    spans are escaped. In a table cell, paragraphs are joined by ``<br>``."""
    text = inspect.cleandoc(text).split("\f")[0]
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            paragraphs.append("<br>".join(_escape(line) for line in lines[1:]))
        else:
            paragraphs.append(_escape(" ".join(line.strip() for line in lines)))
    return ("<br><br>" if table else "\n\n").join(p for p in paragraphs if p)


def _escape(text: str) -> str:
    """Escape markdown and HTML outside `code spans` (help texts use backticks for commands)."""
    pieces = _CODE_SPAN.split(text)
    for i in range(0, len(pieces), 2):  # even pieces are outside code spans
        piece = pieces[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        pieces[i] = re.sub(r"([\\*_\[\]|])", r"\\\1", piece)
    return "".join(pieces)


def _code(text: str) -> str:
    """``text`` as one code span that survives a table cell."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    return f"{fence}{text}{fence}" if fence == "`" else f"{fence} {text} {fence}"


def _first_paragraph(text: str) -> str:
    return re.split(r"\n\s*\n", inspect.cleandoc(text).split("\f")[0].strip())[0]


def _cell(text: str) -> str:
    return _help_markdown(text, table=True)


def _anchor(heading: str) -> str:
    """The id MkDocs' toc extension gives a heading (lower case, words joined by ``-``)."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading).strip().lower())
