"""The layers stay layered: who may import whom, read from the source with ``ast``.

Parsing instead of importing sees every import, also the lazy ones inside functions and
the ones a run would never reach. Imports under ``if TYPE_CHECKING:`` never run, so a rule
may allow them (storage typing retrieval's ``Answer``). A failing rule lists every
offending ``file:line``, not just the first.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Calls that import a module named by a string (``importlib.import_module("x")``).
_DYNAMIC_IMPORTS = frozenset({"import_module", "__import__"})


@dataclass(frozen=True)
class Import:
    """One import statement (or dynamic import call) and the module names it may load."""

    path: Path
    line: int
    modules: tuple[str, ...]
    type_only: bool  # under ``if TYPE_CHECKING:``
    guarded: bool  # in the body of a ``try``: its failure may be swallowed

    def at(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Collector(ast.NodeVisitor):
    """Walks one module, remembering whether it is under TYPE_CHECKING or inside a ``try``."""

    def __init__(self, path: Path, package: str) -> None:
        self.path = path
        self.package = package
        self.type_only = False
        self.guarded = False
        self.found: list[Import] = []

    def _add(self, node: ast.AST, modules: list[str]) -> None:
        line = getattr(node, "lineno", 0)
        names = tuple(name for name in modules if name)
        self.found.append(Import(self.path, line, names, self.type_only, self.guarded))

    def visit_Import(self, node: ast.Import) -> None:
        self._add(node, [alias.name for alias in node.names])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            anchor = ".".join(parts[: len(parts) - node.level + 1])
            base = f"{anchor}.{base}" if base else anchor
        # ``from bot import listeners`` loads ``bot.listeners``: count both.
        subs = [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
        self._add(node, [base, *subs])

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        first = node.args[0] if node.args else None
        if name in _DYNAMIC_IMPORTS and isinstance(first, ast.Constant):
            self._add(node, [str(first.value)])
        self.generic_visit(node)

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        outer = self.type_only
        self.type_only = True
        for statement in node.body:
            self.visit(statement)
        self.type_only = outer
        for statement in node.orelse:
            self.visit(statement)

    def visit_Try(self, node: ast.Try) -> None:
        outer = self.guarded
        self.guarded = True
        for statement in node.body:
            self.visit(statement)
        self.guarded = outer
        for part in (*node.handlers, *node.orelse, *node.finalbody):
            self.visit(part)

    visit_TryStar = visit_Try


def _package_of(path: Path) -> str:
    """The package a relative import in ``path`` starts from."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def imports_in_source(source: str, path: Path, package: str) -> list[Import]:
    """Every import in ``source`` (``path`` and ``package`` say where it lives)."""
    collector = _Collector(path, package)
    collector.visit(ast.parse(source, filename=str(path)))
    return collector.found


def imports_under(where: str) -> list[Import]:
    """Every import in the ``.py`` files at ``where`` (a folder or one file, from the root)."""
    target = ROOT / where
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files, f"nothing to check at {where}"
    found: list[Import] = []
    for path in files:
        found += imports_in_source(path.read_text(encoding="utf-8"), path, _package_of(path))
    return found


def _names(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


@dataclass(frozen=True)
class Rule:
    """Code under ``where`` never imports a module under any of ``forbidden``."""

    where: str
    forbidden: tuple[str, ...]
    type_only_allowed: bool = False

    def offences(self) -> list[str]:
        offences = []
        for found in imports_under(self.where):
            if self.type_only_allowed and found.type_only:
                continue
            bad = [module for module in found.modules if _names(module, self.forbidden)]
            if bad:
                offences.append(f"{found.at()} imports {bad[0]}")
        return offences


SLACK = ("slack_bolt", "slack_sdk")
RULES = {
    "retrieval is Slack-free and bot-free": Rule("retrieval", ("bot", *SLACK)),
    "storage does not reach up into the bot or retrieval": Rule(
        "bot/storage", ("bot.listeners", "bot.app", "retrieval"), type_only_allowed=True
    ),
    "config sits below every layer": Rule("config", ("bot", "retrieval")),
    "privacy is a leaf both storage and logging can import": Rule(
        "bot/privacy.py", ("bot", "retrieval", *SLACK)
    ),
    "bot never imports the tests": Rule("bot", ("tests",)),
    "retrieval never imports the tests": Rule("retrieval", ("tests",)),
    "config never imports the tests": Rule("config", ("tests",)),
}


@pytest.mark.parametrize("rule", RULES.values(), ids=list(RULES))
def test_layers_import_only_downwards(rule: Rule) -> None:
    offences = rule.offences()
    assert not offences, f"{rule.where} must not import {rule.forbidden}:\n" + "\n".join(offences)


def test_storage_and_logging_import_redaction_by_name_unguarded() -> None:
    """A missing redaction module must fail at import, never leave logs unredacted."""
    for where in ("bot/logs.py", "bot/storage"):
        plain = [
            found
            for found in imports_under(where)
            if "bot.privacy" in found.modules and not (found.type_only or found.guarded)
        ]
        assert plain, f"{where} does not import bot.privacy at run time"
    guarded = [
        f"{found.at()} imports bot.privacy inside a try"
        for found in imports_under("bot")
        if found.guarded and any(_names(module, ("bot.privacy",)) for module in found.modules)
    ]
    assert not guarded, "\n".join(guarded)


def test_the_scanner_sees_lazy_relative_dynamic_and_type_only_imports() -> None:
    """The rules above are only as good as the scanner: it must not miss an import."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from retrieval.models import Answer\n"
        "def later():\n"
        "    from .. import listeners\n"
        "    try:\n"
        "        import slack_sdk.web\n"
        "    except ImportError:\n"
        "        pass\n"
        "    return importlib.import_module('tests.fake_slack')\n"
    )
    path = ROOT / "bot" / "storage" / "example.py"
    found = {f.line: f for f in imports_in_source(source, path, "bot.storage")}
    assert found[3].type_only and "retrieval.models" in found[3].modules
    assert "bot.listeners" in found[5].modules and not found[5].type_only
    assert found[7].guarded and found[7].modules == ("slack_sdk.web",)
    assert found[10].modules == ("tests.fake_slack",)
    assert found[10].at() == "bot/storage/example.py:10"
