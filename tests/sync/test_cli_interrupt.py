"""A backfill stopped with Ctrl-C (a real SIGINT to the real ``leadsync`` process): exit
130, and the run history says so in words a user reads, not ``KeyboardInterrupt``."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

from cli_support import Cli
from polling import LEADSYNC, wait_for

from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


def test_a_run_stopped_with_ctrl_c_says_so_in_the_history(tmp_path: Path) -> None:
    with HubSpotSandbox(
        contacts=1500,
        seed=3,
        faults=Faults(latency_ms=10),
        ten_second_limit=10**6,
        search_per_second=1000,
    ) as box:
        cli = Cli(box, tmp_path)
        env = cli.env

        run = subprocess.Popen(
            [LEADSYNC, "backfill", "--account", "acme"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: cli.writes() >= 2 or run.poll() is not None, what="the first writes")
            run.send_signal(signal.SIGINT)
            assert run.wait(timeout=60) == 130
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        shown = subprocess.run(
            [LEADSYNC, "runs", "--account", "acme", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        last = json.loads(shown.stdout.splitlines()[0])
        assert last["status"] == "interrupted"
        assert last["error"].startswith("interrupted by Ctrl-C (SIGINT)"), last["error"]
        table = subprocess.run(
            [LEADSYNC, "runs", "--account", "acme"], env=env, capture_output=True, text=True
        )
        assert "KeyboardInterrupt" not in table.stdout and "Ctrl-C" in table.stdout
