"""obshell's wire contract is written once in fleet.protocol; the client and the simulator read it the same way."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.cli.logs import SECRET_KEYS
from fleet.protocol import api
from fleet.protocol.agentinfo import ODP_ROUTES_SINCE, version_tuple
from fleet.protocol.clock import format_agent_time, parse_agent_time, parse_offset
from fleet.protocol.ids import (
    local_generic_id,
    odp_generic_id,
    parse_local_generic_id,
    parse_odp_generic_id,
    same_address,
)
from fleet.simulator.config import config_from_dict
from fleet.simulator.routing import route_of
from fleet.simulator.settings import ConfigError

OFFSETS = st.builds(lambda sign, h, m: f"{sign}{h:02d}:{m:02d}", st.sampled_from("+-"),
                    st.integers(0, 23), st.integers(0, 59)) | st.just("Z")


@settings(max_examples=200, deadline=None)
@given(st.integers(63_072_000 * 10**9, 4_102_444_800 * 10**9), OFFSETS)
def test_agent_times_the_simulator_writes_read_back_to_the_instant(ns: int, offset: str) -> None:
    """Any instant written in any offset within ±23:59 reads back to the same instant (to the microsecond)."""
    text = format_agent_time(ns / 1e9, offset)
    assert text.endswith("Z" if parse_offset(offset) == parse_offset("Z") else offset)
    value = parse_agent_time(text)
    assert value is not None and abs(value - ns / 1e9) < 1e-6


def test_offsets_beyond_a_day_are_refused_on_both_sides() -> None:
    """+24:00 and +08:60 are no offsets: the client does not read them and the simulator's config refuses them."""
    for offset in ("+24:00", "+08:60", "+99:00", "8:00", "+8:00"):
        assert parse_offset(offset) is None, offset
        with pytest.raises(ValueError, match="UTC offset"):
            format_agent_time(0.0, offset)
        with pytest.raises(ConfigError, match="utc_offset"):
            config_from_dict({"defaults": {"utc_offset": offset}})
    assert parse_offset("-23:59") is not None


def test_version_follows_obshells_compare_version() -> None:
    """The release after '-' does not count; a longer version is the greater; odd components end the tuple."""
    assert version_tuple("4.3.2.0-100000012025010112") == (4, 3, 2, 0)
    assert version_tuple("4.2.6-1") == (4, 2, 6) < version_tuple("4.2.6.0")
    assert version_tuple("4.2.5.9-99") < ODP_ROUTES_SINCE <= version_tuple("4.2.6.0-1")
    assert version_tuple("4.3.²") == (4, 3) and version_tuple("4.3." + "9" * 10) == (4, 3)
    assert version_tuple("") == () and version_tuple("x") == ()


def test_every_route_the_client_sends_is_one_the_simulator_serves() -> None:
    """The client's paths (built from fleet.protocol.api) land on the simulator's routes of a 4.2.6 agent,
    and the ODP routes are unknown to a 4.2.5 one."""
    dag = api.dag_path("4" + "2130706433" + "02886" + "7")
    sent = {("GET", api.INFO): "info", ("GET", api.SECRET): "secret", ("POST", api.OBPROXY_START): "start",
            ("POST", api.OBPROXY_STOP): "stop", ("GET", dag): "dag", ("POST", dag): "operate",
            ("GET", api.UNFINISHED_DAGS): "unfinished", ("GET", api.AGENT_DAGS): "dags"}
    for (method, path), route in sent.items():
        assert route_of(method, path, "4.2.6.0")[0] == route, path
    assert route_of("POST", api.OBPROXY_START, "4.2.5.0")[0] is None
    assert route_of("GET", dag, "4.2.6.0")[1] == "GET /api/v1/task/dag/{id}"


def test_local_generic_ids_round_trip() -> None:
    """A local DAG's generic id (4/5 for ODP, 2/3 for others) parses back to its agent, id and kind."""
    for ip in ("127.0.0.1", "::1"):
        for odp in (True, False):
            generic = local_generic_id(ip, 2886, 42, odp=odp)
            assert generic[0] in (("4", "5") if odp else ("2", "3"))
            assert parse_local_generic_id(generic) == (ip, 2886, 42, odp)
    assert parse_local_generic_id("1" + "42") is None


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 65535), st.integers(0, 2**63 - 1))
def test_an_ipv4_mapped_address_gets_prefix_4_and_the_ipv4_integer_like_go_to4(
        ip_int: int, port: int, dag_id: int) -> None:
    """Go's To4() succeeds on ::ffff:a.b.c.d, so obshell builds that agent's ODP and local ids with
    prefix 4/2 and the IPv4 integer: fleet builds the same id from either spelling, reads it back as
    the IPv4 address, and counts both spellings as one agent address (prefix 5 only for real IPv6)."""
    v4 = str(ipaddress.IPv4Address(ip_int))
    mapped = f"::ffff:{v4}"
    assert odp_generic_id(mapped, port, dag_id) == odp_generic_id(v4, port, dag_id) == \
        f"4{ip_int:010d}{port:05d}{dag_id}"
    assert local_generic_id(mapped, port, dag_id, odp=False)[0] == "2"
    assert parse_odp_generic_id(odp_generic_id(mapped, port, dag_id)) == (v4, port, dag_id)
    assert same_address(mapped, v4) and same_address(v4, mapped.upper())
    # ::a.b.c.d (IPv4-compatible, not mapped) is IPv6 to Go: To4() fails
    assert not same_address(f"::{v4}", v4) and odp_generic_id(f"::{v4}", port, dag_id)[0] == "5"


def test_the_auth_headers_are_masked_in_logs() -> None:
    """Both obshell auth headers, spelled as fleet sends them, are secret log keys."""
    assert {h.lower() for h in api.SECRET_HEADERS} <= SECRET_KEYS
    assert {api.AGENT_HEADER.lower(), api.OB_HEADER.lower()} <= SECRET_KEYS
