"""The simulator's state file: what every agent saw and did, as JSON, written atomically.

Layout::

    {"written_at": "<RFC 3339>", "written_at_unix": 1.7e9,
     "totals": {"agents", "requests", "starts_accepted", "starts_refused", "dags": {state: n},
                "auth_failures": {errCode: n}, "dead", "restarted", "key_rotations"},
     "agents": {"127.30.0.1:2886": {"requests": {"GET /api/v1/info": 3, ...},
                "starts_accepted", "starts_refused", "trace_ids": [[route, traceId], ...],
                "dags": [{"id", "dag_id", "name", "created_at", "end_at", "state", "stage",
                          "operator", "execute_times"}],
                "auth_failures": {errCode: n}, "key_rotations", "restarted", "dead"}}}

``created_at``/``end_at`` are real unix times (``end_at`` is when the DAG's current run
ends or ended, computed; null while it never will, e.g. ``dag_stuck``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from fleet.simulator.agent import SimAgent


def build_state(agents: Iterable[SimAgent], now: float) -> dict[str, Any]:
    """Snapshot every agent (cheap; runs on the event loop) and add the totals."""
    per_agent: dict[str, Any] = {}
    totals: dict[str, Any] = {"agents": 0, "requests": 0, "starts_accepted": 0, "starts_refused": 0,
                              "dags": {}, "auth_failures": {}, "dead": 0, "restarted": 0, "key_rotations": 0}
    for agent in agents:
        snap = agent.snapshot(now)
        per_agent[agent.address] = snap
        totals["agents"] += 1
        totals["requests"] += sum(snap["requests"].values())
        totals["starts_accepted"] += snap["starts_accepted"]
        totals["starts_refused"] += snap["starts_refused"]
        totals["dead"] += snap["dead"]
        totals["restarted"] += snap["restarted"]
        totals["key_rotations"] += snap["key_rotations"]
        for dag in snap["dags"]:
            totals["dags"][dag["state"]] = totals["dags"].get(dag["state"], 0) + 1
        for code, n in snap["auth_failures"].items():
            totals["auth_failures"][code] = totals["auth_failures"].get(code, 0) + n
    return {
        "written_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "written_at_unix": now,
        "totals": totals,
        "agents": per_agent,
    }


def write_state(path: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` atomically (temp file in the same directory, then rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fleet-sim-state.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(path: str) -> dict[str, Any]:
    """Load a state file (tests and soak tooling)."""
    with open(path, encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc
