"""The import rules of docs/ARCHITECTURE.md, checked on the source: which package may import
which, that the writer loads no SDK reader, that nothing imports the CLI, and no circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "asynctokens"


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(module: str, *, at_start: bool) -> set[str]:
    """The asynctokens modules ``module`` imports: at start-up only (module level, outside
    ``if TYPE_CHECKING``), or anywhere (function bodies and type-only imports too)."""
    tree = ast.parse(MODULES[module].read_text())
    found: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                if not at_start:
                    visit(child, top)
                continue
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                if not at_start:
                    visit(child, False)
                continue
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    found.add(full if full in MODULES else child.module)
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            visit(child, top)

    visit(tree, True)
    return {m for m in found if m == "asynctokens" or m.startswith("asynctokens.")}


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


#: package -> the packages (besides itself and the exception tree) its modules may import
ALLOWED = {
    "asynctokens.record": set(),
    "asynctokens.stats": {"asynctokens.record"},
    "asynctokens.pricing": {"asynctokens.record"},
    "asynctokens.sinks": {"asynctokens.record", "asynctokens"},  # __version__, lazily
    "asynctokens.read": {"asynctokens.record", "asynctokens.stats", "asynctokens.pricing"},
    "asynctokens.render": {"asynctokens.record", "asynctokens.pricing", "asynctokens.read"},
    "asynctokens.budgets": {
        "asynctokens.record",
        "asynctokens.stats",
        "asynctokens.pricing",
        "asynctokens.read",
    },
    "asynctokens.reconcile": {
        "asynctokens.record",
        "asynctokens.stats",
        "asynctokens.pricing",
        "asynctokens.read",
    },
}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_lower_package_imports_only_what_lies_below_it(package: str) -> None:
    allowed = {package, "asynctokens._errors", *ALLOWED[package]}
    wrong = {
        (module, imported)
        for module in MODULES
        if in_package(module, package)
        for imported in imports(module, at_start=False)
        if not any(in_package(imported, a) if a != "asynctokens" else imported == a
                   for a in allowed)
    }  # fmt: skip
    assert wrong == set()


def test_the_read_side_and_the_cli_never_import_the_writer() -> None:
    readers = [m for m in MODULES if in_package(m, "asynctokens.read") or m in (
        "asynctokens.cli", "asynctokens.reader", "asynctokens.summary", "asynctokens.aio",
        "asynctokens.sql")]  # fmt: skip
    wrong = {
        (m, i)
        for m in readers
        for i in imports(m, at_start=False)
        if in_package(i, "asynctokens.writer") or i == "asynctokens.integrations._instrument"
    }
    assert len(readers) >= 10 and wrong == set()


def test_no_module_of_the_library_imports_the_cli() -> None:
    wrong = {
        m for m in MODULES if m != "asynctokens.__main__"
        and "asynctokens.cli" in imports(m, at_start=False)
    }  # fmt: skip
    assert wrong == set()


def test_the_writer_loads_no_sdk_reader_at_start_up() -> None:
    """The facade's SDK entry points import the integrations when first called, so a
    tracker that only logs never loads them; the integrations build on the public API."""
    assert start_up_edges("asynctokens.writer", "asynctokens.integrations") == set()
    assert start_up_edges("asynctokens.integrations", "asynctokens.writer") == set()


def start_up_edges(source: str, target: str) -> set[tuple[str, str]]:
    """(module, imported) for each start-up import from package ``source`` into ``target``."""
    return {
        (m, i)
        for m in MODULES
        if in_package(m, source)
        for i in imports(m, at_start=True)
        if in_package(i, target)
    }


def test_no_import_circle_at_start_up() -> None:
    graph = {m: {i for i in imports(m, at_start=True) if i in MODULES} for m in MODULES}
    # a package's __init__ is imported with any of its modules: not an edge of a circle
    graph = {m: {i for i in deps if not in_package(m, i)} for m, deps in graph.items()}
    circles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_checks_see_a_forbidden_import() -> None:
    """The checks above can fail: they find the imports a module really has."""
    assert "asynctokens.record._files" in imports("asynctokens.record._lines", at_start=True)
    assert "asynctokens.writer._tracker" in imports("asynctokens", at_start=False)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_500_lines(module: str) -> None:
    assert len(MODULES[module].read_text().splitlines()) <= 500


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_class_is_over_300_lines(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    long = {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and (node.end_lineno or 0) - node.lineno + 1 > 300
    }
    # TokenTracker's hot log() may stay as it is, with its guards (docs/ARCHITECTURE.md)
    if "TokenTracker" in long:
        log = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "log")
        long["TokenTracker"] -= (log.end_lineno or log.lineno) - log.lineno + 1
        long = {k: v for k, v in long.items() if v > 300}
    assert long == {}
