"""obshell's generic DAG ids. For ODP DAGs: "4" + IPv4 as integer (10 digits) + port (5 digits) + dag_id."""

from __future__ import annotations

import ipaddress

ODP_ID_PREFIX = "4"


def odp_generic_id(ip: str, port: int, dag_id: int) -> str:
    """The generic id an ODP DAG of agent ``ip:port`` carries (IPv4 agents)."""
    return f"{ODP_ID_PREFIX}{int(ipaddress.IPv4Address(ip)):010d}{port:05d}{dag_id}"


def parse_odp_generic_id(generic_id: str) -> tuple[str, int, int] | None:
    """``(ip, port, dag_id)`` of an ODP generic id, or None when it is not one."""
    if len(generic_id) < 17 or not generic_id.startswith(ODP_ID_PREFIX) or not generic_id.isdigit():
        return None
    ip_int, port, dag_id = int(generic_id[1:11]), int(generic_id[11:16]), int(generic_id[16:])
    if ip_int > 0xFFFFFFFF or port > 65535:
        return None
    return str(ipaddress.IPv4Address(ip_int)), port, dag_id


def is_odp_dag_id(generic_id: str) -> bool:
    return generic_id.startswith(ODP_ID_PREFIX)
