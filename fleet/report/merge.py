"""Combine the summaries of a sharded run (``--shard I/N`` on several CI jobs) into one.

The merged document reads as if one unsharded run had done all the work: hosts sorted by host
name then port, totals recomputed, the earliest start and the latest finish. Documents that
cannot belong to the same run, or do not make up all of it, are refused with ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fleet.models import HostResult, Outcome
from fleet.report.summary import OPERATIONS, SCHEMA_ID, count_outcomes, duration_ms, parse_timestamp
from fleet.utc import rfc3339_seconds, utc_seconds


def merge_summaries(docs: Sequence[Mapping[str, Any]], *, allow_partial: bool = False) -> dict[str, Any]:
    """One ``fleet.summary/v1`` document for the shards ``docs`` (given in any order).

    The inputs must be the complete, disjoint set of shards of one run: the same operation,
    inventory and limit, one shard count, every index exactly once (or one unsharded summary),
    and no host in two of them. ``ValueError`` says what is wrong — ``missing shard 3/4``,
    ``shard 2/4 appears twice``. With ``allow_partial`` missing shards are accepted and the
    result's ``partial`` says which; everything else is still refused. A document that is not
    a well-formed summary is refused naming its first bad field (:func:`check_summary`).
    """
    if not docs:
        raise ValueError("no summaries to merge")
    for index, doc in enumerate(docs):
        check_summary(doc, f"summary #{index + 1}")
    for field in ("operation", "inventory", "limit"):
        values = _distinct(str(doc[field]) for doc in docs)
        if len(values) > 1:
            raise ValueError(f"cannot merge summaries of different {_PLURAL[field]}: {', '.join(values)}")
    missing = _check_shards(docs)
    if missing and not allow_partial:
        raise ValueError(f"{missing} (merge anyway with --allow-partial)")

    owner: dict[tuple[str, int], int] = {}
    hosts: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        for host in doc["hosts"]:
            key = (host["host"], host["port"])
            if key in owner:
                raise ValueError(f"host {key[0]}:{key[1]} appears in summary #{owner[key] + 1} "
                                 f"({_label(docs[owner[key]])}) and summary #{index + 1} ({_label(doc)})")
            owner[key] = index
            hosts.append(dict(host))
    hosts.sort(key=lambda host: (host["host"], host["port"]))

    started = min(docs, key=lambda doc: parse_timestamp(doc["started_at"]))["started_at"]
    finished = max(docs, key=lambda doc: parse_timestamp(doc["finished_at"]))["finished_at"]
    errors = [f"{_label(doc)}: {doc['error']}" for doc in docs if doc.get("error")]
    return {
        "schema": SCHEMA_ID,
        "operation": docs[0]["operation"],
        "started_at": started,
        "finished_at": finished,
        "duration_ms": duration_ms(parse_timestamp(started), parse_timestamp(finished)),
        "inventory": docs[0]["inventory"],
        "limit": docs[0]["limit"],
        "shard": None,
        "journal": _joined(doc["journal"] for doc in docs),
        "interrupted": any(doc["interrupted"] for doc in docs),
        "error": "; ".join(errors) or None,
        "fleet_version": ", ".join(_distinct(doc["fleet_version"] for doc in docs)),
        "options": _merged_options(docs),
        "resume": None,
        "partial": missing,
        "totals": count_outcomes(host["outcome"] for host in hosts),
        "hosts": hosts,
    }


_PLURAL = {"operation": "operations", "inventory": "inventories", "limit": "limits"}
_OUTCOMES = frozenset(outcome.value for outcome in Outcome)


def check_summary(doc: Any, name: str) -> None:
    """Refuse (``ValueError``, naming ``name`` and the field) what is not a summary fleet can merge."""
    if not isinstance(doc, Mapping):
        raise ValueError(f"{name} is not a JSON object")
    odd = _odd_value(doc)
    if odd:
        raise ValueError(f"{name}: {odd}; not a summary fleet wrote")
    if doc.get("schema") != SCHEMA_ID:
        raise ValueError(f"{name} has schema {doc.get('schema')!r}, expected {SCHEMA_ID!r}")
    if not isinstance(doc.get("operation"), str) or doc["operation"] not in OPERATIONS:
        raise ValueError(f"{name}: 'operation' is not one of {', '.join(OPERATIONS)}")
    for field in ("started_at", "finished_at"):
        try:
            parse_timestamp(doc.get(field))  # type: ignore[arg-type]  # checked by the call itself
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"{name}: {field!r} is not a UTC timestamp") from None
    for field, kinds in (("inventory", (str,)), ("fleet_version", (str,)), ("interrupted", (bool,)),
                         ("limit", (str, type(None))), ("journal", (str, type(None))),
                         ("error", (str, type(None))), ("shard", (str, type(None)))):
        if not isinstance(doc.get(field), kinds) or field not in doc:
            raise ValueError(f"{name}: {field!r} is missing or of the wrong type")
    if doc["shard"] is not None and _shard(doc["shard"]) is None:
        raise ValueError(f"{name}: 'shard' {doc['shard']!r} is not I/N")
    if doc.get("partial"):
        raise ValueError(f"{name} is itself a partial merge ({doc['partial']}); merge the shards' own summaries")
    hosts = doc.get("hosts")
    if not isinstance(hosts, list):
        raise ValueError(f"{name}: 'hosts' is not a list")
    for number, host in enumerate(hosts, start=1):
        if not isinstance(host, Mapping):
            raise ValueError(f"{name}: host #{number} is not an object")
        if not isinstance(host.get("host"), str):
            raise ValueError(f"{name}: host #{number} has no host name")
        port = host.get("port")
        if not isinstance(port, int) or isinstance(port, bool):
            raise ValueError(f"{name}: host #{number} ({host['host']}) has no port number")
        if not isinstance(host.get("outcome"), str) or host["outcome"] not in _OUTCOMES:
            raise ValueError(f"{name}: host #{number} ({host['host']}) has an unknown outcome {host.get('outcome')!r}")
        bad = _bad_host_field(host)
        if bad:
            raise ValueError(f"{name}: host #{number} ({host['host']}): {bad!r} is missing or of the wrong type")
        try:
            HostResult.from_dict(host)
        except ValueError as exc:
            raise ValueError(f"{name}: host #{number} ({host['host']}): {exc}") from None
        bad_time = _bad_time(host)
        if bad_time:
            raise ValueError(f"{name}: host #{number} ({host['host']}): {bad_time!r} is not a time fleet writes")


_STR, _INT, _NONE = (str,), (int,), (type(None),)
#: what the renderers (JUnit, failure table) read from each host, and its types
_HOST_FIELDS: dict[str, tuple[type, ...]] = {
    "address": _STR, "groups": (list,), "dag": (dict, *_NONE), "trace_ids": (list,), "error": (dict, *_NONE),
    "failed_tasks": (list,), "polls": _INT, "duration_ms": _INT, "agent_version": (str, *_NONE),
    "resumed": (bool,),
}
_NESTED: dict[str, dict[str, tuple[type, ...]]] = {
    "error": {"status": (int, *_NONE), "code": (int, *_NONE), "errCode": (str, *_NONE), "message": _STR},
    "dag": {"id": _STR, "name": _STR, "state": _STR, "operator": _STR, "stage": _INT, "max_stage": _INT},
    "failed_tasks": {"node": _STR, "task": _STR, "execute_agent": (str, *_NONE), "task_logs": (list,)},
}


def _bad_host_field(host: Mapping[str, Any]) -> str | None:
    """The first field of a summary host entry the renderers could not use, if any."""
    for field, kinds in _HOST_FIELDS.items():
        value = host.get(field, ...)
        if not isinstance(value, kinds) or (kinds == _INT and isinstance(value, bool)):
            return field
    if not all(isinstance(x, str) for x in host["groups"]) or not all(isinstance(x, str) for x in host["trace_ids"]):
        return "groups" if not all(isinstance(x, str) for x in host["groups"]) else "trace_ids"
    parts = [("error", host["error"]), ("dag", host["dag"])] + [("failed_tasks", t) for t in host["failed_tasks"]]
    for field, part in parts:
        if part is None and field != "failed_tasks":
            continue
        if not isinstance(part, Mapping):
            return field
        for key, kinds in _NESTED[field].items():
            if not isinstance(part.get(key, ...), kinds):
                return f"{field}.{key}"
        if field == "failed_tasks" and not all(isinstance(x, str) for x in part["task_logs"]):
            return "failed_tasks.task_logs"
    return None


#: Deeper than any summary fleet writes (a host's attempts are about six levels down).
MAX_DEPTH = 32
#: Integers in a summary are counts, ports, codes and milliseconds: they fit 64 bits.
MAX_INT = 2**63 - 1


def _odd_value(doc: Mapping[str, Any]) -> str | None:
    """The first value no summary fleet writes can hold: nesting over :data:`MAX_DEPTH`, an integer
    beyond 64 bits, a float that is NaN or infinite (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping | list):
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, Mapping) else value))
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            return f"a number of {len(str(abs(value)))} digits"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"a number that is {value}"
    return None


