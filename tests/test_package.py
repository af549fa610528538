"""The package's shape: no import cycles between jsc_hw modules (module-level or inside functions; imports for
type checking only do not count), and `import jsc_hw` stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1] / "jsc_hw"


def import_graph() -> dict[str, set[str]]:
    mods = {".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        tree = ast.parse(p.read_text())
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[m] |= {n for n in names if n in mods and n != m and n != "jsc_hw"}
    return graph


def cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in graph[node]:
            if nxt == start:
                found.add(tuple(sorted(path)))
            elif nxt not in path and nxt > start:
                walk(start, nxt, [*path, nxt])

    for m in graph:
        walk(m, m, [m])
    return found


def test_no_import_cycles():
    graph = import_graph()
    assert "jsc_hw.jobs" in graph["jsc_hw.ray_executor"] and "jsc_hw.sweep" not in graph["jsc_hw.ray_executor"]
    assert "jsc_hw.jetgen.columns" in graph["jsc_hw.jetgen.numpy_features"]
    assert cycles(graph) == set()


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}


def test_import_jsc_hw_is_light():
    code = "import sys, jsc_hw; print(sorted(m for m in ('torch', 'numpy', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"
    code = "import jsc_hw; print(jsc_hw.TrialConfig().train.epochs, 'jsc_tiny' in jsc_hw.ARCHITECTURES)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["10", "True"]
