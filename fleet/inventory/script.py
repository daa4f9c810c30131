"""Executable inventory scripts, run and read as Ansible's ``script`` plugin does.

The file itself is run (never a shell, never anything else) with ``--list``, stdin closed,
under a timeout. Its standard output must be a JSON object: each key a group whose value is a
list of hosts or an object with ``hosts`` (a list), ``vars`` (an object) and ``children`` (a
list), plus ``_meta.hostvars`` (host → variables). Without ``_meta`` the script is run again
with ``--host NAME`` for each host, as Ansible does. A group object with none of the three
keys is, as in Ansible, a host of that name carrying those variables.

A script that cannot be run, exits non-zero (its standard error is quoted), overruns the
timeout or prints anything but such JSON is an :class:`~fleet.errors.InventoryError`.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from fleet.errors import InventoryError
from fleet.inventory.data import InventoryData
from fleet.inventory.variables import Origin, read_variables
from fleet.inventory.yamlload import MAX_BYTES, quote
from fleet.inventory.yamlsource import name_problem
from fleet.models import DEFAULT_PASSWORD_ENV

SCRIPT_TIMEOUT = 60.0
MAX_STDERR_SHOWN = 400
#: Standard error kept from a script (the head: the first lines say why); the rest is drained unread.
MAX_STDERR_KEPT = 64 * 1024
_CHUNK = 64 * 1024


def script_environment(environ: Mapping[str, str], hidden: Iterable[str] = ()) -> dict[str, str]:
    """``environ`` without the agent password: ``OBSHELL_AGENT_PASSWORD``, the variables named in
    ``hidden`` (the ``obshell_password_env`` names known before the script runs), and any other
    variable holding the same value."""
    names = {DEFAULT_PASSWORD_ENV, *hidden}
    secrets = {environ[name] for name in names if environ.get(name)}
    return {key: value for key, value in environ.items() if key not in names and value not in secrets}


def run_script(path: str, args: list[str], timeout: float = SCRIPT_TIMEOUT, *,
               hidden_env: Iterable[str] = ()) -> str:
    """The standard output of ``path args…``; an :class:`InventoryError` if it fails.

    The script runs in its own process group (a new session), stdin closed, without the agent
    password in its environment (:func:`script_environment`). Its output is read as it comes,
    bounded: past :data:`MAX_BYTES` on stdout, or when ``timeout`` passes before both streams
    end (a child such as ``sleep`` holding stdout), the whole group is killed.
    """
    shown = " ".join([path, *args])
    try:
        proc = subprocess.Popen([path, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, shell=False, start_new_session=True,
                                env=script_environment(os.environ, hidden_env))
    except OSError as exc:
        raise InventoryError(f"inventory script cannot be run: {exc.strerror or exc}", path) from None
    try:
        out, err, problem = _read_bounded(proc, timeout)
    finally:
        _kill_group(proc)  # a script stopped early, or one whose child still holds a pipe
    if problem == "timeout":
        raise InventoryError(f"inventory script '{shown}' did not finish within {timeout:g} s", path)
    if problem == "oversize":
        raise InventoryError(f"inventory script '{shown}' printed more than {MAX_BYTES} bytes", path)
    if proc.returncode != 0:
        text = " | ".join(line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip())
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
        if len(text) > MAX_STDERR_SHOWN:
            text = text[:MAX_STDERR_SHOWN] + "…"
        raise InventoryError(f"inventory script '{shown}' exited with status {proc.returncode}"
                             + (f": {text}" if text else " and printed nothing on stderr"), path)
    try:
        return out.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InventoryError(f"inventory script '{shown}' printed text that is not UTF-8", path) from None


def _read_bounded(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, bytes, str | None]:
    """``(stdout, stderr head, problem)`` read until both streams end and the script exits;
    ``problem`` is ``"timeout"`` or ``"oversize"`` when reading stopped early."""
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(out), bytes(err), "timeout"
            for key, _events in selector.select(left):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data is out:
                    out += chunk
                    if len(out) > MAX_BYTES:
                        return bytes(out[:0]), bytes(err), "oversize"
                elif len(err) < MAX_STDERR_KEPT:
                    err += chunk[: MAX_STDERR_KEPT - len(err)]
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return bytes(out), bytes(err), "timeout"
    return bytes(out), bytes(err), None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the script's process group (it and every child it started) unless the script ended
    on its own; reap it and close its pipes."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _json(path: str, text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryError(f"{what} is not JSON: {exc.msg} (line {exc.lineno} of its output)", path) from None
    except RecursionError:
        raise InventoryError(f"{what} is nested too deeply", path) from None


def read_script_inventory(path: str, data: InventoryData, timeout: float = SCRIPT_TIMEOUT, *,
                          hidden_env: Iterable[str] = ()) -> None:
    """Run the inventory script ``path`` with ``--list`` and add what it prints to ``data``.

    ``hidden_env``: environment variables (besides ``OBSHELL_AGENT_PASSWORD``) kept from the
    script, the ``obshell_password_env`` names known before it runs.
    """
    what = f"output of '{path} --list'"
    hidden_env = (*hidden_env, *password_env_names(data))
    doc = _json(path, run_script(path, ["--list"], timeout, hidden_env=hidden_env), what)
    if not isinstance(doc, dict):
        raise InventoryError(f"{what} must be a JSON object of groups", path)
    hostvars: dict[str, Any] | None = None
    hosts: dict[str, None] = {}
    for group, body in doc.items():
        if group == "_meta":
            hostvars = body.get("hostvars") if isinstance(body, dict) else None
            if not isinstance(hostvars, dict):
                raise InventoryError(f"{what}: '_meta.hostvars' must be an object", path)
            continue
        _group(path, what, data, group, body, hosts)
    for name in hosts:
        if hostvars is None:
            out = run_script(path, ["--host", name], timeout, hidden_env=hidden_env)
            got = _json(path, out, f"output of '{path} --host {name}'") if out.strip() else {}
        else:
            got = hostvars.get(name, {})
        if not isinstance(got, dict):
            raise InventoryError(f"{what}: variables of host {quote(name)} must be an object", path)
        host_origin = Origin(f"{path} (host {name})")
        data.hosts[name].variables.update(read_variables(got.items(), _constant(host_origin)))


def password_env_names(data: InventoryData) -> set[str]:
    """Every ``obshell_password_env`` name the inventory read so far sets, on a group or a host."""
    found = [*(group.variables.get("obshell_password_env") for group in data.groups.values()),
             *(host.variables.get("obshell_password_env") for host in data.hosts.values())]
    return {value.value for value in found if value is not None and isinstance(value.value, str)}


def _constant(origin: Origin) -> Callable[[str], Origin]:
    return lambda _key: origin


def _group(path: str, what: str, data: InventoryData, name: str, body: Any, hosts: dict[str, None]) -> None:
    problem = name_problem(name, "group")
    if problem:
        raise InventoryError(f"{what}: {problem}", path)
    origin = Origin(f"{path} (group {name})")
    data.group(name, origin)
    if not isinstance(body, dict):
        body = {"hosts": body}
    elif not any(key in body for key in ("hosts", "vars", "children")):
        body = {"hosts": [name], "vars": body}
    members = body.get("hosts", [])
    if not isinstance(members, list):
        raise InventoryError(f"{what}: '{name}.hosts' must be a list", path)
    for host in members:
        if not isinstance(host, str) or name_problem(host, "host"):
            raise InventoryError(f"{what}: host {quote(str(host))} in group {quote(name)} is not a valid name", path)
        data.add_host(host, name, origin)
        hosts[host] = None
    variables = body.get("vars", {})
    if not isinstance(variables, dict):
        raise InventoryError(f"{what}: '{name}.vars' must be an object", path)
    for key, value in variables.items():
        if key == "ansible_group_priority":
            try:
                data.groups[name].priority = int(value)
            except (TypeError, ValueError):
                raise InventoryError(f"{what}: ansible_group_priority of {quote(name)} must be an integer",
                                     path) from None
    data.groups[name].variables.update(read_variables(variables.items(), lambda _k: origin))
    children = body.get("children", [])
    if not isinstance(children, list | dict):
        raise InventoryError(f"{what}: '{name}.children' must be a list", path)
    for child in children:
        if not isinstance(child, str) or name_problem(child, "group"):
            raise InventoryError(f"{what}: child {quote(str(child))} of group {quote(name)} is not a valid name",
                                 path)
        data.add_child(name, child, origin)