def _bad_time(host: Mapping[str, Any]) -> str | None:
    """The first time of ``host`` fleet would not have written: an agent time no clock can hold
    (``+99:00``), or a fire time that is not the summary's own UTC form."""
    dag = host.get("dag")
    for field in ("start_time", "end_time"):
        value = dag.get(field) if isinstance(dag, Mapping) else None
        if value is not None and rfc3339_seconds(value) is None:
            return f"dag.{field}"
    fired = host.get("fired_at")
    if fired is not None:
        try:
            utc_seconds(fired)
        except (TypeError, ValueError, AttributeError, OverflowError):
            return "fired_at"
    return None


def _shard(text: str) -> tuple[int, int] | None:
    index, slash, total = text.partition("/")
    if not slash or not index.isdigit() or not total.isdigit() or not 1 <= int(index) <= int(total):
        return None
    return int(index), int(total)


def _check_shards(docs: Sequence[Mapping[str, Any]]) -> str | None:
    """Refuse repeats and mixed counts; return what is missing (``"missing shard 3/4"``), if anything."""
    unsharded = [doc for doc in docs if doc["shard"] is None]
    if unsharded and len(docs) > 1:
        raise ValueError("an unsharded summary is a whole run: it cannot be merged with others")
    shards = [doc["shard"] for doc in docs if doc["shard"] is not None]
    seen: set[str] = set()
    for shard in shards:
        if shard in seen:
            raise ValueError(f"shard {shard} appears twice")
        seen.add(shard)
    counts = _distinct(shard.partition("/")[2] for shard in shards)
    if len(counts) > 1:
        raise ValueError(f"cannot merge shards of different shard counts: {', '.join(sorted(shards))}")
    if not shards:
        return None
    total = int(counts[0])
    present = {_shard(shard) for shard in shards}
    absent = [f"{i}/{total}" for i in range(1, total + 1) if (i, total) not in present]
    if not absent:
        return None
    return f"missing shard{'s' if len(absent) > 1 else ''} {', '.join(absent)}"


def _merged_options(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The options every shard ran with alike (their sources may differ); shard-specific ones left out."""
    first = docs[0].get("options")
    if not isinstance(first, Mapping):
        return {}
    merged = {}
    for name, entry in first.items():
        if name == "shard" or not isinstance(entry, Mapping):
            continue
        values = [d["options"].get(name) if isinstance(d.get("options"), Mapping) else None for d in docs]
        if all(isinstance(v, Mapping) and v.get("value") == entry.get("value") for v in values):
            sources = _distinct(str(v.get("source")) for v in values if isinstance(v, Mapping))
            merged[name] = {"value": entry.get("value"), "source": sources[0] if len(sources) == 1 else "default"}
    return merged


def _label(doc: Mapping[str, Any]) -> str:
    return f"shard {doc['shard']}" if doc.get("shard") else "unsharded"


def _distinct(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def _joined(values: Iterable[str | None]) -> str | None:
    return ", ".join(_distinct(value for value in values if value is not None)) or None
