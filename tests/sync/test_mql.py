"""MQL crossings: hysteresis, cooldown, round-robin owners and task text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from builders import lead

from leadsync.config.accounts import TaskSettings
from leadsync.connectors.base import CrmLead, WrittenScore
from leadsync.scoring.engine import ScoreResult
from leadsync.sync.mql import MqlState, RoundRobin, next_state, pick_owner, task_for

NOW = datetime(2026, 11, 23, tzinfo=UTC)
SETTINGS = TaskSettings(hysteresis=10, cooldown="30d", round_robin=["o1", "o2"])
NOTHING = WrittenScore(None, None, None, None)


def result(points: int, mql: bool) -> ScoreResult:
    return ScoreResult("c1", Decimal(points), "mql" if mql else "warm", mql, (), "m@1")


def test_first_crossing_creates_a_task_then_disarms():
    state, crossing = next_state(result(80, True), MqlState(True, None), Decimal(71), SETTINGS, NOW)
    assert crossing and state == MqlState(False, NOW)
    again, crossing = next_state(result(90, True), state, Decimal(71), SETTINGS, NOW)
    assert not crossing and again == state


def test_hysteresis_and_cooldown():
    disarmed = MqlState(False, NOW)
    dip, _ = next_state(result(65, False), disarmed, Decimal(71), SETTINGS, NOW)
    assert not dip.armed  # 65 is not below 71 - 10
    low, _ = next_state(result(60, False), disarmed, Decimal(71), SETTINGS, NOW)
    assert low.armed
    soon, crossing = next_state(
        result(80, True), low, Decimal(71), SETTINGS, NOW + timedelta(days=5)
    )
    assert not crossing and soon.armed  # within the cooldown: still armed, no task
    later = NOW + timedelta(days=31)
    state, crossing = next_state(result(80, True), low, Decimal(71), SETTINGS, later)
    assert crossing and state == MqlState(False, later)


def test_disabled_tasks_never_cross():
    _, crossing = next_state(
        result(99, True), MqlState(True, None), Decimal(71), TaskSettings(enabled=False), NOW
    )
    assert not crossing


def test_owner_or_round_robin():
    robin = RoundRobin(["o1", "o2"], 1)
    owned = CrmLead(lead(), "contact", "Jane", "u7", True, NOTHING)
    queue = CrmLead(lead(), "contact", "Jane", "u8", False, NOTHING)
    nobody = CrmLead(lead(), "contact", "Jane", None, False, NOTHING)
    assert pick_owner(owned, robin) == ("u7", False)
    assert pick_owner(queue, robin) == ("o2", True)
    assert pick_owner(nobody, robin) == ("o1", True)
    assert robin.position == 3
    assert RoundRobin([], 0).next() is None


def test_task_text_from_templates():
    crm_lead = CrmLead(lead(email="jane@acme.io"), "contact", None, "u7", True, NOTHING)
    settings = TaskSettings(subject="MQL: {name} ({tier}) scored {score}", due_in="2h")
    task = task_for("k", crm_lead, result(80, True), settings, "u7", NOW)
    assert task.subject == "MQL: jane@acme.io (mql) scored 80"
    assert task.due_at == NOW + timedelta(hours=2)
    assert (task.key, task.owner_id, task.object_type) == ("k", "u7", "contact")
