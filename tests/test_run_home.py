"""Run history in a stable place (issue 22, item 5): fleet's home, and ``fleet runs --prune`` /
``--older-than`` that never delete a run whose journal is locked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.api.paths import fleet_home
from fleet.cli.prune import choose, parse_age
from fleet.cli.runs import PastRunInfo
from fleet.engine.runlock import RunLock
from fleet.errors import InputError
from tests.harness import addresses, fleet_env, run_fleet

#: nothing listens here: each host ends unreachable at once (connection refused), a run in a second
HOSTS = ",".join(addresses("127.63.0.1", 2)) + ","


def test_home_is_fleet_home_else_the_local_dot_fleet_else_the_state_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FLEET_HOME wins; else ./.fleet when the working directory has one; else $XDG_STATE_HOME/fleet
    (an absolute one), else ~/.local/state/fleet."""
    bare = tmp_path / "bare"
    bare.mkdir()
    monkeypatch.chdir(bare)
    assert fleet_home({"FLEET_HOME": "/srv/fleet", "XDG_STATE_HOME": "/x"}) == "/srv/fleet"
    assert fleet_home({"XDG_STATE_HOME": "/x/state"}) == "/x/state/fleet"
    assert fleet_home({"XDG_STATE_HOME": "relative", "HOME": "/h"}) == os.path.expanduser("~/.local/state/fleet")
    (bare / ".fleet").mkdir()
    assert fleet_home({"XDG_STATE_HOME": "/x/state"}) == ".fleet"
    assert fleet_home({"FLEET_HOME": "/srv/fleet"}) == "/srv/fleet"


def test_runs_started_anywhere_are_found_from_anywhere(tmp_path: Path) -> None:
    """Without a .fleet in the working directory a run's folder lands in the state directory, and
    `fleet runs` / `fleet show` run from another directory find it; FLEET_HOME moves both."""
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    state = tmp_path / "xdg-state"
    run = run_fleet(["start", "-i", HOSTS, "--connect-timeout", "2", "-q"], cwd=one)
    assert run.returncode == 2, run.stderr[-2000:]
    [folder] = (state / "fleet" / "runs").iterdir()
    assert not (one / ".fleet").exists()
    listed = run_fleet(["runs"], cwd=two)
    assert folder.name in listed.stdout and "unreachable=2" in listed.stdout
    shown = run_fleet(["show"], cwd=two)
    assert shown.returncode == 0 and str(folder) in shown.stdout
    home = tmp_path / "home"
    env = fleet_env(FLEET_HOME=str(home))
    run_fleet(["start", "-i", HOSTS, "--connect-timeout", "2", "-q"], cwd=one, env=env)
    assert len(list((home / "runs").iterdir())) == 1
    assert len(run_fleet(["runs"], cwd=two, env=env).stdout.splitlines()) == 2  # the header and that run


@pytest.mark.parametrize(("text", "seconds"), [("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("90s", 90),
                                               ("1.5h", 5400), ("2w", 14 * 86400)])
def test_ages_read_as_seconds(text: str, seconds: float) -> None:
    """--older-than takes a number and one unit of s, m, h, d or w."""
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["7", "d", "-1d", "7days", "", "1e3s"])
def test_bad_ages_are_input_errors(text: str) -> None:
    """Anything else is one line saying what is expected."""
    with pytest.raises(InputError, match="expected a number and a unit"):
        parse_age(text)


def _info(name: str, started: float | None) -> PastRunInfo:
    return PastRunInfo(name, started, "obproxy.start", "inv", None, 1, {}, "summary")


def test_choose_keeps_the_newest_and_the_young() -> None:
    """--prune KEEP deletes all but the KEEP newest; --older-than only runs started before now - AGE;
    together only the old ones beyond KEEP."""
    runs = [_info("c", 300.0), _info("a", 100.0), _info("b", 200.0), _info("d", None)]

    def names(chosen: list[PastRunInfo]) -> list[str]:
        return [r.folder for r in chosen]

    assert names(choose(runs, keep=2, older_than_s=None, now=1000)) == ["d", "a"]
    assert names(choose(runs, keep=0, older_than_s=None, now=1000)) == ["d", "a", "b", "c"]
    assert names(choose(runs, keep=None, older_than_s=750, now=1000)) == ["a", "b"]
    assert names(choose(runs, keep=2, older_than_s=750, now=1000)) == ["a"]
    with pytest.raises(InputError):
        choose(runs, keep=-1, older_than_s=None, now=0)


def test_prune_deletes_old_runs_but_never_a_locked_one(tmp_path: Path) -> None:
    """Three runs: --older-than 1h deletes none (all just ran); with the oldest run's journal locked
    (as a running or resuming fleet holds it) --prune 0 deletes the other two and keeps that one,
    naming its holder; once the lock is gone --prune 0 deletes it."""
    for _ in range(3):
        assert run_fleet(["start", "-i", HOSTS, "--connect-timeout", "2", "-q"], cwd=tmp_path).returncode == 2
    runs = tmp_path / ".fleet" / "runs"
    folders = sorted(runs.iterdir())
    assert len(folders) == 3
    young = run_fleet(["runs", "--older-than", "1h"], cwd=tmp_path)
    assert young.returncode == 0 and "deleted 0 runs" in young.stderr and len(list(runs.iterdir())) == 3
    lock = RunLock(str(folders[0] / "journal.jsonl"), "test", create=False, what="fleet start")
    lock.acquire()
    try:
        pruned = run_fleet(["runs", "--prune", "0"], cwd=tmp_path)
    finally:
        lock.release()
    assert pruned.returncode == 0, pruned.stderr
    assert [p.name for p in runs.iterdir()] == [folders[0].name]
    assert f"kept {os.path.join('.fleet', 'runs', folders[0].name)}: " in pruned.stderr
    assert f"in use by pid {os.getpid()}" in pruned.stderr and "deleted 2 runs" in pruned.stderr
    again = run_fleet(["runs", "--prune", "0"], cwd=tmp_path)
    assert "deleted 1 runs" in again.stderr and list(runs.iterdir()) == []
    assert run_fleet(["runs", "--older-than", "soon"], cwd=tmp_path).returncode == 5
