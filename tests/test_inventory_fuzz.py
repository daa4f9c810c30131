"""Adversarial inventories: every input loads correctly or fails with one clean line, quickly."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.errors import InputError, InventoryError
from fleet.inventory import Inventory, load_inventory, select
from fleet.inventory.ranges import RangeError, expand_host_key
from fleet.inventory.yamlload import ALIAS_BUDGET

EXAMPLE = Path(__file__).resolve().parent.parent / "inventories" / "example.yaml"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_WORKDIR = tempfile.mkdtemp(prefix="fleet-inventory-fuzz-")
atexit.register(shutil.rmtree, _WORKDIR, True)


def _write(data: str | bytes) -> str:
    path = os.path.join(_WORKDIR, "inv.yaml")
    with open(path, "wb") as fh:
        fh.write(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


def check_outcome(data: str | bytes) -> Inventory | None:
    """Load ``data``; assert it either loads consistently or fails with a one-line InventoryError."""
    path = _write(data)
    try:
        inventory = load_inventory(path)
    except InventoryError as exc:
        message = str(exc)
        assert message.startswith(path) and "\n" not in message and "\r" not in message, message
        assert exc.line is None or exc.line >= 1
        return None
    names = [host.name for host in inventory.hosts]
    assert names and len(names) == len(set(names))
    assert set(inventory.groups["all"]) == set(names)
    for host in inventory.hosts:
        assert 1 <= host.port <= 65535 and host.scheme in ("http", "https")
        assert host.source.startswith(f"{path}:")
        assert set(host.groups) <= set(inventory.groups)
        assert all(host.name in inventory.groups[group] for group in host.groups)
    return inventory


# -- strategies ---------------------------------------------------------------------------------

host_names = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,8}(\.[a-z]{1,5})?", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]:22"),
    st.from_regex(r"[a-z]{1,3}\[[0-9a-c]{0,3}:[0-9a-c]{0,3}(:[0-9]{1,2})?\][a-z]{0,2}", fullmatch=True),
    st.text(max_size=12),
)
odd_keys = st.one_of(host_names, st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False))
scalar_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=30),
    st.sampled_from(["http", "https", "{{ x }}", "2886", "abc", "x" * 5000]),
)
var_names = st.one_of(
    st.sampled_from(["obshell_port", "obshell_scheme", "obshell_verify_tls", "obshell_password_env",
                     "obshell_password_file", "obshell_ca_file", "ansible_host", "ansible_port",
                     "obshell_prot", "obshell_password", "ansible_group_priority", "other"]),
    st.text(max_size=8),
)
variables = st.dictionaries(var_names, scalar_values, max_size=4)


def groups(depth: int) -> st.SearchStrategy[Any]:
    body: dict[str, st.SearchStrategy[Any]] = {
        "hosts": st.one_of(st.none(), host_names, st.dictionaries(odd_keys, st.one_of(st.none(), variables),
                                                                  max_size=4)),
        "vars": st.one_of(st.none(), variables, st.lists(st.integers(), max_size=2)),
    }
    if depth > 0:
        body["children"] = st.dictionaries(st.one_of(st.from_regex(r"[a-z_]{1,6}", fullmatch=True), odd_keys),
                                           st.one_of(st.none(), groups(depth - 1)), max_size=3)
    return st.one_of(st.none(), st.fixed_dictionaries({}, optional=body), st.integers(), st.text(max_size=5))


inventories = st.dictionaries(
    st.one_of(st.just("all"), st.from_regex(r"[a-z_]{1,6}", fullmatch=True), odd_keys), groups(3), max_size=3
)


# -- properties ---------------------------------------------------------------------------------


@FUZZ
@given(text=st.text(max_size=400))
def test_arbitrary_text_loads_or_fails_cleanly(text: str) -> None:
    """Any text, including control characters and lone surrogates, loads or gives one clean error line."""
    check_outcome(text)


@FUZZ
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_load_or_fail_cleanly(data: bytes) -> None:
    """Any bytes (invalid UTF-8, BOMs, NULs) load or give one clean error line."""
    check_outcome(data)


@FUZZ
@given(document=inventories)
def test_random_structures_load_or_fail_cleanly(document: dict[Any, Any]) -> None:
    """Random group trees with odd keys, IPv6 forms, ranges and bad values never raise anything else."""
    check_outcome(yaml.dump(document, allow_unicode=True, sort_keys=False))


@FUZZ
@given(data=st.data())
def test_mutated_example_loads_or_fails_cleanly(data: st.DataObject) -> None:
    """The example inventory with random edits (deleted, duplicated, re-indented lines, injected anchors)."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        edit = data.draw(st.sampled_from(["delete", "duplicate", "indent", "dedent", "anchor", "alias", "insert"]))
        if edit == "delete":
            del lines[i]
        elif edit == "duplicate":
            lines.insert(i, lines[i])
        elif edit == "indent":
            lines[i] = "  " + lines[i]
        elif edit == "dedent":
            lines[i] = lines[i][2:]
        elif edit == "anchor":
            lines[i] = lines[i].replace(": ", ": &a ", 1)
        elif edit == "alias":
            lines[i] = lines[i].replace(": ", ": *a ", 1)
        else:
            lines.insert(i, data.draw(st.text(max_size=20)))
        if not lines:
            lines = [""]
    check_outcome("\n".join(lines) + "\n")


