"""The package's shape: no import cycles between jsc_hw modules (module-level or inside functions; imports for
type checking only do not count), `import jsc_hw` stays light, and the library raises only jsc-hw's errors."""

from __future__ import annotations

import ast
import builtins
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


#: builtins the library may still raise: an abstract method's marker, SIGTERM turned into Ctrl-C, the module
#: ``__getattr__`` protocol
ALLOWED_BUILTIN_RAISES = {"NotImplementedError", "KeyboardInterrupt", "AttributeError"}
BUILTIN_ERRORS = {name for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, BaseException)}


def builtin_raises(root: Path = ROOT) -> list[str]:
    """``file:line name`` of every ``raise <builtin>(...)`` in the package (re-raising a caught one is fine)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and isinstance(node.exc.func, ast.Name):
                name = node.exc.func.id
                if name in BUILTIN_ERRORS and name not in ALLOWED_BUILTIN_RAISES:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {name}")
    return found


def test_the_library_raises_only_the_jsc_hw_error_family(tmp_path):
    """Every problem the library reports is a JscHwError (one line at the CLI, its own exit status), never a bare
    ValueError/RuntimeError that the CLI would have to guess about."""
    assert builtin_raises() == []
    (tmp_path / "jsc_hw").mkdir()
    (tmp_path / "jsc_hw" / "m.py").write_text("def f():\n    raise ValueError('x')\n")
    assert builtin_raises(tmp_path / "jsc_hw") == ["jsc_hw/m.py:2 ValueError"]  # the scan finds one
