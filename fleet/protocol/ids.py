"""obshell's generic DAG ids.

ODP DAGs: ``"4" + IPv4 as integer (10 digits) + port (5 digits) + dag_id`` and, for IPv6
agents, ``"5" + IPv6 as integer (39 digits) + port (5 digits) + dag_id``
(obshell ``ConvertObproxyIDToGenericID``). The IP is the agent's own configured address.
Other local DAGs share the layout with the prefixes ``"2"`` (IPv4) and ``"3"`` (IPv6)
(``ConvertLocalIDToGenericID``); cluster DAGs are ``"1" + dag_id``.

The family is Go's: an address whose ``To4()`` succeeds is IPv4, so an IPv4-mapped IPv6 agent
address (``::ffff:10.0.0.1``) gets prefix 4 and the IPv4 integer, never prefix 5
(:func:`go_address`). Compare agent addresses through it too: the id of such an agent's DAG
reads back as ``10.0.0.1``.
"""

from __future__ import annotations

import ipaddress

MAX_DAG_ID = 2**63 - 1
_LAYOUT = {"4": (10, ipaddress.IPv4Address), "5": (39, ipaddress.IPv6Address)}


def go_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``ip`` as obshell's Go code sees it: an IPv4-mapped IPv6 address is the IPv4 address
    (``net.IP.To4()`` succeeds on it). Raises ``ValueError`` when ``ip`` is not an address."""
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def same_address(a: str, b: str) -> bool:
    """Whether two textual addresses name the same agent address as Go's ``To4()`` reads them
    (``::ffff:10.0.0.1`` is ``10.0.0.1``); False when either is not an address."""
    try:
        return go_address(a) == go_address(b)
    except ValueError:
        return False


def odp_generic_id(ip: str, port: int, dag_id: int) -> str:
    """The generic id an ODP DAG of agent ``ip:port`` carries (prefix 4 when Go's ``To4()``
    succeeds on ``ip``, IPv4-mapped addresses included; else 5)."""
    addr = go_address(ip)
    prefix = "4" if addr.version == 4 else "5"
    width = _LAYOUT[prefix][0]
    return f"{prefix}{int(addr):0{width}d}{port:05d}{dag_id}"


def parse_odp_generic_id(generic_id: str) -> tuple[str, int, int] | None:
    """``(ip, port, dag_id)`` of an ODP generic id, or None when it is not a well-formed one.

    The DAG id part must fit a signed 64-bit integer (obshell's ``int64``).
    """
    layout = _LAYOUT.get(generic_id[:1])
    if layout is None or not generic_id.isascii() or not generic_id.isdigit():
        return None
    width, addr_type = layout
    if len(generic_id) <= 1 + width + 5:
        return None
    ip_int = int(generic_id[1 : 1 + width])
    port = int(generic_id[1 + width : 6 + width])
    try:
        ip = str(addr_type(ip_int))
    except ValueError:
        return None
    dag_text = generic_id[6 + width :]
    if port > 65535 or len(dag_text) > 19 or int(dag_text) > MAX_DAG_ID:
        return None
    return ip, port, int(dag_text)


#: local (non-ODP) prefix ↔ ODP prefix of the same address family
_LOCAL_TO_ODP = {"2": "4", "3": "5"}
_ODP_TO_LOCAL = {"4": "2", "5": "3"}
CLUSTER_PREFIX = "1"


def local_generic_id(ip: str, port: int, dag_id: int, *, odp: bool) -> str:
    """The generic id of local DAG ``dag_id`` of agent ``ip:port``: 4/5 for ODP DAGs, 2/3 for others."""
    odp_id = odp_generic_id(ip, port, dag_id)
    return odp_id if odp else _ODP_TO_LOCAL[odp_id[0]] + odp_id[1:]


def parse_local_generic_id(generic_id: str) -> tuple[str, int, int, bool] | None:
    """``(ip, port, dag_id, odp)`` of a 2/3/4/5 generic id, or None when it is not a well-formed one."""
    first = generic_id[:1]
    parsed = parse_odp_generic_id(_LOCAL_TO_ODP.get(first, first) + generic_id[1:])
    if parsed is None:
        return None
    return (*parsed, first in _LAYOUT)


def is_local_dag_id(generic_id: str) -> bool:
    """Whether the id has a local DAG's prefix (2, 3, 4 or 5), well-formed or not."""
    return generic_id[:1] in _LAYOUT or generic_id[:1] in _LOCAL_TO_ODP


def is_odp_dag_id(generic_id: str) -> bool:
    return generic_id[:1] in _LAYOUT
