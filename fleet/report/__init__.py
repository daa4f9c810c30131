"""Renderers of a run's outcome: the JSON summary, JUnit XML, the failure table, TTY progress.

Depends on :mod:`fleet.models` only; the CLI picks which renderers to use.
"""

from fleet.report.files import write_atomic, write_json_atomic
from fleet.report.junit import junit_xml
from fleet.report.merge import merge_summaries
from fleet.report.progress import Event, ProgressView, RecordingReporter
from fleet.report.summary import RunInfo, load_summary_schema, summary_document, summary_exit_code, summary_json
from fleet.report.table import failure_table

__all__ = [
    "Event",
    "ProgressView",
    "RecordingReporter",
    "RunInfo",
    "failure_table",
    "junit_xml",
    "load_summary_schema",
    "merge_summaries",
    "summary_document",
    "summary_exit_code",
    "summary_json",
    "write_atomic",
    "write_json_atomic",
]
