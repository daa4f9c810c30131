"""End to end: `--shard I/N` (explicit, or from GitLab's and Kubernetes' variables) and
`fleet merge`, up to the key property: three shards merged equal one unsharded run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from tests.harness import addresses, fleet_env, run_fleet, sim_fleet

BASE = "127.42.30.1"
N = 300
FAST = ["--poll-cap", "0.5", "--timeout", "2", "--request-timeout", "3", "--no-journal", "-q"]


def _inventory(path: Path, ips: list[str]) -> Path:
    """Hosts split over two groups (east: even positions, west: odd), so JUnit classnames vary."""
    doc = {"all": {"vars": {"obshell_port": 2886}, "children": {
        "east": {"hosts": {ip: None for ip in ips[0::2]}},
        "west": {"hosts": {ip: None for ip in ips[1::2]}}}}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _list(args: list[str], cwd: Path, **env: str) -> list[str]:
    run = run_fleet(["start", *args, "--list-hosts"], cwd=cwd, env=fleet_env(**env))
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def test_shards_are_disjoint_covering_balanced_and_deterministic(tmp_path: Path) -> None:
    """--shard I/N over 300 hosts: the 3 shards are disjoint, together cover the selection,
    differ in size by at most one, and come out the same on every invocation."""
    inventory = _inventory(tmp_path / "inv.yaml", addresses(BASE, N))
    every = _list(["-i", str(inventory)], tmp_path)
    shards = [_list(["-i", str(inventory), "--shard", f"{i}/3"], tmp_path) for i in (1, 2, 3)]
    assert sorted(h for s in shards for h in s) == sorted(every)
    assert len({h for s in shards for h in s}) == N
    assert {len(s) for s in shards} == {100}
    assert _list(["-i", str(inventory), "--shard", "2/3"], tmp_path) == shards[1]
    seven = [_list(["-i", str(inventory), "--shard", f"{i}/7"], tmp_path) for i in (1, 7)]
    assert {len(s) for s in seven} <= {42, 43}


def test_shard_from_ci_variables(tmp_path: Path) -> None:
    """Without --shard, GitLab's CI_NODE_INDEX/CI_NODE_TOTAL (1-based) and a Kubernetes Indexed
    Job's JOB_COMPLETION_INDEX (0-based, total from FLEET_SHARDS) pick the shard; --shard wins
    over them; JOB_COMPLETION_INDEX without FLEET_SHARDS is refused (exit 5), since every pod
    would otherwise fire every host."""
    inventory = str(_inventory(tmp_path / "inv.yaml", addresses(BASE, 30)))
    second = _list(["-i", inventory, "--shard", "2/3"], tmp_path)
    assert _list(["-i", inventory], tmp_path, CI_NODE_INDEX="2", CI_NODE_TOTAL="3") == second
    assert _list(["-i", inventory], tmp_path, JOB_COMPLETION_INDEX="1", FLEET_SHARDS="3") == second
    assert _list(["-i", inventory, "--shard", "2/3"], tmp_path, CI_NODE_INDEX="1", CI_NODE_TOTAL="3") == second
    lone = run_fleet(["start", "-i", inventory, "--list-hosts"], cwd=tmp_path,
                     env=fleet_env(JOB_COMPLETION_INDEX="0"))
    assert lone.returncode == 5 and "FLEET_SHARDS" in lone.stderr and "Traceback" not in lone.stderr


def test_empty_shard_is_a_success(tmp_path: Path) -> None:
    """A shard with no hosts (2 hosts, shard 3/3 from CI_NODE_*) sends nothing, needs no
    password, and exits 0 with an empty summary that records the shard."""
    inventory = str(_inventory(tmp_path / "inv.yaml", addresses("127.42.39.1", 2)))
    run = run_fleet(["start", "-i", inventory, "--no-journal"], cwd=tmp_path,
                    env=fleet_env(password=None, CI_NODE_INDEX="3", CI_NODE_TOTAL="3"))
    assert run.returncode == 0, run.stderr
    assert run.summary is not None
    assert run.summary["shard"] == "3/3" and run.summary["hosts"] == [] and run.summary["totals"]["hosts"] == 0


def _faults(ips: list[str]) -> dict[str, Any]:
    faults: dict[str, Any] = {}
    for i in range(3, 300, 37):
        faults[ips[i]] = {"faults": {"dag_fails": True}}
    for i in range(11, 300, 53):
        faults[ips[i]] = {"password": "rotated"}
    for i in (20, 150, 280):
        faults[ips[i]] = {"faults": {"refuse": True}}
    for i in (44, 201):
        faults[ips[i]] = {"is_obproxy_agent": False}
    for i in (99, 250):
        faults[ips[i]] = {"faults": {"dag_stuck": True}}
    return {"seed": 5, "defaults": {"dag_duration": [0.2, 0.6]}, "agents": faults}


def _view(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must agree between the merged and the unsharded summary, per host, sorted."""
    return sorted((h["host"], h["port"], tuple(h["groups"]), h["outcome"], (h["error"] or {}).get("errCode"),
                   (h["dag"] or {}).get("state")) for h in doc["hosts"])


