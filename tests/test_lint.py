"""The code stays as clean as the day it landed: ruff and mypy over the package pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    """ruff (rules in pyproject.toml) reports no problem in fleet/, tests/ and the scripts."""
    pytest.importorskip("ruff")
    result = _run("ruff", "check", "fleet", "tests", "scripts/bench", "scripts/soak")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    """mypy type-checks the whole package without an error."""
    pytest.importorskip("mypy")
    result = _run("mypy", "fleet")
    assert result.returncode == 0, result.stdout + result.stderr
