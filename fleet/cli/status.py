"""``fleet status --journal F``: re-poll the DAGs a past run recorded and print their states."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from fleet.cli.logs import configure_logging
from fleet.cli.outputs import prepare_output, write_output
from fleet.client import AgentClient, HttpClient
from fleet.engine.priors import load_journal
from fleet.errors import AgentError, InputError
from fleet.inventory import load_inventory, resolve_passwords
from fleet.inventory.credentials import check_maskable
from fleet.models import HostSpec, Limits, Secret, Timeouts
from fleet.report.sanitize import terminal_safe


def run_status(args: argparse.Namespace) -> int:
    journal = load_journal(args.journal, "--journal")
    operation, priors = journal.operation, journal.priors
    path = args.inventory or journal.latest.get("inventory")
    if not path:
        raise InputError("the journal names no inventory: pass -i")
    if args.output:
        prepare_output("--output", args.output)
    inventory = load_inventory(path)
    by_key = {h.key: h for h in inventory.hosts}
    watched = [(by_key[k], p.dag) for k, p in priors.items() if p.dag and k in by_key]
    redactor = configure_logging(level=args.log_level)
    passwords = resolve_passwords([h for h, _ in watched], os.environ)
    check_maskable([h for h, _ in watched], passwords)
    redactor.add_secrets(passwords.values())
    rows = redactor.sanitizer.clean(asyncio.run(_poll_all(watched, passwords)))
    doc = {"schema": "fleet.status/v1", "journal": args.journal, "operation": operation, "hosts": rows}
    text = json.dumps(doc, indent=2) + "\n"
    if args.output:
        write_output(args.output, text)
    else:
        sys.stdout.write(text)
    for row in rows:
        line = f"{row['host']:<32} {row['dag'] or '-':<24} {row['state']:<10} {row.get('error') or ''}"
        print(terminal_safe(line), file=sys.stderr)
    return 0 if all(r["state"] == "SUCCEED" for r in rows) else 2


async def _poll_all(watched: list[tuple[HostSpec, str]], passwords: dict[str, Secret]) -> list[dict[str, Any]]:
    limits = Limits()
    sem = asyncio.Semaphore(limits.forks)
    async with HttpClient(limits, Timeouts()) as http:

        async def one(host: HostSpec, dag_id: str) -> dict[str, Any]:
            client = AgentClient(http, host, passwords.get(host.key))
            row: dict[str, Any] = {"host": host.name, "port": host.port, "dag": dag_id}
            async with sem:
                try:
                    dag = (await client.get_dag(dag_id)).data
                    row.update(state=dag.state, operator=dag.operator, stage=dag.stage, max_stage=dag.max_stage,
                               end_time=dag.end_time, trace_ids=client.returned_trace_ids)
                except AgentError as exc:
                    row.update(state="UNKNOWN", error=exc.message, trace_ids=client.returned_trace_ids)
            return row

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(h, d)) for h, d in watched]
    return [t.result() for t in tasks]
