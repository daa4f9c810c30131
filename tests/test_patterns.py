"""Host patterns (--limit) and shards, checked against ansible-core's own selection."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.errors import InputError
from fleet.inventory import Inventory, load_inventory, select, shard
from fleet.inventory.patterns import split_pattern
from fleet.models import HostSpec

EXAMPLE = Path(__file__).resolve().parent.parent / "inventories" / "example.yaml"


@pytest.fixture(scope="module")
def example() -> Inventory:
    return load_inventory(str(EXAMPLE))


def names(hosts: tuple[HostSpec, ...]) -> list[str]:
    return [host.name for host in hosts]


def test_none_all_and_star_select_everything_in_inventory_order(example: Inventory) -> None:
    """None, 'all' and '*' select every host, in inventory order."""
    assert select(example, None) == select(example, "all") == select(example, "*") == example.hosts


def test_group_and_host_names(example: Inventory) -> None:
    """A group name brings its descendants' hosts; a host name brings the host."""
    assert names(select(example, "hz_cluster2")) == ["hz2-proxy-a", "hz2-proxy-b", "192.0.2.23"]
    assert len(select(example, "hangzhou")) == 13
    assert names(select(example, "198.51.100.7")) == ["198.51.100.7"]


def test_union_intersection_exclusion_apply_in_ansible_order(example: Inventory) -> None:
    """Unions apply first, then intersections, then exclusions, whatever their written order."""
    assert names(select(example, "!canary:hz_cluster2")) == ["hz2-proxy-b", "192.0.2.23"]
    assert names(select(example, "&canary,shanghai,hz_cluster2")) == ["hz2-proxy-a", "sh1-proxy-a.example.net"]
    assert len(select(example, "!hangzhou")) == 5
    assert names(select(example, "&canary")) == names(select(example, "canary"))


def test_result_is_in_inventory_order_without_duplicates(example: Inventory) -> None:
    """Overlapping unions give each host once, in inventory order, not pattern order."""
    result = names(select(example, "sh_cluster1,canary,hz2-proxy-b"))
    assert result == ["obproxy01.hz1.example.com", "hz2-proxy-a", "hz2-proxy-b", "sh1-proxy-a.example.net",
                      "sh1-proxy-b.example.net", "sh1-proxy-c.example.net", "2001:db8:10::5", "198.51.100.7"]


def test_globs_and_regexes(example: Inventory) -> None:
    """fnmatch globs and ~regexes match host and group names; ~ is anchored at the start as in Ansible."""
    assert names(select(example, "obproxy0[1-3]*")) == [f"obproxy0{i}.hz1.example.com" for i in (1, 2, 3)]
    assert len(select(example, "hz_*")) == 13
    assert len(select(example, "~sh")) == 5
    assert names(select(example, "~.*-proxy-[ab]$")) == ["hz2-proxy-a", "hz2-proxy-b"]
    with pytest.raises(InputError, match="matches no host"):
        select(example, "~proxy")


def test_ipv6_whole_pattern_and_in_lists(example: Inventory) -> None:
    """An IPv6 address is one pattern on its own and in a comma-separated list."""
    assert names(select(example, "2001:db8:10::5")) == ["2001:db8:10::5"]
    assert names(select(example, "2001:db8:10::5,198.51.100.7")) == ["2001:db8:10::5", "198.51.100.7"]
    assert split_pattern("a:b:&c:!d") == ["a", "b", "&c", "!d"]
    assert split_pattern("2001:db8::1") == ["2001:db8::1"]
    assert split_pattern(" a , b ,, ") == ["a", "b"]


def test_subscripts_index_inventory_order(example: Inventory) -> None:
    """group[i], group[a:b] and group[-1] pick hosts by position in inventory order."""
    assert names(select(example, "hz_cluster2[0]")) == ["hz2-proxy-a"]
    assert names(select(example, "hz_cluster2[-1]")) == ["192.0.2.23"]
    assert names(select(example, "hz_cluster1[2:4]")) == [f"obproxy0{i}.hz1.example.com" for i in (3, 4, 5)]
    with pytest.raises(InputError, match="out of range"):
        select(example, "hz_cluster2[7]")


