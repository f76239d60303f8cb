"""Import cycles between Engram's own modules, function-local imports included.

Every `import` / `from … import` in every module of the apps (module level, in functions, under TYPE_CHECKING) is
an edge from that module to the module it names (`from pkg import mod` names `pkg.mod` when that is a module; the
implicit import of a parent package's `__init__` is not counted). The strongly connected components of that graph
with more than one module are cycles. An import listed in ALLOWED is left out, but only while it stays inside a
function: those are the cycles that are inherent (a Celery task body, an AppConfig.ready), each with its reason.

Usage: python scripts/import_cycles.py [ROOT]  (exit status 1 and the cycles on stdout when there are any)
"""

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("lib", "accounts", "memory", "agents", "api", "ade", "config")

# (importer, imported): imports that may close a cycle because they run only inside a function body.
ALLOWED: dict[tuple[str, str], str] = {
    ("agents.runtime.tasks", "agents.runtime.loop"): "the Celery task body runs the loop, whose end dispatches the "
    "next run to this task",
    ("agents.runtime.executor", "agents.runtime.loop"): "the in-process pool's job body (what a Celery task body is "
    "for a worker) runs the loop, whose end dispatches the next run to this pool",
    ("agents.runtime.executor", "agents.runtime.dispatch"): "the in-process pool's sweep and recovery jobs re-send "
    "lost dispatches to this pool",
    ("agents.runtime.executor", "agents.runtime.lease"): "the in-process pool's recovery job hands back runs a dead "
    "process held, which are dispatched to this pool again",
}


def modules(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import of the module, and whether it sits inside a function."""

    def walk(node: ast.AST, local: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child, local
            yield from walk(child, local or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    yield from walk(tree, False)


def graph(root: Path) -> dict[str, set[str]]:
    """module → the modules it imports (ours only), the allowed function-local imports left out."""
    known = modules(root)
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node, local in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                # `from pkg import mod` imports pkg.mod; `from pkg import name` imports pkg (a parent package's
                # __init__ that runs first is not counted: every submodule would otherwise close a cycle with it).
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                while target and target not in known:
                    target = target.rpartition(".")[0]
                if not target or target == name:
                    continue
                if local and (name, target) in ALLOWED:
                    continue
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    found = cycles(graph(root))
    for component in found:
        print("cycle: " + " ↔ ".join(component))
    if not found:
        print(f"no import cycles among {len(modules(root))} modules ({len(ALLOWED)} allowed function-local imports)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
