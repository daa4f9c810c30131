"""Loading Ansible-style YAML inventories, and resolving agent passwords."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from fleet.errors import InputError, InventoryError
from fleet.inventory import Inventory, load_inventory, resolve_passwords
from fleet.inventory.credentials import read_password_file
from fleet.models import HostSpec, Secret

EXAMPLE = Path(__file__).resolve().parent.parent / "inventories" / "example.yaml"


def write(tmp_path: Path, text: str, name: str = "inv.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def load(tmp_path: Path, text: str) -> Inventory:
    return load_inventory(write(tmp_path, text))


def failure(tmp_path: Path, text: str) -> InventoryError:
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    error = info.value
    assert error.file == path
    assert "\n" not in str(error)
    return error


def by_name(inventory: Inventory) -> dict[str, HostSpec]:
    return {host.name: host for host in inventory.hosts}


# -- the example inventory ----------------------------------------------------------------------


def test_example_inventory_loads_every_host_in_file_order() -> None:
    """inventories/example.yaml loads 18 hosts, in the order their keys first appear."""
    inventory = load_inventory(str(EXAMPLE))
    names = [host.name for host in inventory.hosts]
    assert names[:3] == ["obproxy01.hz1.example.com", "obproxy02.hz1.example.com", "obproxy03.hz1.example.com"]
    assert len(names) == len(set(names)) == 18
    assert "2001:db8:10::5" in names
    assert set(inventory.groups["all"]) == set(names)
    assert inventory.groups["ungrouped"] == ()


def test_example_inventory_merges_cluster_and_host_settings() -> None:
    """Cluster vars (https, CA, port), aliases, host overrides and password files reach the HostSpecs."""
    hosts = by_name(load_inventory(str(EXAMPLE)))
    alias = hosts["hz2-proxy-a"]
    assert alias.address == "192.0.2.21"
    assert alias.base_url == "https://192.0.2.21:2887"
    assert alias.tls.ca_file == "/etc/fleet/ca/hz2-ca.pem"
    assert alias.groups == ("hz_cluster2", "canary", "hangzhou")
    assert hosts["obproxy07.hz1.example.com"].password_env == "OBSHELL_HZ1_PASSWORD"
    assert hosts["198.51.100.7"].port == 2890
    assert hosts["2001:db8:10::5"].netloc == "[2001:db8:10::5]:2886"
    assert hosts["sh1-proxy-b.example.net"].password_file == "/etc/fleet/secrets/sh1-agent-password"
    assert hosts["hz2-proxy-b"].source.endswith("example.yaml:47")


# -- structure, precedence, membership -----------------------------------------------------------


def test_defaults_apply_when_no_variable_is_set(tmp_path: Path) -> None:
    """A bare host gets port 2886, http, verifying TLS and the default password variable."""
    host = load(tmp_path, "all:\n  hosts:\n    a.example:\n").hosts[0]
    assert (host.name, host.address, host.port, host.scheme) == ("a.example", "a.example", 2886, "http")
    assert host.tls.verify is True
    assert host.password_env == "OBSHELL_AGENT_PASSWORD" and host.password_file is None
    assert host.groups == ()


def test_precedence_host_over_child_over_parent_over_all(tmp_path: Path) -> None:
    """Host vars beat the child group, which beats its parent, which beats all."""
    inventory = load(tmp_path, """\
        all:
          vars: {obshell_port: 1001, obshell_scheme: https, obshell_password_env: FROM_ALL, obshell_ca_file: /all}
          children:
            parent:
              vars: {obshell_port: 1002, obshell_scheme: http, obshell_password_env: FROM_PARENT}
              children:
                child:
                  vars: {obshell_port: 1003, obshell_scheme: https}
                  hosts:
                    h1: {obshell_port: 1004}
                    h2:
        """)
    h1, h2 = inventory.hosts
    assert (h1.port, h1.scheme, h1.password_env, h1.tls.ca_file) == (1004, "https", "FROM_PARENT", "/all")
    assert (h2.port, h2.scheme) == (1003, "https")
    assert h1.groups == ("child", "parent")


def test_same_depth_groups_merge_alphabetically_later_name_wins(tmp_path: Path) -> None:
    """Among groups of equal depth the alphabetically later one wins, whatever the file order."""
    inventory = load(tmp_path, """\
        all:
          children:
            zeta:
              vars: {obshell_port: 1111}
              hosts: {h: }
            alpha:
              vars: {obshell_port: 2222, obshell_scheme: https}
              hosts: {h: }
        """)
    host = inventory.hosts[0]
    assert (host.port, host.scheme) == (1111, "https")
    assert host.groups == ("alpha", "zeta")


def test_deeper_group_wins_over_shallower_even_if_alphabetically_first(tmp_path: Path) -> None:
    """Depth is the first precedence key: a nested group beats a top-level one."""
    inventory = load(tmp_path, """\
        all:
          children:
            zzz:
              vars: {obshell_port: 1000}
              hosts: {h: }
            outer:
              children:
                aaa:
                  vars: {obshell_port: 2000}
                  hosts: {h: }
        """)
    assert inventory.hosts[0].port == 2000
    assert inventory.hosts[0].groups == ("aaa", "outer", "zzz")


def test_ansible_group_priority_orders_equal_depth_groups(tmp_path: Path) -> None:
    """ansible_group_priority ranks groups of equal depth before their names do."""
    inventory = load(tmp_path, """\
        all:
          children:
            alpha:
              vars: {obshell_port: 2222, ansible_group_priority: 10}
              hosts: {h: }
            zeta:
              vars: {obshell_port: 1111}
              hosts: {h: }
        """)
    assert inventory.hosts[0].port == 2222


def test_host_in_several_groups_is_one_host_and_later_host_vars_win(tmp_path: Path) -> None:
    """A host listed twice is one HostSpec, sourced at its first key; a later host var wins."""
    inventory = load(tmp_path, """\
        all:
          children:
            web:
              hosts:
                h: {obshell_port: 1000, obshell_verify_tls: false}
            db:
              hosts:
                h: {obshell_port: 2000}
        """)
    (host,) = inventory.hosts
    assert (host.port, host.tls.verify) == (2000, False)
    assert host.source.endswith(":5")
    assert inventory.groups["web"] == inventory.groups["db"] == ("h",)


def test_groups_include_descendant_hosts_all_and_ungrouped(tmp_path: Path) -> None:
    """groups maps each group to its and its descendants' hosts; bare hosts land in ungrouped."""
    inventory = load(tmp_path, """\
        all:
          hosts:
            lonely:
            both:
          children:
            region:
              children:
                cluster:
                  hosts: {c1: , both: }
        web:
          hosts: web1
        """)
    assert inventory.groups["region"] == ("both", "c1")
    assert inventory.groups["ungrouped"] == ("lonely",)
    assert inventory.groups["web"] == ("web1",)
    assert inventory.groups["all"] == ("lonely", "both", "c1", "web1")


