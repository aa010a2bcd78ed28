"""The layer rules of lockbuild's subpackages, read from the source (no import is run):
each subpackage imports only the layers its ``__init__`` docstring allows (one table,
``ALLOWED``, below; the docstrings must agree with it), the programs run in other
interpreters import nothing of lockbuild, no import cycle exists (function-local imports
included), every import made inside a function says why in a comment, and only the
bounded runner (``lockbuild/process.py``) starts programs."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "lockbuild"
SUBPACKAGES = ("index", "dists", "build", "resolve", "lock", "sync", "cli")

# What each layer may import besides itself: the one statement of the rule. The kernel
# is the modules at the top of lockbuild/ (value types and small shared rules).
ALLOWED: dict[str, frozenset[str]] = {
    "kernel": frozenset(),
    "index": frozenset({"kernel", "dists"}),
    "dists": frozenset({"kernel"}),
    "build": frozenset({"kernel", "dists"}),
    "resolve": frozenset({"kernel", "index", "dists", "build"}),
    "lock": frozenset({"kernel"}),
    "sync": frozenset({"kernel", "lock", "build", "index", "dists"}),
    "cli": frozenset({"kernel", "index", "dists", "build", "resolve", "lock", "sync"}),
}

# Modules whose layer is not their folder's.
PLACED = {
    # ``python -m lockbuild`` is the command line's entry point, kept where Python looks.
    "lockbuild.__main__": "cli",
}

# Imports that still break the rule, each owned by work in progress on another issue.
# An entry here is a known debt reported to the lead, never a way to pass a new import:
# the test fails when an entry no longer occurs too, so the list only shrinks.
KNOWN_VIOLATIONS: frozenset[tuple[str, str]] = frozenset()

# Import cycles still open, as the sorted modules of each (none: the lock's two formats
# are renderings of one model, lock/model.py, chosen in lock/formats.py).
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the lockbuild module imported
    line: int
    local: bool  # made inside a function
    type_only: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str:
    if module in PLACED:
        return PLACED[module]
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else "kernel"


def is_module(name: str) -> bool:
    path = PACKAGE.parent / Path(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "programs" not in p.parts)


def _walk(node: ast.AST, local: bool, type_only: bool) -> Iterator[tuple[ast.AST, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, local, type_only
        inner_local = local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        inner_type = type_only or (
            isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
        )
        yield from _walk(child, inner_local, inner_type)


def imports_of(path: Path) -> list[Import]:
    source = module_name(path)
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    found: list[Import] = []
    for node, local, type_only in _walk(ast.parse(path.read_text()), False, False):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                names.append(full if is_module(full) else base)
        for name in names:
            if name == "lockbuild" or name.startswith("lockbuild."):
                found.append(Import(source, name, getattr(node, "lineno", 0), local, type_only))
    return found


ALL_IMPORTS = [imp for path in sources() for imp in imports_of(path)]


def violations() -> set[tuple[str, str]]:
    found = set()
    for imp in ALL_IMPORTS:
        if imp.target == "lockbuild":  # __version__
            continue
        mine, theirs = layer(imp.source), layer(imp.target)
        if theirs != mine and theirs not in ALLOWED[mine]:
            found.add((imp.source, imp.target))
    return found


def test_every_import_keeps_to_its_layer() -> None:
    new = sorted(violations() - KNOWN_VIOLATIONS)
    assert not new, "imports across the layer rules:\n" + "\n".join(f"{a} -> {b}" for a, b in new)


def test_the_known_violations_are_still_there() -> None:
    """An entry fixed elsewhere leaves the list (so it only shrinks)."""
    assert sorted(KNOWN_VIOLATIONS - violations()) == []


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        ("lockbuild.target", "lockbuild.build.programs", False),
        ("lockbuild.build.environments", "lockbuild.sync.interpreter", False),
        ("lockbuild.resolve.source", "lockbuild.sync.builder", False),
        ("lockbuild.resolve.hookrounds", "lockbuild.cli.options", False),
        ("lockbuild.index.page", "lockbuild.dists.metadata", True),
        ("lockbuild.sync.run", "lockbuild.lock.pair", True),
        ("lockbuild.lock.pair", "lockbuild.sync.run", False),
        ("lockbuild.__main__", "lockbuild.cli.main", True),
        ("lockbuild.cli.main", "lockbuild.sync.run", True),
        ("lockbuild.model", "lockbuild.errors", True),
        ("lockbuild.errors", "lockbuild.index.fetcher", False),
    ],
)
def test_the_rule_itself(source: str, target: str, allowed: bool) -> None:
    mine, theirs = layer(source), layer(target)
    assert (theirs == mine or theirs in ALLOWED[mine]) is allowed


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_docstring_states_the_tables_rule(name: str) -> None:
    """Each subpackage's ``__init__`` says what it may import, as ``ALLOWED`` does."""
    doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())) or ""
    sentence = re.split(r"[Mm]ay import", " ".join(doc.split()), maxsplit=1)[-1]
    sentence = "" if sentence == " ".join(doc.split()) else sentence
    assert sentence, f"lockbuild/{name}/__init__.py does not say what it may import"
    if name == "cli":
        assert sentence.strip().startswith("everything")
        return
    stated = {other for other in SUBPACKAGES if f"``{other}``" in sentence}
    assert "kernel" in sentence
    assert stated == set(ALLOWED[name]) - {"kernel"}


