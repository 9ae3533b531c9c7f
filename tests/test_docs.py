"""The documentation kept honest: the README's first exchange runs as written, every ``platform-hub``
command the docs name exists, and the README's settings table is the ``Settings`` object's fields.

In the spirit of datasette's ``tests/test_docs.py``: the docs are read as text and checked against the
code, so a renamed command or a new setting fails here rather than in a reader's shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from lxml import etree
from typer.testing import CliRunner

from platform_hub.cli import app
from platform_hub.kit.settings import Settings
from tests.helpers import NS, free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [*sorted(ROOT.glob("*.md")), *sorted((ROOT / "docs").rglob("*.md"))]
FIRST_EXCHANGE_SECONDS = 90

# Every command of the command line the README must document. Commands added to the CLI join this
# list when the README documents them.
DOCUMENTED_COMMANDS = [
    "serve",
    "demo",
    "mock-unit",
    "mock-national",
    "db upgrade",
    "interfaces validate",
    "clients create",
    "clients list",
    "clients disable",
    "clients enable",
    "clients rotate",
    "units list",
    "units update",
    "units rotate-secret",
    "units files",
    "units ssh-keys",
    "ordinance list",
    "audit operations",
    "ordinance load",
    "ordinance impact",
    "addressees import",
    "addressees search",
    "keys generate",
    "keys rotate",
    "keys signing",
    "deliveries list",
    "deliveries retry",
    "deliveries replay",
    "audit verify",
    "audit checkpoints pull",
    "audit purge",
]
# Variables with the hub's prefix that are not hub settings: they belong to one command or to the tests.
NOT_SETTINGS = {
    "PLATFORM_HUB_INTEGRATOR_CLIENT_ID": "platform-hub mock-unit",
    "PLATFORM_HUB_INTEGRATOR_CLIENT_SECRET": "platform-hub mock-unit",
    "PLATFORM_HUB_AUDITOR_CLIENT_ID": "platform-hub audit checkpoints pull",
    "PLATFORM_HUB_AUDITOR_CLIENT_SECRET": "platform-hub audit checkpoints pull",
    "PLATFORM_HUB_TEST_DATABASE_URL": "the test suite's database",
    "PLATFORM_HUB_BENCH_DATABASE_URL": "the benchmarks' database",
}


def section(markdown: str, heading: str) -> str:
    """The text under ``## heading`` up to the next second-level heading."""
    start = markdown.index(f"\n## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def fenced(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, flags=re.DOTALL | re.MULTILINE)


# --- the first exchange ----------------------------------------------------------------------------


def run_first_exchange(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The README's "A first exchange" blocks, run as one bash script in an empty folder on free ports,
    with the hub installed as in this test run and none of the caller's settings."""
    if shutil.which("curl") is None:
        pytest.skip("the first exchange needs curl")
    script = "\n".join(fenced(section(README.read_text(encoding="utf-8"), "A first exchange"), "bash"))
    folder = tmp_path / "empty"
    folder.mkdir()
    env = {name: value for name, value in os.environ.items() if not name.startswith("PLATFORM_HUB_")}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PORT": str(free_port()),
        "UNIT_PORT": str(free_port()),
    }
    process = subprocess.Popen(  # its own process group: whatever it leaves running is ended with it
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=FIRST_EXCHANGE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"the first exchange took over {FIRST_EXCHANGE_SECONDS} s:\n{out}\n{err}{logs(folder)}")
    finally:
        with_group_ended(process.pid)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err + logs(folder))


def logs(folder: Path) -> str:
    """The ends of the logs the script wrote (the hub's, the provider's), for a failure's message."""
    return "".join(f"\n--- {log.name}\n{log.read_text()[-2000:]}" for log in sorted(folder.glob("*.log")))