def test_shared_group_definitions_and_section_strings(tmp_path: Path) -> None:
    """A group defined in two places is one group; 'hosts: name' and 'children: name' are accepted."""
    inventory = load(tmp_path, """\
        all:
          children:
            a:
              children: shared
            b:
              children:
                shared:
                  hosts: x
        """)
    assert inventory.groups["a"] == inventory.groups["b"] == ("x",)
    assert inventory.hosts[0].groups == ("shared", "a", "b")


def test_alias_ansible_host_and_ignored_ansible_port(tmp_path: Path) -> None:
    """ansible_host is the address; ansible_port (ssh) and a :port in the key are ignored."""
    inventory = load(tmp_path, """\
        all:
          hosts:
            db-alias: {ansible_host: 192.0.2.9, ansible_port: 2222, ansible_user: root}
            web1.example:2222:
            "[2001:db8::7]:22":
            v6-alias: {ansible_host: "[2001:db8::8]"}
        """)
    hosts = by_name(inventory)
    assert hosts["db-alias"].netloc == "192.0.2.9:2886"
    assert hosts["web1.example"].port == 2886
    assert hosts["2001:db8::7"].address == "2001:db8::7"
    assert hosts["v6-alias"].base_url == "http://[2001:db8::8]:2886"


@pytest.mark.parametrize("key", ['"fe80::1"', "2001:db8::1", "'::1'", '"2001:db8:0:0:0:0:0:1"', "::ffff:192.0.2.1"])
def test_ipv6_host_keys(tmp_path: Path, key: str) -> None:
    """IPv6 addresses are host names, quoted or not, and get brackets in URLs."""
    (host,) = load(tmp_path, f"all:\n  hosts:\n    {key}:\n").hosts
    assert ":" in host.name and host.netloc.startswith("[")


