"""The daemon's schedules and backoff, without a process: crontab semantics, due checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadsync.config.accountsfile import load_accounts
from leadsync.config.cron import cron_trigger
from leadsync.errors import ConfigError
from leadsync.sync.schedules import fired_since, sync_trigger
from leadsync.sync.worker import Backoff

MONDAY = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # a Monday


def next_fire(expr: str, after: datetime) -> datetime:
    return cron_trigger(expr).get_next_fire_time(None, after)


@pytest.mark.parametrize(
    ("expr", "weekday"),
    [
        ("0 2 * * 0", "Sunday"),  # crontab: 0 is Sunday (APScheduler 3 alone would say Monday)
        ("0 2 * * 7", "Sunday"),
        ("0 2 * * 1", "Monday"),
        ("0 2 * * sat", "Saturday"),
        ("0 2 * * 6-7", "Saturday"),
    ],
)
def test_cron_weekdays_are_crontabs(expr, weekday):
    assert next_fire(expr, MONDAY + timedelta(hours=3)).strftime("%A") == weekday


def test_cron_fields_and_steps():
    assert next_fire("*/15 * * * *", MONDAY + timedelta(minutes=1)) == MONDAY + timedelta(
        minutes=15
    )
    days = {
        next_fire("0 0 * * 1-5", MONDAY + timedelta(days=n, seconds=1)).strftime("%a")
        for n in range(7)
    }
    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert "day_of_week='sun,tue,thu,sat'" in str(cron_trigger("0 0 * * */2"))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("* * *", "give 5 fields"),
        ("61 * * * *", "higher than the maximum value (59)"),
        ("0 0 * * 8", "'8' is not 0-7 or sun…sat"),
        ("0 0 1 * 1", "not both"),
    ],
)
def test_bad_cron_says_why(expr, message):
    with pytest.raises(ValueError, match="cron") as caught:
        cron_trigger(expr)
    assert message in str(caught.value)


def test_fired_since():
    assert fired_since("0 2 * * *", MONDAY, MONDAY + timedelta(hours=2))
    assert not fired_since("0 2 * * *", MONDAY + timedelta(hours=2), MONDAY + timedelta(hours=3))
    assert fired_since(
        "0 2 * * *", MONDAY + timedelta(hours=2), MONDAY + timedelta(days=1, hours=2)
    )


def test_default_schedule_is_every_15_minutes():
    assert sync_trigger(None).interval == timedelta(minutes=15)


def test_backoff_doubles_up_to_its_cap():
    backoff = Backoff(timedelta(minutes=1), timedelta(hours=1))
    delays = [backoff.delay(n).total_seconds() / 60 for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(10_000) == timedelta(hours=1)


def test_a_bad_schedule_names_file_line_and_field(tmp_path):
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        "  - id: acme\n"
        "    crm: hubspot\n"
        "    credentials: {token: T}\n"
        "    schedule:\n"
        "      interval: 15m\n"
        "      full_rescore: '0 25 * * *'\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_accounts(path)
    assert str(caught.value).startswith(
        f"{path}:7: account 'acme': schedule.full_rescore: cron '0 25 * * *':"
    )
    path.write_text("accounts:\n  - id: acme\n    crm: [\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: not valid YAML"):
        load_accounts(path)
