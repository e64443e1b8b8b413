"""The package's import graph: no import cycles, no upward imports between packages.

Every ``import`` of a ``wsup_spark`` module anywhere in a module (top level or inside a function)
is an edge. Packages are ranked by the pipeline's layering (README "Architecture"); a module may
import from its own package or from a lower-ranked one only. ``from wsup_spark import NAME`` is
resolved to the module that defines NAME.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "wsup_spark"

#: Lowest first. A package may import only from ranks below its own (and from itself).
LAYERS: list[set[str]] = [
    {"errors", "_lazy"},
    {"json_values", "tasks", "lf", "stats"},
    {"labelmodel"},
    {"config"},
    {"io"},
    {"spark"},
    {"run"},
    {"analysis", "endmodel", "augment"},
    {"pipeline"},
    {"cli", "demo", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_of(module: str) -> str:
    """``wsup_spark.io.delta`` → ``io``; ``wsup_spark`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def root_exports() -> dict[str, str]:
    """Top-level name → the module that defines it (eager imports and the lazy table)."""
    root = importlib.import_module("wsup_spark")
    out = dict(root._LAZY)
    tree = ast.parse((ROOT / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wsup_"):
            for alias in node.names:
                out[alias.asname or alias.name] = node.module
    return out


def collect_edges() -> dict[str, set[str]]:
    exports = root_exports()
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("wsup_spark")]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "wsup_spark" and mod != "wsup_spark":
                    targets = [exports.get(a.name, f"wsup_spark.{a.name}") for a in node.names]
                elif node.module.startswith("wsup_spark"):
                    targets = [node.module]
                    for a in node.names:  # ``from wsup_spark.analysis import plots``
                        if f"{node.module}.{a.name}" in modules:
                            targets.append(f"{node.module}.{a.name}")
            for t in targets:
                while t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t != mod and t in modules:
                    edges[mod].add(t)
    return edges


def test_every_package_has_a_layer():
    packages = {package_of(m) for m in collect_edges()}
    assert packages <= set(RANK), f"give these packages a layer: {sorted(packages - set(RANK))}"


def test_no_upward_or_sideways_imports_between_packages():
    bad = []
    for mod, targets in collect_edges().items():
        for t in targets:
            src, dst = package_of(mod), package_of(t)
            if src != dst and RANK[dst] >= RANK[src]:
                bad.append(f"{mod} -> {t} ({src} rank {RANK[src]} -> {dst} rank {RANK[dst]})")
    assert not bad, "imports against the layering:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    edges = collect_edges()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", ["pyspark", "torch", "scipy", "pandas", "deltalake"])
def test_importing_the_package_is_cheap(module):
    import subprocess
    import sys

    code = f"import wsup_spark, sys; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", f"import wsup_spark imported {module}"


def test_the_checker_sees_a_planted_upward_import(tmp_path, monkeypatch):
    """The layering check is not vacuous: an io module importing the pipeline is reported."""
    fake = tmp_path / "wsup_spark"
    for p in ROOT.rglob("*.py"):
        dest = fake / p.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(p.read_text())
    (fake / "io" / "planted.py").write_text("from wsup_spark.pipeline import run_pipeline\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    with pytest.raises(AssertionError, match="wsup_spark.io.planted -> wsup_spark.pipeline"):
        test_no_upward_or_sideways_imports_between_packages()
