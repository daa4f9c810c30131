"""``fleet inventory`` and the command line's inventory conventions: several -i, -e, pattern
warnings, and usage errors as one line with exit 5. No agent is contacted."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.harness import fleet_env, run_fleet


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts.ini").write_text(textwrap.dedent("""\
        [hz]
        hz-1.example ansible_host=127.0.0.1
        hz-2.example ansible_host=127.0.0.2

        [hz:vars]
        obshell_password_env=HZ_PW

        [region:children]
        hz
        """))
    (tmp_path / "inv" / "group_vars").mkdir()
    (tmp_path / "inv" / "group_vars" / "hz.yml").write_text("obshell_port: 2999\n")
    return tmp_path / "inv"


def test_list_shows_groups_resolved_variables_and_their_origins(tmp_path: Path, inv: Path) -> None:
    """--list prints ansible-inventory's shape plus where each value came from and the agent address."""
    run = run_fleet(["inventory", "-i", "inv", "--list"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["all"] == {"children": ["region"]}  # groups without selected hosts are left out
    assert doc["region"] == {"children": ["hz"]}
    assert doc["hz"] == {"hosts": ["hz-1.example", "hz-2.example"]}
    assert doc["_meta"]["hostvars"]["hz-1.example"]["obshell_port"] == 2999
    origins = doc["_meta"]["origins"]["hz-1.example"]
    assert origins["obshell_port"] == "inv/group_vars/hz.yml:1"
    assert origins["obshell_password_env"] == "inv/hosts.ini:6"
    assert origins["ansible_host"] == "inv/hosts.ini:2"
    assert origins["obshell_scheme"] == "default"
    assert doc["_meta"]["agents"]["hz-2.example"] == "127.0.0.2:2999"


def test_graph_and_host(tmp_path: Path, inv: Path) -> None:
    """--graph draws the tree like ansible-inventory; --host shows one host's values and origins."""
    graph = run_fleet(["inventory", "-i", "inv", "--graph"], cwd=tmp_path)
    assert graph.stdout.splitlines() == ["@all:", "  |--@region:", "  |  |--@hz:", "  |  |  |--hz-1.example",
                                         "  |  |  |--hz-2.example"]
    host = run_fleet(["inventory", "-i", "inv", "--host", "hz-2.example", "-e", "obshell_scheme=https"], cwd=tmp_path)
    doc = json.loads(host.stdout)
    assert doc["agent"] == "127.0.0.2:2999" and doc["groups"] == ["hz", "region"]
    assert doc["vars"]["obshell_scheme"] == {"value": "https", "from": "-e"}


def test_several_inventories_and_host_lists_on_start(tmp_path: Path, inv: Path) -> None:
    """-i may repeat, mixing a directory and a host list; --list-hosts shows the union in order."""
    run = run_fleet(["start", "-i", "inv", "-i", "127.0.0.9,", "--list-hosts"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["hz-1.example", "hz-2.example", "127.0.0.9"]


def test_limit_with_an_unknown_part_is_refused_unless_allowed(tmp_path: Path, inv: Path) -> None:
    """--limit hz:nosuchgroup is exit 5 with one line naming the part; with --allow-unmatched it warns
    with Ansible's words and selects hz."""
    refused = run_fleet(["start", "-i", "inv", "--limit", "hz:nosuchgroup", "--list-hosts"], cwd=tmp_path)
    assert refused.returncode == 5 and refused.stdout == ""
    assert refused.stderr.startswith("fleet: error: --limit 'hz:nosuchgroup': 'nosuchgroup' matches no group or host")
    assert refused.stderr.count("\n") == 1 and "--allow-unmatched" in refused.stderr
    run = run_fleet(["start", "-i", "inv", "--limit", "hz:nosuchgroup", "--allow-unmatched", "--list-hosts"],
                    cwd=tmp_path)
    assert run.returncode == 0
    assert run.stdout.split() == ["hz-1.example", "hz-2.example"]
    assert "fleet: warning: Could not match supplied host pattern, ignoring: nosuchgroup" in run.stderr


@pytest.mark.parametrize("args", [
    ["start", "-i", "inv", "--forks", "abc"],
    ["start", "-i", "inv", "--no-such-option"],
    ["start", "-i"],
    ["check", "--order", "random", "-i", "inv"],
    ["inventory", "-i", "inv", "--graph", "x", "--host", "y"],
    ["nosuchcommand"],
])
def test_usage_errors_exit_5_with_one_line_and_a_hint(tmp_path: Path, inv: Path, args: list[str]) -> None:
    """argparse's usage errors exit 5 (never 2, which means a host failed) with one line and a hint."""
    run = run_fleet(args, cwd=tmp_path, env=fleet_env())
    assert run.returncode == 5
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0], run.stderr


def test_inventory_errors_are_exit_5_one_line(tmp_path: Path, inv: Path) -> None:
    """A typo in group_vars stops `fleet inventory` and `fleet start` with exit 5 and file:line."""
    (inv / "group_vars" / "hz.yml").write_text("obshell_prot: 2999\n")
    for args in (["inventory", "-i", "inv"], ["start", "-i", "inv", "--list-hosts"]):
        run = run_fleet(args, cwd=tmp_path)
        assert run.returncode == 5
        assert run.stderr.strip() == ("fleet: error: inv/group_vars/hz.yml:1: unknown variable 'obshell_prot' "
                                      "(did you mean obshell_port?)")


def test_missing_ca_file_stops_start_before_anything_is_sent(tmp_path: Path, inv: Path) -> None:
    """A selected host whose obshell_ca_file is missing stops the run with exit 5, naming file and line."""
    (inv / "group_vars" / "hz.yml").write_text("obshell_scheme: https\nobshell_ca_file: /nonexistent/ca.pem\n")
    run = run_fleet(["check", "-i", "inv"], cwd=tmp_path, env=fleet_env(HZ_PW="x"))
    assert run.returncode == 5
    assert run.stderr.strip().startswith("fleet: error: inv/group_vars/hz.yml:2: obshell_ca_file '/nonexistent/ca.pem'")
