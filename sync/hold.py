"""An account's lease, held while one run lasts: the heartbeat, the fence, the release.

The daemon's worker and the command line (``backfill``, ``sync``, ``forget``) hold
an account the same way, so that no two runs of one account ever overlap, whichever
started them: :meth:`Hold.take` acquires the lease (or says who holds it), the run's
state transactions are fenced by :meth:`Hold.guard`, a heartbeat thread renews the
lease every third of its time and flags it :attr:`Hold.lost` when another process took
it over, and leaving the ``with`` block releases it.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Connection

from leadsync.sync import logs
from leadsync.sync.database import now
from leadsync.sync.leases import Lease, LeaseHeld, Leases
from leadsync.sync.state import StateStore

log = logging.getLogger("leadsync.lease")

__all__ = ["Hold"]


class Hold:
    """One held lease; use as a context manager (``with Hold.take(…) as hold:``)."""

    def __init__(self, store: StateStore, leases: Leases, lease: Lease) -> None:
        self.store = store
        self.leases = leases
        self.lease = lease
        self.lost = threading.Event()
        self._done = threading.Event()
        self._beating: threading.Thread | None = None
        self.context: dict[str, Any] = {}

    @classmethod
    def take(cls, store: StateStore, leases: Leases, account_id: str) -> Hold:
        """The account's lease, or :class:`LeaseHeld` naming who holds it and since when."""
        lease = leases.acquire(account_id)
        if lease is not None:
            return cls(store, leases, lease)
        held = leases.get(account_id)  # leases are never deleted: the row is there
        raise LeaseHeld(held or Lease(account_id, "another leadsync run", 0, now()))

    def guard(self, conn: Connection) -> None:
        """Inside a state transaction: still ours, or :class:`LeaseLost` rolls it back."""
        self.leases.fence(conn, self.lease)

    def on_start(self, run_id: int) -> None:
        """The run is in the history: name this process beside its replica id there."""
        self.context["run"] = run_id
        self.store.set_run_instance(run_id, self.leases.instance)

    def beat(self) -> None:
        """Start renewing the lease every third of its time, until the block ends."""
        if self._beating is not None:
            return
        self.context.update(logs.current())  # the heartbeat's lines carry account and run
        self._beating = threading.Thread(
            target=self._heartbeat, name=f"lease-{self.lease.account_id}", daemon=True
        )
        self._beating.start()

    def __enter__(self) -> Hold:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._done.set()
        try:
            self.leases.release(self.lease)
        except Exception as failure:  # the lease expires by itself
            log.warning("could not release the lease", extra={"error": type(failure).__name__})

    def _heartbeat(self) -> None:
        period = max(self.leases.ttl.total_seconds() / 3, 0.05)
        while not self._done.wait(period):
            try:
                if self.leases.renew(self.lease):
                    continue
            except Exception as failure:  # the database blinked: the fence decides
                with logs.bind(**self.context):
                    log.warning(
                        "could not renew the lease", extra={"error": type(failure).__name__}
                    )
                continue
            self.lost.set()
            with logs.bind(**self.context):
                log.warning("lease lost: the run stops after its current page")
            return