def test_anchors_and_merge_keys_within_budget(tmp_path: Path) -> None:
    """Anchors, aliases and '<<' merge keys work for shared vars; explicit keys win over merged ones."""
    inventory = load(tmp_path, """\
        all:
          children:
            a:
              vars: &tls {obshell_scheme: https, obshell_port: 2443}
              hosts: {a1: }
            b:
              vars:
                <<: *tls
                obshell_port: 2444
              hosts: {b1: }
        """)
    hosts = by_name(inventory)
    assert (hosts["a1"].scheme, hosts["a1"].port) == ("https", 2443)
    assert (hosts["b1"].scheme, hosts["b1"].port) == ("https", 2444)


def test_other_variables_are_not_even_read(tmp_path: Path) -> None:
    """Variables for other tools may hold anything, even vault tags and odd dates."""
    inventory = load(tmp_path, """\
        all:
          vars:
            secret: !vault |
              $ANSIBLE_VAULT;1.1;AES256
              6162
            when: 2001-13-45
            nested: {a: [1, {b: 2}]}
          hosts: {h: }
        """)
    assert inventory.hosts[0].name == "h"


def test_unicode_host_names_are_fine(tmp_path: Path) -> None:
    """Valid non-ASCII names load unchanged."""
    (host,) = load(tmp_path, "all:\n  hosts:\n    节点-1.例子:\n").hosts
    assert host.name == "节点-1.例子"


# -- ranges ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "expected"), [
    ("obproxy[01:03].hz", ["obproxy01.hz", "obproxy02.hz", "obproxy03.hz"]),
    ("db-[a:c].x", ["db-a.x", "db-b.x", "db-c.x"]),
    ("n[1:10:4]", ["n1", "n5", "n9"]),
    ("[8:10].x", ["8.x", "9.x", "10.x"]),
    ("r[:1]", ["r0", "r1"]),
    ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
    ("h[y:B]", ["hy", "hz", "hA", "hB"]),
    ("192.0.2.[1:3]", ["192.0.2.1", "192.0.2.2", "192.0.2.3"]),
    ("2001:db8::[1:2]", ["2001:db8::1", "2001:db8::2"]),
    ("web[1:2]:2222", ["web1", "web2"]),
])
def test_host_ranges_expand_as_ansible(tmp_path: Path, key: str, expected: list[str]) -> None:
    """Numeric (zero-padded), alphabetic, strided and multiple ranges expand like Ansible's."""
    inventory = load(tmp_path, f"all:\n  hosts:\n    '{key}':\n")
    assert [host.name for host in inventory.hosts] == expected
    assert all(host.source.endswith(":3") for host in inventory.hosts)


