"""Inventory sources beyond one YAML file, and the checks every source goes through.

INI files, directories with group_vars/host_vars, several sources, host lists, inventory
scripts and -e; misspelt variables in any of them; addresses, one agent under two names,
TLS files, and warnings. Each error is one InventoryError line naming the file (and line).
"""

from __future__ import annotations

import datetime
import os
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleet.errors import InputError, InventoryError
from fleet.inventory import Inventory, check_tls_files, load_inventory, select
from fleet.models import HostSpec


def write(path: Path, text: str, mode: int | None = None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    if mode is not None:
        path.chmod(mode)
    return str(path)


def by_name(inventory: Inventory) -> dict[str, HostSpec]:
    return {h.name: h for h in inventory.hosts}


def error_of(*sources: str, **kwargs: Any) -> InventoryError:
    with pytest.raises(InventoryError) as info:
        load_inventory(list(sources), **kwargs)
    assert "\n" not in str(info.value)
    return info.value


# -- INI ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "line", "words"), [
    ("[web]\nh1 obshell_port\n", 2, "expected key=value host variable"),
    ("[web:bogus]\nh1\n", 1, "unknown type 'bogus'"),
    ("[web app]\nh1\n", 1, "invalid section"),
    ("[web]\nh1\n[db:vars]\nobshell_port=1\n", 3, "undefined group 'db'"),
    ("[web:children]\ndb\n[web]\nh1\n", 2, "includes undefined group 'db'"),
    ("[web]\nh1 obshell_prot=1\n", 2, "did you mean obshell_port?"),
    ("[web]\nh1 ansible_hots=127.0.0.1\n", 2, "did you mean ansible_host?"),
    ("[web]\nh1 obshell_port=70000\n", 2, "1..65535"),
    ("[web]\nh1 'unclosed\n", 2, "cannot parse host line"),
    ("[web:vars]\nobshell_port 2\n[web]\nh1\n", 2, "expected key=value"),
    ("[web]\n---\n", 2, "YAML file"),
])
def test_ini_errors_name_file_line_and_format(tmp_path: Path, text: str, line: int, words: str) -> None:
    """Each INI mistake is one line with file:line, 'INI inventory' and the reason."""
    path = write(tmp_path / "hosts.ini", text)
    error = error_of(path)
    assert (error.file, error.line) == (path, line), str(error)
    assert "INI inventory" in str(error) and words in str(error), str(error)


def test_ini_values_are_python_literals_and_booleans_may_be_words(tmp_path: Path) -> None:
    """INI values are literal_eval'd as Ansible does; 'false' and False both turn verification off."""
    path = write(tmp_path / "hosts.ini", """\
        [web]
        a.example obshell_port=2999 obshell_scheme=https obshell_verify_tls=false
        b.example obshell_port='3000' obshell_scheme="https" obshell_verify_tls=False
        """)
    hosts = by_name(load_inventory(path))
    assert (hosts["a.example"].port, hosts["a.example"].tls.verify) == (2999, False)
    assert (hosts["b.example"].port, hosts["b.example"].scheme, hosts["b.example"].tls.verify) == (3000, "https", False)


def test_file_without_extension_is_yaml_or_ini_by_content(tmp_path: Path) -> None:
    """A file with no extension holding a YAML mapping is YAML, anything else INI."""
    yaml_path = write(tmp_path / "a" / "hosts", "all:\n  hosts:\n    y.example:\n")
    ini_path = write(tmp_path / "b" / "hosts", "i1.example\ni2.example\n")
    assert [h.name for h in load_inventory(yaml_path).hosts] == ["y.example"]
    assert [h.name for h in load_inventory(ini_path).hosts] == ["i1.example", "i2.example"]


def test_misspelt_obshell_variable_in_group_vars_names_the_file_and_line(tmp_path: Path) -> None:
    """group_vars/hz.yml with obshell_prot is an error at that file's line, with a hint."""
    inv = write(tmp_path / "hosts.ini", "[hz]\nh1.example\n")
    gv = write(tmp_path / "group_vars" / "hz.yml", "obshell_scheme: http\nobshell_prot: 2999\n")
    error = error_of(inv)
    assert (error.file, error.line) == (gv, 2)
    assert "did you mean obshell_port?" in str(error)


