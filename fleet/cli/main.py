"""``fleet``: the command line. Parses, resolves defaults, dispatches; the work is elsewhere."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from fleet import __version__
from fleet.cli.config import OPTIONS, check_environment, default_text, load_config_file, resolve
from fleet.errors import InputError
from fleet.models import ExitCode

EXIT_USAGE = ExitCode.USAGE

EPILOG_INVENTORY = """examples:
  fleet inventory -i inventories/prod.ini --graph
  fleet inventory -i inventories/ -i 'extra-proxy.example,' --host hz2-proxy-a
  fleet inventory -i inventories/prod.yaml -e obshell_port=2999 --limit hz --list"""

EPILOG_START = """examples:
  fleet start -i inventories/prod.yaml --limit 'hz_*:!hz_canary' --forks 128
  fleet start -i inventories/prod.yaml --serial 1,10%,50% --max-fail-percentage 5 --junit report.xml
  fleet start -i inventories/prod.yaml --canary 2 --output summary.json
  fleet start -i inventories/prod.yaml --limit @.fleet/retry/prod.start.retry   # retry what failed
  fleet start --resume .fleet/runs/20261127T031000Z-4242-obproxy.start/journal.jsonl  # as fleet printed it
  fleet start -i inventories/prod.yaml --shard 2/4                        # one of 4 CI workers

The agent password comes from the environment variable named by obshell_password_env
(default OBSHELL_AGENT_PASSWORD) or from obshell_password_file; never from the command line.
exit codes: 0 all succeeded, 2 some host did not, 3 stopped by --canary/--max-fail-percentage,
5 bad input (nothing sent), 130 interrupted, 1 a bug in fleet."""


class _Parser(argparse.ArgumentParser):
    """argparse with fleet's convention for bad usage: one line and a hint on stderr, exit 5."""

    def error(self, message: str) -> NoReturn:
        prefix = "unrecognized arguments: "
        if message.startswith(prefix):  # never echo values: one may be a password typed as an option
            options = [word.split("=", 1)[0] for word in message[len(prefix):].split() if word.startswith("-")]
            message = prefix + (" ".join(options) if options else "(positional values, not shown)")
        hint = f"run '{self.prog} --help' for the options"
        self.exit(EXIT_USAGE, f"{self.prog}: error: {' '.join(message.split())} ({hint})\n")