def test_three_shards_merged_equal_one_unsharded_run(tmp_path: Path) -> None:
    """Three shard runs over 300 simulated hosts (with faults), merged by `fleet merge`, give
    the same hosts, groups, outcomes, errCodes and DAG states as one unsharded run against a
    fresh simulator with the same configuration; totals and exit codes agree, and the merged
    JUnit has one testcase per host with the same failure and error counts."""
    ips = addresses(BASE, N)
    inventory = str(_inventory(tmp_path / "inv.yaml", ips))
    config = _faults(ips)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with sim_fleet(tmp_path / "a", BASE, N, config) as sim:
        procs = [subprocess.Popen([sys.executable, "-m", "fleet", "start", "-i", inventory, "--shard", f"{i}/3",
                                   "-o", f"summary-{i}.json", *FAST], cwd=tmp_path, env=fleet_env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in (1, 2, 3)]
        codes = [p.wait(timeout=120) for p in procs]
        sharded_state = sim.state()
    assert set(codes) == {2}, [p.stderr.read()[-1000:] for p in procs if p.stderr]
    for p in procs:
        assert p.stderr is not None
        p.stderr.close()
    with sim_fleet(tmp_path / "b", BASE, N, config):
        whole = run_fleet(["start", "-i", inventory, "--junit", "whole.xml", *FAST], cwd=tmp_path)
    merged_run = run_fleet(["merge", "summary-1.json", "summary-2.json", "summary-3.json",
                            "--junit", "merged.xml"], cwd=tmp_path)

    shards = [json.loads((tmp_path / f"summary-{i}.json").read_text()) for i in (1, 2, 3)]
    merged = merged_run.summary
    assert merged is not None and whole.summary is not None
    figures = {f"shard {s['shard']}": {k: v for k, v in s["totals"].items() if v} for s in shards}
    figures["merged"] = {k: v for k, v in merged["totals"].items() if v}
    figures["unsharded"] = {k: v for k, v in whole.summary["totals"].items() if v}
    print(json.dumps(figures, indent=1))

    assert [len(s["hosts"]) for s in shards] == [100, 100, 100]
    assert merged_run.returncode == whole.returncode == 2
    assert _view(merged) == _view(whole.summary)
    assert merged["totals"] == whole.summary["totals"]
    assert merged["shard"] is None and merged["operation"] == "obproxy.start"
    assert sharded_state["totals"]["starts_accepted"] == whole.summary["totals"]["hosts"] - sum(
        whole.summary["totals"][k] for k in ("unreachable", "auth_failed", "precheck_failed"))
    junit_merged = ET.parse(tmp_path / "merged.xml").getroot().find("testsuite")
    junit_whole = ET.parse(tmp_path / "whole.xml").getroot().find("testsuite")
    assert junit_merged is not None and junit_whole is not None
    for attr in ("tests", "failures", "errors", "skipped"):
        assert junit_merged.get(attr) == junit_whole.get(attr), attr
    assert sorted(c.get("name") or "" for c in junit_merged.iter("testcase")) == sorted(f"{ip}:2886" for ip in ips)


def test_merge_refuses_what_cannot_be_one_run(tmp_path: Path) -> None:
    """`fleet merge` refuses, as a one-line usage error (exit 5), the same shard twice and a
    file that is not a JSON summary."""
    inventory = str(_inventory(tmp_path / "inv.yaml", addresses("127.42.39.1", 2)))
    run = run_fleet(["start", "-i", inventory, "--shard", "3/3", "--no-journal", "-o", "s3.json"],
                    cwd=tmp_path, env=fleet_env(password=None))
    assert run.returncode == 0, run.stderr
    twice = run_fleet(["merge", "s3.json", "s3.json"], cwd=tmp_path)
    assert twice.returncode == 5 and twice.stderr.strip() == "fleet: error: cannot merge: shard 3/3 appears twice"
    (tmp_path / "junk.json").write_text("not json")
    junk = run_fleet(["merge", "junk.json"], cwd=tmp_path)
    assert junk.returncode == 5 and junk.stderr.startswith("fleet: error: junk.json: not a JSON summary")
    assert len(junk.stderr.strip().splitlines()) == 1
