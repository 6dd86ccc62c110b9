"""The package's layers: every import (module top or inside a function) points down, and no modules import in a circle.

    tools/                 may import the library; the library never imports tools
    video_rs.cli           argv -> cfg glue; may import everything below
    video_rs.study/bench   may import engine, models, data, config
    video_rs.engine        models, data, config
    video_rs.models/data   config at most (not each other)
    video_rs.config        nothing of the package
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> layers it may import (its own layer is always allowed)
ALLOWED = {
    "config": set(),
    "models": {"config"},
    "data": {"config"},
    "engine": {"config", "models", "data"},
    "study": {"config", "models", "data", "engine", "bench"},
    "bench": {"config", "models", "data", "engine"},
    "cli": {"config", "models", "data", "engine", "study", "bench"},
    "tools": {"config", "models", "data", "engine", "study", "bench", "cli", "root"},
    "root": set(),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = list((ROOT / "video_rs").rglob("*.py")) + list((ROOT / "tools").glob("*.py"))
    return {_module_name(path): path for path in files}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours an imported name lives in (`video_rs.data.build_loader` -> `video_rs.data`)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    """Our modules that `module` imports anywhere in its body (top level or inside functions)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target)
            if resolved and resolved != module:
                found.add(resolved)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "tools":
        return "tools"
    if len(parts) == 1:
        return "root"
    return parts[1]


def test_the_scan_sees_the_package():
    assert {"video_rs.config", "video_rs.cli", "video_rs.engine.train", "tools.train_net"} <= set(MODULES)
    assert "video_rs.config" in GRAPH["video_rs.engine.train"] or "video_rs.models" in GRAPH["video_rs.engine.train"]
    assert set(ALLOWED) >= {_layer(module) for module in MODULES}, "a new layer needs a row in ALLOWED"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    layer = _layer(module)
    upward = sorted(target for target in GRAPH[module]
                    if _layer(target) != layer and _layer(target) not in ALLOWED[layer])
    assert not upward, f"{module} ({layer}) imports {upward}: that arrow runs back up the layers"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
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

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    return components


def test_no_import_cycles():
    assert _cycles() == []


def test_the_checks_catch_an_upward_import_and_a_cycle(monkeypatch):
    """The checks can fail: a config -> engine import and a two-module circle are both reported."""
    monkeypatch.setitem(GRAPH, "video_rs.config", GRAPH["video_rs.config"] | {"video_rs.engine.train"})
    with pytest.raises(AssertionError, match="runs back up"):
        test_imports_point_down("video_rs.config")
    monkeypatch.setitem(GRAPH, "video_rs.config.defaults", GRAPH["video_rs.config.defaults"] | {"video_rs.config"})
    assert any({"video_rs.config", "video_rs.config.defaults"} <= set(cycle) for cycle in _cycles())
