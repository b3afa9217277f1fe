"""One exit-code rule for every command, and one line (never a traceback) for a mistake.

0: done. 1: a run or configuration fault (accounts, model, lead or state file, the CRM,
the environment). 2: a usage fault, as click reports it (unknown option or command,
missing option, a value out of range). Each case runs the real ``leadsync`` script.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from polling import LEADSYNC

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.sync.state import StateStore

GOOD_MODEL = "name: g\nversion: 1\nrules: [{id: a, on: call, points: 5}]\ntiers: [{name: x}]\nmql_threshold: 5\n"
BAD_MODEL = "name: b\nversion: 1\nrules:\n  - {id: a, on: call, points: lots}\ntiers: [{name: x}]\nmql_threshold: 5\n"


@dataclass
class Place:
    folder: Path
    env: dict[str, str]
    busy_port: int

    def run(self, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        values = {k: v.format(folder=self.folder) for k, v in env.items()}
        argv = [a.format(folder=self.folder, busy=self.busy_port) for a in args]
        return subprocess.run(
            [LEADSYNC, *argv],
            env={**self.env, **values},
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.folder,
        )


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    folder = tmp_path_factory.mktemp("exit-codes")
    with HubSpotSandbox(contacts=20, seed=5) as box, socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        (folder / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: EXIT_TOKEN}}, host: '{box.url}'}}\n"
        )
        (folder / "typo.yaml").write_text(
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {tokne: EXIT_TOKEN}}\n"
        )
        (folder / "good.yaml").write_text(GOOD_MODEL)
        (folder / "bad.yaml").write_text(BAD_MODEL)
        (folder / "junk.db").write_text("not a database\n")
        (folder / "leads.jsonl").write_text('{"id": "c1", "properties": {"ti')
        (folder / "one.jsonl").write_text('{"id": "c1", "properties": {"title": "CEO"}}\n')
        StateStore(f"sqlite:///{folder / 'state.db'}").close()  # status and runs only read it
        env = {
            **os.environ,
            "EXIT_TOKEN": box.token,
            "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml"),
            "LEADSYNC_STATE_PATH": str(folder / "state.db"),
        }
        yield Place(folder, env, busy.getsockname()[1])


JUNK_STATE = {"LEADSYNC_STATE_PATH": "{folder}/junk.db"}
USAGE, FAULT, OK = 2, 1, 0


@pytest.mark.parametrize(
    ("args", "env", "code", "message"),
    [
        # usage faults: the command line itself is wrong
        (["--bogus"], {}, USAGE, "No such option: --bogus"),
        (["nosuch"], {}, USAGE, "No such command 'nosuch'"),
        (["backfill"], {}, USAGE, "Missing option '--account'"),
        (["score", "--top", "0"], {}, USAGE, "Invalid value for '--top'"),
        (["sandbox", "hubspot", "--contacts", "-5"], {}, USAGE, "Invalid value for '--contacts'"),
        (
            ["sandbox", "hubspot", "--profile", "gold"],
            {},
            USAGE,
            "Invalid value for --profile: 'gold': use starter, professional, enterprise",
        ),
        (["sandbox", "hubspot", "--port", "70000"], {}, USAGE, "Invalid value for '--port'"),
        (["forget", "--account", "acme"], {}, USAGE, "give --contact ID or --all-deleted"),
        (
            ["export", "--account", "acme", "-o", "{folder}/no/such/dir/x.jsonl"],
            {},
            USAGE,
            "cannot be written: there is no folder",
        ),
        (["review", "--account", "acme", "--since", "soon"], {}, USAGE, "a duration like 90s"),
        (["review", "--account", "acme", "-o", "{folder}"], {}, USAGE, "is a folder"),
        (
            ["model", "fit", "-l", "one.jsonl", "--out", "{folder}/no/such/dir/x.yaml"],
            {},
            USAGE,
            "Invalid value for --out: {folder}/no/such/dir/x.yaml cannot be written: there is no folder",
        ),
        (
            ["history", "--account", "acme", "--contact", "1", "--at", "soon"],
            {},
            USAGE,
            "'soon' is not an ISO 8601 date",
        ),
        (["demo", "--crm", "zoho"], {}, USAGE, "Invalid value for --crm: hubspot or salesforce"),
        (["daemon", "--http", "9464"], {}, USAGE, "'9464': expected HOST:PORT"),
        (["model", "show"], {}, USAGE, "Missing argument 'MODEL'"),
        # run and configuration faults
        (["model", "check", "good.yaml", "bad.yaml"], {}, FAULT, "bad.yaml: rules[0].points"),
        (["model", "show", "nosuch"], {}, FAULT, "nosuch: no model of that name"),
        (
            ["model", "backtest", "-m", "b2b-saas", "-l", "one.jsonl"],
            {},
            FAULT,
            "no lead has an outcome (1 read)",
        ),
        (["score", "-m", "nosuch"], {}, FAULT, "nosuch: no model of that name"),
        (
            ["score", "-m", "b2b-saas", "-l", "leads.jsonl"],
            {},
            FAULT,
            "leads.jsonl:1: not valid JSON (the line ends at column 32 inside a value",
        ),
        (
            ["config", "check", "typo.yaml"],
            {},
            FAULT,
            "credentials: tokne: unknown key (did you mean 'token'?)",
        ),
        (["config", "check", "accounts.yaml"], {"EXIT_TOKEN": ""}, FAULT, "EXIT_TOKEN is not set"),
        (["status"], JUNK_STATE, FAULT, "cannot open the state database at sqlite:///"),
        (["runs", "--account", "acme"], JUNK_STATE, FAULT, "junk.db: file is not a database"),
        (["backfill", "--account", "acme"], JUNK_STATE, FAULT, "file is not a database"),
        (
            ["forget", "--account", "nosuch", "--contact", "3"],
            {},
            FAULT,
            "no account 'nosuch' in the accounts file (known: acme)",
        ),
        (
            ["sync", "--account", "acme"],
            {"REQUESTS_CA_BUNDLE": "{folder}/no-such-ca.pem"},
            FAULT,
            "no-such-ca.pem: no such file or folder",
        ),
        (["setup", "--account", "acme"], {}, FAULT, "missing: the property group 'Lead scoring'"),
        (["explain", "--account", "acme", "-c", "999999"], {}, FAULT, "has no record '999999'"),
        (
            ["sandbox", "hubspot", "--contacts", "0", "--port", "{busy}"],
            {},
            FAULT,
            "is in use; choose another --port, or 0 for a free one",
        ),
        # done
        (["--version"], {}, OK, "leadsync 0.1.0"),
        (["model", "check", "good.yaml"], {}, OK, "good.yaml: valid"),
        (["config", "check", "accounts.yaml"], {}, OK, "accounts.yaml: valid (1 accounts)"),
        (["status", "--json"], {}, OK, '"account": "acme"'),
        (["model", "list"], {}, OK, "b2b-saas"),
        (["score", "-m", "b2b-saas", "-l", "one.jsonl", "-f", "jsonl"], {}, OK, '"id":"c1"'),
        (["explain", "--account", "acme", "-c", "1", "--json"], {}, OK, '"id": "1"'),
        (["runs", "--account", "acme"], {}, OK, "acme: last 0 runs"),
        (
            ["review", "-a", "acme", "--since", "12w", "-f", "json", "-o", "{folder}/r.json"],
            {},
            OK,
            "review written to",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_exit_codes_and_one_line_messages(
    place: Place, args: list[str], env: dict[str, str], code: int, message: str
) -> None:
    done = place.run(args, env)
    message = message.format(folder=place.folder)
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert "Traceback" not in output
    assert any(message in line for line in output.splitlines()), output
