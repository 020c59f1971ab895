"""The layout rules of docs/architecture.md, checked on the package as it is.

- no package module over 400 lines (migrations aside): a module a newcomer can read at once;
- no import cycle between package modules, imports inside functions included;
- importing a package module builds no broker (declaring a job is free of side effects);
- SQL text only in ``store.py`` modules, ``sql.py`` and migrations.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "yoked_actors"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    """Every package module by dotted name, migrations excluded."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if "migrations" in relative.parts:
            continue
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def test_no_package_module_is_longer_than_400_lines() -> None:
    too_long = {
        name: count
        for name, path in MODULES.items()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these modules (lines): {too_long}"


def _imports(name: str, path: Path) -> set[str]:
    """The package modules ``name`` imports anywhere in its body (lazy imports included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the submodule when there is one.
            targets.update(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            )
    return {target for target in targets if target in MODULES and target != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycle_between_package_modules() -> None:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_lazy_cycle() -> None:
    # The check above must be able to fail: a cycle closed by an import inside a function.
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


#: Modules that start processes or serve people: they set up the broker on purpose.
ENTRY_POINTS = ("yoked_actors.cli", "yoked_actors.entrypoint", "yoked_actors.__main__")


def test_importing_package_modules_builds_no_broker() -> None:
    names = [name for name in MODULES if not name.startswith(ENTRY_POINTS)]
    script = (
        "import importlib, sys, dramatiq.broker\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "    if dramatiq.broker.global_broker is not None:\n"
        "        sys.exit('importing ' + name + ' built a broker')\n"
        "from yoked_actors.jobs import JOBS\n"
        "print(len(JOBS))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr or done.stdout
    assert int(done.stdout) >= 8  # the actor modules were imported and their jobs declared


# A string is SQL when it starts like a statement, or holds an upper-case statement keyword
# followed by its clause (docstrings are prose and are skipped).
_SQL_START = re.compile(
    r"^\s*\(?\s*(select\s|insert\s+into|update\s+\w+\s+set|delete\s+from|copy\s+\w+"
    r"|with\s+\w+\s+as\s*\(|create\s+(table|index|database)|drop\s+(table|database)"
    r"|alter\s+table|truncate\s|lock\s+table|set\s+local|listen\s|notify\s|vacuum|analyze\s)",
    re.IGNORECASE,
)
_SQL_INSIDE = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT INTO|UPDATE\s+\w+\s+SET|DELETE FROM|ON CONFLICT)\b", re.DOTALL
)

#: Modules allowed to hold SQL text outside store modules, each with the reason.
SQL_ALLOWED: dict[str, str] = {
    "yoked_actors.sql": "the database-access module itself",
    "yoked_actors.dev.service": "creates the development database on the embedded server (server "
    "administration before any session exists, not a domain's data)",
}


def _is_store(name: str) -> bool:
    return name.rpartition(".")[2] == "store" or ".store." in f"{name}."


def _docstrings(tree: ast.AST) -> set[int]:
    nodes = [tree, *ast.walk(tree)]
    return {
        id(node.body[0].value)
        for node in nodes
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def sql_strings(source: str) -> list[str]:
    """The string literals of ``source`` that read as SQL (f-string parts joined)."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            value = "".join(
                part.value if isinstance(part, ast.Constant) else "x" for part in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
        else:
            continue
        if _SQL_START.search(value) or _SQL_INSIDE.search(value):
            found.append(value.strip().splitlines()[0][:80])
    return found


def test_sql_text_lives_only_in_store_modules() -> None:
    offenders = {
        name: strings
        for name, path in MODULES.items()
        if not _is_store(name)
        and name not in SQL_ALLOWED
        and (strings := sql_strings(path.read_text()))
    }
    assert offenders == {}, "move this SQL into the domain's store.py"


@pytest.mark.parametrize(
    ("source", "is_sql"),
    [
        ('Q = "SELECT id FROM users WHERE id = :id"', True),
        ('Q = f"INSERT INTO {table} VALUES (1)"', True),
        ('Q = """\n    WITH due AS (SELECT 1) UPDATE t SET a = 1"""', True),
        ('def f():\n    """Select the users from the day, then update them."""', False),
        ('message = "selected 3 users from the queue"', False),
    ],
)
def test_the_sql_detector_tells_sql_from_prose(source: str, is_sql: bool) -> None:
    assert bool(sql_strings(source)) is is_sql
