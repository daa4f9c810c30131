"""The layout is the architecture: imports flow cli → engine → client → protocol, one way."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "fleet"

# package → fleet packages it may import (besides itself, fleet.models, fleet.errors, and `fleet` for __version__)
ALLOWED = {
    "protocol": set(),
    "client": {"protocol"},
    "engine": {"client", "protocol"},
    "inventory": set(),
    "report": set(),
    "simulator": {"protocol"},
    "cli": {"engine", "client", "protocol", "inventory", "report", "simulator"},
}
ALWAYS = {"models", "errors", "fdlimit", ""}


def _fleet_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            if name == "fleet" or name.startswith("fleet."):
                found.add(name.split(".")[1] if "." in name else "")
    return found


def _third_party(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    mods = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module.split(".")[0])
    return mods


def test_packages_import_only_downstream_layers() -> None:
    """No package imports a layer above it (e.g. the client never imports the engine, the
    simulator never imports the engine or the client, reports depend on models only)."""
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = _fleet_imports(path) - allowed - ALWAYS - {package}
            if bad:
                problems.append(f"{path.relative_to(ROOT.parent)} imports fleet.{', fleet.'.join(sorted(bad))}")
    assert not problems, "\n".join(problems)


def test_aiohttp_client_stays_inside_the_client_package() -> None:
    """Only fleet.client (and the simulator's server) touch aiohttp; no aiohttp type escapes."""
    offenders = [
        str(p.relative_to(ROOT.parent)) for p in ROOT.rglob("*.py")
        if "aiohttp" in _third_party(p) and p.parent.name not in {"client", "simulator"}
    ]
    assert not offenders, offenders


def test_models_and_errors_depend_on_nothing_of_fleet_above_them() -> None:
    """fleet.models imports no fleet module; fleet.errors imports only fleet.models."""
    assert _fleet_imports(ROOT / "models.py") == set()
    assert _fleet_imports(ROOT / "errors.py") <= {"models"}


def test_every_test_states_its_behaviour_in_a_docstring() -> None:
    """Each test function under tests/ has a docstring saying what behaviour it checks."""
    missing = []
    for path in sorted((ROOT.parent / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                if not ast.get_docstring(node):
                    missing.append(f"{path.name}:{node.lineno} {node.name}")
    assert not missing, missing
