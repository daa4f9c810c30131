"""The JSON summary, its schema and exit codes, atomic writes, shard merging and the failure table."""

from __future__ import annotations

import ast
import json
import os
import pathlib
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.models import ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome
from fleet.report import (
    RunInfo,
    failure_table,
    load_summary_schema,
    merge_summaries,
    summary_document,
    summary_exit_code,
    write_atomic,
    write_json_atomic,
)
from fleet.report.recap import host_line, recap
from fleet.report.sanitize import printable
from fleet.report.summary import format_timestamp, parse_timestamp
from fleet.report.table import failure_reason

STARTED = 1795785012.345  # 2026-11-27T13:10:12.345Z
VALIDATOR = jsonschema.Draft202012Validator(load_summary_schema())


def result(name: str, outcome: Outcome = Outcome.SUCCEEDED, *, port: int = 2886,
           groups: tuple[str, ...] = ("proxies",), logs: tuple[str, ...] = (), err_code: str | None = None,
           message: str = "", trace: str | None = None) -> HostResult:
    failed = outcome is not Outcome.SUCCEEDED
    return HostResult(
        host=HostSpec(name=name, address=f"10.0.0.{len(name)}", port=port, groups=groups),
        outcome=outcome,
        dag=DagDetail(id="21000000000000000001", dag_id=1, name="Start obproxy",
                      state="FAILED" if failed else "SUCCEED", operator="RUN", stage=1, max_stage=2,
                      start_time="2026-11-27T13:10:12+08:00"),
        trace_ids=(trace,) if trace else (),
        error=ApiError(500, 10008, err_code, message) if (err_code or message) else None,
        failed_tasks=(FailedTask("Start obproxy", "start", "10.0.0.1:2886", logs),) if logs else (),
        polls=3, duration_ms=1500, clock_offset_ms=-12, agent_version="4.2.5.0", resumed=False,
    )


def run(**overrides: Any) -> RunInfo:
    values: dict[str, Any] = {"operation": "obproxy.start", "started_at": STARTED,
                              "finished_at": STARTED + 2.5, "inventory": "hosts.yaml", "limit": None,
                              "fleet_version": "0.1.0"}
    values.update(overrides)
    return RunInfo(**values)


def every_outcome() -> list[HostResult]:
    return [result(f"h{index:02d}", outcome, logs=("line one", "line two") if outcome is Outcome.FAILED else (),
                   err_code="Obproxy.Start.Failed" if not outcome.ok else None, trace=f"trace{index}")
            for index, outcome in enumerate(Outcome)]


# summary -------------------------------------------------------------------------------------


def test_summary_with_every_outcome_validates_against_the_schema() -> None:
    """A document holding every outcome, with DAGs, errors and failed tasks, is schema-valid."""
    doc = summary_document(run(shard="1/2", journal="run.journal", limit="proxies"), every_outcome())
    VALIDATOR.validate(doc)
    assert doc["totals"]["hosts"] == len(Outcome)
    assert all(doc["totals"][outcome.value] == 1 for outcome in Outcome)


def test_summary_has_exactly_the_documented_fields() -> None:
    """Top-level and per-host keys are exactly those of fleet.summary/v1, hosts in the given order."""
    doc = summary_document(run(), [result("b"), result("a", Outcome.FAILED, err_code="E", message="m")])
    assert list(doc) == ["schema", "operation", "started_at", "finished_at", "duration_ms", "inventory",
                         "limit", "shard", "journal", "interrupted", "error", "fleet_version", "options", "resume",
                         "partial", "totals", "hosts"]
    assert [host["host"] for host in doc["hosts"]] == ["b", "a"]
    assert list(doc["hosts"][1]) == ["host", "address", "port", "groups", "outcome", "dag", "trace_ids",
                                     "error", "failed_tasks", "polls", "duration_ms", "clock_offset_ms",
                                     "agent_version", "resumed", "adopted", "fired_at"]
    assert doc["hosts"][1]["error"] == {"status": 500, "code": 10008, "errCode": "E", "message": "m"}
    assert doc["schema"] == "fleet.summary/v1"


def test_summary_timestamps_are_utc_iso_with_milliseconds() -> None:
    """started_at/finished_at are ISO 8601 UTC with ms; duration_ms is their difference."""
    doc = summary_document(run(), [])
    assert doc["started_at"] == "2026-11-27T13:10:12.345Z"
    assert doc["finished_at"] == "2026-11-27T13:10:14.845Z"
    assert doc["duration_ms"] == 2500