def test_group_vars_file_applies_with_its_origin(tmp_path: Path) -> None:
    """group_vars/hz.yml's obshell_port reaches the host, and the origin names the file and line."""
    inv = write(tmp_path / "hosts.ini", "[hz]\nh1.example\n")
    gv = write(tmp_path / "group_vars" / "hz.yml", "# port of the hz agents\nobshell_port: 2999\n")
    inventory = load_inventory(inv)
    assert inventory.hosts[0].port == 2999
    assert str(inventory.origins["h1.example"]["obshell_port"]) == f"{gv}:2"


def test_misspelt_ansible_host_is_an_error_but_other_ansible_variables_are_not(tmp_path: Path) -> None:
    """ansible_hots gets a did-you-mean (fleet would resolve the name); ansible_port and ansible_user pass."""
    ok = write(tmp_path / "ok.yml", "all:\n  hosts:\n    h.example: {ansible_port: 22, ansible_user: x, "
                                    "ansible_ssh_host: 127.0.0.9}\n")
    assert load_inventory(ok).hosts[0].address == "h.example"
    bad = write(tmp_path / "bad.yml", "all:\n  hosts:\n    h.example:\n      ansible_hots: 127.0.0.9\n")
    error = error_of(bad)
    assert error.line == 4 and "did you mean ansible_host?" in str(error)


# -- several sources, host lists, directories -----------------------------------------------------


def test_several_sources_merge_in_order_and_later_wins(tmp_path: Path) -> None:
    """Two -i are one inventory: hosts of both, and the later source's variable wins."""
    a = write(tmp_path / "a.yml", "hz:\n  vars: {obshell_port: 1001}\n  hosts: {h1.example: , h2.example: }\n")
    b = write(tmp_path / "b.ini", "[hz]\nh3.example\n[hz:vars]\nobshell_port=1002\n")
    inventory = load_inventory([a, b])
    assert [h.name for h in inventory.hosts] == ["h1.example", "h2.example", "h3.example"]
    assert {h.port for h in inventory.hosts} == {1002}
    assert inventory.sources == (a, b)


def test_host_list_is_ungrouped_hosts_without_their_ssh_ports() -> None:
    """-i 'a,b,' lists hosts in ungrouped; a :port (ssh) is dropped, IPv6 brackets too."""
    inventory = load_inventory("127.0.0.5,[2001:db8::5]:22,proxy.example:2222,")
    assert [h.name for h in inventory.hosts] == ["127.0.0.5", "2001:db8::5", "proxy.example"]
    assert inventory.groups["ungrouped"] == ("127.0.0.5", "2001:db8::5", "proxy.example")


def test_missing_source_without_comma_is_an_error_with_a_hint(tmp_path: Path) -> None:
    """A path that does not exist is an error that mentions the host-list syntax."""
    error = error_of(str(tmp_path / "nope"))
    assert "No such file" in str(error) and "comma" in str(error)


def test_directory_reads_files_skips_ignored_and_finds_vars(tmp_path: Path) -> None:
    """A directory is every file in it (recursively), hidden and ignored extensions skipped."""
    write(tmp_path / "inv" / "a.ini", "[web]\nw1.example\n")
    write(tmp_path / "inv" / "sub" / "b.yaml", "db:\n  hosts: {d1.example: }\n")
    write(tmp_path / "inv" / "notes.txt", "not [an inventory\n")
    write(tmp_path / "inv" / ".git" / "config", "[core]\nbare = false\n")
    write(tmp_path / "inv" / "empty.yml", "")
    write(tmp_path / "inv" / "host_vars" / "d1.example" / "port.yml", "obshell_port: 2345\n")
    inventory = load_inventory(str(tmp_path / "inv"))
    assert [h.name for h in inventory.hosts] == ["w1.example", "d1.example"]
    assert by_name(inventory)["d1.example"].port == 2345


