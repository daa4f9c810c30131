"""A host's summary entry reads back into the same result: ``HostResult.from_dict`` inverts ``to_dict``."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.models import Adoption, ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome

text = st.text(max_size=20)
maybe_text = st.none() | text
small = st.integers(min_value=0, max_value=10**6)

hosts = st.builds(HostSpec, name=st.text(min_size=1, max_size=10), address=st.text(min_size=1, max_size=10),
                  port=st.integers(1, 65535), groups=st.lists(st.text(min_size=1, max_size=5), max_size=3).map(tuple))
dags = st.builds(DagDetail, id=st.text(min_size=1, max_size=30), dag_id=small, name=text, state=text,
                 operator=text, stage=small, max_stage=small, start_time=maybe_text, end_time=maybe_text)
errors = st.builds(ApiError, status=st.none() | small, code=st.none() | small, err_code=maybe_text, message=text)
tasks = st.builds(FailedTask, node=text, task=text, execute_agent=maybe_text,
                  task_logs=st.lists(text, max_size=3).map(tuple))
attempts = st.fixed_dictionaries({"attempt": st.integers(1, 5), "operator": st.sampled_from(["START", "RETRY"]),
                                  "trace_id": maybe_text, "state": text, "stage": small, "start_time": maybe_text,
                                  "end_time": maybe_text, "message": maybe_text})
#: whole milliseconds from 1970 to 2100: the summary keeps times to the millisecond
fired = st.none() | st.integers(0, 4_102_444_800_000).map(lambda ms: ms / 1000)

results = st.builds(
    HostResult, host=hosts, outcome=st.sampled_from(list(Outcome)), dag=st.none() | dags,
    trace_ids=st.lists(text, max_size=4).map(tuple), error=st.none() | errors,
    failed_tasks=st.lists(tasks, max_size=3).map(tuple), polls=small, duration_ms=small,
    clock_offset_ms=st.none() | st.integers(-10**7, 10**7), agent_version=maybe_text, resumed=st.booleans(),
    adopted=st.none() | st.builds(Adoption, reason=st.sampled_from(["already_running", "answer_lost", "resumed"]),
                                  how=st.sampled_from(["unfinished_list", "id_probe"])),
    trace_ids_dropped=small, failed_tasks_dropped=small, fired_at=fired,
    attempts=st.lists(attempts, max_size=3).map(tuple),
)


@given(results)
def test_from_dict_inverts_to_dict(result: HostResult) -> None:
    """to_dict → JSON → from_dict gives back an equal result, adopted, fired_at, attempts and the
    *_dropped counts included; with the spec left out it is rebuilt from the entry itself."""
    doc = json.loads(json.dumps(result.to_dict()))
    assert HostResult.from_dict(doc, result.host) == result
    rebuilt = HostResult.from_dict(doc)
    assert rebuilt.to_dict() == result.to_dict()
    assert (rebuilt.host.name, rebuilt.host.address, rebuilt.host.port, rebuilt.host.groups) == (
        result.host.name, result.host.address, result.host.port, result.host.groups)


@pytest.mark.parametrize(("change", "message"), [
    ({"outcome": "exploded"}, "unknown outcome 'exploded'"),
    ({"dag": {"id": "4"}}, "'dag_id' is missing"),
    ({"dag": {"id": "4", "dag_id": "1"}}, "'dag_id' must be int"),
    ({"polls": True}, "'polls' must be int"),
    ({"fired_at": "yesterday"}, "not a UTC timestamp"),
    ({"trace_ids": "abc"}, "'trace_ids' must be a list of strings"),
    ({"adopted": {"reason": "resumed"}}, "'how' is missing"),
])
def test_from_dict_refuses_a_malformed_entry(change: dict[str, object], message: str) -> None:
    """A field of the wrong type or a missing required one is a ValueError naming it, never a
    result with an invented value (no dag_id 0 for a DAG whose id was not recorded)."""
    doc = HostResult(HostSpec("h", "127.0.0.1"), Outcome.SUCCEEDED).to_dict() | change
    with pytest.raises(ValueError, match=message):
        HostResult.from_dict(doc)
