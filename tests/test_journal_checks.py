"""Tampered and malformed journals (issue 10) and incomplete shard merges (issue 9, case 5):
refused with exit 5, file:line and a one-line reason, nothing sent; property tests feed the
journal reader arbitrary lines."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.engine.priors import load_journal, priors_from_events
from fleet.errors import InputError
from tests.harness import addresses, fleet_env, run_fleet, sim_fleet, write_inventory

START = "POST /api/v1/obproxy/start"
HOSTS = ["a:1", "b:1"]


def _header(**over: Any) -> dict[str, Any]:
    return {"ev": "run", "at": 1.0, "operation": "obproxy.start", "hosts": HOSTS, "inventory": "inv.yaml",
            "limit": None, "shard": None, **over}


def _write(path: Path, events: list[Any]) -> Path:
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in events))
    return path


TAMPERED: list[tuple[str, list[Any], str]] = [
    ("unknown outcome", [_header(), {"ev": "finished", "at": 2, "host": "a:1", "result": {"outcome": "great"}}],
     "2: finished: unknown outcome 'great'"),
    ("non-integer dag_id", [_header(), {"ev": "fired", "at": 2, "host": "a:1"},
                            {"ev": "answered", "at": 3, "host": "a:1", "dag": "41", "dag_id": "x"}],
     "3: answered: 'dag_id' is not a int: 'x'"),
    ("bad time", [_header(), {"ev": "fired", "at": "yesterday", "host": "a:1"}],
     "2: fired: time 'at' is not a Unix time: 'yesterday'"),
    ("hosts not a list", [_header(hosts="a:1")], "1: run: 'hosts' is not a list of host names"),
    ("answered without fired", [_header(), {"ev": "answered", "at": 2, "host": "a:1", "dag": "41"}],
     "2: answered for 'a:1' without a 'fired' before it"),
    ("garbage mid-file", [_header(), "{not json", {"ev": "end", "at": 3, "interrupted": True}],
     "2: not a JSON line"),
    ("unknown event", [_header(), {"ev": "fird", "at": 2, "host": "a:1"}], "2: unknown event 'fird'"),
    ("foreign host", [_header(), {"ev": "fired", "at": 2, "host": "z:9"}], "2: fired for 'z:9', which the run"),
    ("no header", [{"ev": "fired", "at": 2, "host": "a:1"}], "1: not a fleet journal"),
    ("bad dag in result", [_header(), {"ev": "finished", "at": 2, "host": "a:1",
                                       "result": {"outcome": "failed", "dag": {"id": 7}}}],
     "2: finished: 'dag' has no DAG id"),
]


@pytest.mark.parametrize(("events", "reason"), [(e, r) for _, e, r in TAMPERED], ids=[n for n, _, _ in TAMPERED])
def test_tampered_journal_is_refused_with_file_and_line(tmp_path: Path, events: list[Any], reason: str) -> None:
    """Each tampered journal is refused by the one reader, with file:line and the reason."""
    path = _write(tmp_path / "j.jsonl", events)
    with pytest.raises(InputError) as caught:
        load_journal(str(path), "--resume")
    assert str(caught.value).startswith(f"{path}:{reason}"), str(caught.value)


def test_tampered_journals_exit_5_and_send_nothing(tmp_path: Path) -> None:
    """`fleet start --resume` of each tampered journal exits 5 with one line naming file:line,
    no traceback and no summary, and no agent receives a start."""
    base = "127.45.4.1"
    ips = addresses(base, 2)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    keys = [f"{ip}:2886" for ip in ips]
    runs = []
    with sim_fleet(tmp_path, base, 2, {"defaults": {"dag_duration": [0.2, 0.3]}}) as sim:
        for index, (_, events, reason) in enumerate(TAMPERED):
            text = json.dumps(events).replace('"a:1"', json.dumps(keys[0])).replace('"b:1"', json.dumps(keys[1]))
            text = text.replace('"inv.yaml"', json.dumps(str(inventory)))
            path = _write(tmp_path / f"t{index}.jsonl", json.loads(text))
            runs.append((path, reason, run_fleet(["start", "--resume", str(path)], cwd=tmp_path)))
        state = sim.state()
    for path, reason, run in runs:
        expected = f"fleet: error: {path}:{reason.replace('a:1', keys[0])}"
        assert run.returncode == 5 and run.stdout == "", (path, run.stderr)
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert run.stderr.startswith(expected), (run.stderr, expected)
    assert all(state["agents"][key]["requests"].get(START, 0) == 0 for key in keys)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=6), inner, max_size=3), max_leaves=8)
_keys = st.sampled_from(["ev", "at", "host", "hosts", "operation", "dag", "dag_id", "result", "outcome",
                         "trace_id", "interrupted", "state", "trace_ids", "error", "failed_tasks", "options"])
_events = st.one_of(
    st.fixed_dictionaries({"ev": st.sampled_from(["run", "fired", "answered", "finished", "end", "x"])},
                          optional={"at": st.one_of(st.floats(0, 2e9), _scalars), "host": st.sampled_from(HOSTS),
                                    "dag": st.one_of(st.just("41"), _scalars),
                                    "result": st.one_of(st.fixed_dictionaries(
                                        {"outcome": st.sampled_from(["succeeded", "interrupted", "ambiguous",
                                                                     "timed_out", "skipped", "bad"])},
                                        optional={"dag": _values, "trace_ids": _values}), _values),
                                    "hosts": st.one_of(st.just(HOSTS), _values), "operation": _scalars,
                                    "interrupted": _scalars}),
    st.dictionaries(_keys, _values, max_size=5),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_events.map(json.dumps), st.binary(max_size=30).map(
    lambda b: b.decode("latin-1").replace("\n", " "))), max_size=12))
def test_any_journal_lines_give_priors_or_input_error(tmp_path_factory: pytest.TempPathFactory,
                                                      lines: list[str]) -> None:
    """Whatever the lines, reading a journal ends in its priors or an InputError (exit 5), and
    a host with any evidence of a send (fired or answered) is never left as never fired."""
    path = tmp_path_factory.mktemp("j") / "j.jsonl"
    path.write_text("".join(line + "\n" for line in [json.dumps(_header()), *lines]), encoding="latin-1")
    try:
        state = load_journal(str(path), "--resume")
    except InputError:
        return
    sent = set()
    for line in lines:
        doc = json.loads(line)
        if doc.get("ev") in ("fired", "answered"):
            sent.add(doc["host"])
    for host in sent:
        prior = state.priors[host]
        assert prior.fired or prior.finished is not None, (host, prior)


def test_deep_nesting_is_a_bad_line_not_a_crash(tmp_path: Path) -> None:
    """200,000 nested brackets on a journal line are refused like any other bad line."""
    path = _write(tmp_path / "j.jsonl", [_header(), "[" * 200_000])
    with pytest.raises(InputError, match=r"j\.jsonl:2: not a JSON line"):
        load_journal(str(path), "--resume")


def test_a_header_only_or_torn_journal_is_read_and_events_check_like_lines() -> None:
    """Parsed events are checked exactly like file lines (numbered from 1)."""
    assert priors_from_events([_header()]).hosts == tuple(HOSTS)
    with pytest.raises(InputError, match="x:2: end: 'interrupted' is not a bool"):
        priors_from_events([_header(), {"ev": "end", "at": 2, "interrupted": "no"}], "x")


def _shard_runs(tmp_path: Path, inventory: Path, total: int, indices: list[int]) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "fleet", "start", "-i", str(inventory), "--shard",
                               f"{i}/{total}", "-o", f"summary-{i}.json", "-q", "--poll-cap", "0.5"],
                              cwd=tmp_path, env=fleet_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in indices]
    assert [p.wait(timeout=120) for p in procs] == [0] * len(indices)


def test_merge_of_three_of_four_shards_names_the_missing_one(tmp_path: Path) -> None:
    """Case 5: `fleet merge` of 3 of 4 shard summaries exits 5 naming `missing shard 3/4`;
    with --allow-partial it merges, marks the summary partial and exits 2 (hosts unaccounted);
    all four merge cleanly (exit 0, partial null). A malformed summary file is refused by name
    in one line, without a traceback."""
    base = "127.45.5.1"
    ips = addresses(base, 8)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    with sim_fleet(tmp_path, base, 8, {"defaults": {"dag_duration": [0.2, 0.3]}}):
        _shard_runs(tmp_path, inventory, 4, [1, 2, 3, 4])
    three = ["summary-1.json", "summary-2.json", "summary-4.json"]
    refused = run_fleet(["merge", *three], cwd=tmp_path)
    partial = run_fleet(["merge", *three, "--allow-partial"], cwd=tmp_path)
    whole = run_fleet(["merge", *three, "summary-3.json"], cwd=tmp_path)
    assert refused.returncode == 5 and refused.stderr.strip() == (
        "fleet: error: cannot merge: missing shard 3/4 (merge anyway with --allow-partial)")
    assert partial.returncode == 2 and partial.summary is not None
    assert partial.summary["partial"] == "missing shard 3/4" and partial.summary["totals"]["hosts"] == 6
    assert whole.returncode == 0 and whole.summary is not None and whole.summary["partial"] is None
    assert whole.summary["totals"]["succeeded"] == 8

    doc = json.loads((tmp_path / "summary-3.json").read_text())
    broken = {"hosts.json": {**doc, "hosts": "everything"}, "noop.json": {k: v for k, v in doc.items()
                                                                          if k != "operation"},
              "host.json": {**doc, "hosts": [{"host": "x"}]}, "list.json": [doc]}
    for name, body in broken.items():
        (tmp_path / name).write_text(json.dumps(body))
        run = run_fleet(["merge", "summary-1.json", name], cwd=tmp_path)
        assert run.returncode == 5 and "Traceback" not in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1 and f"fleet: error: {name}" in run.stderr, run.stderr
    other_limit = {**doc, "limit": "hz"}
    (tmp_path / "limit.json").write_text(json.dumps(other_limit))
    mixed = run_fleet(["merge", "summary-1.json", "summary-2.json", "limit.json", "summary-4.json"], cwd=tmp_path)
    assert mixed.returncode == 5 and "different limits" in mixed.stderr


def test_lock_is_taken_on_the_journal_itself(tmp_path: Path) -> None:
    """A journal in use is refused under any path naming it (here a hard link), and a crashed
    holder leaves it free: the kernel drops the lock with the process."""
    [ip] = addresses("127.45.6.1", 1)
    inventory = write_inventory(tmp_path / "inv.yaml", [ip])
    journal = _write(tmp_path / "j.jsonl", [_header(hosts=[f"{ip}:2886"], inventory=str(inventory))])
    (tmp_path / "link.jsonl").hardlink_to(journal)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX);"
        " print('locked', flush=True); time.sleep(60)"), str(journal)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        busy = run_fleet(["start", "--resume", "link.jsonl", "--list-hosts"], cwd=tmp_path)
    finally:
        holder.kill()
        holder.communicate()
    time.sleep(0.05)
    free = run_fleet(["start", "--resume", "link.jsonl", "--list-hosts"], cwd=tmp_path)
    assert busy.returncode == 5 and f"in use by pid {holder.pid}" in busy.stderr, busy.stderr
    assert free.returncode == 0 and free.stdout.split() == [ip], free.stderr


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["hosts", "operation", "shard", "started_at", "limit", "interrupted",
                                        "options", "partial", "inventory"]), _values, max_size=3),
       st.dictionaries(st.sampled_from(["host", "port", "outcome", "dag", "error", "failed_tasks", "groups",
                                        "trace_ids", "polls", "resumed"]), _values, max_size=3))
def test_merge_of_any_damaged_summary_is_a_value_error_or_renders(top: dict[str, Any], host: dict[str, Any]) -> None:
    """A summary with any fields replaced by arbitrary JSON is either refused with ValueError
    (the CLI's one-line exit 5) or merges and renders to JSON and JUnit without an exception."""
    from fleet.models import HostResult, HostSpec, Outcome
    from fleet.report import junit_xml, merge_summaries, summary_document, summary_json
    from fleet.report.summary import RunInfo

    doc = summary_document(RunInfo("obproxy.start", 1.0, 2.0, "inv.yaml", None),
                           [HostResult(HostSpec("h", "127.0.0.1"), Outcome.FAILED)])
    doc["hosts"] = [{**doc["hosts"][0], **host}]
    doc.update(top)
    try:
        merged = merge_summaries([doc])
    except ValueError:
        return
    summary_json(merged)
    junit_xml(merged)
