"""``fleet simulate`` / ``python -m fleet.simulator``: serve a simulated obshell fleet on loopback.

Prints ``READY <N>`` (flushed) once every agent listens; SIGTERM/SIGINT write the state file
and exit 0; SIGUSR1 (and ``--state-interval``) rewrite it while running. Bad input (config,
addresses) is one line on stderr and exit 5.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
from typing import TYPE_CHECKING

from fleet.fdlimit import raise_open_files_limit
from fleet.simulator.config import load_config
from fleet.simulator.settings import ConfigError, SimConfig

if TYPE_CHECKING:  # the server (aiohttp) loads only to serve: every `fleet` command builds this parser
    from fleet.simulator.server import Simulator

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_INPUT = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options (shared by ``fleet simulate`` and ``python -m fleet.simulator``)."""
    parser.add_argument("--agents", type=int, default=1, metavar="N", help="number of agents (default 1)")
    parser.add_argument("--base-ip", default="127.30.0.1",
                        help="first agent address; the next ones follow it (must be in 127.0.0.0/8)")
    parser.add_argument("--port", type=int, default=2886, help="port every agent listens on (default 2886)")
    parser.add_argument("--config", metavar="FILE", help="YAML config (see fleet-sim.example.yaml)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (overrides the config's seed)")
    parser.add_argument("--state-file", metavar="FILE", help="JSON state written on exit, SIGUSR1, and each interval")
    parser.add_argument("--state-interval", type=float, default=None, metavar="SECONDS",
                        help="also rewrite the state file every SECONDS")
    parser.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain)")
    parser.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    parser.add_argument("--tls-client-ca", metavar="PEM", help="require client certificates signed by this CA (mTLS)")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM/SIGINT. Returns the exit code."""
    from fleet.simulator.server import AddressError, Simulator

    try:
        config = load_config(args.config) if args.config else SimConfig()
        if args.state_interval is not None and args.state_interval <= 0:
            raise ConfigError("--state-interval must be > 0")
        if not 0 < args.port < 65536:
            raise ConfigError(f"--port {args.port} is not a TCP port")
        sim = Simulator(config, agents=args.agents, base_ip=args.base_ip, port=args.port, seed=args.seed,
                        ssl_context=server_tls(args.tls_cert, args.tls_key, args.tls_client_ca))
    except (ConfigError, AddressError) as exc:
        print(f"fleet simulate: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    # a listening socket and a kept-alive connection per agent, plus slack
    wanted = 2 * args.agents + 1024
    got = raise_open_files_limit(wanted)
    if got < wanted:
        print(f"fleet simulate: warning: {args.agents} agents need up to {wanted} open files when every agent "
              f"has a client connected; the limit is {got} (raise `ulimit -n` if clients stall)", file=sys.stderr)
    try:
        return asyncio.run(_serve(sim, args.state_file, args.state_interval))
    except OSError as exc:
        print(f"fleet simulate: error: cannot listen: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_RUNTIME


def server_tls(cert: str | None, key: str | None, client_ca: str | None) -> ssl.SSLContext | None:
    """The HTTPS context for ``--tls-cert/--tls-key`` (and ``--tls-client-ca`` for mTLS), or None."""
    if cert is None and key is None and client_ca is None:
        return None
    if cert is None or key is None:
        raise ConfigError("--tls-cert and --tls-key go together")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
        if client_ca is not None:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS files: {exc}") from None
    return ctx


async def _serve(sim: Simulator, state_file: str | None, interval: float | None) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    dump = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump.set)
    await sim.start()
    try:
        print(f"READY {len(sim.addresses)}", flush=True)
        async with asyncio.TaskGroup() as tg:
            writer = tg.create_task(_write_on_demand(sim, state_file, dump, interval))
            await stop.wait()
            writer.cancel()
    finally:
        await sim.stop()
        if state_file:
            from fleet.simulator.state import write_state

            write_state(state_file, sim.state())
    return EXIT_OK


async def _write_on_demand(sim: Simulator, path: str | None, dump: asyncio.Event, interval: float | None) -> None:
    while True:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(dump.wait(), interval)
        dump.clear()
        if path:
            await sim.write_state(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fleet.simulator",
                                     description="Serve a simulated obshell agent fleet on loopback addresses.")
    add_arguments(parser)
    return run(parser.parse_args(argv))
