"""The code stays as clean as the day it landed: ruff and mypy over the package and its tests pass."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    # Both tools are in the test extra: a missing one is a broken environment, not a reason to skip.
    assert importlib.util.find_spec(tool) is not None, f"{tool} is not installed: pip install -e '.[test]'"
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_ruff_finds_nothing() -> None:
    """ruff (rules in pyproject.toml) reports no problem in fleet/, tests/ and the scripts."""
    result = _run("ruff", "check", "fleet", "tests", "scripts/bench", "scripts/soak")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    """mypy --strict, as configured in pyproject.toml, type-checks fleet/ and tests/ without an error."""
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
