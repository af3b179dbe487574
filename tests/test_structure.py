"""The package's floors: layers import Keras only, the checks nothing of ours, no module
imports itself round a cycle (lazy imports included), and no function runs over 60 lines."""

import ast

import pytest
from conftest import REPO

PACKAGE = REPO / "mlp_tutorial"
MODULES = {
    ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): path
    for path in sorted(PACKAGE.rglob("*.py"))
}


def imports_of(path):
    """The modules of ours that ``path`` imports, at the top or inside a function, and the
    names its ``importlib`` lookups build (``f"mlp_tutorial.{module}"``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Constant) and f"mlp_tutorial.{node.value}" in MODULES:
            found.add(f"mlp_tutorial.{node.value}")
    return {name for name in found if name in MODULES and name != "mlp_tutorial"}


def third_party_imports(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", [m for m in MODULES if m.startswith("mlp_tutorial.layers.")])
def test_a_layer_module_imports_keras_only(module):
    assert third_party_imports(MODULES[module]) - {"keras", "mlp_tutorial"} == set()
    assert imports_of(MODULES[module]) <= {"mlp_tutorial.layers.mlp"}  # the shared MLP


def test_the_checks_import_nothing_of_ours():
    assert imports_of(MODULES["mlp_tutorial.checks"]) == set()


def test_no_import_cycle():
    graph = {module: imports_of(path) - {module} for module, path in MODULES.items()}

    def reach(start, module, seen):
        for target in graph[module]:
            if target == start:
                return True
            if target not in seen:
                seen.add(target)
                if reach(start, target, seen):
                    return True
        return False

    assert [module for module in graph if reach(module, module, set())] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_function_over_60_lines(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert [f.name for f in functions if f.end_lineno - f.lineno + 1 > 60] == []
