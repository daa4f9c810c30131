"""One scenario of agent requests, run the same way against the simulator and against a real agent.

Each step is one request; its answer is reduced to what must match between obshell and fleet's
simulator: the HTTP status, the envelope's keys, the error's ``errCode``/``code`` (and whether the
traceId is empty), the data's keys and its stable fields, DAG/node/sub-task fields and the states
a DAG went through. Ids, times, trace ids, pids, ports and paths are left out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from fleet.protocol.ids import odp_generic_id
from tests.realagent_harness import AGENT_PASSWORD, Answer, RealAgent

Observation = dict[str, Any]
DAG_FIELDS = ("name", "stage", "max_stage", "state", "operator", "maintenance_type", "maintenance_key")
NODE_FIELDS = ("name", "state", "operator")
TASK_FIELDS = ("name", "state", "operator", "execute_times")


def shape(answer: Answer) -> Observation:
    """What of one answer must match: status, envelope keys, error codes, data shape."""
    doc = answer.doc
    if doc is None:
        return {"status": answer.status, "json": False, "body_empty": not answer.raw}
    seen: Observation = {"status": answer.status, "envelope": sorted(doc), "trace_id_empty": not doc.get("traceId")}
    error = doc.get("error")
    if isinstance(error, dict):
        seen["error"] = {"keys": sorted(error), "errCode": error.get("errCode"), "code": error.get("code")}
    data = doc.get("data")
    if isinstance(data, dict):
        seen["data_keys"] = sorted(data)
        if "dag_id" in data:
            seen["dag"] = dag_shape(data)
    elif data is not None:
        seen["data_type"] = type(data).__name__
    return seen


def dag_shape(dag: dict[str, Any]) -> Observation:
    out: Observation = {name: dag.get(name) for name in DAG_FIELDS}
    out.update(_common(dag))
    nodes = dag.get("nodes")
    if nodes is None:
        out["nodes"] = None
        return out
    out["nodes"] = []
    for node in nodes:
        item: Observation = {name: node.get(name) for name in NODE_FIELDS}
        item.update(_common(node))
        item["sub_tasks"] = [
            {**{name: task.get(name) for name in TASK_FIELDS}, **_common(task),
             "execute_agent_keys": sorted(task.get("execute_agent") or {}),
             "task_logs": [mask(line) for line in task.get("task_logs") or []]}
            for task in node.get("sub_tasks") or []]
        out["nodes"].append(item)
    return out


def _common(item: dict[str, Any]) -> Observation:
    """Keys, the kind of id (a generic ODP id or not), of additional_data and of each time."""
    generic = str(item.get("id", "")).startswith(("4", "5")) and len(str(item.get("id", ""))) > 16
    return {"keys": sorted(item), "id_generic": generic,
            "additional_data": type(item.get("additional_data")).__name__,
            "times": [_time_kind(item.get(name)) for name in ("start_time", "end_time")]}


def _time_kind(value: Any) -> str:
    if not isinstance(value, str):
        return type(value).__name__
    if value.startswith("0001-01-01"):
        return "zero"
    if value.startswith("1970-01-01"):
        return "epoch"
    return "set"


def mask(line: str) -> str:
    """A task log line with its paths, numbers (pids, ports, retry counts) and the ODP's own output masked."""
    line = re.sub(r"output: .*?\n", "output: OUTPUT\n", line, flags=re.DOTALL)
    line = re.sub(r"'?/[^\s';]*'?", "PATH", line)
    return re.sub(r"\d+", "N", line)


def follow(agent: RealAgent, generic_id: str, timeout: float = 120) -> tuple[list[str], dict[str, Any]]:
    """Poll a DAG every 0.2 s until it ends: the states it showed (repeats collapsed), and its last answer."""
    states: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        answer = agent.request("GET", f"/api/v1/task/dag/{generic_id}?show_details=true", password=AGENT_PASSWORD)
        assert answer.status == 200, answer.doc
        state = answer.data["state"]
        if not states or states[-1] != state:
            states.append(state)
        if state in ("SUCCEED", "FAILED") or time.monotonic() > deadline:
            return states, answer.data
        time.sleep(0.2)


