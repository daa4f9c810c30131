"""A stand-in ODP (obproxy) for the real-agent tests: just enough of obproxy for obshell to manage it.

obshell's agent drives an ODP through its home directory and its SQL port only, so this program
models exactly what the agent touches (read from obshell's executor/obproxy and lib/process):

- ``bin/obproxy -V`` prints ``… (OceanBase X.Y.Z.W BUILD)``, which the agent parses at add time;
- ``bin/obproxy -o k=v,… [-n APP] [-c CLUSTER]`` and ``bin/obproxy`` (no argument: the start DAG)
  daemonize (the agent waits for the command's output to close), remember the options in
  ``etc/``, write ``run/obproxy.pid`` and serve the MySQL protocol on ``listen_port``;
- the health check logs in as ``root@proxysys`` with the ODP sys password (mysql_native_password
  against the SHA-1 given as ``obproxy_sys_password``) and sends ``show proxyconfig``;
- ``show proxyconfig [like 'x']``, ``show proxyinfo binary`` and ``ALTER proxyconfig SET k = v``;
  ``proxy_local_cmd = 2`` hot-restarts: a new process takes over the listening socket (a new pid on
  the same port) and the old one exits, as obproxy's hot upgrade does;
- the stop DAG reads ``run/obproxy.pid`` and ``kill -9``s that pid; the agent finds the process by
  its listening port (``/proc``) and checks that its working directory is not the agent's run dir.

A test makes the next plain start fail (exit 1, as an obproxy that cannot start) by creating
``standin-fail-start`` in the ODP home.

The launcher the tests write as ``HOME/bin/obproxy`` runs this file with ``--standin-version``.
It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mysql_mimic import IdentityProvider, MysqlServer, NativePasswordAuthPlugin, User
from mysql_mimic.session import BaseSession
from mysql_mimic.variables import GlobalVariables, SessionVariables

CONFIG_FILE = "etc/obproxy_config.json"
PID_FILE = "run/obproxy.pid"
LOG_FILE = "log/obproxy.log"
SYS_USER = "root@proxysys"
SECRET_KEYS = frozenset({"obproxy_sys_password", "observer_sys_password"})
RESTART_CMD = "2"
INHERIT_ENV = "STANDIN_OBPROXY_LISTEN_FD"
# A test makes the next plain start fail by creating this file in the ODP home (removed to heal).
FAIL_START_FILE = "standin-fail-start"

DEFAULTS: dict[str, str] = {
    "listen_port": "2883",
    "rpc_listen_port": "2885",
    "prometheus_listen_port": "2884",
    "obproxy_sys_password": "",
    "observer_sys_password": "",
    "proxy_local_cmd": "0",
    "app_name": "",
    "cluster_name": "",
    "rootservice_list": "",
    "obproxy_config_server_url": "",
}
_ALTER = re.compile(r"^\s*alter\s+proxyconfig\s+set\s+(\w+)\s*=\s*(.*?)\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_LIKE = re.compile(r"^\s*show\s+proxyconfig\s+like\s+'([^']*)'\s*;?\s*$", re.IGNORECASE)


def version_line(version: str) -> str:
    """What ``obproxy -V`` prints: obshell reads ``(OceanBase X.Y.Z.W BUILD)`` from it (4.3.1+ also
    accepts ``BUILD.el7``; the 4.2.x agents only digits, so the build is printed bare)."""
    number, _, build = version.partition("-")
    return f"./bin/obproxy (OceanBase {number} {build or '1'})\n\nREVISION: standin\n"


def parse_options(text: str) -> dict[str, str]:
    """``-o``'s ``k=v,k=v`` (a value may be empty; keys are obproxy config names)."""
    options: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad -o item {item!r}")
        options[key.strip()] = value.strip()
    return options


def auth_string(stored_sha1_hex: str) -> str:
    """mysql_native_password's stored form, SHA1(SHA1(pw)), from obproxy_sys_password = SHA1(pw)."""
    if not stored_sha1_hex:
        return ""
    return hashlib.sha1(bytes.fromhex(stored_sha1_hex)).hexdigest()


