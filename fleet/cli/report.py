"""``fleet report``: render one summary, or several shard summaries combined, as an HTML page."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fleet.cli.outputs import prepare_output, write_output
from fleet.errors import InputError
from fleet.regularfile import open_regular
from fleet.report import merge_summaries
from fleet.report.html import html_report
from fleet.report.merge import check_summary
from fleet.report.summary import SCHEMA_ID

#: A summary of 10,000 hosts is a few tens of MiB; a file past this is not one.
MAX_SUMMARY_BYTES = 512 * 2**20


def add_report_parser(sub: Any) -> None:
    """Register ``fleet report`` on the CLI's subparsers."""
    p = sub.add_parser(
        "report", help="write an HTML report of a run (or of shard summaries combined)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  fleet report summary.json --html report.html\n"
               "  fleet report shard-*.json --html fleet.html   # shards combined, missing ones allowed")
    p.add_argument("summaries", nargs="+", metavar="SUMMARY", help="fleet.summary/v1 JSON files")
    p.add_argument("--html", required=True, metavar="FILE", help="write the self-contained HTML page here")


def run_report(args: argparse.Namespace) -> int:
    docs = [load_summary(path) for path in args.summaries]
    if len(docs) == 1:
        doc = docs[0]
    else:
        try:
            doc = merge_summaries(docs)
        except ValueError as exc:
            raise InputError(f"cannot combine the summaries: {exc}") from None
    prepare_output("--html", args.html)
    write_output(args.html, html_report(doc))
    print(f"fleet: report {args.html} ({len(doc['hosts'])} hosts)", file=sys.stderr)
    return 0


def load_summary(path: str) -> dict[str, Any]:
    """The ``fleet.summary/v1`` document at ``path`` (its hosts objects); :class:`InputError` otherwise."""
    try:
        with open_regular(path) as fh:
            data = fh.read(MAX_SUMMARY_BYTES + 1)
        if len(data) > MAX_SUMMARY_BYTES:
            raise InputError(f"{path}: larger than {MAX_SUMMARY_BYTES // 2**20} MiB; not a summary fleet wrote")
        doc = json.loads(data)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not a JSON summary: {str(exc)[:200]}") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_ID or not isinstance(doc.get("hosts"), list):
        raise InputError(f"{path}: not a {SCHEMA_ID} summary")
    try:
        check_summary(doc, path)
    except ValueError as exc:
        raise InputError(str(exc)[:300]) from None
    return doc
