"""Checks on what HubSpot answers: object ids, and cursors that would page forever.

A malformed answer is a :class:`~leadsync.errors.CrmError` naming the call and the
value, never a traceback from deep inside the connector. HubSpot object ids are
numbers sent as text (``"512"``); the events API takes the contact's id as an
``int64``. A list whose ``paging.next.after`` repeats, or that keeps offering pages
once every record it yields has been seen, or past the records the portal holds, would
page forever: :class:`Pages` stops it with one message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from leadsync.errors import CrmError

__all__ = ["Pages", "next_after", "object_id", "object_ids"]


def object_id(value: Any, call: str) -> str:
    """``value`` as HubSpot object id text, or a CrmError naming ``call`` and the value."""
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isascii() or not text.isdigit():
        raise CrmError(
            f"HubSpot's {call} answered a malformed object id {value!r} (expected digits); "
            "leadsync stopped rather than guess which record it is"
        )
    return text


def object_ids(items: Iterable[dict[str, Any]], call: str) -> list[str]:
    """The checked ``id`` of each object of an answer."""
    return [object_id(item.get("id") if isinstance(item, dict) else None, call) for item in items]


def next_after(body: dict[str, Any]) -> str | None:
    """``paging.next.after`` of a page, or None on the last one."""
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


class Pages:
    """Watches one paged list: each page's cursor and the ids it yields.

    ``total`` is how many records the portal holds (None when unknown); it is asked once
    the list has read ``check_after`` records, and again whenever the list reaches it.
    """

    def __init__(
        self,
        call: str,
        *,
        total: Callable[[], int | None] | None = None,
        check_after: int = 10_000,
    ) -> None:
        self.call = call
        self._cursors: set[str] = set()
        self._ids: set[str] = set()
        self._total = total
        self._check_after = check_after
        self._known: int | None = None

    def next(self, body: dict[str, Any], ids: Iterable[str]) -> str | None:
        """The page's next cursor, once the page is checked (see the class docstring)."""
        before = len(self._ids)
        self._ids.update(ids)
        after = next_after(body)
        if after is None:
            return None
        if after in self._cursors:
            raise CrmError(
                f"HubSpot's {self.call} offered the next-page cursor {after!r} a second "
                f"time after {len(self._ids):,} records: stopped instead of paging forever"
            )
        self._cursors.add(after)
        if len(self._ids) == before:
            raise CrmError(
                f"HubSpot's {self.call} offered another page (cursor {after!r}) but its "
                f"last page held no record not seen before ({len(self._ids):,} read): "
                "stopped instead of paging forever"
            )
        seen = len(self._ids)
        if self._total is not None and seen >= self._check_after:
            if self._known is None or seen >= self._known:
                self._known = self._total()  # asked again before refusing: it may have grown
                if self._known is None:
                    self._total = None
            if self._known is not None and seen >= self._known:
                raise CrmError(
                    f"HubSpot's {self.call} offered another page (cursor {after!r}) after "
                    f"{seen:,} records, as many as the portal holds ({self._known:,}): "
                    "stopped instead of paging forever"
                )
        return after
