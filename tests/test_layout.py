"""The package's rules, read from its source: folders by stage and concern, each importing only the folders below
it; no import circle; no private name used outside its module; no function longer than about 60 lines."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "monet"
# Lowest first: a folder imports only folders of a lower rank (and itself). style and gan share a rank and do
# not import each other.
RANKS = {"core": 0, "data": 1, "models": 2, "scoring": 3, "package": 4, "gan": 5, "style": 5, "kaggle": 6}
FRONT = 7  # cli, pipeline, __main__ and the old entry points
OLD_ENTRY_POINTS = {"kaggle_io", "submission", "compare"}
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    """monet.<dotted name> -> file, for every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every monet import of a file, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "monet":
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] == "monet"]
    return found


def folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANKS) else "(front)"


def rank(module: str) -> int:
    return RANKS.get(folder(module), FRONT)


def test_every_module_sits_in_a_folder_named_after_its_stage_or_concern():
    loose = [name for name in modules() if folder(name) == "(front)" and name.count(".") == 1]
    assert sorted(loose) == sorted(["monet.cli", "monet.pipeline", "monet.__main__"]
                                   + [f"monet.{m}" for m in OLD_ENTRY_POINTS])
    for name in RANKS:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"monet/{name}/__init__.py must say what it owns and what it may import"


def test_folders_import_only_the_folders_below_them():
    wrong = []
    for name, path in modules().items():
        for target, names, line in imports(path):
            targets = [target] + [f"{target}.{n}" for n in names if f"{target}.{n}" in modules()]
            for t in targets:
                same = folder(t) == folder(name)
                if not same and not rank(t) < rank(name):
                    wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {t}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circle_between_modules():
    mods = modules()
    graph = {}
    for name, path in mods.items():
        graph[name] = set()
        for target, names, _ in imports(path):
            graph[name].update(t for t in [target] + [f"{target}.{n}" for n in names] if t in mods and t != name)
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_no_private_name_crosses_a_module():
    crossing = []
    mods = modules()
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        aliases = {}
        for target, names, line in imports(path):
            crossing += [f"{path.name}:{line} imports {target}.{n}" for n in names if n.startswith("_")]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("monet"):
                for a in node.names:
                    if f"{node.module}.{a.name}" in mods:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                crossing.append(f"{path.name}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    assert not crossing, "\n".join(crossing)


def test_functions_read_as_their_steps():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "\n".join(long)