def test_programs_import_nothing_of_lockbuild() -> None:
    """The files run inside other interpreters see the standard library only."""
    for path in sorted((PACKAGE / "build" / "programs").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("lockbuild"), path
                assert node.level == 0, path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("lockbuild") for a in node.names), path


def cycles() -> set[tuple[str, ...]]:
    """Every set of modules that import one another at run time (strongly connected,
    more than one module), function-local imports included."""
    graph: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        if imp.type_only or imp.target == "lockbuild":
            continue
        graph.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[tuple[str, ...]] = set()

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            members = []
            while True:
                top = stack.pop()
                members.append(top)
                if top == node:
                    break
            if len(members) > 1:
                found.add(tuple(sorted(members)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert sorted(cycles() - KNOWN_CYCLES) == []
    assert sorted(KNOWN_CYCLES - cycles()) == []


def unexplained_local_imports(path: Path) -> list[str]:
    """Imports made inside a function with no comment saying why: none on the import's
    own lines and none on the line above the group of imports it belongs to."""
    text = path.read_text()
    lines = text.splitlines()
    found: list[str] = []
    for node, local, _ in _walk(ast.parse(text), False, False):
        if not local or not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        own = lines[node.lineno - 1 : (node.end_lineno or node.lineno)]
        if any("#" in line for line in own):
            continue
        above = node.lineno - 2
        grouped = False  # another import of the same group says why
        while above >= 0 and re.match(r"\s*(from \S+ )?import |\s*\)|\s+\w+,?$|\s*$", lines[above]):
            grouped = grouped or "#" in lines[above]
            above -= 1
        if grouped or (above >= 0 and lines[above].strip().startswith("#")):
            continue
        found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {own[0].strip()}")
    return found


def test_every_function_local_import_says_why() -> None:
    """A function-local import is for start-up speed (or a platform): it says so."""
    found = [line for path in sources() for line in unexplained_local_imports(path)]
    assert found == []


STARTERS = {
    ("subprocess", "run"),
    ("subprocess", "Popen"),
    ("subprocess", "call"),
    ("subprocess", "check_call"),
    ("subprocess", "check_output"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("os", "system"),
    ("os", "popen"),
    ("os", "posix_spawn"),
    ("os", "posix_spawnp"),
    ("os", "execv"),
    ("os", "execve"),
    ("os", "execvp"),
    ("os", "execvpe"),
    ("os", "spawnv"),
    ("os", "spawnve"),
}


def test_only_the_bounded_runner_starts_programs() -> None:
    """Every program lockbuild starts goes through lockbuild/process.py (its own process
    group, a time limit, its group killed): no other module calls subprocess or os to
    start one. (``programs/`` run inside other interpreters and start none.)"""
    found = []
    for path in sources():
        if module_name(path) == "lockbuild.process":
            continue
        where = path.relative_to(PACKAGE.parent)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if (node.value.id, node.attr) in STARTERS:
                    found.append(f"{where}:{node.lineno}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("subprocess", "os"):
                found += [
                    f"{where}:{node.lineno}: from {node.module} import {a.name}"
                    for a in node.names
                    if (node.module, a.name) in STARTERS
                ]
    assert found == []
