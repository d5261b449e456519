"""MkDocs hook for the API page (``docs/api.md``): the ``DistillConfig`` field table and a table of
contents whose entries name their class.

- :data:`CONFIG_MARKER` in the page is replaced by :func:`config_table`: one row per field of
  ``taskdistill_rl.config.DistillConfig`` (name, type, default, its attribute docstring), read with
  Griffe from the source like every other docstring on the page, Sphinx roles rewritten by
  ``docs/hooks/sphinx_roles.py``. Each row carries an anchor with the field's path, so
  ``[k][taskdistill_rl.config.DistillConfig.k]`` links to its row.
- :func:`qualify_toc` renames the page's table-of-contents entries for class members from
  ``forward`` to ``PPMOLoss.forward`` (mkdocstrings labels a member by its bare name, and
  ``evaluate``, ``sample`` or ``state_dict`` belong to several classes), and a module's from
  ``devices`` to ``taskdistill_rl.devices``.

Registered under ``hooks:`` in ``mkdocs.yml``; ``tests/test_docs_site.py`` checks the built page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

PAGE = "api.md"
CONFIG_MARKER = (
    "<!-- distill-config-fields: generated from taskdistill_rl.config by docs/hooks/api_reference.py -->"
)
CONFIG_PATH = "taskdistill_rl.config.DistillConfig"
ROOT = Path(__file__).resolve().parents[2]

_SYMBOL = re.compile(r'doc-symbol-(?P<kind>class|method|function|attribute|module|type_alias)"')
_DOCS_LINK = re.compile(r"\bdocs/(?P<page>[\w/.-]+\.md)(?P<anchor>#[\w-]+)?")


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    """Replace :data:`CONFIG_MARKER` on the API page with :func:`config_table`."""
    if page.file.src_uri != PAGE or CONFIG_MARKER not in markdown:
        return markdown
    return markdown.replace(CONFIG_MARKER, config_table())


def on_page_content(html: str, *, page: Any, config: Any, files: Any) -> str:
    """Qualify the API page's table of contents (:func:`qualify_toc`)."""
    if page.file.src_uri == PAGE and page.toc is not None:
        qualify_toc(page.toc.items)
    return html


def qualify_toc(items: list[Any]) -> None:
    """Relabel mkdocstrings' entries (their ids are the objects' dotted paths): a member of a class
    rendered on the page as ``Class.member``, a module as its full path."""
    flat = list(_flatten(items))
    classes = {item.id: item for item in flat if _kind(item) == "class"}
    names: dict[str, str] = {}
    for item in flat:  # in page order: a class comes before its members
        kind = _kind(item)
        if kind is None:
            continue
        parent, _, name = item.id.rpartition(".")
        if kind == "module":
            label = item.id
        elif parent in classes:
            label = f"{names.get(parent, parent.rpartition('.')[2])}.{name}"
        else:
            label = name
        names[item.id] = label
        # <wbr>: a long qualified name may break after a dot instead of being cut off
        item.title = _SYMBOL_PREFIX.match(item.title).group(0) + label.replace(".", ".<wbr>")


_SYMBOL_PREFIX = re.compile(r"(?:<code[^>]*></code>(?:&nbsp;| ))?")


def _flatten(items: list[Any]):
    for item in items:
        yield item
        yield from _flatten(item.children)


def _kind(item: Any) -> str | None:
    match = _SYMBOL.search(item.title)
    return match["kind"] if match and "." in item.id else None


def config_fields() -> list[Any]:
    """``DistillConfig``'s dataclass fields as Griffe attributes, in definition order."""
    import griffe

    loader = griffe.GriffeLoader(
        search_paths=[str(ROOT)],
        extensions=griffe.load_extensions(str(ROOT / "docs" / "hooks" / "sphinx_roles.py")),
    )
    loader.load("taskdistill_rl")
    cls = loader.modules_collection[CONFIG_PATH]
    return [
        member
        for name, member in cls.members.items()
        if not member.is_alias
        and member.is_attribute
        and "instance-attribute" in member.labels
        and not name.startswith("_")
    ]


def config_table() -> str:
    """Markdown table of ``DistillConfig``'s fields: field, type, default, description."""
    rows = [
        '<div class="config-fields" markdown>',
        "",
        "| field | type | default | description |",
        "|---|---|---|---|",
    ]
    for attr in config_fields():
        anchor = f"[](){{#{attr.path}}}"
        doc = " ".join((attr.docstring.value if attr.docstring else "").split())
        doc = _DOCS_LINK.sub(lambda m: f"[{m[0]}]({m['page']}{m['anchor'] or ''})", doc)
        rows.append(
            f"| {anchor}`{attr.name}` | {_code(str(attr.annotation))} | {_code(_default(attr.value))} "
            f"| {doc.replace('|', chr(92) + '|')} |"
        )
    return "\n".join([*rows, "", "</div>"]) + "\n"


def _default(value: Any) -> str:
    text = str(value)
    factory = re.fullmatch(r"field\(default_factory=(\w+)\)", text)
    empty = {"dict": "{}", "list": "[]", "tuple": "()", "set": "set()"}
    return empty.get(factory[1], f"{factory[1]}()") if factory else text


def _code(text: str) -> str:
    return f"`{text}`"  # a pipe inside a code span does not split a table row
