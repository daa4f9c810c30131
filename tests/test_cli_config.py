"""The command line's edges: option defaults from fleet.yaml / --config / FLEET_* with their
precedence, refused passwords, --version and --help, and bad input as one line with no
traceback. None of these tests needs an agent: they select hosts (--list-hosts) or run an
empty shard, and bad input must stop fleet before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import addresses, fleet_env, run_fleet, write_inventory

IPS = addresses("127.42.40.1", 4)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write_inventory(tmp_path / "inv.yaml", IPS)


def _hosts(tmp_path: Path, args: list[str], **env: str) -> list[str]:
    run = run_fleet(["start", *args, "--list-hosts"], cwd=tmp_path, env=fleet_env(**env))
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


def _one_line_error(run_stderr: str) -> str:
    lines = run_stderr.strip().splitlines()
    assert "Traceback" not in run_stderr
    assert len(lines) == 1, run_stderr
    return lines[0]


def test_precedence_cli_over_env_over_file_over_default(tmp_path: Path, inventory: Path) -> None:
    """An option comes from the command line if given, else FLEET_<OPTION>, else ./fleet.yaml,
    else its default — shown with --limit (which hosts are listed) and the inventory itself."""
    assert _hosts(tmp_path, ["-i", str(inventory)]) == IPS  # default: all
    (tmp_path / "fleet.yaml").write_text(f"inventory: inv.yaml\nlimit: {IPS[0]}\n")
    assert _hosts(tmp_path, []) == [IPS[0]]  # file
    assert _hosts(tmp_path, [], FLEET_LIMIT=IPS[1]) == [IPS[1]]  # env over file
    assert _hosts(tmp_path, ["--limit", IPS[2]], FLEET_LIMIT=IPS[1]) == [IPS[2]]  # command line over env


def test_precedence_for_typed_options(tmp_path: Path, inventory: Path) -> None:
    """Typed options follow the same precedence and are converted the same way from every
    source: --output from the file, FLEET_OUTPUT and the command line decide where an
    (empty-shard) run writes its summary; FLEET_QUIET=yes is a boolean."""
    base = ["start", "-i", str(inventory), "--shard", "5/5", "--no-journal"]
    (tmp_path / "fleet.yaml").write_text("output: from-file.json\nquiet: false\n")
    env = fleet_env(password=None)
    assert run_fleet(base, cwd=tmp_path, env=env).returncode == 0
    from_env = run_fleet(base, cwd=tmp_path, env={**env, "FLEET_OUTPUT": "from-env.json", "FLEET_QUIET": "yes"})
    from_cli = run_fleet([*base, "-o", "from-cli.json"], cwd=tmp_path, env={**env, "FLEET_OUTPUT": "from-env.json"})
    assert from_env.returncode == from_cli.returncode == 0
    assert {p.name for p in tmp_path.glob("from-*.json")} == {"from-file.json", "from-env.json", "from-cli.json"}
    assert "no hosts selected" not in from_env.stderr  # FLEET_QUIET=yes silenced the closing table
    assert "no hosts selected" in from_cli.stderr


def test_config_option_and_its_errors(tmp_path: Path, inventory: Path) -> None:
    """--config FILE (before or after the command) replaces ./fleet.yaml; a missing --config
    file, an unknown key (with a did-you-mean hint and file:line) and a bad value are one-line
    usage errors (exit 5)."""
    (tmp_path / "fleet.yaml").write_text(f"limit: {IPS[0]}\n")
    (tmp_path / "other.yaml").write_text(f"limit: {IPS[3]}\n")
    assert _hosts(tmp_path, ["-i", str(inventory), "--config", "other.yaml"]) == [IPS[3]]
    before = run_fleet(["--config", "other.yaml", "start", "-i", str(inventory), "--list-hosts"], cwd=tmp_path)
    assert before.stdout.split() == [IPS[3]]

    missing = run_fleet(["start", "-i", str(inventory), "--config", "nope.yaml"], cwd=tmp_path)
    assert missing.returncode == 5
    assert _one_line_error(missing.stderr) == "fleet: error: nope.yaml: config file not found"

    (tmp_path / "fleet.yaml").write_text("forks: 8\nfrks: 3\n")
    typo = run_fleet(["start", "-i", str(inventory)], cwd=tmp_path)
    assert typo.returncode == 5
    assert _one_line_error(typo.stderr) == "fleet: error: fleet.yaml:2: unknown option 'frks' (did you mean 'forks'?)"

    (tmp_path / "fleet.yaml").write_text("forks: many\n")
    bad = run_fleet(["start", "-i", str(inventory)], cwd=tmp_path)
    assert bad.returncode == 5 and "forks" in _one_line_error(bad.stderr)

    bad_env = run_fleet(["start", "-i", str(inventory), "--config", "other.yaml"], cwd=tmp_path,
                        env=fleet_env(FLEET_FORKS="0"))
    assert bad_env.returncode == 5 and _one_line_error(bad_env.stderr).startswith("fleet: error: FLEET_FORKS: ")


def test_unknown_fleet_variable_warns_with_a_hint(tmp_path: Path, inventory: Path) -> None:
    """A FLEET_* variable fleet does not know is named in a warning with a did-you-mean hint,
    and the run goes on."""
    run = run_fleet(["start", "-i", str(inventory), "--list-hosts"], cwd=tmp_path, env=fleet_env(FLEET_FORK="3"))
    assert run.returncode == 0
    assert "ignoring unknown environment variable FLEET_FORK (did you mean FLEET_FORKS?)" in run.stderr


def test_passwords_are_refused_everywhere_but_their_own_sources(tmp_path: Path, inventory: Path) -> None:
    """There is no command-line option for a password (unrecognized: a usage error, exit 5); a
    password key in fleet.yaml and a FLEET_*PASSWORD* variable are refused (exit 5), and the
    error never echoes the value."""
    flag = run_fleet(["start", "-i", str(inventory), "--password", "hunter2"], cwd=tmp_path)
    assert flag.returncode == 5
    assert "unrecognized arguments: --password (" in _one_line_error(flag.stderr)
    assert "hunter2" not in flag.stderr

    (tmp_path / "fleet.yaml").write_text("forks: 4\npassword: hunter2\n")
    in_file = run_fleet(["start", "-i", str(inventory), "--list-hosts"], cwd=tmp_path)
    assert in_file.returncode == 5
    line = _one_line_error(in_file.stderr)
    assert line.startswith("fleet: error: fleet.yaml:2: 'password': passwords do not belong in config files")
    assert "hunter2" not in line
    (tmp_path / "fleet.yaml").unlink()

    for name in ("FLEET_PASSWORD", "FLEET_OBSHELL_AGENT_PASSWORD"):
        run = run_fleet(["start", "-i", str(inventory), "--list-hosts"], cwd=tmp_path,
                        env=fleet_env(**{name: "hunter2"}))
        assert run.returncode == 5
        assert _one_line_error(run.stderr).startswith(f"fleet: error: {name}: passwords are never taken from FLEET_*")
        assert "hunter2" not in run.stderr


def test_version_and_help(tmp_path: Path) -> None:
    """`fleet --version` prints the version; every command's --help lists its options and
    shows examples; `fleet` alone prints the usage and exits 5."""
    from fleet import __version__

    version = run_fleet(["--version"], cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"fleet {__version__}"
    start = run_fleet(["start", "--help"], cwd=tmp_path)
    assert start.returncode == 0
    for text in ("examples:", "--serial", "--max-fail-percentage", "--canary", "--step", "--order", "--shard",
                 "--junit", "--retry-file", "--config", "OBSHELL_AGENT_PASSWORD", "exit codes"):
        assert text in start.stdout, text
    for command in ("stop", "check", "status", "merge"):
        page = run_fleet([command, "--help"], cwd=tmp_path)
        assert page.returncode == 0 and "example" in page.stdout, command
    bare = run_fleet([], cwd=tmp_path)
    assert bare.returncode == 5 and "usage: fleet" in bare.stderr


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["-i", "missing.yaml"], {}, "fleet: error: missing.yaml: cannot read inventory: No such file or directory "
     "(a list of hosts needs a comma: -i 'host1,host2,')"),
    (["-i", "inv.yaml", "--limit", "nosuch"], {}, "fleet: error: --limit 'nosuch' matches no host in inv.yaml"),
    (["-i", "inv.yaml", "--limit", "@gone.retry"], {},
     "fleet: error: --limit @gone.retry: cannot read the file: No such file or directory"),
    (["-i", "inv.yaml"], {"password": None},
     f"fleet: error: inv.yaml:5: host '{IPS[0]}' needs its agent password: environment variable "
     "OBSHELL_AGENT_PASSWORD is not set (or set obshell_password_file)"),
    (["-i", "inv.yaml", "--shard", "4/3"], {}, "fleet: error: --shard '4/3': I must be between 1 and N"),
    (["-i", "inv.yaml", "--serial", "1,x"], {},
     "fleet: error: --serial element 'x' must be a positive integer or a percentage"),
    (["-i", "inv.yaml", "--max-fail-percentage", "150"], {},
     "fleet: error: --max-fail-percentage: bad value '150' for max_fail_percentage: '150' must be between 0 and 100"),
    (["-i", "inv.yaml", "--forks", "0"], {}, "fleet: error: --forks: bad value 0 for forks: 0 must be at least 1"),
    ([], {}, "fleet: error: no inventory: pass -i/--inventory (or set inventory: in fleet.yaml)"),
])
def test_bad_input_is_one_line_and_exit_5(tmp_path: Path, inventory: Path, args: list[str],
                                          env: dict[str, str | None], expected: str) -> None:
    """Bad input stops fleet before anything is sent: exit 5 and one line naming the culprit
    (file:line where there is one), never a traceback."""
    run = run_fleet(["start", *args], cwd=tmp_path, env=fleet_env(password=env.get("password", "pw")))
    assert run.returncode == 5, run.stderr
    assert _one_line_error(run.stderr) == expected