def test_a_file_of_a_directory_that_parses_as_nothing_is_an_error(tmp_path: Path) -> None:
    """A YAML file in an inventory directory that is not an inventory is an error (Ansible only warns)."""
    write(tmp_path / "inv" / "a.ini", "[web]\nw1.example\n")
    bad = write(tmp_path / "inv" / "b.yml", "- just\n- a list\n")
    error = error_of(str(tmp_path / "inv"))
    assert error.file == bad and "YAML inventory" in str(error)


def test_toml_is_refused_by_name(tmp_path: Path) -> None:
    """A .toml inventory is refused as unsupported, not misread."""
    assert "TOML" in str(error_of(write(tmp_path / "hosts.toml", "[web]\n")))


# -- scripts --------------------------------------------------------------------------------------


def test_script_output_with_meta_hostvars(tmp_path: Path) -> None:
    """An executable script's --list JSON gives groups, group vars and _meta.hostvars."""
    script = write(tmp_path / "inv.py", """\
        #!/bin/sh
        [ "$1" = "--list" ] || exit 3
        echo '{"web": {"hosts": ["w1.example"], "vars": {"obshell_port": 2001}},
               "_meta": {"hostvars": {"w1.example": {"ansible_host": "127.0.0.7"}}}}'
        """, mode=0o755)
    (host,) = load_inventory(script).hosts
    assert (host.name, host.address, host.port, host.groups) == ("w1.example", "127.0.0.7", 2001, ("web",))


def test_script_without_meta_is_asked_per_host(tmp_path: Path) -> None:
    """Without _meta the script is run with --host NAME for each host, as Ansible does."""
    script = write(tmp_path / "inv", """\
        #!/bin/sh
        if [ "$1" = "--list" ]; then echo '{"web": ["w1.example"]}'; else echo '{"obshell_port": 2777}'; fi
        """, mode=0o755)
    assert load_inventory(script).hosts[0].port == 2777


def test_failing_script_is_an_error_with_its_stderr(tmp_path: Path) -> None:
    """A script exiting non-zero is an error quoting its stderr on one line."""
    script = write(tmp_path / "inv.sh", "#!/bin/sh\necho 'cloud API: 403 forbidden' >&2\necho oops >&2\nexit 4\n",
                   mode=0o755)
    error = error_of(script)
    assert "exited with status 4: cloud API: 403 forbidden | oops" in str(error)
    assert "script inventory" in str(error)


