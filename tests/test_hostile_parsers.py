"""Hostile values at every parse edge: a model, None or a ProtocolError comes out, never anything else."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.engine.outcome import precheck_problem
from fleet.errors import ProtocolError
from fleet.models import AgentInfo
from fleet.protocol import bounds, wire
from fleet.protocol.agentinfo import version_tuple
from fleet.protocol.clock import parse_agent_time
from fleet.protocol.ids import parse_odp_generic_id

# Wide values: huge and negative integers, any unicode text (superscript digits, bidi, controls).
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**80)
           | st.floats(allow_nan=False) | st.text(max_size=30))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=40,
)
DAG_KEYS = ["id", "dag_id", "name", "stage", "max_stage", "state", "operator", "start_time", "end_time",
            "additional_data", "nodes"]
NODE_KEYS = ["id", "name", "state", "operator", "sub_tasks"]
SUB_KEYS = ["id", "name", "state", "operator", "execute_agent", "execute_times", "task_logs"]
INFO_KEYS = ["ip", "port", "version", "identity", "zone", "pid", "state", "startAt", "homePath", "obVersion",
             "architecture", "isObproxyAgent", "security", "supportedAuth"]


def _keyed(keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(keys), values, max_size=len(keys))


sub_tasks = _keyed(SUB_KEYS, json_values | st.lists(st.text(max_size=10), max_size=3))
nodes = _keyed(NODE_KEYS, json_values | st.lists(sub_tasks, max_size=3))
dags = _keyed(DAG_KEYS, json_values | st.lists(nodes, max_size=3))


def _only_protocol_errors(parse: Any, data: Any) -> Any:
    try:
        return parse(data)
    except ProtocolError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.one_of(dags, json_values))
def test_any_json_is_a_dag_or_a_protocol_error(doc: Any) -> None:
    """parse_dag and parse_dag_list on arbitrary JSON (huge ints, odd unicode) raise ProtocolError only,
    and what they return respects the bounds on ids and integers."""
    dag = _only_protocol_errors(wire.parse_dag, doc)
    if dag is not None:
        assert len(dag.id) <= bounds.MAX_ID_CHARS and abs(dag.dag_id) <= bounds.MAX_INT
        assert len(dag.name) <= bounds.MAX_TEXT_CHARS
    _only_protocol_errors(wire.parse_dag_list, {"contents": [doc]})


@settings(max_examples=300, deadline=None)
@given(_keyed(INFO_KEYS, json_values | st.text(alphabet="0123456789.²³¹٣-", max_size=12)))
def test_any_info_is_agent_info_or_a_protocol_error_and_prechecks_without_raising(doc: dict[str, Any]) -> None:
    """Any info payload parses or raises ProtocolError; a parsed one goes through the precheck without raising."""
    info = _only_protocol_errors(wire.parse_agent_info, doc)
    if info is not None:
        assert isinstance(info, AgentInfo) and 0 <= info.port <= 65535
        problem = precheck_problem(info)
        assert problem is None or isinstance(problem, str)


@settings(max_examples=300, deadline=None)
@given(st.integers(100, 599), st.binary(max_size=300))
def test_any_bytes_are_an_envelope_or_a_protocol_error(status: int, body: bytes) -> None:
    """Arbitrary bytes are an envelope (with a bounded traceId) or a ProtocolError."""
    env = _only_protocol_errors(lambda b: wire.parse_envelope(status, b), body)
    if env is not None:
        assert len(env.trace_id) <= bounds.MAX_TRACE_ID_CHARS


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60) | st.from_regex(
    r"\A20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([+-][0-9]{2}:[0-9]{2}|Z)\Z"))
def test_any_timestamp_is_a_time_or_none(text: str) -> None:
    """parse_agent_time returns a finite float or None for any text: odd offsets cost only the clock offset."""
    value = parse_agent_time(text)
    assert value is None or math.isfinite(value)


def test_out_of_range_offsets_and_dates_are_not_times() -> None:
    """+99:00, +23:60, month 13 and day 32 are not timestamps; ±23:59 still is."""
    for text in ("2025-01-01T00:00:00+99:00", "2025-01-01T00:00:00+23:60", "2025-13-01T00:00:00Z",
                 "2025-01-32T00:00:00Z", "2025-01-01T00:00:00+٠٨:00"):
        assert parse_agent_time(text) is None, text
    assert parse_agent_time("2025-01-01T00:00:00+23:59") is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"\A[45][0-9]{1,80}\Z"))
def test_any_generic_id_is_parsed_or_none(text: str) -> None:
    """parse_odp_generic_id returns a well-formed (ip, port, dag_id) or None for any text."""
    parsed = parse_odp_generic_id(text)
    if parsed is not None:
        _ip, port, dag_id = parsed
        assert 0 <= port <= 65535 and 0 <= dag_id < 2**63


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40) | st.text(alphabet="0123456789.-²", max_size=40))
def test_any_version_is_a_tuple_of_small_ints(text: str) -> None:
    """version_tuple never raises; its components are ASCII-digit numbers of at most 9 digits."""
    assert all(0 <= part < 10**9 for part in version_tuple(text))


def test_each_known_hostile_answer_is_a_protocol_error() -> None:
    """The hostile answers of issue 10 (deep nesting, odd versions, huge ids) are ProtocolErrors."""
    with pytest.raises(ProtocolError) as deep:
        wire.parse_envelope(200, b"[" * 200_000)
    assert "nested" in deep.value.message
    info = {"ip": "127.0.0.1", "port": 2886, "isObproxyAgent": True, "security": True}
    for version in ("4.3.²", "4.3." + "9" * 5000, "4.3.2.0\x1b[2J", "", "x"):
        with pytest.raises(ProtocolError) as odd:
            wire.parse_agent_info({**info, "version": version})
        assert "version" in odd.value.message and len(odd.value.message) < 200
    dag = {"id": "4" + "1" * 30, "dag_id": 1, "state": "RUNNING"}
    for field, value in (("dag_id", 2**70), ("dag_id", "8"), ("id", "1" * 5000), ("id", "4 1"), ("id", 1.5)):
        try:
            wire.parse_dag({**dag, field: value})
        except ProtocolError:
            continue
        raise AssertionError(f"{field}={value!r:.30} parsed")
    body = json.dumps({"successful": True, "status": 200, "traceId": "t" * 5_000_000, "data": {}}).encode()
    assert len(wire.parse_envelope(200, body).trace_id) == bounds.MAX_TRACE_ID_CHARS


def test_a_dag_with_95000_failed_sub_tasks_keeps_a_bounded_part() -> None:
    """A detailed DAG listing 95,000 failed sub-tasks with long logs keeps 256 sub-tasks, counts the
    other failures, and keeps at most 20 log lines (16 KiB) per sub-task with a truncation marker."""
    subs = [{"id": str(i), "state": "FAILED", "task_logs": ["x" * 10_000] * 30} for i in range(95_000)]
    dag = wire.parse_dag({"id": "1", "dag_id": 1, "state": "FAILED", "nodes": [{"id": "2", "sub_tasks": subs}]})
    kept = dag.nodes[0].sub_tasks
    assert len(kept) == bounds.MAX_SUB_TASKS
    assert dag.failed_sub_tasks_dropped == 95_000 - bounds.MAX_SUB_TASKS
    logs = kept[0].task_logs
    assert logs[0].startswith("[fleet:") and "truncated" in logs[0]
    assert len(logs) <= bounds.MAX_TASK_LOGS + 1
    assert sum(map(len, logs[1:])) <= bounds.MAX_TASK_LOG_CHARS + len(bounds.TRUNCATED)
