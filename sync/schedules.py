"""An account's ``schedule`` as APScheduler triggers, and when a full re-score is due.

Cron expressions are standard crontab (minute hour day-of-month month day-of-week,
evaluated in UTC, day of week 0 or 7 = Sunday): APScheduler 3 numbers weekdays from
Monday, so the day-of-week field is translated to names before it reaches it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from leadsync.config.accounts import Schedule

#: The schedule of an account that has none in the accounts file.
DEFAULT_INTERVAL = timedelta(minutes=15)

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_trigger(expr: str, jitter: timedelta | None = None) -> CronTrigger:
    """The trigger of a crontab expression; ``ValueError`` with a readable reason."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron {expr!r}: give 5 fields (minute hour day-of-month month day-of-week), "
            f"not {len(fields)}"
        )
    minute, hour, day, month, weekday = fields
    if day not in ("*", "?") and weekday not in ("*", "?"):
        raise ValueError(
            f"cron {expr!r}: restrict the day of the month or the day of the week, not both"
        )
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day.replace("?", "*"),
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=UTC,
            jitter=_seconds(jitter),
        )
    except ValueError as error:
        raise ValueError(f"cron {expr!r}: {error}") from None


def _weekdays(field: str) -> str:
    """A crontab day-of-week field (0/7 = Sunday, names, ranges, steps) as day names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, slash, step_text = part.partition("/")
        if slash and not step_text.isdigit():
            raise ValueError(f"day of week {field!r}: {step_text!r} is not a step")
        step = int(step_text) if slash else 1
        if base == "*":
            low, high = 0, 6
        elif "-" in base:
            first, last = base.split("-", 1)
            low, high = _day(first, field), _day(last, field)
        else:
            low = _day(base, field)
            high = 6 if slash else low
        if low > high or step < 1:
            raise ValueError(f"day of week {field!r}: {part!r} is not a valid range")
        days.update(day % 7 for day in range(low, high + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _day(text: str, field: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text[:3] in _WEEKDAYS and len(text) == 3:
        return _WEEKDAYS.index(text)
    raise ValueError(f"day of week {field!r}: {text!r} is not 0-7 or sun…sat")


def _seconds(jitter: timedelta | None) -> float | None:
    return jitter.total_seconds() if jitter else None


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
        jitter=_seconds(schedule.jitter),
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
