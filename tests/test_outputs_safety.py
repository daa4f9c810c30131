"""Outputs are written safely and clean: no symlink followed, no FIFO blocking, the umask
honoured, secrets masked as whole tokens, terminal control and bidi characters escaped."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.errors import InputError
from fleet.inventory.credentials import check_maskable
from fleet.models import HostSpec, Secret
from fleet.report import failure_table
from fleet.report.sanitize import Sanitizer, json_text_safe, terminal_safe
from tests.harness import addresses, fleet_env, run_fleet, write_inventory


def _empty_run(tmp_path: Path) -> list[str]:
    inventory = write_inventory(tmp_path / "inv.yaml", addresses("127.42.31.1", 2))
    return ["start", "-i", str(inventory), "--shard", "3/3", "-q"]  # an empty shard: nothing is sent


def test_a_symlinked_output_or_journal_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    """--journal, --output, --junit and --retry-file pointing at a symbolic link are refused with exit 5
    and one line; the link's target keeps its content and mode."""
    target = tmp_path / "precious"
    target.write_text("keep")
    target.chmod(0o644)
    link = tmp_path / "link"
    link.symlink_to(target)
    for flag in ("--journal", "-o", "--junit", "--retry-file"):
        run = run_fleet([*_empty_run(tmp_path), flag, str(link)], cwd=tmp_path, env=fleet_env(password=None))
        assert run.returncode == 5, (flag, run.stderr)
        assert "symbolic link" in run.stderr and "Traceback" not in run.stderr
    assert target.read_text() == "keep" and stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_fifo_never_blocks_a_run(tmp_path: Path) -> None:
    """A FIFO as the journal is refused (exit 5); a FIFO without a reader as the retry file is an
    error message, not a hang; /dev/null as the summary and JUnit is written in place and never chmod-ed."""
    fifo = tmp_path / "f.fifo"
    os.mkfifo(fifo)
    run = run_fleet([*_empty_run(tmp_path), "--journal", str(fifo)], cwd=tmp_path, env=fleet_env(password=None),
                    timeout=60)
    assert run.returncode == 5 and "FIFO" in run.stderr
    run = run_fleet([*_empty_run(tmp_path), "--no-journal", "--retry-file", str(fifo), "-o", os.devnull,
                     "--junit", os.devnull], cwd=tmp_path, env=fleet_env(password=None), timeout=60)
    assert "no reader" in run.stderr and "Traceback" not in run.stderr
    assert stat.S_IMODE(os.stat(os.devnull).st_mode) == 0o666


def test_outputs_honour_the_umask_and_the_journal_stays_private(tmp_path: Path) -> None:
    """Under umask 027 the summary, JUnit and retry files are 0640 and the journal 0600."""
    args = [*_empty_run(tmp_path), "--journal", "j.jsonl", "-o", "s.json", "--junit", "j.xml",
            "--retry-file", "r.retry"]
    code = "import os, sys; os.umask(0o027); from fleet.cli.main import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=fleet_env(password=None),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in ("s.json", "j.xml", "r.retry")}
    assert modes == {"s.json": 0o640, "j.xml": 0o640, "r.retry": 0o640}
    assert stat.S_IMODE((tmp_path / "j.jsonl").stat().st_mode) == 0o600


def test_secrets_are_masked_as_whole_tokens_never_revealing_substrings() -> None:
    """A short secret inside an unrelated value is left alone (masking it would reveal it); as a
    token, or an echo of a long secret anywhere, it is masked; keys and nested values too."""
    clean = Sanitizer(["0.1x9z", "Canary-Pa55word-7f3e9b"])
    assert clean.mask("127.70.0.1x9z7") == "127.70.0.1x9z7"
    assert clean.mask("wrong password 0.1x9z.") == "wrong password ********."
    assert clean.mask("user:Canary-Pa55word-7f3e9b@h, xCanary-Pa55word-7f3e9b") == "user:********@h, x********"
    doc = clean.clean({"a": ["wrong password Canary-Pa55word-7f3e9b"], "Canary-Pa55word-7f3e9b": 1, "n": 2})
    assert doc == {"a": ["wrong password ********"], "********": 1, "n": 2}


def test_passwords_too_short_to_mask_are_refused() -> None:
    """An agent password under 6 characters is refused naming the host and source, never the password."""
    host = HostSpec("h1", "127.0.0.1", source="inv.yaml:3")
    with pytest.raises(InputError, match=r"inv.yaml:3: host 'h1'.*shorter than 6") as info:
        check_maskable([host], {host.key: Secret("0.1")})
    assert "0.1" not in str(info.value).replace("inv.yaml", "")
    check_maskable([host], {host.key: Secret("longer-one")})


def test_terminal_and_json_text_escape_control_and_bidi_characters() -> None:
    """ANSI, OSC, newlines and U+202E are escaped for terminals; in JSON text C1 and bidi become \\u escapes;
    the failure table shows one line per host with none of them raw."""
    hostile = "boom\x1b[2J\x1b]0;pwned\x07\nFAKE  ok\u202eevil\x9b"
    shown = terminal_safe(hostile)
    assert not any(c in shown for c in "\x1b\x07\n\u202e\x9b") and "\\x1b[2J" in shown and "\\u202e" in shown
    assert json_text_safe('"a\u202eb\x85"') == '"a\\u202eb\\u0085"'
    host = {"host": "h", "port": 1, "outcome": "failed", "error": {"errCode": None, "message": hostile},
            "failed_tasks": [], "trace_ids": ["t\u202e"]}
    table = failure_table({"hosts": [host]})
    assert len(table.splitlines()) == 3 and not any(c in table for c in "\x1b\x07\u202e\x9b")


_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
_json_docs = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(doc=_json_docs, secret=st.sampled_from(["pw", "x\"y\\z", "päss", "\u2028s", "Canary-Pa55word-7f3e9b"]),
       splice=st.booleans())
def test_clean_masks_exactly_as_a_walk_of_every_string(doc: object, secret: str, splice: bool) -> None:
    """clean()'s dump-and-search shortcut never skips a secret: for any JSON document (with the
    secret spliced into a string or key, quotes, backslashes and non-ASCII included) it returns
    what masking every string one by one returns."""
    if splice:
        doc = {f"k{secret}": [doc, f"a {secret} b"]}
    sanitizer = Sanitizer([secret])
    assert sanitizer.clean(doc) == sanitizer._clean(doc)
