"""When fleet itself fails mid-run, every host is still accounted for and the error is reported;
a bug inside one host's work ends only that host."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from structlog.testing import capture_logs

from fleet.api import PreparedRun, RunOptions, RunResult, Selection, execute
from fleet.engine.plan import Operation, RunPlan
from fleet.inventory import Inventory
from fleet.models import HostResult, HostSpec, Phase, Secret
from fleet.report import ProgressView, junit_xml, summary_exit_code

if TYPE_CHECKING:
    from tests.conftest import SimFactory


class ExplodingView(ProgressView):
    """A renderer with a bug outside any host's work: it raises when the second batch starts."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), enabled=False)

    def batch_started(self, index: int, hosts: int) -> None:
        if index == 1:
            raise RuntimeError("renderer bug")


class HostBugView(ProgressView):
    """A renderer with a bug one host's data triggers: it raises when that host starts polling."""

    def __init__(self, victim: HostSpec) -> None:
        super().__init__(io.StringIO(), enabled=False)
        self.victim = victim

    def host_phase(self, host: HostSpec, phase: Phase) -> None:
        if host == self.victim and phase is Phase.POLLING:
            raise KeyError("renderer bug \x1b[2J on this host")

    def host_done(self, result: HostResult) -> None:
        return None


def _plan(addresses: list[str], batches: tuple[int, ...] = ()) -> RunPlan:
    hosts = tuple(HostSpec(name=a.rpartition(":")[0], address=a.rpartition(":")[0],
                           port=int(a.rpartition(":")[2])) for a in addresses)
    return RunPlan(Operation.START, hosts, {h.key: Secret("fleet-sim-password") for h in hosts}, batches=batches)


async def _execute(plan: RunPlan, view: ProgressView) -> RunResult:
    """The API's execute on ``plan``, without a journal or a run folder."""
    selection = Selection(Inventory("inv.yaml", plan.hosts, {}), plan.hosts, None)
    run = PreparedRun(plan.operation, RunOptions(), selection, plan, None, None, {}, {}, None, 0.0)
    return await execute(run, reporter=view)


async def test_a_bug_mid_run_still_yields_a_whole_summary_with_the_error(sim_factory: SimFactory) -> None:
    """A bug raised outside any host's work: the summary still lists every host (unfinished ones
    interrupted or skipped), carries the error, and the exit code is 1."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.4]}}, agents=6)
    plan = _plan(sim.addresses, batches=(2, 2, 2))
    result = await _execute(plan, ExplodingView())
    assert result.error == "RuntimeError: renderer bug"
    assert [r.host for r in result.hosts] == list(plan.hosts)
    assert {r.outcome.value for r in result.hosts[2:]} == {"skipped"}
    doc = result.to_dict()
    assert doc["error"] == result.error and doc["totals"]["hosts"] == 6
    assert summary_exit_code(doc) == 1 and result.exit_code == 1


async def test_a_bug_in_one_hosts_work_ends_that_host_only(sim_factory: SimFactory) -> None:
    """A bug triggered while one host's DAG is accepted ends that host as internal_error with a
    one-line cause (a JUnit <error>, exit 2); the others succeed and the traceback goes to the debug log."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.4]}}, agents=4)
    plan = _plan(sim.addresses)
    with capture_logs() as logs:
        result = await _execute(plan, HostBugView(plan.hosts[1]))
    assert result.error is None and not result.interrupted
    outcomes = [r.outcome.value for r in result.hosts]
    assert outcomes == ["succeeded", "internal_error", "succeeded", "succeeded"]
    message = result.hosts[1].error.message if result.hosts[1].error else ""
    assert "KeyError" in message and "renderer bug" in message and "\n" not in message
    assert any(e["event"] == "host.internal_error.traceback" and e.get("exc_info") for e in logs)
    doc = result.to_dict()
    assert summary_exit_code(doc) == 2 and doc["totals"]["internal_error"] == 1
    assert b'<error message=' in junit_xml(doc) and b'type="internal_error"' in junit_xml(doc)
