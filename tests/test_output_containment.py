"""What runs after the hosts end is inside the containment boundary: one host's bad value degrades
that host's entry (its time unknown, its row marked unreadable), never the run's outputs, and the
Python API always returns a result."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import fleet
from fleet.api.execute import keep_record
from fleet.models import Outcome
from fleet.report.html import html_report, report_model
from fleet.report.junit import junit_xml
from tests.harness import SIM_PASSWORD, addresses, sim_fleet

BAD_TIMES: list[Any] = [
    "2025-01-01T00:00:00+99:00", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "2025-01-01T00:00:00+23:99",
    float("nan"), 10**400, "9" * 400, [[[[["2025-01-01T00:00:00Z"]]]]], {"t": "2025-01-01T00:00:00Z"},
]


def test_the_api_returns_a_result_and_writes_every_file_when_an_agent_sends_a_wild_dag_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent whose DAGs are dated +99:00 (main: the API raised ValueError from the HTML report and
    the run's folder had no report): fleet.start_sync returns a RunResult, that host succeeded with
    its DAG times unknown, the honest hosts are untouched, and the run's folder holds every file."""
    ips = addresses("127.143.0.1", 3)
    config = {"defaults": {"dag_duration": [0.1, 0.2]},
              "agents": {ips[1]: {"faults": {"hostile": {"dag_time": '"2025-01-01T00:00:00+99:00"'}}}}}
    monkeypatch.chdir(tmp_path)
    with sim_fleet(tmp_path, ips[0], 3, config):
        result = fleet.start_sync(",".join(ips) + ",", forks=3, poll_cap=0.3, timeout=30,
                                  environ={"OBSHELL_AGENT_PASSWORD": SIM_PASSWORD})
    assert isinstance(result, fleet.RunResult) and result.error is None
    assert [r.outcome for r in result.hosts] == [Outcome.SUCCEEDED] * 3
    wild = result.hosts[1].dag
    assert wild is not None and wild.start_time is None and wild.end_time is None
    honest = result.hosts[0].dag
    assert honest is not None and honest.start_time is not None
    assert result.folder is not None
    folder = Path(result.folder)
    assert {p.name for p in folder.iterdir()} >= {"summary.json", "retry", "report.html"}
    assert all(ip in (folder / "report.html").read_text() for ip in ips)


def _summary(hosts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": "fleet.summary/v1", "operation": "obproxy.start", "started_at": "2026-01-01T00:00:00.000Z",
            "finished_at": "2026-01-01T00:01:00.000Z", "duration_ms": 60000, "inventory": "inv.yaml",
            "limit": None, "shard": None, "journal": None, "interrupted": False, "error": None,
            "fleet_version": "0", "options": {}, "resume": None, "partial": None, "totals": {}, "hosts": hosts}


def _host(name: str, **changes: Any) -> dict[str, Any]:
    host: dict[str, Any] = {
        "host": name, "address": name, "port": 2886, "groups": ["g"], "outcome": "succeeded",
        "dag": {"id": "41", "dag_id": 1, "name": "Start obproxy", "state": "SUCCEED", "operator": "RUN",
                "stage": 2, "max_stage": 2, "start_time": "2026-01-01T08:00:10+08:00",
                "end_time": "2026-01-01T08:00:20+08:00"},
        "trace_ids": ["t"], "error": None, "failed_tasks": [], "polls": 1, "duration_ms": 20000,
        "clock_offset_ms": 0, "agent_version": "4.3.1.0", "resumed": False, "adopted": None,
        "trace_ids_dropped": 0, "failed_tasks_dropped": 0, "fired_at": "2026-01-01T00:00:05.000Z",
    }
    host.update(changes)
    return host


@pytest.mark.parametrize("bad", BAD_TIMES, ids=lambda v: repr(v)[:30])
def test_the_html_report_shows_a_wild_time_as_unknown_and_keeps_every_other_host(bad: Any) -> None:
    """A host whose DAG start, DAG end or fire time no clock can hold, or whose clock offset is a
    400-digit number, gets unknown times in the report; the page renders and the honest host keeps
    its times."""
    wild_dag = dict(_host("w")["dag"], start_time=bad, end_time=bad)
    doc = _summary([_host("a"), _host("w", dag=wild_dag, fired_at=bad), _host("z", clock_offset_ms=10**400)])
    model = report_model(doc)
    rows = model["data"]["hosts"]
    assert rows[0][5:8] == [5000, 10000, 20000]
    assert rows[1][5:8] == [None, None, None]
    assert rows[2][6:8] == [None, None]
    assert html_report(doc).startswith("<!DOCTYPE html>")


def test_a_host_entry_the_renderers_cannot_read_degrades_only_that_host() -> None:
    """A host whose entry breaks the renderers (a duration that is text, a host that is not an object):
    the HTML page and the JUnit report still come out, with that host marked and the others whole."""
    doc = _summary([_host("a"), _host("b", duration_ms="soon", outcome="failed", error={"message": 5}), _host("c")])
    model = report_model(dict(doc, hosts=[*doc["hosts"], "not a host"]))
    assert [row[0] for row in model["data"]["hosts"]] == ["a", "b", "c", ""]
    suite = ET.fromstring(junit_xml(doc))[0]
    cases = {case.attrib["name"]: case for case in suite.iter("testcase")}
    assert set(cases) == {"a:2886", "b:2886", "c:2886"}
    error = cases["b:2886"].find("error")
    assert error is not None and error.attrib["type"] == "unreadable"
    assert cases["a:2886"].find("error") is None and cases["c:2886"].find("system-out") is not None


def test_keep_record_writes_the_other_files_when_one_cannot_be_rendered(tmp_path: Path) -> None:
    """A renderer that raises costs its own file, named in one problem line, never the others:
    summary.json is written even when the HTML report and the retry file cannot be."""
    doc = _summary([_host("a")])
    doc["hosts"] = {"not": "a list"}
    result = _result_in(tmp_path)
    problems = keep_record(result, doc)
    assert (tmp_path / "run" / "summary.json").exists()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["schema"] == "fleet.summary/v1"
    assert any("report.html: cannot render it: internal error in fleet" in p for p in problems), problems
    assert any("retry: cannot render it" in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def _result_in(tmp_path: Path) -> fleet.RunResult:
    return fleet.RunResult(operation="obproxy.start", started_at=0.0, finished_at=1.0, inventory="inv", limit=None,
                           shard=None, journal=None, interrupted=False, error=None, options={}, resume=None,
                           policy_stop=None, folder=str(tmp_path / "run"), hosts=())