def test_fired_at_is_the_utc_time_the_request_was_sent_or_null() -> None:
    """A host's fired_at is fleet's wall-clock send time in the summary's timestamp form; null if never sent."""
    fired = HostResult(HostSpec("a", "10.0.0.1"), Outcome.SUCCEEDED, fired_at=STARTED + 0.5)
    assert fired.to_dict()["fired_at"] == "2026-11-27T13:10:12.845Z"
    assert HostResult(HostSpec("b", "10.0.0.2"), Outcome.UNREACHABLE).to_dict()["fired_at"] is None


def test_timestamp_rounding_never_produces_1000_ms() -> None:
    """A time a hair before a whole second rounds up into the next second, not to '.1000'."""
    assert format_timestamp(1795785012.9996) == "2026-11-27T13:10:13.000Z"
    assert parse_timestamp("2026-11-27T13:10:12.345Z") == pytest.approx(STARTED)


@pytest.mark.parametrize("overrides", [{"operation": "obproxy.restart"}, {"shard": "3/2"}, {"shard": "0/2"},
                                       {"shard": "1"}, {"shard": "a/b"}])
def test_run_info_refuses_what_the_schema_would(overrides: dict[str, Any]) -> None:
    """RunInfo rejects an unknown operation or a malformed shard instead of writing an invalid summary."""
    with pytest.raises(ValueError, match=r"unknown operation|shard must be"):
        run(**overrides)


def test_empty_selection_totals_every_outcome_as_zero() -> None:
    """With no hosts every outcome key is still present with a zero count."""
    doc = summary_document(run(), [])
    VALIDATOR.validate(doc)
    assert doc["totals"] == {"hosts": 0, **{outcome.value: 0 for outcome in Outcome}}


def test_null_dag_and_error_validate() -> None:
    """A host that was never reached has null dag/error and no clock offset; still valid."""
    bare = HostResult(host=HostSpec("x", "::1"), outcome=Outcome.UNREACHABLE)
    doc = summary_document(run(operation="check", interrupted=True, error="boom"), [bare])
    VALIDATOR.validate(doc)
    assert doc["hosts"][0]["dag"] is None and doc["hosts"][0]["clock_offset_ms"] is None


def test_schema_is_strict() -> None:
    """Unknown keys, unknown outcomes and unknown operations are rejected by the schema."""
    doc = summary_document(run(), [result("a")])
    mutations: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d.update(extra=1), lambda d: d["hosts"][0].update(outcome="meh"),
        lambda d: d.update(operation="obproxy.restart"), lambda d: d["totals"].pop("skipped"),
        lambda d: d["hosts"][0]["dag"].update(extra=1), lambda d: d.update(shard="2")]
    for mutate in mutations:
        broken = json.loads(json.dumps(doc))
        mutate(broken)
        assert not VALIDATOR.is_valid(broken)


def test_schema_enums_match_the_models() -> None:
    """The schema's outcome enum and totals keys are exactly the Outcome values."""
    schema = load_summary_schema()
    assert schema["$defs"]["outcome"]["enum"] == [outcome.value for outcome in Outcome]
    assert set(schema["properties"]["totals"]["required"]) == {"hosts", *(o.value for o in Outcome)}


@settings(max_examples=50, deadline=None)
@given(name=st.text(max_size=30), message=st.text(max_size=50), logs=st.lists(st.text(max_size=40), max_size=3),
       outcome=st.sampled_from(list(Outcome)))
def test_any_text_makes_a_valid_json_document(name: str, message: str, logs: list[str], outcome: Outcome) -> None:
    """Whatever strings the agents send, the document is valid and survives a JSON round trip."""
    doc = summary_document(run(), [result(name, outcome, message=message, logs=tuple(logs))])
    VALIDATOR.validate(json.loads(json.dumps(doc)))


