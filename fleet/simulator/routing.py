"""Which of the simulator's routes a request is, by obshell's paths. Pure.

Route names are the simulator's own vocabulary: per-route faults (``hang: [start]``) name them.
"""

from __future__ import annotations

from fleet.protocol import api
from fleet.protocol.agentinfo import ODP_ROUTES_SINCE, version_tuple

ROUTES = ("info", "secret", "start", "stop", "dag", "operate", "unfinished", "dags")
ALL_ROUTES = frozenset(ROUTES)
#: routes that need the agent password whatever the agent's identity
ODP_ROUTES = frozenset({"start", "stop"})
#: routes that take a DAG's generic id as their last path segment
DAG_ROUTES = frozenset({"dag", "operate"})
_FIXED = {("GET", api.INFO): "info", ("GET", api.SECRET): "secret",
          ("GET", api.UNFINISHED_DAGS): "unfinished", ("GET", api.AGENT_DAGS): "dags"}
_OBPROXY = {api.OBPROXY_START: "start", api.OBPROXY_STOP: "stop"}
_DAG_LABEL = api.DAG_PREFIX + "{id}"


def route_of(method: str, path: str, version: str) -> tuple[str | None, str]:
    """``(route, label)``: the route (None when the agent of ``version`` has no such route) and
    the label its requests are counted under (``"GET /api/v1/task/dag/{id}"``)."""
    label = f"{method} {path}"
    route = _FIXED.get((method, path))
    if route is not None:
        return route, label
    if method == "POST" and path in _OBPROXY:
        return (_OBPROXY[path] if version_tuple(version) >= ODP_ROUTES_SINCE else None), label
    generic_id = path.removeprefix(api.DAG_PREFIX)
    if path.startswith(api.DAG_PREFIX) and generic_id and "/" not in generic_id and method in ("GET", "POST"):
        return ("dag" if method == "GET" else "operate"), f"{method} {_DAG_LABEL}"
    return None, label


def dag_id_of(path: str) -> str:
    """The generic id a DAG route's path ends with."""
    return path.rsplit("/", 1)[1]
