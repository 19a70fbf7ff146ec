"""The layers and the one-way rule (docs/architecture.md), checked on the source itself."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("inference", "app", "scorer", "training")
# What each package may import of the others: the core nothing; the app and the scorer the core;
# training the core where sharing is right. The app and the scorer never import training.
ALLOWED = {
    "inference": set(),
    "app": {"inference"},
    "scorer": {"inference"},
    "training": {"inference"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module of ours that a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        # `from pkg import module` names a module; `from module import function` names the module.
        edges[name] = {target if target in modules else target.rsplit(".", 1)[0] for target in imports_of(path)}
        edges[name] = {target for target in edges[name] if target in modules and target != name}
    return edges


def test_no_module_imports_a_layer_above_it():
    upward = [(source, target) for source, targets in graph().items() for target in targets
              if target.split(".")[0] != source.split(".")[0]
              and target.split(".")[0] not in ALLOWED[source.split(".")[0]]]
    assert upward == []


def test_no_import_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_graph_sees_the_imports_it_checks():
    """The checks above would pass on an empty graph: make sure it holds known edges."""
    edges = graph()
    assert "inference.c_decoders" in edges["inference.decode"]
    assert "inference.decode" in edges["app.predict_inputs"]
    assert "inference.predictor" in edges["scorer.cli"]
    assert "inference.nets" in edges["training.models"]


def test_importing_the_core_and_the_scorer_loads_neither_flask_nor_werkzeug():
    modules = sorted(name for name in graph() if name.split(".")[0] in ("inference", "scorer")
                     and name != "scorer.__main__")
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert len(modules) > 20
    assert result.stdout.strip() == "[]"
