"""The package's shape: imports flow one way (scenario → job → transport → engine → recorder →
run folder), and no module grows past about 300 lines without saying why at its top."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "synthconv"


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every synthconv module `path` imports, at the top or inside a function (a lazy import
    hides a cycle from Python, not from this)."""
    name = _name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.level and node.module else base if node.level else node.module
            # `from . import pipeline` imports the module pipeline; `from .x import name` imports x
            subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
            targets = subs if subs and len(subs) == len(node.names) else [base] + subs
        else:
            continue
        found |= {t for t in targets if t in modules and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    files = {_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files)) for name, path in files.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    graph = _graph()
    assert "synthconv.runfolder.index" in graph and graph["synthconv.runner"], "the import graph was not read"
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_a_cycle_is_found():
    """The checker itself: a lazy import back up the chain is a cycle."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_contract_does_not_depend_on_its_producers():
    """The run folder contract is read by inspect and written by the runner; it imports neither,
    nor any transport or engine."""
    graph = _graph()
    for name in (n for n in graph if n.startswith("synthconv.runfolder")):
        assert all(dep.startswith(("synthconv.runfolder", "synthconv.errors")) for dep in graph[name]), (name, graph[name])


def test_the_orchestrator_loads_no_agent_models():
    """generate's side of a LiveKit run (orchestrator, observer, CLI) shares only names with the
    agents (transport/protocol.py): importing it must not load the speech plugins."""
    import subprocess
    import sys

    code = ("import sys, synthconv.transport.livekit, synthconv.cli, synthconv.supervisor; "
            "print(sorted(m for m in sys.modules if m.startswith('livekit.plugins')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
