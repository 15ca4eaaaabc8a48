"""The package's layers, read from the source (module-level and function-level imports alike):
what the training loop imports never reaches evaluation, and no module below the app layer
imports Streamlit."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "infogan"


def imports() -> dict[str, set[str]]:
    """infogan module -> the infogan modules it imports anywhere in its source."""
    mods = {p.stem for p in ROOT.glob("*.py")}
    edges = {}
    for m in mods:
        found = set()
        for node in ast.walk(ast.parse((ROOT / f"{m}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("infogan."):
                found.add(node.module.split(".")[1])
        edges[m] = found & mods
    return edges


def reach(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_training_loop_never_imports_evaluation():
    edges = imports()
    for loop in ("train", "live"):
        assert "evaluate" not in reach(edges, loop), (loop, sorted(reach(edges, loop)))
    assert "evaluate" not in reach(edges, "checkpoint") and "evaluate" not in reach(edges, "film")


def test_no_module_of_the_package_imports_streamlit():
    for p in ROOT.glob("*.py"):
        tree = ast.parse(p.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not any(n.split(".")[0] == "streamlit" for n in names), p.name


def test_the_readme_names_every_module():
    inside = (ROOT.parent / "README.md").read_text().split("## Inside", 1)[1]
    missing = [p.name for p in ROOT.glob("*.py") if p.name != "__init__.py" and f"`{p.name}`" not in inside
               and f"`infogan/{p.name}`" not in inside]
    assert missing == []
