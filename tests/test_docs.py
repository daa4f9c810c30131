"""The README and docs/ stay true (issue 22, item 1): the README stays short and leads, every link
resolves (files and #anchors), every `fleet …` command of an `sh` block parses with fleet's own
command line, every option named exists, and the README's first run works as written against
simulated agents."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest
import yaml

from fleet.api.options import DEFAULTS
from fleet.cli.main import build_parser
from tests.conftest import REPO
from tests.harness import addresses, run_fleet, sim_fleet

README = REPO / "README.md"
PAGES = sorted((REPO / "docs").glob("*.md"))
DOCUMENTS = [README, REPO / "CHANGELOG.md", *PAGES]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9]")


def _blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(path.read_text()) if lang == language]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    prose = _FENCE.sub("", path.read_text())
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", prose, re.M)}


def _fleet_commands(path: Path) -> list[list[str]]:
    """Every `fleet …` command line of the document's sh blocks, as argv (comments, `&` dropped)."""
    commands = []
    for block in _blocks(path, "sh"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[-1] == "&":
                words = words[:-1]
            if words and Path(words[0]).name == "fleet":
                commands.append(words)
    return commands


def _yaml_commands(path: Path) -> list[list[str]]:
    """Every `fleet …` command inside the document's yaml blocks (CI jobs: a script line, a container's
    command), as argv."""
    found: list[list[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and (command := re.search(r"(?:^|\s)(fleet .*)", node, re.S)):
            found.append(shlex.split(command.group(1)))

    for block in _blocks(path, "yaml"):
        for doc in yaml.safe_load_all(block):
            walk(doc)
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = {s for action in parser._actions for s in action.option_strings}  # argparse has no public walk
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
    return found


def _script_options() -> set[str]:
    return {m for script in ("bench", "soak") for m in
            re.findall(r"add_argument\(\s*\"(--[a-z0-9-]+)\"", (REPO / "scripts" / script).read_text())}


def test_the_readme_leads_and_stays_short() -> None:
    """The README is at most 250 lines and, in order: what fleet is, the quick start (exactly the two
    set-up scripts), a first real run, the maintenance window, the exit codes and the links; it names
    every docs page, and docs/README.md lists them all."""
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    headings = re.findall(r"^## (.+)$", _FENCE.sub("", text), re.M)
    assert headings[:4] == ["Quick start", "A first real run", "The maintenance window, in brief", "Exit codes"]
    assert headings[-1] == "More"
    quick = _blocks(README, "sh")[0]
    assert [line.split()[0] for line in quick.splitlines()] == ["scripts/demo", "scripts/test"]
    index = (REPO / "docs" / "README.md").read_text()
    for page in PAGES:
        if page.name != "README.md":
            assert f"(docs/{page.name})" in text and f"({page.name})" in index, page.name


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_link_resolves(path: Path) -> None:
    """Each relative link names a file or folder that exists, and its #anchor a heading there."""
    for target in _LINK.findall(_FENCE.sub("", path.read_text())):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        assert resolved.exists(), f"{path.name}: {target}"
        if anchor:
            assert anchor in _anchors(resolved), f"{path.name}: {target} (no such heading)"


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_fleet_command_parses(path: Path) -> None:
    """Every `fleet …` line of an sh block, and every `fleet …` command of a yaml block (CI jobs), is a
    command fleet accepts: its subcommand, options and option values parse with fleet's own parser
    (placeholders such as RUN stand for values)."""
    for words in _fleet_commands(path) + _yaml_commands(path):
        try:
            build_parser().parse_args(words[1:])
        except SystemExit as exc:
            pytest.fail(f"{path.name}: {' '.join(words)} does not parse (exit {exc.code})")


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_option_named_exists(path: Path) -> None:
    """Each --option a document names is one of fleet's (any command) or of scripts/bench and soak."""
    known = _options(build_parser()) | _script_options()
    unknown = sorted(set(_OPTION.findall(path.read_text())) - known)
    assert not unknown, f"{path.name} names options fleet does not have: {unknown}"


def test_the_option_table_shows_the_real_defaults() -> None:
    """Each row of docs/cli.md's option table that names options with a default shows the default
    fleet.api.RunOptions holds (the one source of defaults), e.g. `--timeout | 1200`."""
    text = (REPO / "docs" / "cli.md").read_text()
    text = text[text.index("| option | default | meaning |"):]
    text = text[:text.index("\n\n")]
    rows = re.findall(r"^\| ((?:`[^`]+`(?:, | / )?)+) \| ([^|]*) \|", text, re.M)
    checked = 0
    for names, shown in rows:
        options = [next((w.strip(",") for w in m.split() if w.startswith("--")), "?")
                   for m in re.findall(r"`([^`]+)`", names)]
        defaults = [DEFAULTS.get(o.lstrip("-").replace("-", "_"), "?") for o in options]
        if not shown.strip() or "?" in defaults or any(d is None or isinstance(d, bool) for d in defaults):
            continue
        expected = ", ".join(f"{d:g}" if isinstance(d, float) else str(d) for d in defaults)
        assert shown.strip() == expected, f"{names}: the table says {shown.strip()!r}, RunOptions {expected!r}"
        checked += 1
    assert checked >= 8


def test_the_readme_first_run_works_as_written(tmp_path: Path) -> None:
    """The README's INI inventory, each host pointed at a simulated agent (ansible_host), goes through
    the README's own `fleet inventory`, `fleet check` and canary `fleet start` lines, word for word:
    each exits 0, and the start fires bj's three hosts, the canary first."""
    [ini] = _blocks(README, "ini")
    hosts = [line for line in ini.splitlines() if line and not line.startswith("[") and "=" not in line]
    ips = addresses("127.66.0.1", len(hosts))
    address = dict(zip(hosts, ips))
    (tmp_path / "prod.ini").write_text("\n".join(f"{line} ansible_host={address[line]}" if line in address else line
                                                 for line in ini.splitlines()) + "\n")
    commands = [w for w in _fleet_commands(README) if "prod.ini" in w and w[1] in ("inventory", "check", "start")]
    assert [w[1] for w in commands[:3]] == ["inventory", "check", "start"]
    with sim_fleet(tmp_path, ips[0], len(ips), {"defaults": {"dag_duration": [0.2, 0.4]}}) as sim:
        runs = [run_fleet([*words[1:], "-o", "out.json"] if words[1] != "inventory" else words[1:], cwd=tmp_path)
                for words in commands[:3]]
        state = sim.state()
    assert [r.returncode for r in runs] == [0, 0, 0], [r.stderr[-1000:] for r in runs]
    assert "odp-bj-01" in runs[0].stdout and "odp-sh-02" in runs[0].stdout
    started = [ip for ip in ips if state["agents"][f"{ip}:2886"]["requests"].get("POST /api/v1/obproxy/start")]
    assert started == [address["odp-bj-01"], address["odp-bj-02"], address["odp-bj-03"]]
    firsts = {ip: state["agents"][f"{ip}:2886"]["dags"][0]["created_at"] for ip in started}
    assert firsts[address["odp-bj-01"]] < min(firsts[address["odp-bj-02"]], firsts[address["odp-bj-03"]])
