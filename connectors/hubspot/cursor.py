"""The incremental cursor of the HubSpot connector (see ``connector.py``'s docstring):
``{"ms": last stamp, "floor": where the next run starts, "seen": {id: stamp}}`` as JSON."""

from __future__ import annotations

import json

from leadsync.errors import CrmError

__all__ = ["Cursor"]


class Cursor:
    """The incremental cursor: the last stamp processed, where to start, the ids seen since."""

    def __init__(self, ms: int, floor: int, seen: dict[str, int]) -> None:
        self.ms, self.floor, self.seen = ms, floor, seen

    @classmethod
    def decode(cls, text: str | None) -> Cursor:
        if not text:
            return cls(0, 0, {})
        try:
            data = json.loads(text)
            seen = {str(k): int(v) for k, v in data.get("seen", {}).items()}
            return cls(int(data["ms"]), int(data.get("floor", data["ms"])), seen)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise CrmError(f"not a HubSpot incremental cursor: {text[:80]!r}") from None

    def encode(self, floor: int) -> str:
        """The cursor text; ``seen`` keeps only what a run starting at ``floor`` re-reads.

        The floor never moves back: what lies below the previous one was that run's to see.
        """
        self.floor = max(self.floor, min(self.ms, floor))
        self.seen = {k: v for k, v in self.seen.items() if v >= self.floor}
        data = {"ms": self.ms, "floor": self.floor, "seen": self.seen}
        return json.dumps(data, separators=(",", ":"))
