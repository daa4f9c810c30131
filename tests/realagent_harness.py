"""Run real obshell agents (a binary the person running the tests names) on loopback for the tests.

``FLEET_OBSHELL_BIN`` names an obshell binary built from obshell's source; nothing here builds or
ships one. Each agent gets its own home (``HOME/bin/obshell``, as obshell expects: its home is the
parent of its binary's directory) and its own port; it is started as a SINGLE agent with no
observer and killed, with every process it started, when the test ends.

The agents listen on every address (obshell binds ``*:PORT``); the tests only ever talk to them
on 127.0.0.1. Requests are signed with fleet's own protocol core (``fleet.protocol.crypto``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.protocol import crypto

BIN_ENV = "FLEET_OBSHELL_BIN"
AGENT_PASSWORD = "real-agent-Pw_1"
ODP_SYS_PASSWORD = "odp-sys-Pw_1"
STANDIN = Path(__file__).resolve().parent / "standin" / "obproxy.py"
LOOPBACK = "127.0.0.1"
FINISHED = ("SUCCEED", "FAILED")
# No proxy from the environment: requests go straight to the loopback agent.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def obshell_binary(env: str = BIN_ENV) -> Path | None:
    """The binary named by ``env``, or None when unset; an unusable name is an error, not a skip."""
    value = os.environ.get(env, "").strip()
    if not value:
        return None
    path = Path(value)
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise AssertionError(f"{env}={value} is not an executable file")
    return path


def free_port() -> int:
    """A TCP port free on every address now (obshell binds ``*:PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Answer:
    """One HTTP answer of an agent: status and the decoded JSON document (None if not JSON)."""

    status: int
    doc: dict[str, Any] | None
    raw: bytes = b""

    @property
    def data(self) -> Any:
        return (self.doc or {}).get("data")

    @property
    def err_code(self) -> str | None:
        error = (self.doc or {}).get("error") or {}
        code = error.get("errCode")
        return code if isinstance(code, str) else None


@dataclass
class RealAgent:
    """One obshell agent process tree with its own home and port."""

    binary: Path
    home: Path
    port: int
    ip: str = LOOPBACK
    odp_port: int = 0
    _public_key: Any = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def odp_home(self) -> Path:
        return self.home / "odp"

    # -- process -------------------------------------------------------------------------

    def install(self) -> None:
        bindir = self.home / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        target = bindir / "obshell"
        if not target.exists():
            try:
                os.link(self.binary, target)
            except OSError:
                shutil.copy2(self.binary, target)

    def start(self) -> None:
        """``obshell agent start`` (it daemonizes); returns once /api/v1/info answers."""
        self.install()
        proc = subprocess.run(
            [str(self.home / "bin" / "obshell"), "agent", "start", "--ip", self.ip, "-P", str(self.port),
             "--takeover", "0"],
            cwd=self.home, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise AssertionError(f"obshell agent start failed ({proc.returncode}): {proc.stderr[-2000:]}")
        wait_until(lambda: self.info_or_none() is not None, 60, "agent answers /api/v1/info")
        self._public_key = None

    def pids(self) -> list[int]:
        """Every process of this agent: the pid files' and any process whose binary is this home's."""
        found: set[int] = set()
        for name in ("daemon.pid", "obshell.pid"):
            with contextlib.suppress(OSError, ValueError):
                found.add(int((self.home / "run" / name).read_text().strip()))
        exe = str((self.home / "bin" / "obshell").resolve())
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if os.readlink(entry / "exe").removesuffix(" (deleted)") == exe:
                        found.add(int(entry.name))
        return sorted(pid for pid in found if _alive(pid))

    def kill(self) -> None:
        """SIGKILL the daemon first (it would restart the server), then the server."""
        for name in ("daemon.pid", "obshell.pid"):
            with contextlib.suppress(OSError, ValueError):
                _kill(int((self.home / "run" / name).read_text().strip()))
        for pid in self.pids():
            _kill(pid)
        wait_until(lambda: not self.pids(), 30, "agent processes gone")
        # A killed daemon can linger as a zombie until it is reaped, and ``agent start`` takes a
        # pid file naming a live ``obshell`` process for a running daemon: forget the pid files.
        for name in ("daemon.pid", "obshell.pid"):
            (self.home / "run" / name).unlink(missing_ok=True)

    def kill_odp(self) -> None:
        """SIGKILL every stand-in ODP process started from this agent's ODP home."""
        for pid in odp_pids(self.odp_home):
            _kill(pid)

    # -- HTTP ----------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, password: str | None = None,
                headers: dict[str, str] | None = None, expires_in: int = 60,
                header_uri: str | None = None) -> Answer:
        """Send one request; with ``password`` it carries ``X-OCS-Agent-Header`` (and an encrypted body)."""
        payload: bytes | None = None if body is None else json.dumps(body).encode()
        sent_headers = dict(headers or {})
        if password is not None:
            session = crypto.SessionKey.generate()
            header = crypto.header_json(password, int(time.time()) + expires_in, header_uri or path, session)
            sent_headers["X-OCS-Agent-Header"] = crypto.encrypt_header(header, self.public_key())
            if payload is not None:
                payload = crypto.encrypt_body(payload, session)
        if payload is not None:
            sent_headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=payload, method=method, headers=sent_headers)
        try:
            with _DIRECT.open(req, timeout=30) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            status = exc.code
            exc.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = None
        return Answer(status, doc if isinstance(doc, dict) else None, raw)

    def public_key(self) -> Any:
        if self._public_key is None:
            answer = self.request("GET", "/api/v1/secret")
            self._public_key = crypto.load_public_key(answer.data["public_key"])
        return self._public_key

    def info_or_none(self) -> dict[str, Any] | None:
        try:
            answer = self.request("GET", "/api/v1/info")
        except OSError:
            return None
        return answer.data if answer.status == 200 and isinstance(answer.data, dict) else None

    def info(self) -> dict[str, Any]:
        info = self.info_or_none()
        assert info is not None, f"agent {self.base} does not answer"
        return info

    def dag(self, generic_id: str, password: str = AGENT_PASSWORD, details: bool = True) -> dict[str, Any]:
        answer = self.request("GET", f"/api/v1/task/dag/{generic_id}?show_details={str(details).lower()}",
                              password=password)
        assert answer.status == 200, (answer.status, answer.doc)
        data: dict[str, Any] = answer.data
        return data

    def wait_dag(self, generic_id: str, timeout: float = 300) -> dict[str, Any]:
        """Poll one DAG until it finishes (SUCCEED or FAILED); return it with details."""
        found: dict[str, Any] = {}

        def finished() -> bool:
            found.update(self.dag(generic_id))
            return found.get("state") in FINISHED

        wait_until(finished, timeout, f"DAG {generic_id} finishes", interval=0.5)
        return found

    def local_dags(self, password: str = AGENT_PASSWORD) -> list[dict[str, Any]]:
        """Every local DAG the agent recorded (4.3.0+), oldest first; on 4.2.x the unfinished list."""
        answer = self.request("GET", "/api/v1/task/dags/agent?show_details=false", password=password)
        if answer.status != 200:
            answer = self.request("GET", "/api/v1/task/dag/agent/unfinish?show_details=false", password=password)
        assert answer.status == 200, (answer.status, answer.doc)
        data = answer.data
        items = data.get("contents") if isinstance(data, dict) else data
        return sorted(items or [], key=lambda d: int(d["dag_id"]))

    def odp_dags(self, name: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.local_dags() if name is None or d["name"] == name]

    # -- setup ---------------------------------------------------------------------------

    def set_password(self, password: str = AGENT_PASSWORD) -> None:
        """``POST /api/v1/agent/password``: a fresh SINGLE agent accepts any agent header for it."""
        answer = self.request("POST", "/api/v1/agent/password", {"password": password}, password="")
        assert answer.status == 200, (answer.status, answer.doc)
        assert self.info()["security"] is True

    def odp_running(self) -> bool:
        return bool(odp_pids(self.odp_home))