@FUZZ
@given(fanout=st.integers(2, 12), depth=st.integers(1, 12))
def test_alias_fanout_is_bounded(fanout: int, depth: int) -> None:
    """Nested aliases load while small and are refused once they would expand past the alias budget."""
    lines = ["all:", "  hosts: {h: }", "  vars:", "    l0: &l0 [x]"]
    for level in range(1, depth + 1):
        lines.append(f"    l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fanout)}]")
    inventory = check_outcome("\n".join(lines) + "\n")
    size, expanded = 2, 0  # nodes under l0; nodes reached through aliases
    for _ in range(depth):
        expanded += fanout * size
        size = 1 + fanout * size
    assert (inventory is not None) == (expanded <= ALIAS_BUDGET)


@FUZZ
@given(depth=st.integers(1, 200), side_by_side=st.booleans())
def test_group_depth_is_bounded(depth: int, side_by_side: bool) -> None:
    """Group chains load up to 64 levels and are refused beyond, never with a RecursionError."""
    if side_by_side:
        text = "all:\n  hosts: {h: }\n  children: {g0: }\n" + "".join(
            f"g{i}:\n  children: {{g{i + 1}: }}\n" for i in range(depth))
        levels = depth + 2
    else:
        text = "all:\n" + "".join("  " * (2 * i + 1) + f"children:\n{'  ' * (2 * i + 2)}g{i}:\n" for i in range(depth))
        text += "  " * (2 * depth + 1) + "hosts: {h: }\n"
        levels = depth + 1
    inventory = check_outcome(text)
    assert (inventory is not None) == (levels - 1 <= 64)


@FUZZ
@given(keys=st.lists(st.sampled_from(["a", "b", "'a'", '"b"', "c"]), min_size=1, max_size=6))
def test_duplicate_keys_are_always_refused(keys: list[str]) -> None:
    """Any repeated host key in one mapping, however quoted, is an error; distinct keys load."""
    text = "all:\n  hosts:\n" + "".join(f"    {key}:\n" for key in keys)
    inventory = check_outcome(text)
    assert (inventory is None) == (len({k.strip("'\"") for k in keys}) < len(keys))


@FUZZ
@given(key=st.from_regex(r"[a-c0-9]{0,2}(\[[a-cA-C0-9:+ _-]{0,7}\][a-c0-9.]{0,2}){0,2}(:[0-9]{1,3})?",
                         fullmatch=True))
def test_host_ranges_match_ansible(key: str) -> None:
    """Where ansible-core expands a host key to names, fleet expands it to the same names (or refuses)."""
    pytest.importorskip("ansible")
    from ansible.plugins.inventory import BaseInventoryPlugin

    try:
        ours: list[str] | None = expand_host_key(key)[0]
    except RangeError:
        ours = None
    try:
        theirs: list[str] | None = BaseInventoryPlugin._expand_hostpattern(None, key)[0]
    except Exception:
        theirs = None
    if ours is not None:
        assert ours == theirs
    else:  # fleet refuses only what Ansible refuses or expands to nothing
        assert not theirs, (key, theirs[:3])


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(str(EXAMPLE))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=st.text(alphabet="ahz_*?[]~!&:,.@ 1c-", max_size=16))
def test_select_never_raises_anything_but_input_error(example: Inventory, pattern: str) -> None:
    """Random patterns select hosts or raise InputError with one line."""
    try:
        chosen = select(example, pattern)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert chosen and len(set(chosen)) == len(chosen)


_TOKENS = ["hangzhou", "canary", "hz_cluster1", "sh_cluster1", "hz2-proxy-a", "2001:db8:10::5", "192.0.2.23",
           "hz*", "*.example.net", "~sh", "~.*-b", "obproxy0?.*", "all", "*", "ungrouped", "nothing", "sh?_*"]


@pytest.fixture(scope="module")
def ansible_example() -> Any:
    pytest.importorskip("ansible")
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    return InventoryManager(loader=DataLoader(), sources=[str(EXAMPLE)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.tuples(st.sampled_from(["", "!", "&"]), st.sampled_from(_TOKENS)), min_size=1, max_size=4),
       separator=st.sampled_from([",", ":", ", "]))
def test_random_patterns_select_what_ansible_selects(example: Inventory, ansible_example: Any,
                                                     parts: list[tuple[str, str]], separator: str) -> None:
    """Random unions, intersections and exclusions of names, globs and regexes agree with ansible-core
    (with allow_unmatched, Ansible's own handling of a part that matches nothing)."""
    pattern = separator.join(prefix + token for prefix, token in parts)
    ansible_example.subset(pattern)
    try:
        expected = {host.name for host in ansible_example.get_hosts("all")}
    finally:
        ansible_example.subset(None)
    try:
        ours = {host.name for host in select(example, pattern, allow_unmatched=True)}
    except InputError:
        ours = set()
    assert ours == expected, pattern
