"""A summary or run folder edited by someone else is input, not truth: ``fleet report`` refuses a
tampered summary with one line as ``fleet merge`` does, ``fleet show`` and ``fleet runs`` print a
run folder's name with its terminal escapes escaped, and ``fleet dag`` never sends an operator for
a DAG id that names another agent."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import allocate_base_ip
from tests.harness import addresses, run_fleet, sim_fleet, write_inventory

FAST = ["--poll-cap", "0.3", "--request-timeout", "3", "-q"]
OPERATE = "POST /api/v1/task/dag/{id}"


@pytest.fixture(scope="module")
def real_summary(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The summary of a real run: two simulated agents, one failed."""
    tmp = tmp_path_factory.mktemp("real")
    ips = addresses(allocate_base_ip(2), 2)  # once per xdist worker: a block of its own
    inventory = write_inventory(tmp / "inv.yaml", ips)
    with sim_fleet(tmp, ips[0], 2, {"defaults": {"dag_duration": [0.1, 0.2]},
                                     "agents": {ips[1]: {"faults": {"dag_fails": True}}}}):
        run = run_fleet(["start", "-i", str(inventory), "-o", "summary.json", *FAST], cwd=tmp)
    assert run.returncode == 2, run.stderr
    doc: dict[str, Any] = json.loads((tmp / "summary.json").read_text())
    return doc


def _nest(doc: dict[str, Any], depth: int) -> None:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    doc["options"] = {"deep": value}


TAMPERS: dict[str, Callable[[dict[str, Any]], object]] = {
    "+99:00": lambda d: d["hosts"][0]["dag"].update(start_time="2025-01-01T00:00:00+99:00"),
    "year 0": lambda d: d["hosts"][0]["dag"].update(end_time="0000-01-01T00:00:00Z"),
    "400-digit duration": lambda d: d["hosts"][0].update(duration_ms=10**400),
    "400-digit offset": lambda d: d["hosts"][1].update(clock_offset_ms=-(10**400)),
    "nesting 100": lambda d: _nest(d, 100),
    "fired_at +99:00": lambda d: d["hosts"][1].update(fired_at="2025-01-01T00:00:00+99:00"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_fleet_report_refuses_a_tampered_summary_with_one_line(tmp_path: Path, real_summary: dict[str, Any],
                                                               name: str) -> None:
    """Each tampering (a DAG time at +99:00 or year 0, a 400-digit number, nesting past any summary's):
    exit 5, one line naming the file, no traceback, no page written (main: a traceback for
    several); fleet merge refuses the same file."""
    doc = json.loads(json.dumps(real_summary))
    TAMPERS[name](doc)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    for args in (["report", str(path), "--html", "out.html"], ["merge", str(path)]):
        run = run_fleet(args, tmp_path)
        assert run.returncode == 5, (args, run.stderr[-2000:])
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and "Traceback" not in run.stderr, (args, lines)
    assert not (tmp_path / "out.html").exists()


@pytest.mark.parametrize("command", [["report", "deep.json", "--html", "out.html"], ["dag", "retry", "deep.json"]])
def test_json_nested_beyond_the_parser_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """200,000 nested arrays (the parser's own recursion limit) given to fleet report or fleet dag:
    one line, exit 5 (main: a RecursionError traceback)."""
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    run = run_fleet(command, tmp_path)
    assert run.returncode == 5 and len(run.stderr.strip().splitlines()) == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr


def test_an_untampered_summary_still_makes_a_report(tmp_path: Path, real_summary: dict[str, Any]) -> None:
    """The real run's summary, as written, renders (the checks refuse only what fleet never writes)."""
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(real_summary))
    run = run_fleet(["report", str(path), "--html", "out.html"], tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.html").read_text().startswith("<!DOCTYPE html>")


def test_fleet_show_and_runs_escape_a_run_folders_terminal_escapes(tmp_path: Path,
                                                                   real_summary: dict[str, Any]) -> None:
    """A run folder named with ANSI/OSC escapes: ``fleet show NAME`` and ``fleet runs`` print its name
    with the escapes shown as text, never raw (main: printed raw)."""
    name = "20260101T000000Z-1-obproxy.start\x1b]0;pwned\x07\x1b[2J"
    folder = tmp_path / ".fleet" / "runs" / name
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(real_summary))
    (folder / "report.html").write_text("<!DOCTYPE html>")
    show = run_fleet(["show", name], tmp_path)
    runs = run_fleet(["runs"], tmp_path)
    for run in (show, runs):
        assert run.returncode == 0, run.stderr
        assert not any(c in run.stdout + run.stderr for c in "\x1b\x07"), repr(run.stdout)
        assert "\\x1b" in run.stdout


def test_fleet_dag_never_acts_on_a_dag_id_that_names_another_agent(tmp_path: Path) -> None:
    """A summary whose failed host's DAG id was swapped for its neighbour's (another agent's address in
    the id): ``fleet dag retry`` sends no operator to either agent and reports the host
    precheck_failed, saying why (main: the RETRY was sent with the foreign id)."""
    ips = addresses("127.145.1.1", 2)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, ips[0], 2, {"defaults": {"dag_duration": [0.1, 0.2]},
                                          "agents": {ips[1]: {"faults": {"dag_fails": True}}}}) as sim:
        start = run_fleet(["start", "-i", str(inventory), "-o", "start.json", *FAST], cwd=tmp_path)
        doc = json.loads((tmp_path / "start.json").read_text())
        honest_id = doc["hosts"][0]["dag"]["id"]
        doc["hosts"][1]["dag"]["id"] = honest_id  # the failed host now "owns" the neighbour's DAG
        (tmp_path / "start.json").write_text(json.dumps(doc))
        retry = run_fleet(["dag", "retry", "start.json", "-o", "retry.json", *FAST], cwd=tmp_path)
        state = sim.state()
    assert start.returncode == 2
    assert retry.returncode == 2, retry.stderr
    host = {h["host"]: h for h in json.loads((tmp_path / "retry.json").read_text())["hosts"]}[ips[1]]
    assert host["outcome"] == "precheck_failed"
    assert f"belongs to another agent ({ips[0]}:2886)" in host["error"]["message"]
    for ip in ips:
        assert state["agents"][f"{ip}:2886"]["requests"].get(OPERATE, 0) == 0
    shutil.rmtree(tmp_path / ".fleet", ignore_errors=True)
