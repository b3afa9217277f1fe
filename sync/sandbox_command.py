"""``leadsync sandbox``: a sandbox CRM in the foreground, or the generated people as leads.

Its options are checked before anything starts (an unknown profile or scope, a negative
count: usage faults); a port another process holds is one line, not bind()'s traceback.
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator
from typing import Annotated

import typer

from leadsync.sync import terminal

__all__ = ["sandbox"]

err = terminal.console(stderr=True)


def sandbox(
    crm: Annotated[
        str,
        typer.Argument(
            metavar="CRM",
            help="hubspot or salesforce; or leads: print the generated people as canonical "
            "JSON Lines with their outcome, to backtest models on them.",
        ),
    ],
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 0,
    contacts: Annotated[
        int, typer.Option(min=0, help="How many contacts (leads) to generate.")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="The data generator's seed.")] = 0,
    profile: Annotated[
        str, typer.Option(help="HubSpot: starter, professional or enterprise.")
    ] = "professional",
    faults: Annotated[
        str, typer.Option(help="e.g. error_rate=0.05,latency_ms=20,burst_429=3")
    ] = "",
    score_fields: Annotated[
        bool, typer.Option(help="Salesforce: start with leadsync's score fields on Lead/Contact.")
    ] = True,
    metadata_access: Annotated[
        bool, typer.Option(help="Salesforce: the API user may use the Metadata API.")
    ] = True,
    outcomes: Annotated[
        bool,
        typer.Option(
            help="Salesforce: serve the generated outcomes (opportunities; leads that reached "
            "one converted, so the sync no longer reads them)."
        ),
    ] = False,
    scopes: Annotated[
        str | None,
        typer.Option(
            help="HubSpot: the only scopes the token holds, comma-separated (default: all), "
            "to see leadsync's missing-scope messages."
        ),
    ] = None,
    without_scopes: Annotated[
        str | None,
        typer.Option(help="HubSpot: every scope but these, comma-separated."),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(help="HubSpot: serve only the legacy or the 2026-03 API (default both)."),
    ] = None,
) -> None:
    """Run a sandbox CRM in the foreground and print how to point a client at it."""
    from leadsync.connectors.sandbox.faults import Faults

    try:
        Faults.parse(faults)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--faults") from None
    if api not in (None, "legacy", "2026-03"):
        raise typer.BadParameter(f"{api!r}: use legacy or 2026-03", param_hint="--api")
    if crm == "leads":
        _print_generated_leads(contacts, seed)
    elif crm == "hubspot":
        from leadsync.connectors.sandbox.hubspot.server import PROFILES, serve_forever

        if profile not in PROFILES:
            raise typer.BadParameter(
                f"{profile!r}: use {', '.join(PROFILES)}", param_hint="--profile"
            )
        with _port_in_use(port):
            serve_forever(
                port=port,
                contacts=contacts,
                seed=seed,
                profile=profile,
                faults=faults,
                api=api,
                print_fn=lambda line: print(line, flush=True),
                scopes=_sandbox_scopes(scopes, without_scopes),
            )
    elif crm == "salesforce":
        from leadsync.connectors.sandbox.salesforce.server import serve_forever as serve_salesforce

        with _port_in_use(port):
            serve_salesforce(
                port=port,
                leads=contacts,
                seed=seed,
                faults=faults,
                score_fields=score_fields,
                metadata_access=metadata_access,
                outcomes=outcomes,
            )
    else:
        raise typer.BadParameter("hubspot, salesforce or leads", param_hint="CRM")


def _sandbox_scopes(only: str | None, without: str | None) -> set[str] | None:
    """The HubSpot sandbox token's scopes from ``--scopes`` / ``--without-scopes``."""
    import difflib

    from leadsync.connectors.sandbox.hubspot.routes import ALL_SCOPES

    if only is None and without is None:
        return None
    for option, text in (("--scopes", only), ("--without-scopes", without)):
        for name in _names(text):
            if name not in ALL_SCOPES:
                guess = difflib.get_close_matches(name, sorted(ALL_SCOPES), n=1)
                hint = f"did you mean {guess[0]!r}?" if guess else "see the sandbox's README"
                raise typer.BadParameter(f"unknown scope {name!r} ({hint})", param_hint=option)
    granted = set(_names(only)) if only is not None else set(ALL_SCOPES)
    return granted - set(_names(without))


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@contextlib.contextmanager
def _port_in_use(port: int) -> Iterator[None]:
    """A port another process holds is one line (exit 1), not bind()'s traceback."""
    try:
        yield
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        err.print(f"error: port {port} is in use; choose another --port, or 0 for a free one")
        raise typer.Exit(1) from None


def _print_generated_leads(contacts: int, seed: int) -> None:
    import json

    from leadsync.connectors.sandbox.data import generate
    from leadsync.connectors.sandbox.leads import lead_jsons

    write = sys.stdout.write
    for lead in lead_jsons(generate(contacts, seed=seed)):
        write(json.dumps(lead, ensure_ascii=False) + "\n")