def test_limit_file_and_retry_file(example: Inventory, tmp_path: Path) -> None:
    """@file reads one pattern per line, as in a .retry file; blank lines are skipped; a line naming
    no host of the inventory is refused like any other part, unless allow_unmatched."""
    retry = tmp_path / "site.retry"
    retry.write_text("hz2-proxy-b\n\n2001:db8:10::5\nnot-there\n")
    with pytest.raises(InputError, match="'not-there' matches no group or host"):
        select(example, f"@{retry}")
    assert names(select(example, f"@{retry}", allow_unmatched=True)) == ["hz2-proxy-b", "2001:db8:10::5"]
    assert names(select(example, f"canary,!@{retry}", allow_unmatched=True)) == names(select(example, "canary"))
    with pytest.raises(InputError, match="cannot read the file"):
        select(example, f"@{tmp_path / 'missing.retry'}")


@pytest.mark.parametrize("pattern", ["nothing", "hz_cluster1:&shanghai", "!all", "canary:!canary"])
def test_pattern_matching_nothing_is_a_clean_one_liner(example: Inventory, pattern: str) -> None:
    """A pattern selecting no host is one InputError line naming the pattern and the inventory."""
    with pytest.raises(InputError) as info:
        select(example, pattern)
    assert str(info.value).startswith(f"--limit {pattern!r} matches no host in {example.path}")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("pattern", "expected"), [
    ("hangzhou:shanghaii",
     "--limit 'hangzhou:shanghaii': 'shanghaii' matches no group or host in {path}; did you mean 'shanghai'?; "
     "--allow-unmatched ignores such parts with a warning, as Ansible does"),
    ("hangzhou:!canaryy", "--limit 'hangzhou:!canaryy': 'canaryy' matches no group or host in {path}; "
     "did you mean 'canary'?; --allow-unmatched ignores such parts with a warning, as Ansible does"),
    ("hz_clustr1",
     "--limit 'hz_clustr1' matches no host in {path}; did you mean 'hz_cluster1' or 'sh_cluster1' or 'hz_cluster2'?"),
    ("zzzz", "--limit 'zzzz' matches no host in {path}; groups: canary, hangzhou, hz_cluster1, hz_cluster2, "
     "sh_cluster1, shanghai (fleet inventory --graph shows them all)"),
    ("hangzhou:nope1:nope2", "--limit 'hangzhou:nope1:nope2': 'nope1' matches no group or host in {path} "
     "(1 more part matches nothing too); groups: canary, hangzhou, hz_cluster1, hz_cluster2, sh_cluster1, "
     "shanghai (fleet inventory --graph shows them all); --allow-unmatched ignores such parts with a warning, "
     "as Ansible does"),
])
def test_a_part_matching_nothing_is_an_error_with_a_did_you_mean(example: Inventory, pattern: str,
                                                                 expected: str) -> None:
    """Any part of --limit that matches no group or host is refused (a typo would narrow the run),
    naming the part and the closest group or host names, else the inventory's groups."""
    with pytest.raises(InputError) as info:
        select(example, pattern)
    assert str(info.value) == expected.format(path=example.path)


def test_a_range_written_as_a_subscript_gets_ansibles_hint(example: Inventory) -> None:
    """'obproxy0[1-3]' is Ansible's subscript of 'obproxy0' (which matches nothing): the error says so,
    with Ansible's [x:y] wording, and offers the regex that selects those names."""
    with pytest.raises(InputError) as info:
        select(example, "obproxy0[1-3]")
    message = str(info.value)
    assert "'obproxy0[1-3]' is read as a subscript of 'obproxy0'" in message
    assert "use [x:y] inclusive subscripts instead of [x-y]" in message
    assert "write '~obproxy0[1-3]'" in message
    suggested = message.rsplit("write ", 1)[1].strip("'")
    assert names(select(example, suggested)) == names(select(example, "obproxy0[1-3]*"))


def test_allow_unmatched_keeps_ansibles_warning(example: Inventory) -> None:
    """With allow_unmatched a part matching nothing is ignored with Ansible's warning, as before."""
    warnings: list[str] = []
    chosen = select(example, "canary:nosuch:!alsonot[0]", warnings.append, allow_unmatched=True)
    assert names(chosen) == names(select(example, "canary"))
    assert warnings == ["Could not match supplied host pattern, ignoring: nosuch",
                        "Could not match supplied host pattern, ignoring: alsonot"]


@pytest.mark.parametrize("pattern", ["", "   ", "~(unclosed"])
def test_empty_or_invalid_patterns_are_input_errors(example: Inventory, pattern: str) -> None:
    """An empty --limit and an invalid regex are refused rather than read as 'everything'."""
    with pytest.raises(InputError):
        select(example, pattern)


