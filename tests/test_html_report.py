"""The HTML report: rendered by a real headless Chromium, its DOM read back after the page's script ran."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fleet.models import ApiError, DagDetail, FailedTask, HostResult, HostSpec, Outcome
from fleet.report import RunInfo, summary_document, summary_json
from fleet.report.html import html_report, report_model
from tests.harness import addresses, fleet_env, run_fleet, sim_fleet
from tests.test_cli_reports import FAST, grouped_inventory

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
STARTED = 1795785012.0


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def dump_dom(page: Path, tmp: Path, fragment: str = "", height: int = 6000) -> Dom:
    """The page's DOM after its scripts ran, in a window tall enough to draw ``height`` px of rows."""
    done = chromium([f"--window-size=1280,{height}", "--dump-dom", page.as_uri() + fragment], tmp / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Dom()
    dom.feed(done.stdout)
    assert dom.body.get("data-ready") == "1", "the page's script did not finish"
    return dom


class Dom(HTMLParser):
    """Elements of interest in a dumped DOM: timeline rows, failure entries, the counts table, all text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.body: dict[str, str | None] = {}
        self.rows: list[dict[str, str | None]] = []
        self.failures: list[str] = []
        self.tags: list[str] = []
        self.ids: dict[str, str] = {}
        self._text: list[str] = []
        self._capture: list[list[Any]] = []  # [id, tag, text start, open count] of elements whose text we keep

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "body":
            self.body = attributes
        if attributes.get("class") == "row":
            self.rows.append(attributes)
        if attributes.get("class") == "failure":
            self.failures.append(attributes.get("data-host") or "")
        for capture in self._capture:
            if capture[1] == tag:
                capture[3] += 1
        if attributes.get("id") in {"shown", "failcount", "counts", "failures"}:
            self._capture.append([str(attributes["id"]), tag, len(self._text), 1])

    def handle_endtag(self, tag: str) -> None:
        for capture in list(self._capture):
            if capture[1] == tag:
                capture[3] -= 1
                if capture[3] == 0:
                    self.ids[capture[0]] = " ".join(self._text[capture[2]:])
                    self._capture.remove(capture)

    def handle_data(self, data: str) -> None:
        if data.strip():
            self._text.append(data.strip())

    @property
    def text(self) -> str:
        return " ".join(self._text)


@needs_chromium
def test_sharded_run_renders_every_host_counts_failures_and_filters(tmp_path: Path) -> None:
    """`fleet report` of two shard summaries draws one timeline row per host, the counts by
    group and outcome, each failure with its task log and trace ids; a URL fragment filters
    the rows by group and outcome; a screenshot is written (look at it when changing the page)."""
    base = "127.42.40.1"
    ips = addresses(base, 12)
    inventory = grouped_inventory(tmp_path / "inv.yaml", {"hz": ips[:6], "sh": ips[6:]})
    config = {"seed": 3, "defaults": {"dag_duration": [0.2, 0.8]},
              "agents": {ips[7]: {"faults": {"dag_fails": True}}, ips[2]: {"password": "rotated"}}}
    with sim_fleet(tmp_path, base, 12, config):
        for index in (1, 2):
            run = run_fleet(["start", "-i", str(inventory), "--shard", f"{index}/2", "-o", f"s{index}.json", *FAST],
                            cwd=tmp_path)
            assert run.returncode == 2 or run.returncode == 0, run.stderr[-2000:]
    shards = [json.loads((tmp_path / f"s{i}.json").read_text()) for i in (1, 2)]
    hosts = {h["host"]: h for doc in shards for h in doc["hosts"]}
    assert set(hosts) == set(ips)
    assert all(h["fired_at"] for h in hosts.values() if h["dag"] is not None)
    # refused (wrong password) at the look for a running start, before anything was sent
    assert hosts[ips[2]]["fired_at"] is None and hosts[ips[2]]["outcome"] == "auth_failed"

    made = run_fleet(["report", "s1.json", "s2.json", "--html", "out/report.html"], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    page = tmp_path / "out" / "report.html"
    assert "http://" not in page.read_text().replace("http://www.w3.org", "") and "https://" not in page.read_text()

    dom = dump_dom(page, tmp_path)
    assert sorted(row["data-host"] or "" for row in dom.rows) == sorted(ips)
    outcome_of = {row["data-host"]: row["data-outcome"] for row in dom.rows}
    assert outcome_of[ips[7]] == "failed" and outcome_of[ips[2]] == "auth_failed"
    assert dom.ids["shown"] == "showing 12 of 12 hosts"
    counts = dom.ids["counts"].split()
    assert counts[counts.index("all") + 2 : counts.index("all") + 3] == ["12"]
    assert "hz 6 5" in dom.ids["counts"] and "sh 6 5" in dom.ids["counts"]  # 5 succeeded in each group
    assert sorted(dom.failures) == sorted([ips[2], ips[7]])
    failed = hosts[ips[7]]
    for line in failed["failed_tasks"][0]["task_logs"]:
        assert line in dom.ids["failures"]
    for trace in failed["trace_ids"]:
        assert trace in dom.ids["failures"]
    assert "Security.Authentication.IncorrectAgentPassword" in dom.ids["failures"]

    sh_failed = dump_dom(page, tmp_path, "#group=sh&outcome=failed")
    assert [row["data-host"] for row in sh_failed.rows] == [ips[7]]
    assert sh_failed.ids["shown"] == "showing 1 of 12 hosts" and sh_failed.failures == [ips[7]]
    hz_ok = dump_dom(page, tmp_path, "#group=hz&outcome=succeeded")
    assert sorted(row["data-host"] or "" for row in hz_ok.rows) == sorted(set(ips[:6]) - {ips[2]})
    assert hz_ok.failures == []

    shot = tmp_path / "report.png"
    done = chromium(["--window-size=1280,900", f"--screenshot={shot}", page.as_uri()], tmp_path / "profile")
    assert done.returncode == 0 and shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000


def hostile_doc(count: int = 3) -> dict[str, Any]:
    evil = '</script><img src=x onerror="document.title=1">'
    hosts = []
    for i in range(count):
        spec = HostSpec(f"h{i}{evil if i == 0 else ''}", f"10.0.0.{i}", groups=(f"g{evil}",))
        dag = DagDetail("1100", 1, "Start obproxy", "FAILED", start_time="2026-11-27T21:10:13.000000000+08:00",
                        end_time="2026-11-27T21:10:15.5+08:00")
        hosts.append(HostResult(spec, Outcome.FAILED, dag=dag, trace_ids=("t" * 16,), fired_at=STARTED + 0.5,
                                error=ApiError(500, 1, f"E{evil}", f"bad \u202eevil{evil}"), clock_offset_ms=-1000,
                                failed_tasks=(FailedTask("n", "t", None, (f"log {evil}",)),)))
    return summary_document(RunInfo("obproxy.start", STARTED, STARTED + 10, f"inv{evil}", None), hosts)


@needs_chromium
def test_agent_strings_are_shown_as_text_never_as_markup(tmp_path: Path) -> None:
    """Host names, groups, errCodes, messages and task logs that carry markup are displayed
    verbatim and never become elements: no <img> reaches the rendered DOM, the page still works."""
    page = tmp_path / "r.html"
    page.write_text(html_report(hostile_doc()))
    dom = dump_dom(page, tmp_path)
    assert "img" not in dom.tags
    assert len(dom.rows) == 3 and dom.rows[0]["data-host"] == 'h0</script><img src=x onerror="document.title=1">'
    assert 'log </script><img src=x onerror="document.title=1">' in dom.ids["failures"]
    assert 'g</script><img src=x onerror="document.title=1">' in dom.ids["counts"]


def test_model_places_dag_times_on_fleets_clock_and_drops_zero_times() -> None:
    """DAG start/end (agent clock, any zone, ns precision) are moved by the measured clock offset
    onto fleet's clock, relative to the run's start; Go's zero time and junk become unknown."""
    model = report_model(hostile_doc(1))
    row = model["data"]["hosts"][0]
    assert row[5:8] == [500, 2000, 4500]  # fired +0.5 s; agent 1 s behind: DAG +2.0 s .. +4.5 s
    doc = json.loads(summary_json(hostile_doc(1)))
    doc["hosts"][0]["dag"]["end_time"] = "0001-01-01T00:00:00Z"
    doc["hosts"][0]["dag"]["start_time"] = "yesterday"
    doc["hosts"][0]["clock_offset_ms"] = "junk"
    assert report_model(doc)["data"]["hosts"][0][5:8] == [500, None, None]


def test_an_unfinished_dags_end_time_is_not_its_end() -> None:
    """obshell shows an unfinished DAG's creation time as its end_time: a DAG still RUNNING (a
    timed_out host) has no known end on the timeline, so its bar runs on instead of stopping."""
    doc = json.loads(summary_json(hostile_doc(1)))
    dag = doc["hosts"][0]["dag"]
    dag["state"], dag["end_time"] = "RUNNING", dag["start_time"]
    row = report_model(doc)["data"]["hosts"][0]
    assert row[6] is not None and row[7] is None


def test_the_header_shows_the_rollout_options() -> None:
    """The page's header names how the run rolled out (serial batches, canary, fail percentage,
    step, order, forks, timeout) from the summary's options, and the shard; off flags are left out."""
    doc = json.loads(summary_json(hostile_doc(1)))
    doc["shard"] = "2/4"
    doc["options"] = {"serial": {"value": ["1", "10%"], "source": "command line"},
                      "canary": {"value": 2, "source": "command line"},
                      "max_fail_percentage": {"value": 5.0, "source": "journal"},
                      "step": {"value": False, "source": "default"},
                      "order": {"value": "inventory", "source": "default"},
                      "forks": {"value": 64, "source": "default"}, "timeout": {"value": 600.0, "source": "default"}}
    meta = dict(report_model(doc)["meta"])
    assert meta["rollout"] == "--serial 1,10% --canary 2 --max-fail-percentage 5 --forks 64 --timeout 600"
    assert meta["shard"] == "2/4"
    assert "--serial 1,10% --canary 2" in html_report(doc)


def test_report_command_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    """A missing file, non-JSON, a non-summary, or two summaries of the same host: exit 5, one line."""
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "other.json").write_text('{"schema": "x"}')
    (tmp_path / "s.json").write_text(summary_json(hostile_doc(2)))
    for args in (["missing.json"], ["bad.json"], ["other.json"], ["s.json", "s.json"]):
        run = run_fleet(["report", *args, "--html", "r.html"], cwd=tmp_path, env=fleet_env())
        assert run.returncode == 5, (args, run.stderr)
        assert run.stderr.count("\n") == 1 and run.stderr.startswith("fleet: error: ") and "Traceback" not in run.stderr
    assert not (tmp_path / "r.html").exists()
