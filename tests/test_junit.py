"""JUnit XML rendered from summary documents: counts, elements per outcome, hostile strings."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.models import ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome
from fleet.report import RunInfo, junit_xml, merge_summaries, summary_document
from fleet.report.junit import ERROR_OUTCOMES, FAILURE_OUTCOMES

STARTED = 1795785012.345  # 2026-11-27T13:10:12.345Z


def result(name: str, outcome: Outcome, *, message: str = "port 2883 in use", err_code: str | None = "E.Busy",
           logs: tuple[str, ...] = ("starting", "failed: port busy"), groups: tuple[str, ...] = ("proxies",),
           traces: tuple[str, ...] = ("t-1", "t-2")) -> HostResult:
    return HostResult(
        host=HostSpec(name=name, address="192.0.2.7", port=2886, groups=groups),
        outcome=outcome,
        dag=DagDetail(id="21000000000000000042", dag_id=42, name="Start obproxy", state="FAILED"),
        trace_ids=traces,
        error=None if outcome.ok else ApiError(500, 10008, err_code, message),
        failed_tasks=(FailedTask("Start obproxy", "start", "192.0.2.7:2886", logs),) if not outcome.ok else (),
        duration_ms=1234,
    )


def document(results: list[HostResult], **run: Any) -> dict[str, Any]:
    info = RunInfo(operation="obproxy.start", started_at=STARTED, finished_at=STARTED + 3, inventory="inv.yaml",
                   limit=None, fleet_version="0.1.0", **run)
    return summary_document(info, results)


def parse(doc: dict[str, Any]) -> ET.Element:
    return ET.fromstring(junit_xml(doc))


def test_one_suite_with_counts_for_every_outcome() -> None:
    """tests/failures/errors/skipped/time/timestamp on <testsuites> and its single <testsuite> add up."""
    root = parse(document([result(f"h{i}", outcome) for i, outcome in enumerate(Outcome)]))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "fleet obproxy.start"
    for element in (root, suite):
        assert element.get("tests") == str(len(Outcome))
        assert element.get("failures") == str(len(FAILURE_OUTCOMES))
        assert element.get("errors") == str(len(ERROR_OUTCOMES))
        assert element.get("skipped") == "1"
        assert element.get("time") == "3.000"
    assert suite.get("timestamp") == "2026-11-27T13:10:12.345"
    assert len(suite.findall("testcase")) == len(Outcome)


def test_every_outcome_is_classified_once() -> None:
    """Each non-success outcome other than skipped is exactly one of failure or error."""
    assert FAILURE_OUTCOMES.isdisjoint(ERROR_OUTCOMES)
    assert FAILURE_OUTCOMES | ERROR_OUTCOMES | {Outcome.SUCCEEDED, Outcome.SKIPPED} == set(Outcome)


def test_testcase_elements_per_outcome() -> None:
    """Succeeded: no child verdict; skipped: <skipped/>; others: <failure>/<error> with errCode message and logs."""
    for outcome in Outcome:
        (case,) = parse(document([result("web1", outcome)])).iter("testcase")
        assert case.get("name") == "web1:2886"
        assert case.get("classname") == "proxies"
        assert case.get("time") == "1.234"
        verdicts = [child for child in case if child.tag in ("failure", "error", "skipped")]
        if outcome is Outcome.SUCCEEDED:
            assert verdicts == []
            continue
        (verdict,) = verdicts
        if outcome is Outcome.SKIPPED:
            assert verdict.tag == "skipped"
            continue
        assert verdict.tag == ("failure" if outcome in FAILURE_OUTCOMES else "error")
        assert verdict.get("type") == outcome.value
        assert verdict.get("message") == "E.Busy: port 2883 in use"
        assert "failed: port busy" in (verdict.text or "")


def test_system_out_carries_trace_ids_and_dag_id() -> None:
    """<system-out> names the DAG id and every trace id, for grepping agent logs."""
    (case,) = parse(document([result("web1", Outcome.FAILED)])).iter("testcase")
    out = case.findtext("system-out") or ""
    assert "21000000000000000042" in out and "t-1 t-2" in out


def test_message_without_err_code_and_ungrouped_host() -> None:
    """Without an errCode the message is the error text alone; a host without groups is 'ungrouped'."""
    (case,) = parse(document([result("web1", Outcome.UNREACHABLE, err_code=None, message="refused",
                                      groups=())])).iter("testcase")
    assert case.get("classname") == "ungrouped"
    assert case.find("error").get("message") == "refused"  # type: ignore[union-attr]  # present by construction


def test_hostile_strings_survive() -> None:
    """Control characters are replaced, ']]>', quotes and markup are escaped, unicode is kept."""
    hostile = "<b>&\"'</b> ]]> \x00\x07\x1b[31m\ufffe ünïcødé 代理 🚀"
    doc = document([result(f"h{hostile}", Outcome.FAILED, message=hostile, err_code=hostile, logs=(hostile,),
                           groups=(hostile,), traces=(hostile,))], error=hostile)
    data = junit_xml(doc)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(data)
    (case,) = root.iter("testcase")
    message = case.find("failure").get("message")  # type: ignore[union-attr]  # present by construction
    assert message is not None
    assert "<b>&\"'</b> ]]>" in message and "ünïcødé 代理 🚀" in message
    assert "\x00" not in message and "\x07" not in message and "\x1b" not in message
    assert "]]>" in (case.findtext("failure") or "")
    assert "ünïcødé" in (root.find("testsuite").findtext("system-err") or "")  # type: ignore[union-attr]


def test_newlines_in_attributes_round_trip() -> None:
    """A multi-line error message stays intact in the failure's message attribute."""
    (case,) = parse(document([result("h", Outcome.FAILED, message="one\ntwo\tthree")])).iter("testcase")
    assert case.find("failure").get("message") == "E.Busy: one\ntwo\tthree"  # type: ignore[union-attr]


def test_empty_run_and_merged_summary() -> None:
    """An empty run gives a suite of zero tests; a merged summary renders like any other."""
    empty = parse(document([]))
    assert empty.get("tests") == "0" and empty.find("testsuite") is not None
    first = document([result("a", Outcome.FAILED)], shard="1/2")
    second = document([result("b", Outcome.SUCCEEDED)], shard="2/2")
    merged = parse(merge_summaries([second, first]))
    assert [case.get("name") for case in merged.iter("testcase")] == ["a:2886", "b:2886"]
    assert merged.get("failures") == "1"


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=60))
def test_any_text_gives_well_formed_xml(text: str) -> None:
    """Whatever text an agent returns, the report parses and keeps every XML-legal character."""
    root = parse(document([result(text, Outcome.FAILED, message=text, logs=(text,))]))
    (case,) = root.iter("testcase")
    assert case.get("name", "").endswith(":2886")
