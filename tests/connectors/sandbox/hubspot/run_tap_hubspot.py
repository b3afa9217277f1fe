"""Run tap-hubspot with its API base URL taken from ``TAP_HUBSPOT_BASE_URL``.

tap-hubspot 4.5.0 hard-codes ``BASE_URL = "https://api.hubapi.com"`` in
``tap_hubspot/__init__.py`` and builds every URL from that module global at call time
(``get_url``), with no setting to change it. This script, run by the tap's own
interpreter in place of its ``tap-hubspot`` entry point, sets the global and then calls
the tap's ``main()`` unchanged: every request the tap makes goes to the sandbox, and
nothing else of the tap is altered (no root, no hosts file, no TLS interception).
"""

from __future__ import annotations

import os

import tap_hubspot  # type: ignore[import-not-found]


def main() -> None:
    """Point the tap at the sandbox and run it with this process's arguments."""
    tap_hubspot.BASE_URL = os.environ["TAP_HUBSPOT_BASE_URL"].rstrip("/")
    tap_hubspot.main()


if __name__ == "__main__":
    main()
