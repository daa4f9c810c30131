"""Inventory scripts are untrusted children: run in their own process group and killed as a group on
timeout, their output read with a bound while reading, never given the agent password, and their
stderr (like any value an inventory error quotes) shown with the password masked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fleet.errors import InventoryError
from fleet.inventory import load_inventory
from fleet.inventory.yamlload import MAX_BYTES
from tests.harness import fleet_env, run_fleet, wait_for

PASSWORD = "Script-Canary-pw-7731"
RSS_LIMIT_MB = 250


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return str(path)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z")  # a zombie awaiting its reaper


def _load_in_child(source: str, timeout: float, cwd: Path) -> tuple[int, str, int]:
    """``(exit code, stderr, peak RSS bytes)`` of loading ``source`` in a child Python (killed after 30 s).

    The peak is the child's own VmHWM: ru_maxrss would also count the memory of the (large) test
    process it was forked from, which Linux carries across exec.
    """
    code = ("import sys\nfrom fleet.errors import InventoryError\nfrom fleet.inventory import load_inventory\n"
            f"try:\n    load_inventory([{source!r}], script_timeout={timeout!r})\n"
            "except InventoryError as exc:\n    print(exc, file=sys.stderr)\n"
            "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1])\n")
    out, err = cwd / "child-stdout.txt", cwd / "child-stderr.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=cwd, stdout=stdout, stderr=stderr,
                                stdin=subprocess.DEVNULL)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a hang fails the test instead of stalling it
            proc.kill()
            proc.wait()
    peak_kib = out.read_text().split()
    return proc.returncode, err.read_text(), int(peak_kib[-1]) * 1024 if peak_kib else 0


def test_a_child_holding_stdout_is_killed_with_its_script_at_the_timeout(tmp_path: Path) -> None:
    """A script whose child (``sleep 1000``) holds its stdout, the usual shape of a script that calls
    curl: at the timeout the whole process group is killed and the load fails with one line
    (main: only the script was killed, then fleet waited on the pipe for ever)."""
    pid_file = tmp_path / "sleep.pid"
    script = _script(tmp_path / "inv.sh", f"""\
        sleep 1000 &
        echo $! > {pid_file}
        wait
        """)
    code, stderr, _ = _load_in_child(script, 1.0, tmp_path)
    assert code == 0, stderr
    assert f"inventory script '{script} --list' did not finish within 1 s" in stderr
    pid = int(pid_file.read_text())
    wait_for(lambda: _gone(pid), timeout=10)


def test_a_script_printing_a_gigabyte_is_stopped_at_the_cap_with_bounded_memory(tmp_path: Path) -> None:
    """1 GB on stdout: reading stops past the 16 MiB cap, the group is killed, the error says so, and
    peak RSS stays under 250 MB (main: the whole output was read first, about 2 GB)."""
    script = _script(tmp_path / "inv.sh", "head -c 1073741824 /dev/zero | tr '\\0' 'a'\n")
    code, stderr, rss = _load_in_child(script, 60.0, tmp_path)
    print(f"\n1 GB script: peak RSS {rss / 2**20:.1f} MB")
    assert code == 0 and f"printed more than {MAX_BYTES} bytes" in stderr, stderr
    assert rss < RSS_LIMIT_MB * 2**20


def test_the_script_gets_no_agent_password_in_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither OBSHELL_AGENT_PASSWORD, nor the variable ``-e obshell_password_env`` names, nor a copy
    of either under another name reaches the script; its other variables do."""
    monkeypatch.setenv("OBSHELL_AGENT_PASSWORD", PASSWORD)
    monkeypatch.setenv("ODP_PW", PASSWORD + "-other")
    monkeypatch.setenv("COPY_OF_IT", PASSWORD)
    monkeypatch.setenv("HARMLESS", "kept")
    dump = tmp_path / "env.txt"
    script = _script(tmp_path / "inv.sh", f"""\
        env > {dump}
        echo '{{"web": ["w1.example"], "_meta": {{"hostvars": {{}}}}}}'
        """)
    inventory = load_inventory([script], extra_vars=["obshell_password_env=ODP_PW"])
    assert [h.name for h in inventory.hosts] == ["w1.example"]
    seen = dump.read_text()
    assert PASSWORD not in seen and "ODP_PW" not in seen and "COPY_OF_IT" not in seen
    assert "HARMLESS=kept" in seen


def test_a_failing_scripts_stderr_is_shown_with_the_password_masked(tmp_path: Path) -> None:
    """A script that fails and prints the password it fetched on stderr: fleet's one-line error
    quotes its stderr with the password masked."""
    secret = tmp_path / "vault"
    secret.write_text(PASSWORD)
    script = _script(tmp_path / "inv.sh", f"""\
        echo "login as admin:$(cat {secret}) refused" >&2
        exit 3
        """)
    run = run_fleet(["start", "-i", script, "--list-hosts"], tmp_path, env=fleet_env(password=PASSWORD))
    assert run.returncode == 5
    assert "exited with status 3: login as admin:******** refused" in run.stderr
    assert PASSWORD not in run.stderr and PASSWORD not in run.stdout


def test_a_value_error_quoting_the_password_masks_it(tmp_path: Path) -> None:
    """``-e obshell_password_env=$OBSHELL_AGENT_PASSWORD`` (the value where the name belongs): the
    "must be an environment variable name, not '…'" error masks the password."""
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("all:\n  hosts:\n    h1.example:\n")
    run = run_fleet(["start", "-i", str(inventory), "-e", f"obshell_password_env={PASSWORD}", "--list-hosts"],
                    tmp_path, env=fleet_env(password=PASSWORD))
    assert run.returncode == 5 and "must be an environment variable name" in run.stderr, run.stderr
    assert PASSWORD not in run.stderr and "********" in run.stderr


def test_inventory_errors_raised_to_python_mask_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python API raises the same masked error as the CLI prints."""
    import fleet

    monkeypatch.setenv("OBSHELL_AGENT_PASSWORD", PASSWORD)
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("all:\n  hosts:\n    h1.example:\n")
    with pytest.raises(InventoryError) as info:
        fleet.start_sync(str(inventory), extra_vars=(f"obshell_password_env={PASSWORD}",))
    assert PASSWORD not in str(info.value) and "********" in str(info.value)
