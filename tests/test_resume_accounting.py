"""A resume accounts for every host of its journal, also those that left the inventory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema

from fleet.api.absent import NOT_IN_INVENTORY, NOT_SELECTED
from fleet.api.advice import advice_lines, partition
from fleet.models import HostResult
from fleet.report import load_summary_schema
from fleet.report.recap import host_line
from fleet.utc import utc_text
from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, wait_for, write_inventory


def _count(journal: Path, ev: str) -> int:
    if not journal.exists():
        return 0
    return sum(1 for line in journal.read_text().splitlines() if f'"ev":"{ev}"' in line)


def test_a_resume_reports_the_hosts_gone_from_the_inventory_and_is_not_complete(tmp_path: Path) -> None:
    """Six hosts in two batches; SIGINT while one DAG of the first batch still runs, so the second
    batch is never fired. The resume's inventory lacks the in-flight host and one unfired host.
    The resume fires the other unfired host once, and still reports all six: the in-flight one
    ``interrupted`` with its DAG and its real fired_at, the unfired one ``skipped``, each saying
    it is not in the inventory; exit 2, not 0; the run folder's summary lists as many hosts as
    ``fleet status``; neither gone host is in the retry file nor fired; ``fleet runs`` and
    ``fleet show`` list both attempts of the run."""
    ips = addresses("127.57.0.1", 6)
    in_flight, unfired_gone, unfired_kept = ips[3], ips[5], ips[4]
    config = {"defaults": {"dag_duration": [0.2, 0.4]},
              "agents": {f"{in_flight}:2886": {"faults": {"dag_stuck": True}}}}
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    with sim_fleet(tmp_path, ips[0], len(ips), config) as sim:
        proc = subprocess.Popen([sys.executable, "-m", "fleet", "start", "-i", str(inventory), "--serial", "4",
                                 "--order", "inventory", "--grace", "0.2", "--poll-cap", "0.3"],
                                cwd=tmp_path, env=fleet_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)
        runs = tmp_path / ".fleet" / "runs"
        journal = None

        def first_batch_settled() -> bool:
            nonlocal journal
            found = list(runs.glob("*/journal.jsonl")) if runs.exists() else []
            journal = found[0] if found else None
            return journal is not None and _count(journal, "finished") >= 3 and _count(journal, "answered") >= 4

        wait_for(first_batch_settled)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-2000:]
        assert journal is not None
        write_inventory(inventory, [ip for ip in ips if ip not in (in_flight, unfired_gone)])
        resumed = run_fleet(["start", "--resume", str(journal), "--poll-cap", "0.3"], tmp_path)
        status = run_fleet(["status", str(journal.parent)], tmp_path)
        listed_runs = run_fleet(["runs"], tmp_path)
        shown = run_fleet(["show"], tmp_path)
        state = sim.state()
    assert resumed.returncode == 2, resumed.stderr[-3000:]
    assert resumed.outcomes() == {ips[0]: "succeeded", ips[1]: "succeeded", ips[2]: "succeeded",
                                  in_flight: "interrupted", unfired_kept: "succeeded", unfired_gone: "skipped"}
    hosts = {h["host"]: h for h in resumed.summary["hosts"]} if resumed.summary else {}
    assert "not in the inventory" in hosts[in_flight]["error"]["message"]
    assert hosts[in_flight]["dag"]["id"] and hosts[in_flight]["fired_at"] is not None
    assert "not fired: it is not in the inventory" in hosts[unfired_gone]["error"]["message"]
    assert resumed.summary is not None
    assert resumed.summary["resume"]["absent"] == {f"{in_flight}:2886": "not in the inventory",
                                                   f"{unfired_gone}:2886": "not in the inventory"}
    assert "2 hosts of the journal are not worked on by this resume" in resumed.stderr
    assert "2 hosts of the journal are not in the inventory" in resumed.stderr
    jsonschema.validate(resumed.summary, load_summary_schema())
    kept = json.loads((journal.parent / "summary.json").read_text())
    listed = json.loads(status.stdout)
    assert len(kept["hosts"]) == len(listed["hosts"]) == 6
    assert (journal.parent / "retry").read_text().split() == []
    starts = [state["agents"][f"{ip}:2886"]["requests"].get("POST /api/v1/obproxy/start", 0) for ip in ips]
    assert starts == [1, 1, 1, 1, 1, 0]
    for out in (listed_runs.stdout, shown.stdout):  # both attempts, each with the hosts that ended in it
        assert "attempt 1" in out and "start  6 hosts" in out and "(interrupted)" in out, out
        assert "attempt 2" in out and "resume  4 hosts  ended ok=1  (ended)" in out, out
    assert f"{journal.parent.name} (2 attempts)" in listed_runs.stdout


def test_a_resume_keeps_exact_records_of_who_fired_each_host_and_when(tmp_path: Path) -> None:
    """Three hosts, one per batch; SIGINT while the second one's long DAG runs, so the third is
    never fired. The resume says "(from the journal)" (``resumed``) only for the hosts an
    earlier run fired, not for the one it fires itself; the in-flight host keeps the
    ``fired_at`` the journal recorded; and its ``--timeout`` counts from its DAG's start, not
    from the resume: a DAG of 12 s under a 10 s timeout, resumed 3 s into it, times out."""
    ips = addresses("127.57.3.1", 3)
    done, in_flight, fresh = ips
    config = {"defaults": {"dag_duration": [0.2, 0.3]},
              "agents": {f"{in_flight}:2886": {"dag_duration": [12, 12]}}}
    inventory = write_inventory(tmp_path / "prod.yaml", ips)
    journal = tmp_path / "run.jsonl"
    with sim_fleet(tmp_path, ips[0], len(ips), config) as sim:
        proc = subprocess.Popen([sys.executable, "-m", "fleet", "start", "-i", str(inventory), "--serial", "1",
                                 "--order", "inventory", "--grace", "0.2", "--poll-cap", "0.3", "--journal",
                                 str(journal), "-q"], cwd=tmp_path, env=fleet_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        wait_for(lambda: _count(journal, "answered") >= 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-2000:]
        events = [json.loads(line) for line in journal.read_text().splitlines()]
        fired = next(e["at"] for e in events if e["ev"] == "fired" and e["host"] == f"{in_flight}:2886")
        answered = next(e["at"] for e in events if e["ev"] == "answered" and e["host"] == f"{in_flight}:2886")
        time.sleep(max(0.0, answered + 3 - time.time()))  # resume 3 s into the DAG
        resumed = run_fleet(["start", "--resume", str(journal), "--timeout", "10", "--poll-cap", "0.5"], tmp_path)
        state = sim.state()
    assert resumed.returncode == 2, resumed.stderr[-3000:]
    assert resumed.outcomes() == {done: "succeeded", in_flight: "timed_out", fresh: "succeeded"}
    hosts = {h["host"]: h for h in resumed.summary["hosts"]} if resumed.summary else {}
    assert {ip: hosts[ip]["resumed"] for ip in ips} == {done: True, in_flight: True, fresh: False}
    assert hosts[in_flight]["fired_at"] == utc_text(fired)
    lines = {ip: host_line(HostResult.from_dict(hosts[ip])) for ip in ips}
    assert ["(from the journal)" in lines[ip] for ip in ips] == [True, True, False]
    starts = [state["agents"][f"{ip}:2886"]["requests"].get("POST /api/v1/obproxy/start", 0) for ip in ips]
    assert starts == [1, 1, 1]


def test_the_advice_never_names_a_host_the_journal_still_owes_in_the_retry_file() -> None:
    """After a resume, a journal host it did not work on goes to the retry file only when it is
    settled and still in the inventory; unfired or unsettled ones left out by --limit, and any
    gone from the inventory, are named on lines of their own, so no host is in both the retry
    file and a later resume of the journal."""
    def entry(name: str, outcome: str, dag: dict[str, str] | None = None) -> dict[str, object]:
        return {"host": name, "port": 2886, "outcome": outcome, "dag": dag}

    doc = {"interrupted": False,
           "resume": {"journal": "j", "overrides": {}, "absent": {
               "out-unfired:2886": NOT_SELECTED, "out-flying:2886": NOT_SELECTED, "out-failed:2886": NOT_SELECTED,
               "gone:2886": NOT_IN_INVENTORY}},
           "hosts": [entry("worked", "failed", {"id": "4", "state": "FAILED"}), entry("out-unfired", "skipped"),
                     entry("out-flying", "interrupted", {"id": "5", "state": "RUNNING"}),
                     entry("out-failed", "failed", {"id": "6", "state": "FAILED"}), entry("gone", "skipped")]}
    advice = partition(doc)
    assert advice.retry == ("worked", "out-failed")
    assert advice.left_out == ("out-unfired", "out-flying") and advice.gone == ("gone",)
    assert advice.settle == {} and advice.unfired == 0
    lines = advice_lines(advice, "retry", "j", "start")
    assert any("2 hosts of the journal were left out" in line and "--resume j --limit" in line for line in lines)
    assert any("1 hosts of the journal are not in the inventory (gone)" in line for line in lines)
