"""``leadsync`` as a user runs it on one HubSpot sandbox account: the accounts file, the
environment, and the command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from polling import LEADSYNC

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


class Cli:
    """Account ``acme`` on ``sandbox`` (``account`` adds keys to its entry), its state
    and accounts file in ``folder``; calling it runs ``leadsync ARGS`` to its end."""

    def __init__(self, sandbox: HubSpotSandbox, folder: Path, **account: object) -> None:
        self.sandbox = sandbox
        extra = "".join(f", {k}: {json.dumps(v)}" for k, v in account.items())
        (folder / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: CLI_TOKEN}}, host: '{sandbox.url}'{extra}}}\n"
        )
        self.env = {
            **os.environ,
            "CLI_TOKEN": sandbox.token,
            "LEADSYNC_STATE_PATH": str(folder / "state.db"),
            "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml"),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [LEADSYNC, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def writes(self) -> int:
        """Score write batches the sandbox has served."""
        return sum(self.sandbox.counters.snapshot().get("contacts.batch_update", {}).values())
