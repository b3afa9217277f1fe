"""Fault injection and request counters shared by the sandbox CRMs.

Real CRMs fail in a handful of ways a connector must survive: 5xx answers, slow
answers, rate-limit bursts, connections dropped mid-request and batches where some
records fail. :class:`Faults` describes how often each happens for one server; it is
settable at start and at run time (from Python or the server's admin endpoint) and
draws every decision from its own seeded :class:`random.Random`, so a run with the
same requests in the same order fails the same way.

:class:`Counters` counts requests by endpoint name and status code: tests and
benchmarks count API calls with it instead of patching anything.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Counters", "FaultPlan", "Faults"]

_RATES = ("error_rate", "drop_rate", "slow_rate", "partial_failure_rate", "lost_answer_rate")
_INTS = ("latency_ms", "burst_429", "burst_503", "burst_502", "lost_writes", "slow_ms", "seed")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request, decided once when it arrives.

    ``drop``: close the connection without answering. ``status``: answer this code
    instead of serving (429 or 502/503); ``None`` serves normally. ``delay_s``:
    sleep this long before answering (latency plus an occasional slow response).
    """

    drop: bool = False
    status: int | None = None
    delay_s: float = 0.0


@dataclass
class Faults:
    """How often one server misbehaves. Thread-safe; change it with :meth:`update`.

    - ``error_rate``: fraction of requests answered 503 or 502
    - ``latency_ms``: added to every response
    - ``burst_429``: the next N requests get 429 (the server writes the CRM's body)
    - ``burst_503`` / ``burst_502``: the next N requests get 503 / 502 (after any 429s)
    - ``drop_rate``: fraction of connections closed without a response
    - ``slow_rate`` / ``slow_ms``: fraction of responses delayed by ``slow_ms`` more
    - ``partial_failure_rate``: fraction of batch inputs that fail individually
    - ``lost_answer_rate``: fraction of API requests served whose answer is then lost
      (the connection closes after the work is done)
    - ``lost_writes``: the next N writes (HubSpot: POST, PUT, PATCH, DELETE but searches
      and batch reads; Salesforce: any request but a GET) are served and their answer
      lost, deterministically (``lost_answer_rate`` draws its victims at random)
    - ``seed``: seeds the private random generator behind every decision
    """

    error_rate: float = 0.0
    latency_ms: int = 0
    burst_429: int = 0
    burst_503: int = 0
    burst_502: int = 0
    lost_writes: int = 0
    drop_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: int = 0
    partial_failure_rate: float = 0.0
    lost_answer_rate: float = 0.0
    seed: int = 0
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )
    _rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate(self.to_dict())
        self._rng = random.Random(self.seed)

    @classmethod
    def parse(cls, spec: str) -> Faults:
        """Build from ``"error_rate=0.05,latency_ms=20,burst_429=3"`` (empty: no faults).

        Raises ``ValueError`` naming the bad key or value.
        """
        return cls(**cls._parse_pairs(spec))

    @staticmethod
    def _parse_pairs(spec: str) -> dict[str, Any]:
        known = _RATES + _INTS
        out: dict[str, Any] = {}
        for raw in spec.split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"fault {item!r} needs a value: write {key}=VALUE")
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known faults: {', '.join(known)}")
            try:
                out[key] = float(value) if key in _RATES else int(value)
            except ValueError:
                kind = "a number between 0 and 1" if key in _RATES else "an integer"
                raise ValueError(f"fault {key!r} must be {kind}, got {value.strip()!r}") from None
        return out

    @staticmethod
    def _validate(values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key in _RATES and not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"fault {key!r} must be between 0 and 1, got {value}")
            if key in _INTS and key != "seed" and int(value) < 0:
                raise ValueError(f"fault {key!r} must be >= 0, got {value}")

    def update(self, **changes: Any) -> None:
        """Change some settings at run time (validated; unknown names raise ValueError).

        Setting ``seed`` also re-seeds the decision generator.
        """
        known = set(_RATES + _INTS)
        for key in changes:
            if key not in known:
                raise ValueError(f"unknown fault {key!r}; known faults: {', '.join(sorted(known))}")
        coerced = {k: float(v) if k in _RATES else int(v) for k, v in changes.items()}
        self._validate(coerced)
        with self._lock:
            for key, value in coerced.items():
                setattr(self, key, value)
            if "seed" in coerced:
                self._rng = random.Random(self.seed)

    def update_from_spec(self, spec: str) -> None:
        """:meth:`update` from a ``parse``-style string."""
        self.update(**self._parse_pairs(spec))

    def clear(self) -> None:
        """Back to no faults at all (the seed is kept)."""
        self.update(**{k: 0 for k in (*_RATES, *_INTS) if k != "seed"})

    def to_dict(self) -> dict[str, float | int]:
        """The current settings, JSON-ready."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def plan(self) -> FaultPlan:
        """Decide the fate of one incoming request (consumes one 429 of a burst)."""
        with self._lock:
            rng = self._rng
            if self.drop_rate and rng.random() < self.drop_rate:
                return FaultPlan(drop=True)
            delay = self.latency_ms / 1000.0
            if self.slow_rate and rng.random() < self.slow_rate:
                delay += self.slow_ms / 1000.0
            if self.burst_429 > 0:
                self.burst_429 -= 1
                return FaultPlan(status=429, delay_s=delay)
            if self.burst_503 > 0:
                self.burst_503 -= 1
                return FaultPlan(status=503, delay_s=delay)
            if self.burst_502 > 0:
                self.burst_502 -= 1
                return FaultPlan(status=502, delay_s=delay)
            if self.error_rate and rng.random() < self.error_rate:
                return FaultPlan(status=503 if rng.random() < 0.7 else 502, delay_s=delay)
            return FaultPlan(delay_s=delay)

    def lose_answer(self, *, write: bool = False) -> bool:
        """Whether the answer to a request just served should be lost (see the fields).

        ``write``: the request changed something (it counts against ``lost_writes``).
        """
        if not self.lost_answer_rate and not (write and self.lost_writes):
            return False
        with self._lock:
            if write and self.lost_writes > 0:
                self.lost_writes -= 1
                return True
            return bool(self.lost_answer_rate) and self._rng.random() < self.lost_answer_rate

    def fail_item(self) -> bool:
        """Whether one input of a batch should fail on its own (a partial failure)."""
        if not self.partial_failure_rate:
            return False
        with self._lock:
            return self._rng.random() < self.partial_failure_rate


class Counters:
    """Thread-safe request counts by endpoint name and HTTP status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[int, int]] = {}

    def record(self, endpoint: str, status: int) -> None:
        """Count one answered request."""
        with self._lock:
            by_status = self._counts.setdefault(endpoint, {})
            by_status[status] = by_status.get(status, 0) + 1

    def snapshot(self) -> dict[str, dict[int, int]]:
        """A copy of every count: ``{endpoint: {status: count}}``."""
        with self._lock:
            return {ep: dict(by_status) for ep, by_status in self._counts.items()}

    def total(self, endpoint: str | None = None) -> int:
        """Requests counted for ``endpoint`` (all endpoints when ``None``)."""
        with self._lock:
            if endpoint is not None:
                return sum(self._counts.get(endpoint, {}).values())
            return sum(sum(by_status.values()) for by_status in self._counts.values())

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()
