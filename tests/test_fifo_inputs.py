"""No input path blocks on a FIFO: ``-e @FILE``, ``--limit @FILE``, ``--config`` and
``obshell_password_file``, and the summary given to ``fleet dag`` or ``fleet report``, naming a
FIFO (nobody writing) are refused at once with one line, as
``-i FIFO`` is; the check is made on the descriptor opened, without blocking."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from fleet.regularfile import open_regular
from tests.harness import fleet_env, run_fleet

HANG_LIMIT_S = 30  # a run still going by then is hung on the FIFO: the test fails instead of waiting


def _inventory(tmp_path: Path, **host_vars: str) -> str:
    lines = ["all:", "  hosts:", "    h1.example:"] + [f"      {k}: {v}" for k, v in host_vars.items()]
    path = tmp_path / "inv.yaml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("where", ["-e", "--limit", "--config", "obshell_password_file", "fleet dag", "fleet report"])
def test_a_fifo_given_as_an_input_file_is_refused_at_once(tmp_path: Path, where: str) -> None:
    """Each input option naming a FIFO nobody writes to: exit 5 and one line saying it is a FIFO,
    never a hang (main: blocked for ever in open())."""
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    if where == "obshell_password_file":
        args = ["start", "-i", _inventory(tmp_path, obshell_password_file=str(fifo))]
    elif where == "fleet dag":
        args = ["dag", "retry", str(fifo), "-i", _inventory(tmp_path)]
    elif where == "fleet report":
        args = ["report", str(fifo), "--html", str(tmp_path / "out.html")]
    else:
        inventory = _inventory(tmp_path)
        option = {"-e": ["-e", f"@{fifo}"], "--limit": ["--limit", f"@{fifo}"], "--config": ["--config", str(fifo)]}
        args = ["start", "-i", inventory, *option[where], "--list-hosts"]
    try:
        run = run_fleet(args, tmp_path, env=fleet_env(), timeout=HANG_LIMIT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"fleet hung on a FIFO given to {where}")
    assert run.returncode == 5, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "is a FIFO, not a regular file" in lines[0] and str(fifo) in lines[0], lines
    assert "Traceback" not in run.stderr


def test_open_regular_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """A directory, a device and a FIFO are refused by what the opened descriptor is; a regular
    file opens and reads as usual."""
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    for path, kind in ((str(fifo), "a FIFO"), (str(tmp_path), "a directory"), ("/dev/null", "a device")):
        with pytest.raises(OSError, match=f"is {kind}, not a regular file"), open_regular(path):
            pass
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"hello")
    with open_regular(str(plain)) as fh:
        assert fh.read() == b"hello"
