"""Hostile answers at the client's parse edge: anything is a model or a ProtocolError, never a crash."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.errors import ProtocolError
from fleet.protocol import wire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=30,
)
FIELDS = ["successful", "timestamp", "duration", "status", "traceId", "data", "error"]
DAG_FIELDS = ["id", "dag_id", "name", "stage", "max_stage", "state", "operator", "start_time", "end_time",
              "additional_data", "nodes"]


def _parse_everything(status: int, body: bytes) -> None:
    try:
        env = wire.parse_envelope(status, body)
    except ProtocolError:
        return
    if env.error is not None:
        wire.failure_for(env)
        wire.is_decrypt_failure(env.error)
        return
    for parse in (wire.parse_agent_info, wire.parse_dag, wire.parse_dag_list, wire.parse_public_key):
        with contextlib.suppress(ProtocolError):
            parse(env.data)


@settings(max_examples=300, deadline=None)
@given(st.integers(100, 599), st.binary(max_size=200))
def test_random_bytes_never_crash_the_parser(status: int, body: bytes) -> None:
    """Arbitrary bytes are either an envelope or a ProtocolError."""
    _parse_everything(status, body)


@settings(max_examples=400, deadline=None)
@given(st.integers(100, 599), st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=7),
       st.dictionaries(st.sampled_from(DAG_FIELDS), json_values, max_size=11))
def test_envelopes_with_wrong_types_never_crash_the_parser(status: int, doc: dict[str, Any],
                                                           dag: dict[str, Any]) -> None:
    """Envelopes and DAGs with any mix of fields and types parse or raise ProtocolError only."""
    if "data" not in doc:
        doc["data"] = dag
    _parse_everything(status, json.dumps(doc).encode())


def test_a_well_formed_dag_parses_into_the_model() -> None:
    """The documented Start ODP answer parses to the DagDetail it describes."""
    body = json.dumps({
        "successful": True, "timestamp": "2025-03-20T15:20:02.190100104+08:00", "duration": 2, "status": 200,
        "traceId": "762914cd0eda6120",
        "data": {"id": "40194912107080888", "dag_id": 8, "name": "Start obproxy", "stage": 1, "max_stage": 2,
                 "state": "READY", "operator": "RUN", "start_time": "2025-03-20T15:20:02.188472711+08:00",
                 "end_time": "2025-03-20T15:20:02.188472711+08:00", "additional_data": None, "nodes": None},
    }).encode()
    env = wire.parse_envelope(200, body)
    dag = wire.parse_dag(env.data)
    assert env.trace_id == "762914cd0eda6120"
    assert (dag.id, dag.dag_id, dag.state, dag.max_stage, dag.finished) == ("40194912107080888", 8, "READY", 2, False)