@pytest.mark.parametrize(("output", "words"), [
    ("not json", "is not JSON"),
    ("[1, 2]", "JSON object of groups"),
    ('{"web": {"hosts": "w1"}}', "'web.hosts' must be a list"),
    ('{"web": ["w1.example"], "_meta": {"hostvars": {"w1.example": {"obshell_prot": 1}}}}', "obshell_port"),
])
def test_bad_script_output_is_an_error(tmp_path: Path, output: str, words: str) -> None:
    """Output that is not an inventory's JSON is an error naming the script."""
    script = write(tmp_path / "inv.sh", f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n", mode=0o755)
    error = error_of(script)
    assert words in str(error) and script in str(error)


def test_script_timeout_is_an_error(tmp_path: Path) -> None:
    """A script that does not finish within the timeout is killed and reported."""
    script = write(tmp_path / "inv.sh", "#!/bin/sh\nexec sleep 30\n", mode=0o755)
    assert "did not finish within 0.5 s" in str(error_of(script, script_timeout=0.5))


def test_non_executable_file_with_shebang_is_never_run(tmp_path: Path) -> None:
    """Only an executable file is run; without the x bit the file is read as text."""
    marker = tmp_path / "ran"
    path = write(tmp_path / "inv", f"#!/bin/sh\ntouch {marker}\n", mode=0o644)
    with pytest.raises(InventoryError):
        load_inventory(path)
    assert not marker.exists()


# -- -e -------------------------------------------------------------------------------------------


def test_extra_vars_win_over_every_inventory_layer(tmp_path: Path) -> None:
    """-e key=value and -e @file override host vars and host_vars files; the last -e wins."""
    inv = write(tmp_path / "hosts.ini", "[web]\nw1.example obshell_port=1\n")
    write(tmp_path / "host_vars" / "w1.example.yml", "obshell_port: 2\n")
    extra = write(tmp_path / "extra.json", '{"obshell_port": 4, "obshell_password_env": "X_PW"}')
    inventory = load_inventory(inv, extra_vars=["obshell_port=3", f"@{extra}"])
    assert (inventory.hosts[0].port, inventory.hosts[0].password_env) == (4, "X_PW")
    assert str(inventory.origins["w1.example"]["obshell_port"]) == f"{extra}:1"


@pytest.mark.parametrize(("option", "words"), [
    ("obshell_port", "expected key=value"),
    ("obshell_prot=1", "did you mean obshell_port?"),
    ("obshell_port=http", "port number"),
    ("./vars.yml", "write -e @./vars.yml"),
    ("@/nonexistent/vars.yml", "cannot read extra-vars file"),
])
def test_bad_extra_vars_are_errors(tmp_path: Path, option: str, words: str) -> None:
    """A malformed -e is one clear error."""
    inv = write(tmp_path / "hosts.ini", "w1.example\n")
    with pytest.raises(InputError, match=words.replace("?", r"\?").replace(".", r"\.")):
        load_inventory(inv, extra_vars=[option])


# -- addresses, agents, TLS -----------------------------------------------------------------------


@pytest.mark.parametrize("address", ["ops:x@127.70.3.7", "evil@127.70.0.14", "127.70.0.14/x#", "127.70.0.14:2886",
                                     "a b", "fe80::1%eth0", "127.1", "host?x"])
def test_bad_ansible_host_is_an_error_at_its_line(tmp_path: Path, address: str) -> None:
    """ansible_host must be one bare IPv4/IPv6 address or DNS name: userinfo, paths, ports are refused."""
    path = write(tmp_path / "inv.yml", f"all:\n  hosts:\n    h.example:\n      ansible_host: '{address}'\n")
    error = error_of(path)
    assert (error.file, error.line) == (path, 4) and "ansible_host" in str(error)


def test_host_name_used_as_address_is_checked_too(tmp_path: Path) -> None:
    """A host without ansible_host connects to its name, which must then be an address."""
    path = write(tmp_path / "hosts.ini", "[web]\nok.example\nevil@127.70.0.14\n")
    error = error_of(path)
    assert error.line == 3 and "no ansible_host" in str(error)


@pytest.mark.parametrize(("first", "second"), [
    ("127.60.1.11", "127.60.1.11"),
    ("::1", "0:0:0:0:0:0:0:1"),
    ("127.0.0.1", "::ffff:127.0.0.1"),
    ("Proxy.Example.", "proxy.example"),
])
def test_two_names_for_one_agent_are_an_error(tmp_path: Path, first: str, second: str) -> None:
    """Two host names whose address and port normalise to one agent are refused, naming both."""
    path = write(tmp_path / "inv.yml", f"""\
        all:
          hosts:
            hz-proxy-11: {{ansible_host: "{first}"}}
          children:
            canary:
              hosts:
                other-name: {{ansible_host: "{second}"}}
        """)
    error = error_of(path)
    assert "'hz-proxy-11'" in str(error) and "'other-name'" in str(error)
    assert f"{path}:3" in str(error) and error.line == 7 and "twice" in str(error)


def test_one_host_in_several_groups_and_other_ports_are_not_duplicates(tmp_path: Path) -> None:
    """A host listed in two groups is one host; one address on two ports is two agents."""
    path = write(tmp_path / "inv.yml", """\
        all:
          hosts:
            a: {ansible_host: 127.0.0.1}
            b: {ansible_host: 127.0.0.1, obshell_port: 2887}
          children:
            canary: {hosts: {a: }}
        """)
    assert [h.name for h in load_inventory(path).hosts] == ["a", "b"]


def test_loading_never_resolves_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names are validated, never looked up: no DNS query leaves the machine at load."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("DNS lookup at load")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "gethostbyname", refuse)
    path = write(tmp_path / "hosts.ini", "[web]\nproxy-1.example.com\nalias ansible_host=proxy-2.example.com\n")
    assert len(load_inventory(path).hosts) == 2


def test_unverified_tls_is_a_warning_with_its_line(tmp_path: Path) -> None:
    """obshell_verify_tls: false on https hosts is reported once per place it is set."""
    path = write(tmp_path / "inv.yml", """\
        all:
          vars: {obshell_scheme: https}
          hosts: {a.example: , b.example: }
          children:
            lax:
              vars:
                obshell_verify_tls: false
              hosts: {a.example: , b.example: }
        """)
    (warning,) = load_inventory(path).warnings
    assert warning.startswith(f"{path}:7: obshell_verify_tls is false") and "2 https agents" in warning


def _pem_pair(tmp_path: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleet test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def test_tls_files_are_checked_before_anything_is_sent(tmp_path: Path) -> None:
    """A missing or unparsable CA file or client pair is an error naming the file and the inventory line;
    good files pass."""
    cert, key = _pem_pair(tmp_path)
    garbage = write(tmp_path / "garbage.pem", "not a certificate\n")
    path = write(tmp_path / "inv.yml", f"""\
        all:
          vars: {{obshell_scheme: https}}
          hosts:
            good: {{ansible_host: 127.0.0.1, obshell_ca_file: {cert}, obshell_client_cert: {cert},
                    obshell_client_key: {key}}}
            missing: {{ansible_host: 127.0.0.2, obshell_ca_file: {tmp_path}/nope.pem}}
            bad: {{ansible_host: 127.0.0.3, obshell_ca_file: {garbage}}}
            mismatch: {{ansible_host: 127.0.0.4, obshell_client_cert: {cert}, obshell_client_key: {garbage}}}
        """)
    inventory = load_inventory(path)
    hosts = by_name(inventory)
    check_tls_files([hosts["good"]], inventory.origins)
    for name, line, words in (("missing", 6, "does not exist"), ("bad", 7, "does not load"),
                              ("mismatch", 8, "does not load")):
        with pytest.raises(InventoryError) as info:
            check_tls_files([hosts[name]], inventory.origins)
        assert (info.value.file, info.value.line) == (path, line), str(info.value)
        assert words in str(info.value)


# -- patterns -------------------------------------------------------------------------------------


def test_unknown_pattern_part_warns_like_ansible_and_goes_on(tmp_path: Path) -> None:
    """With allow_unmatched, --limit hz:nosuchgroup selects hz and warns with Ansible's words; without
    it the part is an error; no match at all is an error either way."""
    path = write(tmp_path / "hosts.ini", "[hz]\nh1.example\n[sh]\ns1.example\n")
    inventory = load_inventory(path)
    warnings: list[str] = []
    with pytest.raises(InputError, match="'nosuchgroup' matches no group or host"):
        select(inventory, "hz:nosuchgroup:!alsonot", warnings.append)
    assert warnings == []
    chosen = select(inventory, "hz:nosuchgroup:!alsonot", warnings.append, allow_unmatched=True)
    assert [h.name for h in chosen] == ["h1.example"]
    assert warnings == ["Could not match supplied host pattern, ignoring: nosuchgroup",
                        "Could not match supplied host pattern, ignoring: alsonot"]
    with pytest.raises(InputError, match="matches no host"):
        select(inventory, "nosuchgroup", warnings.append)


def test_empty_group_matches_without_a_warning(tmp_path: Path) -> None:
    """A group that exists but has no hosts is a match (Ansible does not warn), it just adds nothing."""
    path = write(tmp_path / "hosts.ini", "[hz]\nh1.example\n[empty]\n")
    warnings: list[str] = []
    select(load_inventory(path), "hz:empty", warnings.append)
    assert warnings == []


def test_directory_source_path_is_kept(tmp_path: Path) -> None:
    """Inventory.path is the source as given (what the summary and journal record)."""
    path = write(tmp_path / "inv" / "a.ini", "w.example\n")
    assert load_inventory(os.path.dirname(path)).path == os.path.dirname(path)