# exit codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("hosts", "overrides", "code"), [
    ([], {}, 0),
    ([Outcome.SUCCEEDED, Outcome.SUCCEEDED], {}, 0),
    ([Outcome.SUCCEEDED, Outcome.SKIPPED], {}, 2),
    ([Outcome.FAILED], {}, 2),
    ([Outcome.SUCCEEDED, Outcome.INTERRUPTED], {"interrupted": True}, 130),
    ([], {"interrupted": True}, 130),
    ([Outcome.FAILED], {"error": "RuntimeError: bug", "interrupted": True}, 1),
    ([Outcome.SUCCEEDED], {"error": "RuntimeError: bug"}, 1),
])
def test_exit_codes(hosts: list[Outcome], overrides: dict[str, Any], code: int) -> None:
    """0 all succeeded (or none selected), 2 some host did not, 130 interrupted, 1 fleet error (in that precedence)."""
    doc = summary_document(run(**overrides), [result(f"h{i}", o) for i, o in enumerate(hosts)])
    assert summary_exit_code(doc) == code


# atomic writes -------------------------------------------------------------------------------


def test_write_atomic_replaces_and_leaves_no_temp_files(tmp_path: pathlib.Path) -> None:
    """A second write replaces the first, with the asked mode, and no temporary file remains."""
    out = tmp_path / "out"  # a folder of its own: tmp_path holds the test's .fleet
    out.mkdir()
    target = out / "summary.json"
    write_atomic(target, "old")
    write_atomic(target, b"new \xe2\x9c\x93", mode=0o600)
    assert target.read_bytes() == b"new \xe2\x9c\x93"
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert os.listdir(out) == ["summary.json"]


def test_write_atomic_failure_keeps_the_old_file(tmp_path: pathlib.Path) -> None:
    """When writing fails half-way, the old content stays and the temporary file is removed."""
    out = tmp_path / "out"  # a folder of its own: tmp_path holds the test's .fleet
    out.mkdir()
    target = out / "summary.json"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]  # deliberately wrong to make the write fail
    assert target.read_text() == "old"
    assert os.listdir(out) == ["summary.json"]


def test_write_json_atomic_round_trips(tmp_path: pathlib.Path) -> None:
    """write_json_atomic writes readable UTF-8 JSON ending in a newline."""
    target = tmp_path / "s.json"
    doc = summary_document(run(), [result("ホスト")])
    write_json_atomic(target, doc)
    text = target.read_text("utf-8")
    assert text.endswith("}\n") and "ホスト" in text
    assert json.loads(text) == doc


# merge ---------------------------------------------------------------------------------------


def shard(index: int, names: list[str], **overrides: Any) -> dict[str, Any]:
    outcomes = {name: Outcome.FAILED if name.startswith("bad") else Outcome.SUCCEEDED for name in names}
    return summary_document(run(shard=f"{index}/3", **overrides),
                            [result(name, outcome) for name, outcome in outcomes.items()])


def test_merge_concatenates_sorts_and_recomputes() -> None:
    """Hosts are sorted by name then port, totals recomputed, time span widened, shard cleared."""
    first = shard(1, ["web2", "bad1"], started_at=STARTED + 1, finished_at=STARTED + 3)
    second = shard(2, ["web1"], started_at=STARTED, finished_at=STARTED + 2, interrupted=True)
    third = summary_document(run(shard="3/3", started_at=STARTED + 2, finished_at=STARTED + 9),
                             [result("web1", port=2887)])
    merged = merge_summaries([first, third, second])
    VALIDATOR.validate(merged)
    assert [(h["host"], h["port"]) for h in merged["hosts"]] == [
        ("bad1", 2886), ("web1", 2886), ("web1", 2887), ("web2", 2886)]
    assert merged["totals"]["hosts"] == 4 and merged["totals"]["failed"] == 1 and merged["totals"]["succeeded"] == 3
    assert merged["started_at"] == format_timestamp(STARTED)
    assert merged["finished_at"] == format_timestamp(STARTED + 9)
    assert merged["duration_ms"] == 9000
    assert merged["shard"] is None and merged["interrupted"] is True and merged["error"] is None
    assert summary_exit_code(merged) == 130


def test_merge_joins_errors_with_their_shard() -> None:
    """Each shard's error is kept, labelled with its shard, so the merged run exits 1."""
    merged = merge_summaries([shard(1, ["a"], error="OSError: disk full"), shard(2, ["b"], error="bug"),
                              shard(3, ["c"])])
    assert merged["error"] == "shard 1/3: OSError: disk full; shard 2/3: bug"
    assert summary_exit_code(merged) == 1