@pytest.mark.parametrize(("key", "reason"), [
    ("h[5:1]", "begin <= end"),
    ("h[01:5]", "equal width"),
    ("h[1]", "begin:end"),
    ("h[1:2:3:4]", "begin:end"),
    ("h[1:]", "end value"),
    ("h[1:3:0]", "at least 1"),
    ("h[1:3:x]", "not a number"),
    ("h[a:9]", "numbers or single letters"),
    ("h[c:a]", "begin <= end"),
    ("h[1:3", "'['"),
    ("h[0:999999]", "at most 100000"),
    ("h[0:999]-[0:999]", "more than 100000"),
])
def test_invalid_host_ranges_are_errors_with_line(tmp_path: Path, key: str, reason: str) -> None:
    """Malformed or empty ranges are refused at the host key's line."""
    error = failure(tmp_path, f"all:\n  hosts:\n    ok:\n    '{key}':\n")
    assert error.line == 4
    assert "invalid host range" in str(error) and reason in str(error)


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "line", "words"), [
    ("all:\n  hosts:\n    a: [\n", 4, "YAML syntax error"),
    ("all:\n  hosts:\n  - a\n  - b\n", 3, "must be a mapping"),
    ("all:\n  hosts:\n    a: {obshell_port: abc}\n", 3, "port number"),
    ("all:\n  hosts:\n    a:\n      obshell_port: 70000\n", 4, "not 70000"),
    ("all:\n  hosts:\n    a: {obshell_port: 0}\n", 3, "1..65535"),
    ("all:\n  hosts:\n    a: {obshell_port: true}\n", 3, "port number"),
    ("all:\n  hosts:\n    a: {obshell_verify_tls: 'yes'}\n", 3, "true or false"),
    ("all:\n  hosts:\n    a: {obshell_scheme: ftp}\n", 3, "'http' or 'https'"),
    ("all:\n  hosts:\n    a: {obshell_ca_file: ''}\n", 3, "non-empty string"),
    ("all:\n  hosts:\n    a: {obshell_password_env: 'MY-VAR'}\n", 3, "environment variable name"),
    ("all:\n  hosts:\n    a: {ansible_host: '{{ ip }}'}\n", 3, "Jinja template"),
    ("all:\n  hosts:\n    a:\n    b:\n    a:\n", 5, "duplicate key 'a'"),
    ("all:\n  vars:\n    obshell_port: 1\n    obshell_port: 2\n  hosts: {a: }\n", 4, "first at line 3"),
    ("all:\n  hosts:\n    12:\n", 3, "put it in quotes"),
    ("all:\n  hosts:\n    1:2:3:4:5:6:7:8:\n", 3, "read by YAML as a number"),
    ("all:\n  hosts:\n    ~:\n", 3, "empty key"),
    ("all:\n  children:\n    yes:\n", 3, "a boolean"),
    ("all:\n  hosts:\n    ? [a, b]\n    : 1\n", 3, "must be a string"),
    ("all:\n  hosts:\n    a: just-a-string\n", 3, "must map to its variables"),
    ("all: [a, b]\n", 1, "group 'all' must be a mapping"),
    ("- all\n", 1, "mapping of groups"),
    ("hosts:\n  a:\n", 1, "start the file with 'all:'"),
    ("plugin: aws_ec2\n", 1, "inventory plugin"),
    ("all:\n  host:\n    a:\n", 2, "did you mean 'hosts'"),
    ("all:\n  hosts:\n    a: {obshell_prot: 1}\n", 3, "did you mean obshell_port?"),
    ("all:\n  vars: {obshell_password: hunter2}\n  hosts: {a: }\n", 2, "obshell_password_env"),
    ("all:\n  vars: [1]\n  hosts: {a: }\n", 2, "must be a mapping"),
    ("all:\n  children:\n    g:\n      vars: {ansible_group_priority: high}\n      hosts: {a: }\n", 4, "integer"),
    ("all:\n  hosts:\n    \"bad\\tname\":\n", 3, "control character"),
    ("all:\n  hosts:\n    'two words':\n", 3, "whitespace"),
    ("all:\n  hosts:\n    \"zero\\u200bwidth\":\n", 3, "U+200B"),
    ("all:\n  children:\n    'bad group':\n", 3, "group name"),
    ("all:\n  children:\n    g:\n      children:\n        g:\n", 5, "lists itself"),
    ("a: &a [*a]\n", 1, "recursive"),
    ("all:\n  hosts:\n", 1, "no hosts"),
    ("all:\n  children:\n    web:\n", 1, "no hosts"),
])
def test_errors_point_at_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    """Each kind of mistake is one InventoryError line with the file and the offending line."""
    error = failure(tmp_path, text)
    assert error.line == line, str(error)
    assert words in str(error), str(error)
    assert str(error).startswith(f"{error.file}:{line}: ")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "~\n"])
def test_empty_inventory_is_an_error(tmp_path: Path, text: str) -> None:
    """An empty document is refused with a hint to start with 'all:'."""
    assert "empty" in str(failure(tmp_path, text))