def with_group_ended(group: int) -> None:
    """The script's trap stops the hub and the unit; should one outlive it, end the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)


def test_first_exchange_runs_from_an_empty_folder(tmp_path: Path) -> None:
    result = run_first_exchange(tmp_path)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "</soap:Envelope>" in result.stdout, f"no SOAP answer:\n{result.stdout}\n{result.stderr}"
    start, end = result.stdout.index("<?xml"), result.stdout.index("</soap:Envelope>")
    answer = etree.fromstring(result.stdout[start : end + len("</soap:Envelope>")].encode())
    assert answer.find("soap:Body/soap:Fault", NS) is None, result.stdout
    message = answer.find("soap:Body/lk:IF_ZEI_0001_S01", NS)
    assert message is not None, result.stdout
    assert message.findtext("lk:MessageHeader/lk:MSGResult", namespaces=NS) == "0"
    assert message.findtext("lk:MessageHeader/lk:ReceptionNumber", namespaces=NS)
    assert message.findtext("lk:MessageBody/lk:Payload/lk:AtenaNo", namespaces=NS) == "000000000000019"
    assert message.findtext("lk:MessageBody/lk:Payload/lk:SoshotokuKingaku", namespaces=NS) == "4200000"
    # The auditor's view of the person names the transfer and the rule that allowed it.
    disclosure = json.loads(result.stdout.rstrip().splitlines()[-1])
    (transfer,) = disclosure["transfers"]
    assert (transfer["received_by_unit"], transfer["provided_by_unit"]) == ("011", "002")
    assert transfer["ordinance_rule_id"] == "2026-04/U-03" and transfer["outcome"] == "provided"


# --- the commands the docs name ----------------------------------------------------------------------

ROOT_COMMAND = typer.main.get_command(app)
WORD = re.compile(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*")


def named_commands(markdown: str) -> set[tuple[str, ...]]:
    """Every ``platform-hub …`` in the code of a document (inline and fenced, outside HTML comments),
    as the words that follow it: ``platform-hub deliveries list|retry`` names two commands."""
    markdown = re.sub(r"<!--.*?-->", "", markdown, flags=re.DOTALL)
    blocks = fenced(markdown, "[a-z]*")
    prose = re.sub(r"^```.*?^```$", "", markdown, flags=re.DOTALL | re.MULTILINE)
    code = [line for block in blocks for line in block.splitlines()]
    code += [inline.replace("\n", " ") for inline in re.findall(r"`([^`]+)`", prose)]
    found: set[tuple[str, ...]] = set()
    for text in code:
        for match in re.finditer(r"platform-hub((?:[ \t]+\S+)*)", text):
            paths: list[tuple[str, ...]] = [()]
            for token in match.group(1).split():
                if not WORD.fullmatch(token):
                    break
                paths = [(*path, word) for path in paths for word in token.split("|")]
            found.update(path for path in paths if path)
    return found


def resolve(words: tuple[str, ...]) -> tuple[str, ...]:
    """The command path ``words`` names: sub-commands while there are groups, then arguments. A word a
    group does not have is a command that does not exist."""
    command: Any = ROOT_COMMAND
    path: list[str] = []
    for word in words:
        commands = getattr(command, "commands", None)  # a group (typer's own click, or click)
        if commands is None:
            break  # the rest are the command's arguments
        if word not in commands:
            raise LookupError(f"platform-hub {' '.join([*path, word])} does not exist")
        command, path = commands[word], [*path, word]
    return tuple(path)


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_the_docs_name_exists(document: Path) -> None:
    runner = CliRunner()
    for words in sorted(named_commands(document.read_text(encoding="utf-8"))):
        try:
            path = resolve(words)
        except LookupError as missing:
            pytest.fail(f"{document.name}: {missing}")
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"platform-hub {' '.join(path)} --help: {result.output}"


def test_the_readme_documents_the_commands() -> None:
    table = section(README.read_text(encoding="utf-8"), "Command line")
    named = {resolve(words) for words in named_commands(table)}
    missing = [command for command in DOCUMENTED_COMMANDS if tuple(command.split()) not in named]
    assert not missing, f"the README's command-line table lacks: {missing}"


# --- the settings ----------------------------------------------------------------------------------

FIELDS = {f"PLATFORM_HUB_{name.upper()}" for name in Settings.model_fields}


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setting_the_docs_name_is_a_setting(document: Path) -> None:
    named = set(re.findall(r"PLATFORM_HUB_[A-Z0-9_]*[A-Z0-9]", document.read_text(encoding="utf-8")))
    unknown = named - FIELDS - set(NOT_SETTINGS)
    assert not unknown, f"{document.name} names variables that are no setting: {sorted(unknown)}"


def test_the_settings_table_is_every_setting() -> None:
    table = section(README.read_text(encoding="utf-8"), "Settings")
    rows = re.findall(r"^\| `(PLATFORM_HUB_[A-Z0-9_]+)` \|", table, flags=re.MULTILINE)
    assert len(rows) == len(set(rows)), "a setting is in the table twice"
    assert not FIELDS - set(rows), f"the README's settings table lacks {sorted(FIELDS - set(rows))}"
    unknown = sorted(set(rows) - FIELDS)
    assert not unknown, f"the README's settings table has no such settings: {unknown}"


# --- the links -------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_between_the_docs_leads_to_a_file(document: Path) -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", document.read_text(encoding="utf-8"))
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:|#", link)]
    missing = [link for link in local if not (document.parent / link).exists()]
    assert not missing, f"{document.name} links to files that are not there: {missing}"