def test_select_is_fast_on_ten_thousand_hosts(tmp_path: Path) -> None:
    """Selecting with globs, groups and a 5,000-line limit file over 10,000 hosts stays quick."""
    import time

    clusters = {f"c{c}": {"hosts": {f"h{c}-{i}": None for i in range(100)}} for c in range(100)}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump({"all": {"children": clusters}}))
    inventory = load_inventory(str(path))
    limit = tmp_path / "limit"
    limit.write_text("\n".join(f"h{c}-{i}" for c in range(50) for i in range(100)) + "\nmissing-1\nmissing-2\n")
    started = time.perf_counter()
    assert len(select(inventory, "c1*:!c10:&h*")) == 1000
    assert len(select(inventory, f"@{limit}", allow_unmatched=True)) == 5000
    assert time.perf_counter() - started < 1.0


# -- shards -------------------------------------------------------------------------------------


def _hosts(count: int) -> list[HostSpec]:
    rng = random.Random(count)
    return [HostSpec(name=f"h{rng.randrange(50)}", address="192.0.2.1", port=2886 + i) for i in range(count)]


@settings(max_examples=100, deadline=None)
@given(count=st.integers(0, 60), total=st.integers(1, 9))
def test_shards_are_disjoint_covering_and_balanced(count: int, total: int) -> None:
    """Shards 0..total-1 partition the hosts, sizes differ by at most one, each keeps input order."""
    hosts = _hosts(count)
    shards = [shard(hosts, index, total) for index in range(total)]
    seen = [host for part in shards for host in part]
    assert sorted(h.key for h in seen) == sorted(h.key for h in hosts)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for part in shards:
        positions = [hosts.index(h) for h in part]
        assert positions == sorted(positions)


def test_shard_is_round_robin_over_name_and_port() -> None:
    """Host i of the (name, port) order goes to shard i % total, independent of input order."""
    hosts = [HostSpec(name=n, address=n, port=p) for n, p in [("b", 1), ("a", 2), ("a", 1), ("c", 1)]]
    assert [h.key for h in shard(hosts, 0, 2)] == ["b:1", "a:1"]
    assert [h.key for h in shard(hosts, 1, 2)] == ["a:2", "c:1"]
    assert shard(list(reversed(hosts)), 0, 2) == tuple(reversed(shard(hosts, 0, 2)))
    assert shard(hosts[:1], 1, 3) == ()


@pytest.mark.parametrize(("index", "total"), [(0, 0), (2, 2), (-1, 3), (True, 2)])
def test_bad_shard_arguments_are_input_errors(index: Any, total: Any) -> None:
    """A shard index outside 0..total-1 or a total below 1 is refused."""
    with pytest.raises(InputError):
        shard(_hosts(3), index, total)


# -- agreement with ansible-core ----------------------------------------------------------------


def _ansible_manager(path: str) -> Any:
    pytest.importorskip("ansible")
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    return InventoryManager(loader=DataLoader(), sources=[path])


def _ansible_select(manager: Any, pattern: str) -> set[str]:
    manager.subset(pattern)
    try:
        return {host.name for host in manager.get_hosts("all")}
    finally:
        manager.subset(None)


def _assert_same_selection(inventory: Inventory, manager: Any, patterns: list[str]) -> None:
    for pattern in patterns:
        expected = _ansible_select(manager, pattern)
        if expected:
            assert set(names(select(inventory, pattern, allow_unmatched=True))) == expected, pattern
        else:
            with pytest.raises(InputError):
                select(inventory, pattern, allow_unmatched=True)


EXAMPLE_PATTERNS = [
    "all", "*", "hangzhou", "shanghai:canary", "canary:&hangzhou", "hangzhou:!canary", "!canary",
    "&canary", "hz*", "hz_cluster?", "*.example.net", "obproxy0[1-3]*", "~sh1", "~.*proxy-[ab]",
    "~(hz|sh)_cluster1", "2001:db8:10::5", "2001:db8:10::5,hz2-proxy-b", "192.0.2.23:198.51.100.7",
    "ungrouped", "nothing", "hz_cluster1[2:4]", "hz_cluster2[0]", "hz_cluster2[-1]",
    "canary:!hz2-proxy-a:&hangzhou", "hangzhou,shanghai:!canary", "obproxy01.hz1.example.com",
]


def test_select_agrees_with_ansible_on_the_example(example: Inventory) -> None:
    """For every sample pattern fleet selects exactly the hosts ansible-core selects."""
    _assert_same_selection(example, _ansible_manager(str(EXAMPLE)), EXAMPLE_PATTERNS)


