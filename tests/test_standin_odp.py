"""The stand-in ODP the real-agent suite hands to obshell, checked on its own (no agent needed).

It must satisfy what obshell's executor does with an obproxy: parse ``-V``, start it with ``-o``
and with no argument (daemonized, the command returning), find it by its pid file and its port,
log in as ``root@proxysys`` with the sys password, read ``show proxyconfig`` and ``show proxyinfo
binary``, set a value with ``ALTER proxyconfig``, and hot-restart it with ``proxy_local_cmd = 2``.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.realagent_harness import free_port, install_standin, odp_pids, wait_until

#: the version patterns of obshell 4.5.0 and 4.2.6 (executor/obproxy/utils.go)
VERSION_PATTERNS = (r"\(OceanBase (\d+\.\d+\.\d+\.\d+) (\d+(?:\.[\w]+)?)\)",
                    r"\(OceanBase (\d+\.\d+\.\d+\.\d+) (\d+)\)")
SYS_PASSWORD = "standin-sys-Pw"


@pytest.fixture
def odp_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "odp"
    install_standin(home, sys.executable, "4.3.5.0-7")
    try:
        yield home
    finally:
        for pid in odp_pids(home):
            subprocess.run(["kill", "-9", str(pid)], check=False)


def obproxy(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["./bin/obproxy", *args], cwd=home, capture_output=True, text=True, timeout=30)


def connect(port: int, password: str = SYS_PASSWORD) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user="root@proxysys", password=password, connect_timeout=5)


def query(port: int, sql: str) -> list[tuple[str, ...]]:
    with connect(port) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_version_is_parsed_by_every_agent_release(odp_home: Path) -> None:
    """``obproxy -V`` prints a version both obshell 4.5.0's and 4.2.6's patterns read as 4.3.5.0 / 7."""
    done = obproxy(odp_home, "-V")
    assert done.returncode == 0
    for pattern in VERSION_PATTERNS:
        match = re.search(pattern, done.stdout + done.stderr)
        assert match is not None and match.groups()[:2] == ("4.3.5.0", "7")


def test_start_serve_alter_and_hot_restart(odp_home: Path) -> None:
    """Started with -o it daemonizes, writes run/obproxy.pid and serves root@proxysys (the SHA-1 sys
    password, a wrong one refused); show proxyconfig / proxyinfo binary answer as obshell reads them;
    ALTER persists; proxy_local_cmd = 2 brings a new pid up on the same port and the old one leaves;
    a start with no argument after that reads the options kept in etc/."""
    port = free_port()
    sha1 = hashlib.sha1(SYS_PASSWORD.encode()).hexdigest()
    done = obproxy(odp_home, "-o", f"listen_port={port},obproxy_sys_password={sha1},rpc_listen_port=1", "-n", "app")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: (odp_home / "run" / "obproxy.pid").exists(), 30, "pid file")
    first = int((odp_home / "run" / "obproxy.pid").read_text())
    assert odp_pids(odp_home) == [first]
    with pytest.raises(pymysql.err.OperationalError):
        connect(port, "wrong")
    assert query(port, "show proxyconfig like 'listen_port'")[0][:2] == ("listen_port", str(port))
    assert query(port, "show proxyconfig like 'app_name'")[0][:2] == ("app_name", "app")
    info = query(port, "show proxyinfo binary")[0][1]
    assert re.search(r"\d+\.\d+\.\d+\.\d+-\d+", info).group(0) == "4.3.5.0-7"  # type: ignore[union-attr]
    query(port, "ALTER proxyconfig SET observer_sys_password = secret ")
    assert query(port, "show proxyconfig like 'observer_sys_password'")[0][1] == "secret"

    query(port, "ALTER proxyconfig SET proxy_local_cmd = 2")
    wait_until(lambda: odp_pids(odp_home) not in ([], [first]) and first not in odp_pids(odp_home), 30,
               "a new process replaces the old one")
    (second,) = odp_pids(odp_home)
    wait_until(lambda: (odp_home / "run" / "obproxy.pid").read_text() == str(second), 30, "new pid file")
    assert query(port, "show proxyconfig like 'observer_sys_password'")[0][1] == "secret"

    subprocess.run(["kill", "-9", str(second)], check=True)
    wait_until(lambda: not odp_pids(odp_home), 30, "stand-in gone")
    assert obproxy(odp_home).returncode == 0
    wait_until(lambda: len(odp_pids(odp_home)) == 1, 30, "restarted with no argument")
    wait_until(lambda: _answers(port), 30, "serving its kept listen_port")


def test_a_test_can_make_the_next_start_fail(odp_home: Path) -> None:
    """With ``standin-fail-start`` in its home a plain start exits 1 with a message (as an obproxy
    that cannot start), and nothing keeps running."""
    (odp_home / "standin-fail-start").touch()
    done = obproxy(odp_home)
    assert done.returncode == 1 and "start refused" in done.stderr
    assert odp_pids(odp_home) == []


def _answers(port: int) -> bool:
    try:
        return bool(query(port, "show proxyconfig"))
    except pymysql.err.OperationalError:
        return False
