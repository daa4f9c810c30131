"""Combine the summaries of a sharded run (``--shard I/N`` on several CI jobs) into one.

The merged document reads as if one unsharded run had done all the work: hosts sorted by host
name then port, totals recomputed, the earliest start and the latest finish. Documents that
cannot belong to the same run are refused with ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fleet.report.summary import SCHEMA_ID, count_outcomes, duration_ms, parse_timestamp


def merge_summaries(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One ``fleet.summary/v1`` document for the shards ``docs`` (given in any order).

    Raises ``ValueError`` when ``docs`` is empty, a document is not a ``fleet.summary/v1``
    summary, the documents mix operations or shard counts, a shard appears twice, or a host
    (host name and port) appears in two documents.
    """
    if not docs:
        raise ValueError("no summaries to merge")
    for index, doc in enumerate(docs):
        if doc.get("schema") != SCHEMA_ID:
            raise ValueError(f"summary #{index + 1} has schema {doc.get('schema')!r}, expected {SCHEMA_ID!r}")
    operations = _distinct(doc["operation"] for doc in docs)
    if len(operations) > 1:
        raise ValueError(f"cannot merge summaries of different operations: {', '.join(operations)}")
    _check_shards(docs)

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
        "operation": operations[0],
        "started_at": started,
        "finished_at": finished,
        "duration_ms": duration_ms(parse_timestamp(started), parse_timestamp(finished)),
        "inventory": ", ".join(_distinct(doc["inventory"] for doc in docs)),
        "limit": _joined(doc["limit"] for doc in docs),
        "shard": None,
        "journal": _joined(doc["journal"] for doc in docs),
        "interrupted": any(doc["interrupted"] for doc in docs),
        "error": "; ".join(errors) or None,
        "fleet_version": ", ".join(_distinct(doc["fleet_version"] for doc in docs)),
        "totals": count_outcomes(host["outcome"] for host in hosts),
        "hosts": hosts,
    }


def _check_shards(docs: Sequence[Mapping[str, Any]]) -> None:
    """Refuse a shard listed twice and shards cut for different shard counts."""
    shards = [doc["shard"] for doc in docs if doc.get("shard") is not None]
    seen: set[str] = set()
    for shard in shards:
        if shard in seen:
            raise ValueError(f"shard {shard} appears twice")
        seen.add(shard)
    counts = _distinct(shard.partition("/")[2] for shard in shards)
    if len(counts) > 1:
        raise ValueError(f"cannot merge shards of different shard counts: {', '.join(sorted(shards))}")


def _label(doc: Mapping[str, Any]) -> str:
    return f"shard {doc['shard']}" if doc.get("shard") else "unsharded"


def _distinct(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def _joined(values: Iterable[str | None]) -> str | None:
    return ", ".join(_distinct(value for value in values if value is not None)) or None