def _add_inventory_options(group: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    group.add_argument("-i", "--inventory", action="append",
                       help="inventory: YAML or INI file, directory, executable script, or 'host1,host2,' "
                            "(repeat to merge several, in order)")
    group.add_argument("-e", "--extra-vars", action="append", metavar="VARS",
                       help="obshell variables over every inventory: key=value, @FILE (YAML/JSON) or a "
                            "YAML/JSON mapping; repeatable, the last wins")


def _add_run_options(p: argparse.ArgumentParser, *, fires: bool, selects: bool = True) -> None:
    p.add_argument("--config", default=argparse.SUPPRESS,
                   help="option defaults (default ./fleet.yaml if present); also accepted before COMMAND")
    sel = p.add_argument_group("selection")
    _add_inventory_options(sel)
    sel.add_argument("-l", "--limit", help="Ansible host pattern: host, group, glob, ~regex, a:b, a:&b, a:!b, @file; "
                                           "a part matching no group or host is an error")
    sel.add_argument("--allow-unmatched", action="store_const", const=True,
                     help="ignore --limit parts that match nothing, with Ansible's warning")
    if selects:
        sel.add_argument("--shard", help="run only shard I/N (1-based) of the selection; "
                                         "defaults from CI_NODE_INDEX/CI_NODE_TOTAL or JOB_COMPLETION_INDEX")
        sel.add_argument("--order", choices=["inventory", "sorted", "shuffle"],
                         help=f"host order {default_text('order')}")
    sel.add_argument("--list-hosts", action="store_true", help="print the selected hosts and send nothing")
    run = p.add_argument_group("run")
    run.add_argument("-f", "--forks", type=int, help=f"hosts checked/fired at once {default_text('forks')}")
    run.add_argument("--timeout", type=float,
                     help=f"seconds a DAG may run before it is timed_out {default_text('timeout')}")
    run.add_argument("--connect-timeout", type=float,
                     help=f"seconds to connect to an agent {default_text('connect_timeout')}")
    run.add_argument("--request-timeout", type=float,
                     help=f"seconds for one request end to end {default_text('request_timeout')}")
    run.add_argument("--auth-lifetime", type=int,
                     help=f"seconds an auth header stays valid {default_text('auth_lifetime')}")
    run.add_argument("--polls-in-flight", type=int,
                     help=f"DAG polls in flight at once {default_text('polls_in_flight')}")
    run.add_argument("--poll-cap", type=float,
                     help=f"longest interval between two polls of a DAG {default_text('poll_cap')}")
    run.add_argument("--transport", choices=["lean", "aiohttp"],
                     help=f"HTTP client: lean (asyncio + llhttp) or aiohttp {default_text('transport')}")
    if fires:
        book = p.add_argument_group("runbook")
        book.add_argument("--serial", help="rolling batches: N, P%%, or a list like 1,5,20%% (last repeats)")
        book.add_argument("--max-fail-percentage", help="stop when a batch's failed share exceeds P (exit 3)")
        book.add_argument("--canary", type=int, help="fire K hosts alone first; any failure aborts the run")
        book.add_argument("--step", action=argparse.BooleanOptionalAction,
                          help="confirm each batch on the terminal (--no-step: not on this --resume)")
        book.add_argument("--grace", type=float, help=f"seconds to keep polling after the first interrupt "
                                                          f"{default_text('grace')}")
        book.add_argument("--journal", help="journal file, new (default <home>/runs/<run>/journal.jsonl; <home> is "
                                            "$FLEET_HOME, else ./.fleet if it exists, else ~/.local/state/fleet)")
        book.add_argument("--no-journal", action="store_const", const=True, help="keep no journal (no resume)")
        book.add_argument("--resume", metavar="JOURNAL",
                          help="continue the run recorded in JOURNAL with its recorded options "
                               "(options given here win; the summary's resume.overrides lists them)")
        book.add_argument("--refire-ambiguous", action="store_const", const=True,
                          help="on --resume, fire hosts whose earlier start cannot be settled")
    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", help="write the JSON summary here (atomically) instead of stdout")
    out.add_argument("--junit", help="write a JUnit XML report here")
    out.add_argument("--retry-file", help="hosts safe to fire again, also written to the run's folder "
                                          "(default <home>/retry/<inventory>.<operation>[.shard-I-of-N].retry)")
    out.add_argument("-q", "--quiet", action="store_const", const=True, help="no progress view, warnings only")
    out.add_argument("-v", "--verbose", action="count", default=0,
                     help="on a terminal, add trace ids, polls and agent version to each host's line")
    out.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    out.add_argument("--log-format", choices=["auto", "json", "console"])


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="fleet",
        description="Start ODP (obproxy) across a fleet of obshell agents, and say what happened on each.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fleet {__version__}")
    parser.add_argument("--config", help="option defaults (default ./fleet.yaml if present)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("start", help="start ODP on the selected hosts", epilog=EPILOG_START, formatter_class=fmt)
    _add_run_options(p, fires=True)
    p.add_argument("--retry-failed", type=int, metavar="N",
                   help="RETRY a failed start DAG in place up to N times before the host counts as failed")
    from fleet.cli import dag as dag_cli

    dag_cli.add_parser(sub, _add_run_options)
    p = sub.add_parser("stop", help="stop ODP on the selected hosts", formatter_class=fmt,
                       epilog="example:\n  fleet stop -i inventories/prod.yaml --limit hz_cluster1 --serial 25%")
    _add_run_options(p, fires=True)
    p = sub.add_parser("check", help="preflight only: reachability, version, ODP agent, credentials",
                       formatter_class=fmt, epilog="example:\n  fleet check -i inventories/prod.yaml --junit check.xml")
    _add_run_options(p, fires=False)
    p = sub.add_parser("inventory", help="show the hosts fleet will reach and their obshell variables",
                       formatter_class=fmt, epilog=EPILOG_INVENTORY)
    p.add_argument("--config", default=argparse.SUPPRESS, help="option defaults (default ./fleet.yaml if present)")
    _add_inventory_options(p)
    p.add_argument("-l", "--limit", help="only the hosts this Ansible host pattern selects")
    p.add_argument("--allow-unmatched", action="store_const", const=True,
                   help="ignore --limit parts that match nothing, with Ansible's warning")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--list", action="store_true", help="JSON of groups and hosts with resolved variables "
                                                          "and where each came from (the default)")
    mode.add_argument("--graph", nargs="?", const="all", metavar="GROUP", help="the group tree (from GROUP)")
    mode.add_argument("--host", metavar="HOST", help="one host's resolved variables, with their origins")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    from fleet.cli import runs as runs_cli
    from fleet.cli import status as status_cli

    status_cli.add_parser(sub)
    runs_cli.add_parsers(sub)
    p = sub.add_parser("merge", help="combine shard summaries into one summary (and JUnit)",
                       epilog="example:\n  fleet merge summary-*.json --output summary.json --junit report.xml")
    p.add_argument("summaries", nargs="+")
    p.add_argument("--allow-partial", action="store_true",
                   help="merge an incomplete set of shards anyway; the summary is marked partial")
    p.add_argument("-o", "--output")
    p.add_argument("--junit")
    from fleet.cli.report import add_report_parser

    add_report_parser(sub)
    p = sub.add_parser("simulate", help="serve a simulated obshell fleet on loopback (for demos and tests)")
    from fleet.simulator import cli as sim_cli

    sim_cli.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "simulate":
            from fleet.simulator import cli as sim_cli

            return sim_cli.run(args)
        if args.command == "merge":
            from fleet.cli.merge import run_merge

            return run_merge(args)
        if args.command == "inventory":
            from fleet.cli.inventory import run_inventory

            name, settings = load_config_file(args.config)
            resolve(args, os.environ, settings, name)
            return run_inventory(args)
        if args.command == "report":
            from fleet.cli.report import run_report

            return run_report(args)
        if args.command == "status":
            from fleet.cli.status import run_status

            return run_status(args)
        if args.command == "runs":
            from fleet.cli.runs import run_runs

            return run_runs(args)
        if args.command == "show":
            from fleet.cli.runs import run_show

            return run_show(args)
        for warning in check_environment(os.environ):
            print(f"fleet: warning: {warning}", file=sys.stderr)
        name, settings = load_config_file(args.config)
        resolve(args, os.environ, settings, name)
        if args.command == "dag":
            from fleet.cli.dag import run_dag

            return run_dag(args)
        from fleet.cli.operate import run_operation

        return run_operation(args)
    except InputError as exc:
        from fleet.api.masking import environment_secrets, masked
        from fleet.report.sanitize import terminal_safe

        # the message may quote a file name or a value: never a password, never a raw escape
        print(f"fleet: error: {terminal_safe(str(masked(exc, environment_secrets(os.environ))))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `fleet start --list-hosts | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("fleet: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED


__all__ = ["OPTIONS", "build_parser", "main"]
