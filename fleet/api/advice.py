"""After a run: which hosts may be fired again, which must be settled first, and what to say.

A host goes to the retry file only when nothing this run sent can still be acting on it: it
was never fired (``skipped``, in a run that ended on its own) or its end is definite (the DAG
finished, the agent refused, the start never left). A host whose DAG may still be running —
``interrupted``, ``ambiguous``, ``timed_out``, or lost sight of mid-DAG — is never written
there: it is settled by ``--resume``, which follows its DAG and never starts it again. Hosts
skipped by an interrupt belong to the resume too (it fires them in the run's own batches), so
the two pieces of advice never name one host twice and following both sends no second start.

Each piece of advice is the command that settles its hosts. A ``timed_out`` host's DAG was
still running at ``--timeout``, counted from the DAG's start: a resume follows it again and
times out again at once, so what settles it is ``fleet dag cancel`` (obshell's CANCEL ends
the DAG), or a resume with a longer ``--timeout`` when the DAG is only slow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.engine.outcome import is_settled
from fleet.models import Outcome


@dataclass(frozen=True, slots=True)
class Advice:
    #: host names safe to fire again with ``--limit @retry``
    retry: tuple[str, ...]
    #: outcome → number of hosts whose DAG may still run (settled by ``--resume``)
    settle: Mapping[str, int]
    #: hosts never fired because the run was interrupted (fired by ``--resume``)
    unfired: int
    #: ``timed_out`` hosts (in ``settle`` too): their DAG is settled by ``fleet dag cancel``
    timed_out: tuple[str, ...] = ()


def partition(doc: Mapping[str, Any], *, resumable: bool = True) -> Advice:
    """Split a summary's hosts into retry, settle and resume-to-fire (see the module doc).

    Without a journal (``resumable`` false) hosts skipped by an interrupt go to the retry file:
    nothing else can fire them.
    """
    retry: list[str] = []
    settle: dict[str, int] = {}
    unfired = 0
    timed_out: list[str] = []
    for host in doc["hosts"]:
        outcome = host["outcome"]
        if outcome == Outcome.SUCCEEDED.value:
            continue
        if outcome == Outcome.SKIPPED.value and not host.get("dag"):
            if doc.get("interrupted") and resumable:
                unfired += 1
            else:
                retry.append(host["host"])
            continue
        dag = host.get("dag")
        if is_settled(outcome, dag.get("state") if isinstance(dag, dict) else None):
            retry.append(host["host"])
        else:
            settle[outcome] = settle.get(outcome, 0) + 1
            if outcome == Outcome.TIMED_OUT.value:
                timed_out.append(host["host"])
    return Advice(tuple(retry), settle, unfired, tuple(timed_out))


def retry_text(advice: Advice) -> str:
    return "".join(f"{name}\n" for name in advice.retry)


def advice_lines(advice: Advice, retry_path: str, journal: str | None, command: str, *,
                 summary: str | None = None) -> list[str]:
    """What to print after the failure table, each line the command that settles its hosts: the
    cancel of timed-out DAGs, the resume, then the retry.

    ``summary`` names the run for ``fleet dag cancel`` when it kept no journal.
    """
    lines = []
    run = journal or summary
    settle = dict(advice.settle)
    if advice.timed_out and run:
        del settle[Outcome.TIMED_OUT.value]
        count = len(advice.timed_out)
        # without --limit, fleet dag cancel takes the timed-out hosts and the interrupted ones
        limit = "" if not settle else " --limit " + ",".join(advice.timed_out)
        resume = f"fleet {command} --resume {journal} --timeout SECONDS" if journal else None
        lines.append(f"fleet: {count} hosts timed out with their DAG still running: cancel the DAGs with "
                     f"fleet dag cancel {run}{limit}" + (f" (or follow them longer: {resume})" if resume else ""))
    pending = sum(settle.values())
    if pending or advice.unfired:
        parts = []
        if pending:
            counts = ", ".join(f"{outcome} {count}" for outcome, count in sorted(settle.items()))
            parts.append(f"{pending} hosts may still be starting ({counts})")
        if advice.unfired:
            parts.append(f"{advice.unfired} hosts were never fired")
        if journal:
            lines.append(f"fleet: {' and '.join(parts)}: settle with fleet {command} --resume {journal} "
                         "(it follows their DAGs and fires no host twice; do not pass these hosts to --limit)")
        else:
            lines.append(f"fleet: {' and '.join(parts)}: this run kept no journal to resume; check those "
                         "agents' DAGs before firing at them again")
    if advice.retry:
        lines.append(f"fleet: {len(advice.retry)} hosts to retry (never fired, or definitely done): "
                     f"--limit @{retry_path}")
    return lines
