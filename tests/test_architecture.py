"""The layout is the architecture: imports flow cli → engine → client → protocol, one way."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "fleet"

# package → fleet packages it may import (besides itself, fleet.models, fleet.errors, and `fleet` for __version__).
# Every package under fleet/ must be listed here, or the test fails: a new package states its layer.
ALLOWED = {
    "protocol": set(),
    "client": {"protocol"},
    "engine": {"client", "protocol"},
    "inventory": set(),
    "report": set(),
    "simulator": {"protocol"},
    # the library's front door: everything a run needs, never the CLI (the CLI is a layer over it)
    "api": {"engine", "client", "protocol", "inventory", "report"},
    "cli": {"api", "engine", "client", "protocol", "inventory", "report", "simulator"},
}
ALWAYS = {"models", "errors", "config", "utc", "fdlimit", "regularfile", ""}
# top-level module → what it may import; a new top-level module must be listed too.
TOP_LEVEL = {
    "__init__": {"api", "models"},
    "__main__": {"cli"},
    "models": {"config", "utc"},
    "config": set(),
    "utc": set(),
    "errors": {"models"},
    "fdlimit": set(),
    "regularfile": set(),
}


def _module_name(path: Path, root: Path) -> list[str]:
    """``fleet/client/http.py`` → ``["fleet", "client", "http"]`` (a package's ``__init__`` is the package)."""
    parts = ["fleet", *path.relative_to(root).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _fleet_imports(path: Path, root: Path = ROOT) -> set[str]:
    """The fleet layers (second name component; ``""`` for ``fleet`` itself) a module imports,
    relative imports resolved against the module's own package."""
    tree = ast.parse(path.read_text(), str(path))
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module[:-1]
    found = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names = [node.module or ""]
            else:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
                # ``from .. import engine`` names packages in its import list
                names = [".".join(target)] if node.module or len(target) > 1 else [
                    ".".join([*target, a.name]) for a in node.names]
        for name in names:
            if name == "fleet" or name.startswith("fleet."):
                found.add(name.split(".")[1] if "." in name else "")
    return found


def layering_problems(root: Path) -> list[str]:
    """Every import that breaks the one-way layering under ``root`` (a ``fleet`` package tree),
    plus packages and top-level modules that are not listed at all."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) == 1:
            name = rel.stem
            if name not in TOP_LEVEL:
                problems.append(f"fleet/{rel}: top-level module not listed in TOP_LEVEL (say what it may import)")
                continue
            bad = _fleet_imports(path, root) - TOP_LEVEL[name] - {""}
        else:
            package = rel.parts[0]
            if package not in ALLOWED:
                problems.append(f"fleet/{rel}: package fleet.{package} is not listed in ALLOWED (say its layer)")
                continue
            bad = _fleet_imports(path, root) - ALLOWED[package] - ALWAYS - {package}
        if bad:
            problems.append(f"fleet/{rel} imports fleet.{', fleet.'.join(sorted(bad))}")
    return problems


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
    simulator never imports the engine or the client, reports depend on models only), and
    every package and top-level module of fleet/ is listed with its layer."""
    problems = layering_problems(ROOT)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("where", "line", "expected"),
    [
        ("client/http.py", "from ..engine import plan", "fleet/client/http.py imports fleet.engine"),
        ("client/http.py", "from .. import engine", "fleet/client/http.py imports fleet.engine"),
        ("report/table.py", "from ..cli.main import main", "fleet/report/table.py imports fleet.cli"),
        ("newpkg/__init__.py", "from fleet.cli import main", "package fleet.newpkg is not listed"),
        ("fdlimit.py", "from fleet.cli.main import main", "fleet/fdlimit.py imports fleet.cli"),
        ("helpers.py", "import os", "top-level module not listed"),
    ],
)
def test_layering_check_catches_planted_violations(tmp_path: Path, where: str, line: str, expected: str) -> None:
    """The layering check fails on a relative import of a higher layer, on a package it does not
    know, and on a top-level module that imports the CLI or is not listed (planted in a copy)."""
    copy = tmp_path / "fleet"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}\n")
    assert not layering_problems(ROOT)
    problems = layering_problems(copy)
    assert any(expected in p for p in problems), problems


def test_aiohttp_client_stays_inside_the_client_package() -> None:
    """Only fleet.client (and the simulator's server) touch aiohttp; no aiohttp type escapes."""
    offenders = [
        str(p.relative_to(ROOT.parent)) for p in ROOT.rglob("*.py")
        if "aiohttp" in _third_party(p) and p.parent.name not in {"client", "simulator"}
    ]
    assert not offenders, offenders


def test_models_and_errors_depend_on_nothing_of_fleet_above_them() -> None:
    """fleet.config imports no fleet module, fleet.models only fleet.config (whose value objects it
    re-exports); fleet.errors imports only fleet.models."""
    assert _fleet_imports(ROOT / "config.py") == set()
    assert _fleet_imports(ROOT / "models.py") <= {"config", "utc"}
    assert _fleet_imports(ROOT / "errors.py") <= {"models"}


def test_every_test_states_its_behaviour_in_a_docstring() -> None:
    """Each test function under tests/ has a docstring saying what behaviour it checks."""
    missing = []
    for path in sorted((ROOT.parent / "tests").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
                    and not ast.get_docstring(node)):
                missing.append(f"{path.name}:{node.lineno} {node.name}")
    assert not missing, missing