def _generated_inventory(seed: int) -> dict[str, Any]:
    """A random but valid inventory: regions, clusters, ranges, shared hosts and groups, IPv6."""
    rng = random.Random(seed)

    def maybe_vars() -> dict[str, Any] | None:
        chosen: dict[str, Any] = {}
        if rng.random() < 0.5:
            chosen["obshell_port"] = rng.randrange(2000, 3000)
        if rng.random() < 0.3:
            chosen["obshell_password_env"] = rng.choice(["PW_A", "PW_B", "PW_C"])
        return chosen or None

    every: list[str] = []
    regions: dict[str, Any] = {}
    for r in range(rng.randrange(1, 4)):
        clusters: dict[str, Any] = {}
        for c in range(rng.randrange(1, 4)):
            hosts: dict[str, Any] = {}
            count = rng.randrange(1, 5)
            if rng.random() < 0.5:
                hosts[f"r{r}c{c}-[01:{count:02d}].example"] = maybe_vars()
                every += [f"r{r}c{c}-{i:02d}.example" for i in range(1, count + 1)]
            else:
                for i in range(count):
                    name = f"2001:db8:{r}:{c}::{i + 1}" if rng.random() < 0.2 else f"r{r}c{c}n{i}"
                    hosts[name] = maybe_vars()
                    every.append(name)
            clusters[f"r{r}_c{c}"] = {"hosts": hosts, "vars": maybe_vars()}
        regions[f"region{r}"] = {"children": clusters, "vars": maybe_vars()}
    shared = {name: maybe_vars() for name in rng.sample(every, min(3, len(every)))}
    regions["region0"]["children"]["canary"] = {"hosts": shared, "vars": maybe_vars()}
    if len(regions) > 1:
        regions["region1"]["children"]["canary"] = {"vars": maybe_vars()}
    document: dict[str, Any] = {"all": {"vars": maybe_vars(), "children": regions, "hosts": {"loner": None}}}
    document["extra_top"] = {"hosts": {rng.choice(every): None}, "vars": maybe_vars()}
    return document


@pytest.mark.parametrize("seed", range(6))
def test_select_and_variables_agree_with_ansible_on_generated_inventories(tmp_path: Path, seed: int) -> None:
    """On generated inventories fleet selects the same hosts and merges the same variables as ansible-core."""
    path = tmp_path / f"gen{seed}.yaml"
    path.write_text(yaml.safe_dump(_generated_inventory(seed), sort_keys=False))
    inventory = load_inventory(str(path))
    manager = _ansible_manager(str(path))
    assert set(names(inventory.hosts)) == {host.name for host in manager.get_hosts("all")}

    rng = random.Random(seed)
    groups = [g for g in inventory.groups if g not in ("all", "ungrouped")]
    hosts = names(inventory.hosts)
    retry = tmp_path / "limit.retry"
    retry.write_text("\n".join(rng.sample(hosts, min(3, len(hosts)))) + "\n")
    patterns = ["all", "ungrouped", "loner", f"@{retry}", f"canary,@{retry}", "*.example", "~r1", "~.*n0$",
                "region*", "r?_c1", "*::1", "!canary", "&canary"]
    for _ in range(25):
        a, b, c = rng.choice(groups), rng.choice(groups), rng.choice(hosts)
        patterns.append(rng.choice([a, c, f"{a}:{b}", f"{a}:&{b}", f"{a}:!{b}", f"{a},{c}", f"{a}:!{c}",
                                    f"!{a}", f"{c},{b}:!{a}", f"{a[:3]}*", f"~{a[:2]}"]))
    _assert_same_selection(inventory, manager, patterns)

    from ansible.inventory.helpers import get_group_vars
    from ansible.utils.vars import combine_vars

    for host in inventory.hosts:
        theirs = manager.get_host(host.name)
        merged = combine_vars(get_group_vars(theirs.get_groups()), theirs.get_vars())
        assert host.port == merged.get("obshell_port", 2886), host.name
        assert host.password_env == merged.get("obshell_password_env", "OBSHELL_AGENT_PASSWORD"), host.name
        assert set(host.groups) == {g.name for g in theirs.get_groups()} - {"all", "ungrouped"}


def test_generated_inventory_text_is_plain_yaml() -> None:
    """The generator used above produces a mapping inventory with IPv6 keys and ranges (sanity check)."""
    text = "".join(yaml.safe_dump(_generated_inventory(seed)) for seed in range(6))
    assert "[01:" in text and "2001:db8:" in text
    assert textwrap.dedent(text)
