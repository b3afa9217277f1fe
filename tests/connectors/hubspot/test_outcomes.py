"""A HubSpot contact's outcome from its lifecycle properties and its deals."""

from __future__ import annotations

from datetime import UTC, datetime

from leadsync.connectors.hubspot.outcomes import outcome_of


def deal(
    won: bool | None, close: str, amount: str = "100", created: str = "2026-01-05T00:00:00Z"
) -> dict[str, str]:
    return {
        "hs_is_closed": "false" if won is None else "true",
        "hs_is_closed_won": "true" if won else "false",
        "closedate": close,
        "createdate": created,
        "amount": amount,
    }


def test_a_won_deal_converts_and_dates_it():
    o = outcome_of(
        {"lifecyclestage": "opportunity"},
        [
            deal(False, "2026-02-01T00:00:00Z"),
            deal(True, "2026-03-01T00:00:00Z", "250.5"),
            deal(True, "2026-04-01T00:00:00Z", "49.5"),
        ],
    )
    assert o.converted is True and o.stage == "opportunity"
    assert o.won_at == o.converted_at == datetime(2026, 3, 1, tzinfo=UTC)
    assert o.amount == 300.0 and o.lost_at is None
    assert o.sql_at == datetime(2026, 1, 5, tzinfo=UTC)


def test_the_customer_stage_and_its_date_win_over_deals():
    o = outcome_of(
        {
            "lifecyclestage": "customer",
            "hs_lifecyclestage_customer_date": "1767225600000",
            "hs_lifecyclestage_salesqualifiedlead_date": "2025-12-01",
        },
        [],
    )
    assert o.converted is True and o.converted_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert o.sql_at == datetime(2025, 12, 1, tzinfo=UTC) and o.won_at is None


def test_open_lost_and_nothing():
    assert (
        outcome_of(
            {"lifecyclestage": "opportunity"}, [deal(None, "2026-09-01T00:00:00Z")]
        ).converted
        is None
    )
    lost = outcome_of(
        {"lifecyclestage": "opportunity"},
        [deal(False, "2026-02-01T00:00:00Z"), deal(False, "2026-05-01T00:00:00Z")],
    )
    assert lost.converted is False and lost.lost_at == datetime(2026, 5, 1, tzinfo=UTC)
    nothing = outcome_of({"lifecyclestage": "lead"}, [])
    assert (nothing.converted, nothing.stage, nothing.sql_at, nothing.amount) == (
        False,
        "lead",
        None,
        None,
    )