def test_unknown_variable_without_close_match_lists_known_ones(tmp_path: Path) -> None:
    """An obshell_* variable far from every known one lists the known variables."""
    error = failure(tmp_path, "all:\n  vars: {obshell_zzzzzzzzzzzz: 1}\n  hosts: {a: }\n")
    assert "known: obshell_port" in str(error)


def test_password_never_echoed_in_refusal(tmp_path: Path) -> None:
    """Refusing obshell_password does not repeat the password."""
    assert "hunter2" not in str(failure(tmp_path, "all:\n  hosts:\n    a: {obshell_password: hunter2}\n"))


def test_group_cycle_is_an_error(tmp_path: Path) -> None:
    """children forming a cycle is refused with the cycle spelled out, never a RecursionError."""
    error = failure(tmp_path, """\
        all:
          children:
            a:
              children:
                b:
                  hosts: {h: }
            b:
              children:
                a:
        """)
    assert "cycle" in str(error) and error.line == 9


def test_deep_group_nesting_is_an_error(tmp_path: Path) -> None:
    """Groups nested more than 64 deep are refused at the offending group's line."""
    lines = ["all:"]
    for depth in range(70):
        pad = "  " * (2 * depth + 1)
        lines += [f"{pad}children:", f"{pad}  g{depth}:"]
    lines.append("  " * 141 + "hosts: {h: }")
    error = failure(tmp_path, "\n".join(lines) + "\n")
    assert "nested more than 64" in str(error) and error.line is not None


def test_deep_nesting_through_separate_definitions_is_an_error(tmp_path: Path) -> None:
    """A chain of 70 groups defined side by side (each naming the next as child) is too deep."""
    lines = ["all:", "  hosts: {h: }", "  children: {g0: }"]
    for i in range(70):
        lines.append(f"g{i}:\n  children: {{g{i + 1}: }}")
    error = failure(tmp_path, "\n".join(lines) + "\n")
    assert "nested more than 64" in str(error)


def test_yaml_nesting_beyond_libyaml_limit_is_an_error(tmp_path: Path) -> None:
    """Thousands of nested flow sequences are a syntax error, not a crash."""
    error = failure(tmp_path, "all:\n  vars:\n    x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "YAML" in str(error)


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """A 'billion laughs' document is refused in well under a second."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    started = time.perf_counter()
    error = failure(tmp_path, "all:\n  hosts: {h: }\n  vars:\n" + "".join(f"    {line}\n" for line in lines))
    assert "alias bomb" in str(error)
    assert time.perf_counter() - started < 1.0


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    """A file over 16 MiB is refused from its size alone."""
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as fh:
        fh.truncate(16 * 1024 * 1024 + 1)
    with pytest.raises(InventoryError, match="16 MiB"):
        load_inventory(str(path))


def test_invalid_utf8_and_control_characters_are_errors(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, and NUL characters, are refused with their line."""
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"all:\n  hosts:\n    caf\xe9:\n")
    with pytest.raises(InventoryError, match="UTF-8") as info:
        load_inventory(str(path))
    assert info.value.line == 3
    path.write_bytes(b"all:\n  hosts:\n    a\x00:\n")
    with pytest.raises(InventoryError, match="unacceptable character") as info:
        load_inventory(str(path))
    assert info.value.line == 3


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    """A missing inventory is one clear InventoryError naming the file."""
    with pytest.raises(InventoryError, match="cannot read inventory") as info:
        load_inventory(str(tmp_path / "nope.yaml"))
    assert info.value.file == str(tmp_path / "nope.yaml")


