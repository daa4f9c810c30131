"""The run summary: one JSON document (``fleet.summary/v1``) saying exactly what happened on each host.

The document is built from frozen models in one function, :func:`summary_document`; every
other renderer (JUnit, the failure table, the shard merger) reads the document, so they work
the same on a single run and on merged shards. Its JSON Schema ships next to this module and is
loaded with :func:`load_summary_schema`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from fleet import __version__
from fleet.models import ExitCode, HostResult, Outcome
from fleet.report.sanitize import json_text_safe

SCHEMA_ID = "fleet.summary/v1"
OPERATIONS = ("obproxy.start", "obproxy.stop", "check", "dag.retry", "dag.rollback", "dag.cancel", "dag.pass")


_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Facts about the run as a whole, as opposed to one host.

    ``fleet_version`` defaults to the running fleet's version (a dataclass field without a
    default cannot follow fields with defaults). An unknown ``operation`` or a malformed
    ``shard`` raises ``ValueError``: the summary must stay schema-valid.
    """

    operation: str
    started_at: float
    finished_at: float
    inventory: str
    limit: str | None
    journal: str | None = None
    shard: str | None = None
    interrupted: bool = False
    error: str | None = None
    fleet_version: str = __version__
    #: each run-shaping option: ``{"value": …, "source": "command line" | "journal" | …}``
    options: Mapping[str, Any] | None = None
    #: on ``--resume``: ``{"journal": path, "overrides": {option: {"journal": …, "value": …}}}``
    resume: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise ValueError(f"unknown operation {self.operation!r}; expected one of {', '.join(OPERATIONS)}")
        if self.shard is not None and not _valid_shard(self.shard):
            raise ValueError(f"shard must be I/N with 1 <= I <= N, not {self.shard!r}")


def _valid_shard(text: str) -> bool:
    index, slash, count = text.partition("/")
    return bool(slash) and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)


def format_timestamp(unix_s: float) -> str:
    """``1795785012.345`` -> ``"2026-11-27T13:10:12.345Z"`` (UTC, millisecond precision)."""
    total_ms = round(unix_s * 1000)
    seconds, ms = divmod(total_ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime(_TIMESTAMP_FORMAT) + f".{ms:03d}Z"


def parse_timestamp(text: str) -> float:
    """Inverse of :func:`format_timestamp`; raises ``ValueError`` on anything else."""
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC timestamp: {text!r}")
    moment = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return moment.timestamp()


def duration_ms(started_at: float, finished_at: float) -> int:
    """Whole milliseconds between two instants, never negative (clocks step backwards)."""
    return max(0, round(finished_at * 1000) - round(started_at * 1000))


def count_outcomes(outcomes: Iterable[str]) -> dict[str, int]:
    """``{"hosts": N, <every Outcome value>: count}``, zeros included."""
    totals = {"hosts": 0, **{outcome.value: 0 for outcome in Outcome}}
    for outcome in outcomes:
        totals["hosts"] += 1
        totals[Outcome(outcome).value] += 1
    return totals


def summary_document(run: RunInfo, results: Sequence[HostResult]) -> dict[str, Any]:
    """The ``fleet.summary/v1`` document for ``run``; hosts keep the order of ``results``."""
    hosts = [result.to_dict() for result in results]
    return {
        "schema": SCHEMA_ID,
        "operation": run.operation,
        "started_at": format_timestamp(run.started_at),
        "finished_at": format_timestamp(run.finished_at),
        "duration_ms": duration_ms(run.started_at, run.finished_at),
        "inventory": run.inventory,
        "limit": run.limit,
        "shard": run.shard,
        "journal": run.journal,
        "interrupted": run.interrupted,
        "error": run.error,
        "fleet_version": run.fleet_version,
        "options": dict(run.options or {}),
        "resume": dict(run.resume) if run.resume is not None else None,
        "partial": None,
        "totals": count_outcomes(host["outcome"] for host in hosts),
        "hosts": hosts,
    }


def summary_exit_code(doc: Mapping[str, Any]) -> ExitCode:
    """The process exit status a summary stands for.

    In order of precedence: 1 when fleet itself hit an unexpected ``error``; 130 when the run
    was ``interrupted``; 2 when some host did not succeed or, in a ``partial`` merge, some
    hosts are not accounted for; 0 otherwise (an empty selection is a success). Usage errors
    (5) never get as far as a summary; the CLI decides those.
    """
    if doc.get("error"):
        return ExitCode.BUG
    if doc.get("interrupted"):
        return ExitCode.INTERRUPTED
    if doc.get("partial") or any(host["outcome"] != Outcome.SUCCEEDED.value for host in doc["hosts"]):
        return ExitCode.HOSTS_FAILED
    return ExitCode.OK


def summary_json(doc: Mapping[str, Any]) -> str:
    """The summary as JSON text: one top-level key per line and one host per line.

    Readable with ``grep`` and diffable per host, and written with the C encoder (an indented
    ``json.dumps`` of a 10,000-host summary costs several times more CPU). Characters that could
    drive a terminal (C1 controls, bidi overrides) are written as ``\\uXXXX`` escapes.
    """
    enc = json.JSONEncoder(ensure_ascii=False)
    lines = []
    for key, value in doc.items():
        if key == "hosts" and value:
            body = ",\n".join("    " + enc.encode(host) for host in value)
            lines.append(f"  {enc.encode(key)}: [\n{body}\n  ]")
        else:
            lines.append(f"  {enc.encode(key)}: {enc.encode(value)}")
    return json_text_safe("{\n" + ",\n".join(lines) + "\n}\n")


def load_summary_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``fleet.summary/v1``, freshly parsed."""
    text = resources.files("fleet.report").joinpath("schema/summary.v1.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
