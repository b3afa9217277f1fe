"""The chaos benchmark's faults: the sandboxes' :class:`Faults` counted as they are injected
(the "faults injected" column), and the fault profiles the faulted sync rounds take in turn."""

from __future__ import annotations

import threading
from collections import Counter

from leadsync.connectors.sandbox.faults import FaultPlan, Faults

#: The fault profiles of the incremental rounds, in turn (``kill``: SIGKILL at a request).
PROFILES: list[tuple[str, dict[str, float]]] = [
    ("429 and 503 bursts", {"burst_429": 3, "burst_503": 2, "error_rate": 0.02}),
    ("lost answers", {"lost_writes": 3, "lost_answer_rate": 0.05}),
    ("refused batch items", {"partial_failure_rate": 0.15, "error_rate": 0.02}),
    ("5xx and drops", {"error_rate": 0.08, "drop_rate": 0.04}),
    ("SIGKILL", {"error_rate": 0.03, "kill": 1}),
]


class CountingFaults(Faults):
    """:class:`Faults` that count what they inject: the "faults injected" column."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.injected: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, kind: str) -> None:
        with self._count_lock:
            self.injected[kind] += 1

    def plan(self) -> FaultPlan:
        decided = super().plan()
        if decided.drop:
            self._count("dropped connection")
        elif decided.status == 429:
            self._count("429")
        elif decided.status is not None:
            self._count("5xx")
        return decided

    def lose_answer(self, *, write: bool = False) -> bool:
        lost = super().lose_answer(write=write)
        if lost:
            self._count("lost answer")
        return lost

    def fail_item(self) -> bool:
        failed = super().fail_item()
        if failed:
            self._count("refused item")
        return failed
