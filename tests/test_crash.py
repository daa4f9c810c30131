"""When fleet itself fails mid-run, every host is still accounted for and the error is reported."""

from __future__ import annotations

import io

from fleet.cli.operate import _execute
from fleet.engine.plan import Operation, RunPlan
from fleet.models import HostResult, HostSpec, Secret
from fleet.report import ProgressView, RunInfo, summary_document, summary_exit_code


class ExplodingView(ProgressView):
    """A renderer with a bug: it raises on the third host it is told about."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), enabled=False)
        self.seen = 0

    def host_done(self, result: HostResult) -> None:
        self.seen += 1
        if self.seen == 3:
            raise RuntimeError("renderer bug")


async def test_a_bug_mid_run_still_yields_a_whole_summary_with_the_error(sim_factory) -> None:
    """A bug raised inside the run: the summary still lists every host (unfinished ones
    interrupted or skipped), carries the error, and the exit code is 1."""
    sim = await sim_factory({"defaults": {"dag_duration": [0.2, 0.4]}}, agents=6)
    hosts = tuple(HostSpec(name=a.rpartition(":")[0], address=a.rpartition(":")[0],
                           port=int(a.rpartition(":")[2])) for a in sim.addresses)
    plan = RunPlan(Operation.START, hosts, {h.key: Secret("fleet-sim-password") for h in hosts})
    report, crash = await _execute(plan, None, ExplodingView(), {}, False, "start")
    assert crash == "RuntimeError: renderer bug"
    assert [r.host for r in report.results] == list(hosts)
    doc = summary_document(RunInfo("obproxy.start", 0.0, 1.0, "inv.yaml", None, error=crash,
                                   interrupted=report.interrupted), report.results)
    assert doc["error"] == crash and doc["totals"]["hosts"] == 6
    assert summary_exit_code(doc) == 1
