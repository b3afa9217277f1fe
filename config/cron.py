"""Crontab expressions (minute hour day-of-month month day-of-week, in UTC) as APScheduler
triggers.

The accounts file is validated with the same parser the daemon schedules with, so a
cron that passes ``config check`` is one the daemon can run. Day of week 0 or 7 is
Sunday, as in crontab; APScheduler 3 numbers weekdays from Monday, so the field is
translated to names before it reaches it. APScheduler is imported only when a cron is
parsed.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

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
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day.replace("?", "*"),
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=UTC,
            jitter=jitter_seconds(jitter),
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


def jitter_seconds(jitter: timedelta | None) -> float | None:
    """APScheduler's jitter: seconds, or None for none."""
    return jitter.total_seconds() if jitter else None
