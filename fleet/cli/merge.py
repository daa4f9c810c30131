"""``fleet merge``: shard summaries into one summary (and one JUnit report).

The inputs must be every shard of one run (``--allow-partial`` accepts missing shards and marks
the result ``partial``); a file that is not a well-formed summary is refused by name (exit 5).
"""

from __future__ import annotations

import argparse
import json
import sys

from fleet.cli.outputs import prepare_output, write_output
from fleet.errors import InputError
from fleet.report import junit_xml, merge_summaries, summary_exit_code, summary_json
from fleet.report.merge import check_summary


def run_merge(args: argparse.Namespace) -> int:
    docs = []
    for path in args.summaries:
        try:
            with open(path, encoding="utf-8") as fh:
                docs.append(json.load(fh))
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror}") from None
        except (ValueError, RecursionError) as exc:
            raise InputError(f"{path}: not a JSON summary: {str(exc)[:200]}") from None
        try:
            check_summary(docs[-1], path)
        except ValueError as exc:
            raise InputError(f"{str(exc)[:300]}") from None
    try:
        merged = merge_summaries(docs, allow_partial=args.allow_partial)
    except ValueError as exc:
        raise InputError(f"cannot merge: {exc}") from None
    if merged["partial"]:
        print(f"fleet: warning: partial merge: {merged['partial']}", file=sys.stderr)
    for flag, target in (("--output", args.output), ("--junit", args.junit)):
        if target:
            prepare_output(flag, target)
    text = summary_json(merged)
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    if args.junit:
        write_output(args.junit, junit_xml(merged))
    return summary_exit_code(merged)
