"""What an operator reads on the terminal: one line per finished host, and the recap at the end.

Both are pure text, in the spirit of Ansible's ``ok: [host]`` lines and PLAY RECAP; every agent
string goes through :func:`fleet.report.sanitize.printable`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from fleet.models import HostResult, Outcome
from fleet.report.sanitize import printable
from fleet.report.table import DEFAULT_WIDTH, INDENT, elide, failure_reason, failure_table

UNGROUPED = "(no group)"


def host_line(result: HostResult, *, verbose: bool = False) -> str:
    """``ok: [host] dag 4 3.1 s`` or ``failed: [host] errCode: reason``; ``verbose`` adds trace ids and polls."""
    doc = result.to_dict()
    label = "ok" if result.outcome is Outcome.SUCCEEDED else result.outcome.value
    name = printable(result.host.name if result.host.port == 2886 else result.host.key)
    parts = [f"{label}: [{name}]"]
    if result.dag is not None:
        parts.append(f"dag {result.dag.dag_id} {printable(result.dag.state)}" if not result.outcome.ok
                      else f"dag {result.dag.dag_id}")
    if not result.outcome.ok:
        code = printable(result.error.err_code or "") if result.error else ""
        reason = failure_reason(doc)
        parts.append(f"{code}: {reason}" if code and reason else code or reason)
    parts.append(f"{result.duration_ms / 1000:.1f} s")
    if result.resumed:
        parts.append("(from the journal)")
    if verbose:
        if result.trace_ids:
            parts.append("trace " + printable(" ".join(result.trace_ids)))
        parts.append(f"polls {result.polls}")
        if result.agent_version:
            parts.append(f"agent {printable(result.agent_version)}")
    return " ".join(part for part in parts if part)


#: run-shaping options a reader of a past run wants to see, in this order, with their flag
_ROLLOUT = (("serial", "--serial"), ("canary", "--canary"), ("max_fail_percentage", "--max-fail-percentage"),
            ("step", "--step"), ("order", "--order"), ("forks", "--forks"), ("timeout", "--timeout"),
            ("retry_failed", "--retry-failed"))


def rollout_text(doc: Mapping[str, Any]) -> str:
    """How the run rolled out, from the summary's ``options``: ``--serial 1,10% --canary 2 --forks 64
    --timeout 600`` (flags left at their off value omitted); empty when the summary has none."""
    options = doc.get("options")
    if not isinstance(options, Mapping):
        return ""
    parts = []
    for name, flag in _ROLLOUT:
        entry = options.get(name)
        value = entry.get("value") if isinstance(entry, Mapping) else None
        if value is None or value is False or (value == 0 and name in ("canary", "retry_failed")) \
                or (name == "order" and value == "inventory"):
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts.append(f"{flag} {','.join(map(str, value))}")
        else:
            parts.append(f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}")
    return printable(" ".join(parts))


def group_counts(doc: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Per group (a host counts in each of its groups), the count of each outcome seen, in Outcome order."""
    counts: dict[str, dict[str, int]] = {}
    for host in doc["hosts"]:
        for group in host.get("groups") or [UNGROUPED]:
            row = counts.setdefault(printable(group), {})
            row[host["outcome"]] = row.get(host["outcome"], 0) + 1
    order = list(Outcome)
    return {group: {o.value: row[o.value] for o in order if o.value in row} for group, row in sorted(counts.items())}


def recap(doc: Mapping[str, Any], width: int | None = None) -> str:
    """The end-of-run recap: per group, its hosts' outcomes (``ok=`` first); then the grouped failure table."""
    width = width or DEFAULT_WIDTH
    seconds = int(doc.get("duration_ms", 0) / 1000 + 0.5)
    lines = [f"RECAP {doc.get('operation', '')}: {len(doc['hosts'])} hosts in {seconds // 60}:{seconds % 60:02d}"]
    counts = group_counts(doc)
    label_width = min(max((len(group) for group in counts), default=0), max(12, width // 3))
    for group, row in counts.items():
        cells = [f"{'ok' if outcome == Outcome.SUCCEEDED.value else outcome}={count}" for outcome, count in row.items()]
        # a longer name is kept whole (cut in the middle only past the width), its counts below it
        head = f"{elide(group, width - 2).ljust(label_width)} : "
        if len(head) > width // 2:
            lines.append(head.rstrip())
            head = INDENT
        lines.extend(textwrap.wrap("  ".join(cells), width, initial_indent=head, subsequent_indent=" " * len(head),
                                   break_on_hyphens=False, break_long_words=False))
    lines.append(failure_table(doc, width))
    return "\n".join(lines)