def scenario(agent: RealAgent, fail_starts: Callable[[bool], None]) -> list[tuple[str, Observation]]:
    """The steps, in order, each named; ``agent`` manages a running ODP and has AGENT_PASSWORD set.

    ``fail_starts(True)`` makes the next three start DAGs fail in "Start obproxy" (the real agent's
    stand-in refuses to start; the simulator is configured with ``dag_fails: 3``), ``False`` heals.
    """
    steps: list[tuple[str, Observation]] = []

    def step(name: str, answer: Answer, **extra: Any) -> Answer:
        steps.append((name, {**shape(answer), **extra}))
        return answer

    info = agent.request("GET", "/api/v1/info")
    step("info", info, identity=info.data.get("identity"), security=info.data.get("security"),
         isObproxyAgent=info.data.get("isObproxyAgent"))
    step("secret", agent.request("GET", "/api/v1/secret"))
    start = "/api/v1/obproxy/start"
    step("start without header", agent.request("POST", start))
    step("start wrong password", agent.request("POST", start, password="wrong-password"))
    step("start uri mismatch", agent.request("POST", start, password=AGENT_PASSWORD, header_uri="/api/v1/obproxy/stop"))
    step("start expired", agent.request("POST", start, password=AGENT_PASSWORD, expires_in=-120))
    real_key = agent.public_key()
    agent._public_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    step("start other key", agent.request("POST", start, password=AGENT_PASSWORD))
    agent._public_key = real_key
    missing = odp_generic_id(agent.ip, agent.port, 999999)
    step("dag unknown id", agent.request("GET", f"/api/v1/task/dag/{missing}?show_details=false",
                                         password=AGENT_PASSWORD))
    step("unknown route", agent.request("GET", "/api/v1/no-such-route"))
    step("unknown route with header", agent.request("GET", "/api/v1/no-such-route", password=AGENT_PASSWORD))

    fail_starts(True)
    failed = []
    for label in ("failing start A", "failing start B", "failing start C"):
        answer = step(label, agent.request("POST", start, password=AGENT_PASSWORD))
        failed.append(answer.data["id"])
        states, final = follow(agent, answer.data["id"])
        steps.append((f"{label}: states", {"states": states}))
        steps.append((f"{label}: final", dag_shape(final)))
    fail_starts(False)
    for label, generic_id, operator in (("RETRY A", failed[0], "RETRY"), ("PASS B", failed[1], "PASS"),
                                        ("ROLLBACK C", failed[2], "ROLLBACK")):
        step(label, agent.request("POST", f"/api/v1/task/dag/{generic_id}", {"operator": operator},
                                  password=AGENT_PASSWORD))
        states, final = follow(agent, generic_id)
        steps.append((f"{label}: states", {"states": states}))
        steps.append((f"{label}: final", dag_shape(final)))
    answer = step("start to cancel", agent.request("POST", start, password=AGENT_PASSWORD))
    step("CANCEL", agent.request("POST", f"/api/v1/task/dag/{answer.data['id']}", {"operator": "CANCEL"},
                                 password=AGENT_PASSWORD))
    states, final = follow(agent, answer.data["id"])
    steps.append(("CANCEL: states", {"states": states}))
    steps.append(("CANCEL: final", dag_shape(final)))

    for label, path in (("start running", start), ("stop", "/api/v1/obproxy/stop"),
                        ("stop stopped", "/api/v1/obproxy/stop"), ("start stopped", start)):
        answer = step(label, agent.request("POST", path, password=AGENT_PASSWORD))
        states, final = follow(agent, answer.data["id"])
        steps.append((f"{label}: states", {"states": states}))
        steps.append((f"{label}: final", dag_shape(final)))
        if label == "start running":
            step("retry a succeeded DAG", agent.request("POST", f"/api/v1/task/dag/{answer.data['id']}",
                                                        {"operator": "RETRY"}, password=AGENT_PASSWORD))
            step("bad operator", agent.request("POST", f"/api/v1/task/dag/{answer.data['id']}",
                                               {"operator": "NOPE"}, password=AGENT_PASSWORD))
    step("unfinished list", agent.request("GET", "/api/v1/task/dag/agent/unfinish?show_details=false",
                                          password=AGENT_PASSWORD))
    listed = step("all local dags", agent.request("GET", "/api/v1/task/dags/agent?show_details=false",
                                                  password=AGENT_PASSWORD))
    if isinstance(listed.data, dict):
        names = [d.get("name") for d in listed.data.get("contents") or []]
        steps.append(("all local dags: names", {"names": [n for n in names if n != "Add obproxy"]}))
    return steps


def differences(left: list[tuple[str, Observation]], right: list[tuple[str, Observation]],
                ignore: Callable[[str], bool] = lambda _: False) -> list[str]:
    """Every step whose observation differs, as ``step: left != right`` lines."""
    out = []
    for (name, a), (other, b) in zip(left, right, strict=True):
        assert name == other
        if a != b and not ignore(name):
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            out.append(f"{name}: " + "; ".join(f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in keys))
    return out
