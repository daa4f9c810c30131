"""The Python API: fleet.start/stop/check, RunOptions, RunResult — one run, whether from Python or the shell."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

import fleet
from fleet.api import DEFAULTS, RunArgs, RunOptions
from fleet.cli.config import OPTIONS, default_text
from fleet.errors import InputError
from fleet.models import ExitCode, HostResult, Limits, Outcome, Timeouts
from fleet.report import summary_json
from tests.conftest import REPO
from tests.harness import SIM_PASSWORD, addresses, fleet_env, relocate, run_fleet, sim_fleet, write_inventory

API_PAGE = REPO / "docs" / "api.md"


def _readme_example() -> str:
    text = API_PAGE.read_text()
    match = re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/api.md lost its API example"
    return match.group(1)


def test_the_readme_example_starts_odp_on_a_simulated_fleet(tmp_path: Path) -> None:
    """The API example of docs/api.md, run as written against 20 simulated agents on the addresses it
    names (moved to this run's loopback block, as every fixed address in the tests is), starts ODP on
    every one, prints a line per host, exits 0 and leaves the run's record."""
    code = _readme_example()
    assert len(code.strip().splitlines()) <= 10 and code.count('"127.77.0.') == 1
    script = tmp_path / "start_odp.py"
    script.write_text(code.replace('"127.77.0.', '"' + relocate("127.77.0.1").rsplit(".", 1)[0] + "."))
    with sim_fleet(tmp_path, "127.77.0.1", 20, {"defaults": {"dag_duration": [0.2, 0.5]}}) as sim:
        proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=fleet_env(PYTHONPATH=str(REPO)),
                              capture_output=True, text=True, timeout=120)
        state = sim.state()
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert sorted(lines[:20]) == sorted(f"succeeded: [{ip}]" for ip in addresses("127.77.0.1", 20))
    assert lines[20].startswith("20 of 20 started; record in .fleet/runs/")
    folder = tmp_path / lines[20].rsplit(" ", 1)[1]
    assert {p.name for p in folder.iterdir()} >= {"journal.jsonl", "summary.json", "retry", "report.html"}
    assert all(agent["starts_accepted"] == 1 for agent in state["agents"].values())


def test_a_run_from_python_is_the_run_the_cli_would_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fleet.start returns a typed RunResult whose to_dict() is, byte for byte, the summary kept in
    the run's folder; each host's result reaches on_host once, already sanitised; no signal handler
    is installed by the library; the exit code is the CLI's (2: a host failed)."""
    ips = addresses("127.79.0.1", 4)
    config = {"defaults": {"dag_duration": [0.1, 0.3]}, "agents": {ips[1]: {"faults": {"dag_fails": True}}}}
    monkeypatch.chdir(tmp_path)
    seen: list[HostResult] = []
    handlers: list[object] = []

    def on_host(result: HostResult) -> None:
        seen.append(result)
        handlers.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)  # (asyncio.run itself takes SIGINT while it runs)
    with sim_fleet(tmp_path, ips[0], 4, config):
        result = fleet.start_sync(",".join(ips) + ",", on_host=on_host, forks=2, poll_cap=0.5, timeout=30,
                                  environ={"OBSHELL_AGENT_PASSWORD": SIM_PASSWORD})
    assert isinstance(result, fleet.RunResult) and result.operation == "obproxy.start"
    assert [r.outcome for r in result.hosts] == [Outcome.SUCCEEDED, Outcome.FAILED, Outcome.SUCCEEDED,
                                                 Outcome.SUCCEEDED]
    assert sorted(r.host.name for r in seen) == sorted(r.host.name for r in result.hosts)
    assert handlers and all(h is before for h in handlers)
    assert result.exit_code is ExitCode.HOSTS_FAILED and not result.ok
    assert [r.host.name for r in result.failed()] == [result.hosts[1].host.name]
    assert result.folder is not None
    kept = Path(result.folder, "summary.json").read_text()
    assert kept == summary_json(result.to_dict())
    doc = json.loads(kept)
    assert doc["options"]["forks"] == {"value": 2, "source": "api"}
    assert doc["options"]["order"] == {"value": "inventory", "source": "default"}
    assert [HostResult.from_dict(h, r.host) for h, r in zip(doc["hosts"], result.hosts)] == list(result.hosts)


_EMBEDDED = """
import json, sys
import structlog
import fleet
from fleet.report.sanitize import mask_run_secrets

events = []

def keep(logger, method, event_dict):
    events.append(dict(event_dict))
    raise structlog.DropEvent

structlog.configure(processors=[mask_run_secrets, keep])
result = fleet.start_sync(sys.argv[1], forks=2, poll_cap=0.5, timeout=30)
print(json.dumps({"outcomes": [r.outcome.value for r in result.hosts], "events": events}, default=str))
"""


