"""obshell's HTTP surface as fleet uses it: header names and route paths.

From obshell's ``constant/secure.go`` (headers) and ``constant/uri.go`` (routes). The client
builds its requests from these names and the simulator routes by them, so the two cannot drift.
"""

from __future__ import annotations

from urllib.parse import quote

#: The auth header sealed with the agent password (obshell >= 4.2.6).
AGENT_HEADER = "X-OCS-Agent-Header"
#: The auth header sealed with the OceanBase root password (ordinary routes only).
OB_HEADER = "X-OCS-Header"
#: The request's trace id: the agent uses and echoes it as ``traceId``.
TRACE_HEADER = "X-OBSHELL-Trace-ID"
#: Headers whose value carries a password (encrypted, but a secret all the same).
SECRET_HEADERS = frozenset({AGENT_HEADER, OB_HEADER})

API_PREFIX = "/api/v1/"
RPC_PREFIX = "/rpc/v1/"
INFO = "/api/v1/info"
SECRET = "/api/v1/secret"
OBPROXY_START = "/api/v1/obproxy/start"
OBPROXY_STOP = "/api/v1/obproxy/stop"
#: ``GET`` (detail) and ``POST`` (operator) of one DAG: this prefix and its generic id.
DAG_PREFIX = "/api/v1/task/dag/"
UNFINISHED_DAGS = "/api/v1/task/dag/agent/unfinish"
AGENT_DAGS = "/api/v1/task/dags/agent"
#: Query parameter of the DAG routes; obshell defaults it to true.
SHOW_DETAILS = "show_details"
#: The one field of a DAG operator request's body.
OPERATOR_FIELD = "operator"


def dag_path(generic_id: str) -> str:
    """``/api/v1/task/dag/{id}``, the id quoted so it stays one path segment."""
    return DAG_PREFIX + quote(generic_id, safe="")


def with_details(path: str, details: bool) -> str:
    """``path?show_details=true|false``."""
    return f"{path}?{SHOW_DETAILS}={'true' if details else 'false'}"
