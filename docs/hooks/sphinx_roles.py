"""Griffe extension: docstrings' Sphinx roles become mkdocstrings cross-references.

The package's docstrings cross-reference with Sphinx roles (``:class:`DistilledDataset```,
``:func:`~taskdistill_rl.envs.factory.make_env```, ``:meth:`PPMO.update```). mkdocstrings does not
know them and would print them as text, so once Griffe has loaded the package (``on_package``) every
docstring's roles are rewritten, before mkdocstrings renders anything, to the cross-reference
element that mkdocstrings' own templates emit for annotations::

    :class:`~taskdistill_rl.algorithms.ppmo.PPMO`
    ->  <autoref identifier="taskdistill_rl.algorithms.ppmo.PPMO" optional><code>PPMO</code></autoref>

mkdocs-autorefs turns the element into a link to the object's heading wherever the site renders
it, and into plain ``<code>`` where it renders nowhere (a private helper, ``matplotlib``): the
``optional`` flag, which keeps ``mkdocs build --strict`` quiet for those.

Names are resolved as Sphinx's Python domain resolves them: an absolute dotted path as it is; a
relative one in the scope of the object whose docstring holds it (a method's class, then the
module, its imports, then the package above), then as the unique object of that name anywhere in
the package. A package's lazy exports (its ``_EXPORTS = {name: module}``, PEP 562) count as its
members, so ``taskdistill_rl.envs.make_env`` is ``taskdistill_rl.envs.factory.make_env``. The
identifier is the object's canonical path (where it is defined), which is the id of the heading
mkdocstrings writes for it.

Titles follow Sphinx: the target as written, ``~`` keeps its last component only, an explicit
``title <target>`` keeps the title, and ``!`` (no link) gives plain code.

Registered under ``plugins: mkdocstrings: handlers: python: options: extensions:`` in
``mkdocs.yml``; ``tests/test_docs_site.py`` checks the built site holds no raw role.
"""

from __future__ import annotations

import ast
import html
import logging
import re
from typing import Any

import griffe

_log = logging.getLogger("mkdocs.plugins.taskdistill_rl.sphinx_roles")

ROLES = ("class", "func", "meth", "mod", "attr", "data", "exc", "obj", "const", "type")
# :role:`target`, :py:role:`target`, :role:`title <target>`; the target may wrap onto the next line
ROLE = re.compile(r":(?:py:)?(?P<role>" + "|".join(ROLES) + r"):`(?P<text>[^`]+)`")
_EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$", re.S)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader | None, **kwargs: Any) -> None:
        index = _NameIndex(pkg)
        for obj in _walk(pkg):
            docstring = obj.docstring
            if docstring is None or ":" not in docstring.value:
                continue
            new = ROLE.sub(lambda match, obj=obj: _replace(match, obj, index, loader), docstring.value)
            if new != docstring.value:
                docstring.value = new
                docstring.__dict__.pop("parsed", None)  # a cached parse of the old text

    def on_package_loaded(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Older Griffe names the event so (a second pass, where both run, finds no role left)."""
        self.on_package(pkg=pkg, loader=kwargs.get("loader"))


def rewrite(text: str, obj: griffe.Object, loader: griffe.GriffeLoader | None = None) -> str:
    """``text`` with its roles rewritten as if it were ``obj``'s docstring (for tests)."""
    index = _NameIndex(obj.package)
    return ROLE.sub(lambda match: _replace(match, obj, index, loader), text)


def _walk(obj: griffe.Object):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _replace(match: re.Match, obj: griffe.Object, index: _NameIndex, loader: Any) -> str:
    text = " ".join(match["text"].split())
    explicit = _EXPLICIT_TITLE.match(text)
    if explicit:
        title, target = explicit["title"], explicit["target"].strip()
    else:
        title, target = None, text
    if target.startswith("!"):
        return f"`{title or target[1:]}`"
    short = target.startswith("~")
    target = target.lstrip("~")
    if title is None:
        title = target.rsplit(".", 1)[-1] if short else target
    identifier = _resolve(target.lstrip("."), obj, index, loader)
    if identifier is None:
        _log.debug("%s: %s not found in the package; left to autorefs as written", obj.path, target)
        identifier = target.lstrip(".")
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(title)}</code></autoref>"
    )


def _resolve(target: str, obj: griffe.Object, index: _NameIndex, loader: Any) -> str | None:
    """The canonical path of ``target`` named in ``obj``'s docstring, or None."""
    collection = loader.modules_collection if loader is not None else None
    if collection is not None:
        try:
            return _canonical(collection[target])
        except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            pass
    first, *rest = target.split(".")
    scope: griffe.Object | None = obj if obj.is_class or obj.is_module else obj.parent
    while scope is not None:
        members = _members(scope, collection)
        if first in members:
            found = _descend(members[first], rest, collection)
            if found is not None:
                return found
        scope = scope.parent
    for candidate in index.named(first):
        found = _descend(candidate, rest, collection)
        if found is not None:
            return found
    return None


def _descend(obj: griffe.Object | griffe.Alias, parts: list[str], collection: Any) -> str | None:
    try:
        for part in parts:
            obj = _members(_final(obj), collection)[part]
        return _canonical(obj)
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _members(obj: griffe.Object, collection: Any) -> dict[str, Any]:
    """``obj``'s members: a class's inherited ones too, a package's lazy exports too."""
    if obj.is_class:
        return obj.all_members
    members = dict(obj.members)
    exports = members.get("_EXPORTS")
    if obj.is_module and collection is not None and exports is not None and not exports.is_alias:
        try:
            lazy = ast.literal_eval(str(exports.value))
        except (ValueError, SyntaxError):
            lazy = {}
        for name, module in lazy.items() if isinstance(lazy, dict) else ():
            if name not in members:
                try:
                    members[name] = collection[f"{module}.{name}"]
                except KeyError:
                    pass
    return members


def _final(obj: griffe.Object | griffe.Alias) -> griffe.Object:
    return obj.final_target if obj.is_alias else obj


def _canonical(obj: griffe.Object | griffe.Alias) -> str:
    return _final(obj).path


class _NameIndex:
    """Every object of the package by its short name (the last resort: a unique name)."""

    def __init__(self, pkg: griffe.Object):
        self._by_name: dict[str, list[griffe.Object]] = {}
        for obj in _walk(pkg):
            self._by_name.setdefault(obj.name, []).append(obj)

    def named(self, name: str) -> list[griffe.Object]:
        found = self._by_name.get(name, [])
        return found if len(found) == 1 else []