def test_ten_thousand_hosts_load_with_their_merged_variables(tmp_path: Path) -> None:
    """A 10,000-host inventory (individual keys, vars, shared groups) loads every host once, with
    host vars over group vars, and a host in two groups keeps both (its load time is measured in
    scripts/bench, not asserted here)."""
    lines = ["all:", "  vars: {obshell_port: 2886}", "  children:"]
    for cluster in range(100):
        lines += [f"    c{cluster}:", "      vars: {obshell_scheme: https}", "      hosts:"]
        lines += [f"        h{cluster}-{i}.example: {{obshell_port: {3000 + i}}}" for i in range(100)]
    lines += ["    canary:", "      hosts:"] + [f"        h{c}-0.example:" for c in range(100)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    inventory = load_inventory(path)
    assert len(inventory.hosts) == 10_000
    by_name = {h.name: h for h in inventory.hosts}
    assert by_name["h42-7.example"].port == 3007 and by_name["h42-7.example"].scheme == "https"
    assert set(by_name["h42-0.example"].groups) >= {"c42", "canary"}


# -- passwords ------------------------------------------------------------------------------------


def _host(name: str, **kwargs: object) -> HostSpec:
    return HostSpec(name=name, address=name, source=f"inventories/x.yaml:{len(name)}", **kwargs)  # type: ignore[arg-type]


def test_passwords_come_from_the_environment_variable() -> None:
    """Each host gets the password from its own environment variable, keyed by host.key."""
    hosts = [_host("a"), _host("b", password_env="OTHER", port=2887)]
    result = resolve_passwords(hosts, {"OBSHELL_AGENT_PASSWORD": "pw1", "OTHER": "pw2"})
    assert result == {"a:2886": Secret("pw1"), "b:2887": Secret("pw2")}


def test_unset_variable_names_the_host_and_its_line() -> None:
    """An unset variable is one InputError naming the variable and the host's file:line."""
    with pytest.raises(InputError) as info:
        resolve_passwords([_host("a")], {})
    assert str(info.value) == ("inventories/x.yaml:1: host 'a' needs its agent password: environment "
                               "variable OBSHELL_AGENT_PASSWORD is not set (or set obshell_password_file)")


def test_empty_variable_is_refused() -> None:
    """An empty password variable is refused rather than sent."""
    with pytest.raises(InputError, match="OBSHELL_AGENT_PASSWORD is empty"):
        resolve_passwords([_host("a")], {"OBSHELL_AGENT_PASSWORD": ""})


def test_each_source_is_looked_up_once() -> None:
    """10,000 hosts sharing one variable or one file cost one lookup each."""
    class CountingEnv(dict[str, str]):
        lookups = 0

        def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
            CountingEnv.lookups += 1
            return super().get(key, default)

    reads: list[str] = []

    def read_file(path: str) -> str:
        reads.append(path)
        return "filepw"

    hosts = [_host(f"h{i}") for i in range(10_000)] + [_host(f"f{i}", password_file="/p") for i in range(10_000)]
    result = resolve_passwords(hosts, CountingEnv(OBSHELL_AGENT_PASSWORD="pw"),
                               read_file=read_file)
    assert CountingEnv.lookups == 1 and reads == ["/p"]
    assert len(result) == 20_000 and result["f5:2886"].reveal() == "filepw"


def test_password_file_wins_and_is_read_with_permissions_checked(tmp_path: Path) -> None:
    """A chmod-600 password file is read (trailing newline dropped) in preference to the variable."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o600)
    result = resolve_passwords([_host("a", password_file=str(secret))], {"OBSHELL_AGENT_PASSWORD": "env"})
    assert result["a:2886"].reveal() == "s3cret"


@pytest.mark.parametrize(("content", "mode", "words"), [
    ("s3cret\n", 0o644, "chmod 600"),
    ("s3cret\n", 0o620, "chmod 600"),
    ("\n", 0o600, "is empty"),
    ("s3cret\nmore\n", 0o600, "one line"),
])
def test_bad_password_files_are_refused_without_the_password(tmp_path: Path, content: str, mode: int,
                                                              words: str) -> None:
    """Group/other-accessible, empty and multi-line files are refused; the message never has the password."""
    secret = tmp_path / "pw"
    secret.write_text(content)
    os.chmod(secret, mode)
    with pytest.raises(InputError) as info:
        resolve_passwords([_host("a", password_file=str(secret))], {})
    message = str(info.value)
    assert words in message and "s3cret" not in message and "more" not in message
    assert message.startswith("inventories/x.yaml:1: host 'a' needs its agent password: ")


def test_missing_password_file_is_refused(tmp_path: Path) -> None:
    """A missing password file is an InputError naming the file."""
    with pytest.raises(InputError, match=r"cannot read password file .*nope"):
        read_password_file(str(tmp_path / "nope"))
