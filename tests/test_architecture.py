"""The package's rooms import one way, along the pipeline (docs/architecture.md): a module imports only
from rooms of a lower rank or its own, the room graph has no cycle, run-time code never reaches the
corpus generator, training or evaluation, and bpy appears only in the modules that run inside Blender."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "engine" / "duet"

RANK = {
    "duet": 0, "constants": 0, "errors": 0, "files": 0, "frames": 0, "arkit": 0, "motion": 0, "progress": 0,
    "llm": 0, "runtime": 0,
    "rigs": 1, "audio": 1, "emotion": 1, "layout": 1, "exports": 1,
    "speech": 2, "model": 2, "animators": 2,
    "dialogue": 3,
    "pipeline": 4,
    "blender": 5, "service": 5,
    "render": 6,
    "corpus": 7,
    "train": 8, "eval": 8,
    "cli": 9, "__main__": 10,
}
OFFLINE = {"corpus", "train", "eval", "cli", "__main__"}
BPY_MODULES = ("blender/", "exports/scene_export.py", "render/preview.py", "render/avatar_views.py")


def room(module: str) -> str:
    """'duet.model.infer' -> 'model'; 'duet' (the package itself, e.g. __version__) -> 'duet'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "duet"


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, at any depth (lazy imports count)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "duet":  # a submodule, or an attribute of the package itself (__version__)
                out += [(node.lineno, f"duet.{a.name}" if _is_module(a.name) else "duet") for a in node.names]
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return out


def _is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def module_room(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.name != "__init__.py" else "duet"


def test_every_room_has_a_rank():
    rooms = {module_room(p) for p in sources()}
    assert rooms <= set(RANK), f"rooms without a rank (add them to docs/architecture.md and RANK): {rooms - set(RANK)}"


def test_imports_run_down_the_pipeline():
    wrong = []
    for path in sources():
        own = module_room(path)
        for line, module in imports(path):
            if not module.startswith("duet"):
                continue
            target = room(module)
            if target != own and RANK.get(target, 99) >= RANK[own] and not (RANK[own] == 0 == RANK.get(target)):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({own}, rank {RANK[own]}) imports {module} "
                             f"({target}, rank {RANK.get(target)})")
    assert not wrong, "imports against the pipeline's direction:\n" + "\n".join(wrong)


def test_the_room_graph_has_no_cycle():
    edges = {r: set() for r in RANK}
    for path in sources():
        own = module_room(path)
        edges[own] |= {room(m) for _, m in imports(path) if m.startswith("duet") and room(m) != own}
    state: dict[str, int] = {}

    def visit(r, trail):
        if state.get(r) == 1:
            pytest.fail("import cycle: " + " -> ".join([*trail, r]))
        if state.get(r) == 2:
            return
        state[r] = 1
        for nxt in sorted(edges.get(r, ())):
            visit(nxt, [*trail, r])
        state[r] = 2

    for r in sorted(edges):
        visit(r, [])


def test_run_time_code_never_imports_the_corpus_training_evaluation_or_the_cli():
    wrong = [f"{p.relative_to(PACKAGE)}:{line} imports {m}" for p in sources() if module_room(p) not in OFFLINE
             for line, m in imports(p) if m.startswith("duet") and room(m) in OFFLINE]
    assert not wrong, "\n".join(wrong)


def test_bpy_only_where_code_runs_inside_blender():
    wrong = [f"{p.relative_to(PACKAGE)}:{line} imports {m}" for p in sources()
             if not str(p.relative_to(PACKAGE)).startswith(BPY_MODULES)
             for line, m in imports(p) if m.split(".")[0] in ("bpy", "mathutils", "bpy_extras")]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_way_import(tmp_path):
    # the rules above must be able to fail: a run-time module importing the CLI is caught
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from duet.cli.run import run\n    from duet import cli\n")
    assert [m for _, m in imports(bad)] == ["duet.cli.run", "duet.cli"]
    assert all(RANK[room(m)] > RANK["model"] for _, m in imports(bad))
