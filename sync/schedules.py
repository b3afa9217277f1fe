"""An account's ``schedule`` as APScheduler triggers, and when a full re-score is due.

Cron expressions are parsed by :mod:`leadsync.config.cron` (standard crontab, in UTC),
the same parser that validates the accounts file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from leadsync.config.cron import cron_trigger, jitter_seconds

if TYPE_CHECKING:
    from leadsync.config.accounts import Schedule

#: The schedule of an account that has none in the accounts file.
DEFAULT_INTERVAL = timedelta(minutes=15)


def sync_trigger(schedule: Schedule | None) -> BaseTrigger:
    """When the account's syncs run: its interval or cron, else every 15 minutes."""
    if schedule is None:
        return IntervalTrigger(seconds=DEFAULT_INTERVAL.total_seconds(), timezone=UTC)
    if schedule.cron is not None:
        return cron_trigger(schedule.cron, schedule.jitter)
    assert schedule.interval is not None
    return IntervalTrigger(
        seconds=schedule.interval.total_seconds(),
        timezone=UTC,
        jitter=jitter_seconds(schedule.jitter),
    )


def fired_since(expr: str, since: datetime, now: datetime) -> bool:
    """Whether the cron expression ``expr`` fired after ``since`` and by ``now``."""
    fire = cron_trigger(expr).get_next_fire_time(None, since + timedelta(microseconds=1))
    return fire is not None and fire <= now


def interval_of(schedule: Schedule | None) -> timedelta | None:
    """The account's interval (the default one without a schedule); None for a cron."""
    if schedule is None:
        return DEFAULT_INTERVAL
    return schedule.interval