class Home:
    """The ODP home: config in etc/, pid in run/, log in log/."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        file = self.path / CONFIG_FILE
        config = dict(DEFAULTS)
        if file.exists():
            config.update(json.loads(file.read_text()))
        return config

    def save(self, config: dict[str, str]) -> None:
        file = self.path / CONFIG_FILE
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, sort_keys=True))
        tmp.replace(file)

    def log(self, event: str) -> None:
        file = self.path / LOG_FILE
        file.parent.mkdir(parents=True, exist_ok=True)
        with file.open("a") as out:
            out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} {event}\n")

    def write_pid(self) -> None:
        file = self.path / PID_FILE
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(str(os.getpid()))


class SysIdentity(IdentityProvider):  # type: ignore[misc]  # mysql-mimic ships no type information
    """Only ``root@proxysys`` logs in, with the ODP sys password."""

    def __init__(self, home: Home) -> None:
        self.home = home

    def get_plugins(self) -> list[Any]:
        return [NativePasswordAuthPlugin()]

    async def get_user(self, username: str) -> Any:
        if username != SYS_USER:
            return None
        stored = self.home.load()["obproxy_sys_password"]
        return User(name=username, auth_string=auth_string(stored) or None,
                    auth_plugin=NativePasswordAuthPlugin.name)


class Proxy:
    """One running stand-in: its config, its server and the hot restart."""

    def __init__(self, home: Home, version: str, launcher: list[str]) -> None:
        self.home = home
        self.version = version
        self.launcher = launcher
        self.done = asyncio.Event()
        self.listener: socket.socket | None = None

    def session(self) -> BaseSession:
        return ProxySession(self)

    def show_config(self, like: str | None) -> tuple[list[list[str]], list[str]]:
        config = self.home.load()
        rows = [[name, value, "", "false", "SYS"] for name, value in sorted(config.items())
                if like is None or _like(like, name)]
        return rows, ["name", "value", "info", "need_reboot", "visible_level"]

    def alter(self, key: str, value: str) -> None:
        value = value.strip().strip("'\"")
        config = self.home.load()
        config[key] = value
        if key == "proxy_local_cmd" and value == RESTART_CMD:
            config[key] = "0"
            self.home.save(config)
            self.home.log("hot restart requested")
            asyncio.get_running_loop().call_later(0.2, self.hot_restart)
            return
        self.home.save(config)
        self.home.log(f"set {key}" + ("" if key in SECRET_KEYS else f" = {value}"))

    def hot_restart(self) -> None:
        """Hand the listening socket to a new process (new pid, same port), then leave."""
        assert self.listener is not None
        fd = self.listener.fileno()
        os.set_inheritable(fd, True)
        env = dict(os.environ, **{INHERIT_ENV: str(fd)})
        subprocess.Popen([*self.launcher], cwd=self.home.path, env=env, pass_fds=(fd,),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        asyncio.get_running_loop().call_later(1.0, self.done.set)

    async def serve(self, port: int, inherited_fd: int | None) -> None:
        server = MysqlServer(session_factory=self.session, identity_provider=SysIdentity(self.home))
        if inherited_fd is not None:
            self.listener = socket.socket(fileno=inherited_fd)
        else:
            self.listener = socket.create_server(("127.0.0.1", port), reuse_port=False)
        await server.start_server(sock=self.listener, host=None, port=None)
        self.home.write_pid()
        self.home.log(f"serving on 127.0.0.1:{port} version {self.version}")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.done.set)
        await self.done.wait()
        server.close()
        self.home.log("exit")


class ProxySession(BaseSession):  # type: ignore[misc]  # mysql-mimic ships no type information
    """Answers the statements obshell sends an ODP; anything else is an empty OK."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.variables = SessionVariables(GlobalVariables())
        self.username: str | None = None
        self.database: str | None = None

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> Any:
        text = sql.strip().rstrip(";").strip()
        lowered = " ".join(text.lower().split())
        if lowered == "show proxyconfig":
            return self.proxy.show_config(None)
        if match := _LIKE.match(text):
            return self.proxy.show_config(match.group(1))
        if lowered == "show proxyinfo binary":
            info = f"ODP (OceanBase {self.proxy.version})"
            return [["binary info", info]], ["name", "info"]
        if match := _ALTER.match(text):
            self.proxy.alter(match.group(1).lower(), match.group(2))
            return None
        return None


def _like(pattern: str, name: str) -> bool:
    regex = "^" + re.escape(pattern).replace("%", ".*").replace("_", ".") + "$"
    return re.match(regex, name, re.IGNORECASE) is not None


def daemonize(home: Home) -> None:
    """Detach as obproxy does: the caller's command returns and its output pipes close."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    (home.path / "log").mkdir(parents=True, exist_ok=True)
    null = os.open(os.devnull, os.O_RDWR)
    log = os.open(home.path / LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    parser = argparse.ArgumentParser(prog="obproxy", add_help=False)
    parser.add_argument("--standin-version", default="4.3.5.0-1")
    parser.add_argument("-V", action="store_true", dest="show_version")
    parser.add_argument("-o", dest="options", default=None)
    parser.add_argument("-n", dest="app_name", default=None)
    parser.add_argument("-c", dest="cluster_name", default=None)
    ns = parser.parse_args(args)
    if ns.show_version:
        sys.stderr.write(version_line(ns.standin_version))
        return 0
    home = Home(Path.cwd())
    if ns.options is None and (home.path / FAIL_START_FILE).exists():
        sys.stderr.write("obproxy: start refused (the test asked for a failed start)\n")
        return 1
    config = home.load()
    try:
        if ns.options is not None:
            config.update(parse_options(ns.options))
    except ValueError as exc:
        sys.stderr.write(f"obproxy: {exc}\n")
        return 1
    if ns.app_name is not None:
        config["app_name"] = ns.app_name
    if ns.cluster_name is not None:
        config["cluster_name"] = ns.cluster_name
    home.save(config)
    inherited = os.environ.pop(INHERIT_ENV, None)
    if inherited is None:
        daemonize(home)
    launcher = [sys.executable, str(Path(__file__).resolve()), "--standin-version", ns.standin_version]
    proxy = Proxy(home, ns.standin_version, launcher)
    try:
        asyncio.run(proxy.serve(int(config["listen_port"]), int(inherited) if inherited else None))
    except OSError as exc:
        home.log(f"cannot serve: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