def test_an_embedded_run_masks_an_echoed_password_in_the_applications_logs(tmp_path: Path) -> None:
    """An application whose own structlog chain holds fleet.report.sanitize.mask_run_secrets gets
    no log event with the password in it from a run where an agent echoes the password in its
    error messages: the run's secrets come from the run, not from the application."""
    ips = addresses("127.79.9.1", 2)
    config = {"defaults": {"dag_duration": [0.1, 0.3]},
              "agents": {ips[1]: {"faults": {"hostile": {"echo_password": ["start", "dag"]}}}}}
    script = tmp_path / "embedded.py"
    script.write_text(_EMBEDDED)
    with sim_fleet(tmp_path, ips[0], 2, config):
        proc = subprocess.run([sys.executable, str(script), ",".join(ips) + ","], cwd=tmp_path,
                              env=fleet_env(PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    logged = json.dumps(doc["events"])
    assert doc["outcomes"][0] == "succeeded"
    assert doc["events"] and SIM_PASSWORD not in logged and SIM_PASSWORD not in proc.stderr
    assert "wrong password ********" in logged  # the echo was logged, masked


def test_options_are_one_checked_value_with_one_source_of_defaults() -> None:
    """RunOptions refuses a bad value with one line naming the option; the keyword arguments
    (RunArgs), the CLI's option table and its help text all carry RunOptions' own defaults."""
    fields = {f.name for f in dataclasses.fields(RunOptions)}
    assert set(typing.get_type_hints(RunArgs)) == fields
    table = {o.name: o.default for o in OPTIONS}
    assert {name: table[name] for name in fields if name in table} == {n: DEFAULTS[n] for n in fields if n in table}
    assert default_text("forks") == "(default 64)" and default_text("poll_cap") == "(default 2)"
    assert RunOptions(serial=["1", "10%"]).serial == ("1", "10%")
    for kwargs, message in [({"forks": 0}, "forks: must be at least 1, not 0"),
                            ({"timeout": -1.0}, "timeout: must be above 0"),
                            ({"max_fail_percentage": 150.0}, "max_fail_percentage: must be between 0 and 100"),
                            ({"transport": "curl"}, "transport: expected one of lean, aiohttp"),
                            ({"canary": True}, "canary: expected an integer")]:
        with pytest.raises(InputError, match=re.escape(message)):
            RunOptions(**kwargs)  # type: ignore[arg-type]  # wrong on purpose


def test_timeouts_and_limits_validate_themselves() -> None:
    """Timeouts and Limits refuse zero, negative, non-finite and mistyped values when built, naming
    the field; the keepalive rule (at least 6 s, poll cap + 4) lives with Limits."""
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: Timeouts(connect=0), "Timeouts.connect must be positive"),
        (lambda: Timeouts(grace=-1), "Timeouts.grace must be at least 0"),
        (lambda: Timeouts(dag=float("nan")), "Timeouts.dag must be finite"),
        # a float where an int belongs, on purpose: the runtime check is what is tested
        (lambda: Timeouts(auth_lifetime=1.5), "Timeouts.auth_lifetime must be an integer"),  # type: ignore[arg-type]
        (lambda: Limits(forks=0), "Limits.forks must be positive"),
        (lambda: Limits(transport="curl"), "Limits.transport must be one of lean, aiohttp")]
    for build, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            build()
    assert Timeouts(grace=0).grace == 0
    assert Limits.keepalive_for(2.0) == 6.0 and Limits.keepalive_for(10.0) == 14.0
    assert RunOptions(poll_cap=10.0).limits.keepalive == 14.0


async def test_bad_input_through_the_api_is_refused_before_anything_is_sent(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """step=True without confirm_batch, an unknown option value, a missing inventory and a
    retry_failed on stop are InputErrors raised before any run folder exists."""
    monkeypatch.chdir(tmp_path)
    env = {"OBSHELL_AGENT_PASSWORD": SIM_PASSWORD}
    with pytest.raises(InputError, match="pass confirm_batch"):
        await fleet.start("127.0.0.9,", step=True, environ=env)
    with pytest.raises(InputError, match="forks: must be at least 1"):
        await fleet.start("127.0.0.9,", forks=0, environ=env)
    with pytest.raises(InputError, match=r"missing\.yaml"):
        await fleet.check("missing.yaml", environ=env)
    with pytest.raises(InputError, match="applies to start only"):
        await fleet.stop("127.0.0.9,", retry_failed=1, environ=env)
    assert not (tmp_path / ".fleet" / "runs").exists()


def test_the_cli_and_the_api_share_the_summary_and_exit_code(tmp_path: Path) -> None:
    """`fleet start -o` writes the same summary to -o and to its run folder, and its exit code is
    the RunResult's; fleet dag keeps its record in a run folder of its own too."""
    base = "127.78.0.1"
    ips = addresses(base, 3)
    inventory = write_inventory(tmp_path / "inv.yaml", ips)
    config = {"defaults": {"dag_duration": [0.1, 0.3]}, "agents": {ips[2]: {"faults": {"dag_fails": True}}}}
    with sim_fleet(tmp_path, base, 3, config):
        run = run_fleet(["start", "-i", str(inventory), "-o", "out.json", "--poll-cap", "0.5", "-q"], cwd=tmp_path)
        retry = run_fleet(["dag", "retry", "out.json", "-q", "--poll-cap", "0.5"], cwd=tmp_path)
    assert run.returncode == 2 and run.stdout == ""
    folder = Path(json.loads((tmp_path / "out.json").read_text())["journal"]).parent
    assert (tmp_path / folder / "summary.json").read_text() == (tmp_path / "out.json").read_text()
    dag_folders = [p for p in (tmp_path / ".fleet" / "runs").iterdir() if ".dag-retry" in p.name]
    assert retry.returncode == 2 and len(dag_folders) == 1
    assert {p.name for p in dag_folders[0].iterdir()} >= {"journal.jsonl", "summary.json", "report.html"}