def test_merge_does_not_modify_its_inputs() -> None:
    """Merging leaves the given documents as they were."""
    docs = [shard(2, ["b"]), shard(1, ["a"]), shard(3, ["c"])]
    before = json.dumps(docs)
    merge_summaries(docs)
    assert json.dumps(docs) == before


@pytest.mark.parametrize(("docs", "complaint"), [
    ([], "no summaries"),
    ([shard(1, ["a"]), shard(2, ["b"], operation="obproxy.stop")], "different operations"),
    ([shard(1, ["a"]), {**shard(2, ["b"]), "schema": "fleet.summary/v2"}], "schema"),
    ([shard(1, ["a", "b"]), shard(2, ["c", "b"]), shard(3, ["d"])],
     "host b:2886 appears in summary #1 (shard 1/3) and summary #2"),
    ([shard(1, ["a"]), shard(1, ["b"])], "shard 1/3 appears twice"),
    ([shard(1, ["a"]), {**shard(2, ["b"]), "shard": "2/4"}], "different shard counts"),
])
def test_merge_refuses_documents_of_different_runs(docs: list[dict[str, Any]], complaint: str) -> None:
    """Mixed operations/schemas/shard counts, a repeated shard or a host in two shards are refused."""
    with pytest.raises(ValueError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        merge_summaries(docs)


# failure table -------------------------------------------------------------------------------


def test_failure_table_lists_each_cause_with_its_hosts_and_trace_ids() -> None:
    """Non-succeeded hosts appear under their outcome, errCode and last log line, each with its
    first trace id; succeeded hosts do not appear; a totals line ends the table."""
    doc = summary_document(run(), [
        result("ok1"),
        result("db-proxy-01", Outcome.FAILED, err_code="Obproxy.Start.Failed", logs=("first", "port busy\n\n"),
               trace="abc123"),
        result("p2", Outcome.UNREACHABLE, message="connection refused"),
    ])
    lines = failure_table(doc).splitlines()
    assert "ok1" not in failure_table(doc)
    assert lines[0] == "failed [1 host] Obproxy.Start.Failed: port busy"
    assert lines[1] == "    db-proxy-01:2886 trace abc123"
    assert lines[2] == "unreachable [1 host] connection refused" and lines[3] == "    p2:2886"
    assert lines[-1] == "2 of 3 hosts did not succeed (failed 1, unreachable 1); 1 succeeded"


def test_failure_table_when_all_succeeded() -> None:
    """With no failures the table is a single 'all N hosts succeeded' line."""
    assert failure_table(summary_document(run(), [result("a"), result("b")])) == "all 2 hosts succeeded"
    assert failure_table(summary_document(run(), [])) == "no hosts selected"


def test_identical_failures_share_one_entry_and_nothing_is_cut() -> None:
    """Hosts failing the same way share one entry ('skipped [40 hosts] …'); long reasons and the
    host list wrap to the width given, with every host name and every word kept."""
    reason = "not fired: stopped by --max-fail-percentage " + "because the batch failed too often " * 4
    skipped = [result(f"proxy-{i:02d}", Outcome.SKIPPED, message=reason) for i in range(40)]
    doc = summary_document(run(), [*skipped, result("x", Outcome.FAILED, err_code="Security.Authentication."
                                                   "IncorrectAgentPasswordWithAVeryLongName", message="refused")])
    for width in (80, 120):
        text = failure_table(doc, width)
        lines = text.splitlines()
        assert all(len(line) <= width for line in lines), text
        assert text.count("[40 hosts]") == 1 and lines[0].startswith("failed [1 host] Security.Authentication.")
        flat = " ".join(text.split())
        assert all(f"proxy-{i:02d}:2886" in flat for i in range(40))
        assert " ".join(reason.split()) in flat and "IncorrectAgentPasswordWithAVeryLongName: refused" in flat


def test_failure_table_escapes_hostile_text() -> None:
    """Escape sequences, bidi overrides and newlines from agents are shown escaped on one line, never
    sent raw to the terminal; fleet's own error and an interruption are reported after the totals."""
    hostile = "\x1b[31mred\x1b[0m \u202eevil\u202c\nsecond"
    doc = summary_document(run(interrupted=True, error="bug\nsecond line"),
                           [result("h\u2066", Outcome.FAILED, logs=(hostile,), err_code="E\x07")])
    text = failure_table(doc)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text and "\u2066" not in text
    # the whole last log entry, its lines joined, escaped
    assert text.splitlines()[0] == "failed [1 host] E\\x07: \\x1b[31mred\\x1b[0m \\u202eevil\\u202c second"
    assert "h\\u2066:2886" in text
    assert text.splitlines()[-2:] == ["the run was interrupted", "fleet error: bug second line"]
    assert printable("\x1b[31mred \u202eevil\u202c") == "\\x1b[31mred \\u202eevil\\u202c"


def test_recap_counts_outcomes_per_group_then_lists_failures() -> None:
    """The recap has a header, one 'group : ok=N failed=M' line per group (a host counts in each of
    its groups), then the grouped failure table."""
    doc = summary_document(run(), [result("a", groups=("hz", "all")), result("b", Outcome.FAILED, groups=("sh",)),
                                   result("c", Outcome.SKIPPED, groups=(), message="not fired")])
    lines = recap(doc, 80).splitlines()
    assert lines[0] == "RECAP obproxy.start: 3 hosts in 0:03"
    assert lines[1:5] == ["(no group) : skipped=1", "all        : ok=1", "hz         : ok=1", "sh         : failed=1"]
    assert lines[5].startswith("failed [1 host]") and lines[-1].startswith("2 of 3 hosts did not succeed")


def test_host_line_says_what_happened_in_one_escaped_line() -> None:
    """Live lines read like Ansible's: 'ok: [host] dag N 3.1 s', 'failed: [host] errCode: reason';
    verbose adds trace ids and polls; a non-default port is shown; agent text is escaped."""
    ok = HostResult(HostSpec("h1", "10.0.0.1"), Outcome.SUCCEEDED, dag=DagDetail("21", 4, "Start obproxy", "SUCCEED"),
                    trace_ids=("t1",), polls=3, duration_ms=3100)
    assert host_line(ok) == "ok: [h1] dag 4 3.1 s"
    assert host_line(ok, verbose=True) == "ok: [h1] dag 4 3.1 s trace t1 polls 3"
    bad = HostResult(HostSpec("h2", "10.0.0.2", port=2887), Outcome.AUTH_FAILED,
                     error=ApiError(401, 1, "Security.Authentication.IncorrectAgentPassword", "no\x1b[2J"))
    assert host_line(bad) == "auth_failed: [h2:2887] Security.Authentication.IncorrectAgentPassword: no\\x1b[2J 0.0 s"


# architecture --------------------------------------------------------------------------------


def test_report_depends_on_models_only() -> None:
    """fleet.report imports nothing of fleet but fleet.models (with fleet.utc, the time forms the models
    use), the root package and itself."""
    package = pathlib.Path(__file__).parent.parent / "fleet" / "report"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name == "fleet" or name.startswith("fleet."):
                    allowed = name in ("fleet", "fleet.models", "fleet.utc") or name.startswith("fleet.report")
                    assert allowed, (source, name)


def test_summary_json_round_trips_with_one_host_per_line() -> None:
    """summary_json is the same document as json.dumps gives, with each host on its own line."""
    import json

    from fleet.report.summary import summary_json

    hosts = [{"host": f"h{i}", "outcome": "succeeded", "trace_ids": ["ab"], "error": None} for i in range(3)]
    doc = {"schema": "fleet.summary/v1", "totals": {"hosts": 3}, "hosts": hosts, "limit": "é"}
    text = summary_json(doc)
    assert json.loads(text) == doc
    assert sum(1 for line in text.splitlines() if line.lstrip().startswith('{"host"')) == 3
    assert json.loads(summary_json({**doc, "hosts": []}))["hosts"] == []


def test_failure_reason_keeps_a_multi_line_agent_log_entry_whole() -> None:
    """obshell logs a failed start as one entry spanning lines (``…output: <obproxy's output>\\n: exit
    status 1``): the reason is the whole entry on one line, not its last line alone."""
    entry = "ERROR: [Common.Unexpected]: Unexpected error: failed to start obproxy, output: boom\n: exit status 1"
    host = {"host": "h", "port": 2886, "outcome": "failed", "trace_ids": [], "error": None,
            "failed_tasks": [{"name": "Start obproxy", "task_logs": ["start obproxy cmd: ./bin/obproxy", entry]}]}
    assert failure_reason(host) == ("ERROR: [Common.Unexpected]: Unexpected error: failed to start obproxy, "
                                    "output: boom : exit status 1")
