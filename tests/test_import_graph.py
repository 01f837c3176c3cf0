"""The house is one-way: no import cycles between w2vvx modules, no private names imported across modules, and the
library never imports the recipes (they depend on w2vvx, never the other way round)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "w2vvx"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path):
    """``(imported module, imported name or None, line)`` for every import statement, top level or not."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, path.name == "__init__.py")
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                if submodule in MODULES:  # `from w2vvx.models import presets` imports a module
                    yield submodule, None, node.lineno
                else:
                    yield target, alias.name, node.lineno


def _edges():
    edges = {}
    for module, path in MODULES.items():
        edges[module] = {target for target, _, _ in _imports(module, path) if target in MODULES and target != module}
    return edges


def test_no_module_imports_a_module_that_imports_it_back():
    edges = _edges()
    mutual = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets
                     if a in edges.get(b, ()) and not (a.startswith(b + ".") or b.startswith(a + "."))})
    assert not mutual, f"modules importing each other: {mutual}"


def test_no_import_cycles_between_modules():
    """Cycles through a package's own ``__init__`` (it re-exports its submodules) are not counted."""
    edges = _edges()

    def related(a, b):
        return a.startswith(b + ".") or b.startswith(a + ".")

    graph = {a: {b for b in targets if not related(a, b)} for a, targets in edges.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
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
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


def test_no_private_names_imported_across_modules():
    offenders = []
    for module, path in MODULES.items():
        for target, name, line in _imports(module, path):
            if name and name.startswith("_") and not name.startswith("__") and target != module:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {name} from {target}")
    assert not offenders, "\n".join(offenders)


def test_the_library_never_imports_the_recipes():
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {target}" for module, path in MODULES.items()
                 for target, _, line in _imports(module, path)
                 if target.split(".")[0] in ("recipes", "w2vvx_recipes")]
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize("source, expected", [
    ("from w2vvx.models.w2vv import W2VVRetriever", [("w2vvx.models.w2vv", "W2VVRetriever")]),
    ("from . import presets", [("w2vvx.models.presets", None)]),
    ("from .configs import get_config", [("w2vvx.models.configs", "get_config")]),
])
def test_the_import_parser_resolves_relative_and_module_imports(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source + "\n", encoding="utf-8")
    assert [(target, name) for target, name, _ in _imports("w2vvx.models.example", path)] == expected