def install_standin(home: Path, python: str, version: str) -> None:
    """An ODP home as obshell's add expects: bin/obproxy (our launcher), lib/, no etc/ yet."""
    (home / "bin").mkdir(parents=True, exist_ok=True)
    (home / "lib").mkdir(exist_ok=True)
    launcher = home / "bin" / "obproxy"
    launcher.write_text(f'#!/bin/sh\nexec "{python}" "{STANDIN}" --standin-version "{version}" "$@"\n')
    launcher.chmod(0o755)


def odp_pids(odp_home: Path) -> list[int]:
    """Stand-in processes whose working directory is ``odp_home``."""
    found = []
    want = str(odp_home.resolve())
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "cwd") == want and str(STANDIN) in (entry / "cmdline").read_text():
                    found.append(int(entry.name))
    return found


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Return once ``predicate()`` holds; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out waiting until: {what}")


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def real_agents(binary: Path, root: Path, count: int, *, with_odp: bool = True) -> Iterator[list[RealAgent]]:
    """``count`` agents with their passwords set (and the stand-in ODP added); all killed at the end."""
    agents = [RealAgent(binary, root / f"agent{i}", free_port()) for i in range(count)]
    try:
        for agent in agents:
            agent.start()
        for agent in agents:
            agent.set_password()
        if with_odp:
            _add_all(agents)
        yield agents
    finally:
        for agent in agents:
            with contextlib.suppress(Exception):
                agent.kill()
            agent.kill_odp()


def _add_all(agents: list[RealAgent]) -> None:
    """Add the stand-in ODP on every agent at once (each Add DAG sleeps 10 s before its health
    check); ``config_url`` spares the agent the proxyro login to an observer that ``rs_list`` needs."""
    for agent in agents:
        install_standin(agent.odp_home, sys.executable, "4.3.5.0-1")
    started = []
    for agent in agents:
        agent.odp_port = free_port()
        body = {"name": "fleet-test", "home_path": str(agent.odp_home), "sql_port": agent.odp_port,
                "rpc_port": free_port(), "exporter_port": free_port(), "config_url": "http://127.0.0.1:9/none",
                "obproxy_sys_password": ODP_SYS_PASSWORD, "proxyro_password": "", "parameters": {}}
        answer = agent.request("POST", "/api/v1/obproxy", body, password=AGENT_PASSWORD)
        assert answer.status == 200, (answer.status, answer.doc)
        started.append(answer.data["id"])
    for agent, generic_id in zip(agents, started):
        dag = agent.wait_dag(generic_id)
        assert dag["state"] == "SUCCEED", json.dumps(dag)[-3000:]
        assert agent.info()["isObproxyAgent"] is True
