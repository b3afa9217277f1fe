"""The SOQL parser and binder on their own: grammar coverage and Salesforce's error texts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from leadsync.connectors.sandbox.salesforce.query import bind
from leadsync.connectors.sandbox.salesforce.schema import Schema
from leadsync.connectors.sandbox.salesforce.soql import And, Comparison, Not, Or, SoqlError, parse

SCHEMA = Schema()


def where(text: str) -> object:
    return parse(f"SELECT Id FROM Lead WHERE {text}").where


def test_select_list_relationships_and_count() -> None:
    q = parse("select Id, Campaign.Type, Lead.Owner.IsActive, COUNT() from CampaignMember")
    assert [i.path for i in q.select] == [
        ("Id",),
        ("Campaign", "Type"),
        ("Lead", "Owner", "IsActive"),
        (),
    ]
    assert q.select[-1].count and q.sobject == "CampaignMember"


@pytest.mark.parametrize("op", ["=", "!=", "<>", "<", "<=", ">", ">="])
def test_every_comparison_operator(op: str) -> None:
    cond = where(f"NumberOfEmployees {op} 10")
    assert cond == Comparison(("NumberOfEmployees",), 26, op, (10,), 26 + 19 + len(op))


def test_in_not_in_like_and_literals() -> None:
    assert where("Status IN ('A', 'B')").values == ("A", "B")  # type: ignore[attr-defined]
    assert where("Status NOT IN ('A')").op == "NOT IN"  # type: ignore[attr-defined]
    assert where("Email LIKE '%@gmail.com'").op == "LIKE"  # type: ignore[attr-defined]
    values = where("x IN (null, true, FALSE, -3, 2.5, 2026-01-02)").values  # type: ignore[attr-defined]
    assert values == (None, True, False, -3, 2.5, date(2026, 1, 2))


def test_datetime_literals_with_zones_and_fractions() -> None:
    zulu = where("CreatedDate > 2026-01-01T00:00:00Z").values[0]  # type: ignore[attr-defined]
    assert zulu == datetime(2026, 1, 1, tzinfo=UTC)
    offset = where("CreatedDate > 2026-01-01T08:30:00.250+02:00").values[0]  # type: ignore[attr-defined]
    assert offset == datetime(2026, 1, 1, 8, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2)))
    compact = where("CreatedDate > 2026-01-01T00:00:00-0500").values[0]  # type: ignore[attr-defined]
    assert compact.utcoffset() == timedelta(hours=-5)


def test_string_escapes() -> None:
    text = where(r"LastName = 'O\'Brien \\ \n \t'").values[0]  # type: ignore[attr-defined]
    assert text == "O'Brien \\ \n \t"
    assert where(r"Email LIKE 'a\_b\%'").values[0] == r"a\_b\%"  # type: ignore[attr-defined]


def test_boolean_structure_and_parentheses() -> None:
    cond = where("NOT (a = 1 OR b = 2) AND c = 3 AND (d = 4)")
    assert isinstance(cond, And) and len(cond.items) == 3
    assert isinstance(cond.items[0], Not) and isinstance(cond.items[0].item, Or)


def test_order_by_limit_offset() -> None:
    q = parse(
        "SELECT Id FROM Lead ORDER BY SystemModstamp ASC NULLS LAST, Id DESC, Email "
        "DESC NULLS FIRST LIMIT 50 OFFSET 10"
    )
    keys = [(o.path, o.descending, o.nulls_first) for o in q.order_by]
    assert keys == [
        (("SystemModstamp",), False, False),
        (("Id",), True, False),
        (("Email",), True, True),
    ]
    assert (q.limit, q.offset) == (50, 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELEKT Name FROM Account", "unexpected token: SELEKT"),  # as recorded live
        ("invalid", "unexpected token: invalid"),
    ],
)
def test_first_token_errors(text: str, message: str) -> None:
    with pytest.raises(SoqlError) as err:
        parse(text)
    assert (err.value.error_code, err.value.message) == ("MALFORMED_QUERY", message)


@pytest.mark.parametrize(
    ("text", "column", "token"),
    [
        ("SELECT Id FROM Lead WHERE", 26, "<EOF>"),
        ("SELECT Id FROM Lead WHERE a = 1 AND b = 2 OR c = 3", 43, "OR"),
        ("SELECT Id FROM Lead WHERE d > 2026-01-01T00:00:00", 31, "2026-01-01T00:00:00"),
        ("SELECT Id, FROM Lead", 12, "FROM"),
        ("SELECT Id FROM Lead LIMIT 2.5", 27, "2.5"),
        ("SELECT Id FROM Lead ORDER Id", 27, "Id"),
        ("SELECT Id FROM Lead WHERE Email LIKE 3", 38, "3"),
    ],
)
def test_caret_errors(text: str, column: int, token: str) -> None:
    with pytest.raises(SoqlError) as err:
        parse(text)
    assert err.value.error_code == "MALFORMED_QUERY"
    lines = err.value.message.split("\n")
    assert lines[1] == text and lines[2] == " " * (column - 1) + "^"
    assert lines[3] == f"ERROR at Row:1:Column:{column}"
    assert lines[4] == f"unexpected token: '{token}'"


def test_bad_escape_and_unterminated_string() -> None:
    with pytest.raises(SoqlError, match="Illegal character sequence"):
        parse(r"SELECT Id FROM Lead WHERE Email = 'a\qb'")
    with pytest.raises(SoqlError, match="unexpected token"):
        parse("SELECT Id FROM Lead WHERE Email = 'abc")


def test_unknown_field_message_matches_salesforce() -> None:
    with pytest.raises(SoqlError) as err:
        bind(parse("SELECT Bacon__c FROM Lead LIMIT 2"), SCHEMA)
    assert err.value.error_code == "INVALID_FIELD"
    assert err.value.message.startswith(
        "\nSELECT Bacon__c FROM Lead LIMIT 2\n       ^\nERROR at Row:1:Column:8\n"
        "No such column 'Bacon__c' on entity 'Lead'. If you are attempting to use a custom field"
    )


def test_unknown_relationship_object_and_literal_type() -> None:
    with pytest.raises(SoqlError, match="Didn't understand relationship 'Camp'") as err:
        bind(parse("SELECT Camp.Type FROM CampaignMember"), SCHEMA)
    assert err.value.error_code == "INVALID_FIELD"
    with pytest.raises(SoqlError, match="sObject type 'Opportunity' is not supported") as err:
        bind(parse("SELECT Id FROM Opportunity"), SCHEMA)
    assert err.value.error_code == "INVALID_TYPE"
    with pytest.raises(SoqlError, match="must be of type dateTime and should not be enclosed"):
        bind(parse("SELECT Id FROM Lead WHERE CreatedDate > '2026-01-01'"), SCHEMA)
    with pytest.raises(SoqlError, match="must be of type boolean"):
        bind(parse("SELECT Id FROM Lead WHERE IsConverted = 1"), SCHEMA)


def test_bound_names_are_canonical_and_score_fields_optional() -> None:
    bound = bind(parse("select email, OWNER.isactive from lead"), SCHEMA)
    assert [c.label for c in bound.columns] == ["Email", "Owner.IsActive"]
    assert bound.sobject == "Lead"
    bind(parse("SELECT Lead_Score__c FROM Lead"), SCHEMA)
    with pytest.raises(SoqlError, match="No such column 'Lead_Score__c'"):
        bind(parse("SELECT Lead_Score__c FROM Lead"), Schema(score_fields=False))


def test_evaluation_filters_sorts_and_pages() -> None:
    rows = [
        {"Id": "1", "Email": "a@x.com", "NumberOfEmployees": 5, "IsConverted": False},
        {"Id": "2", "Email": "B@y.com", "NumberOfEmployees": None, "IsConverted": False},
        {"Id": "3", "Email": None, "NumberOfEmployees": 50, "IsConverted": True},
    ]
    bound = bind(
        parse(
            "SELECT Id FROM Lead WHERE Email LIKE '%@%' OR NumberOfEmployees >= 50 "
            "ORDER BY NumberOfEmployees DESC NULLS FIRST LIMIT 2"
        ),
        SCHEMA,
    )
    assert [r["Id"] for r in bound.run(rows, lambda _id: None)] == ["2", "3"]
    ci = bind(parse("SELECT Id FROM Lead WHERE Email = 'b@Y.COM'"), SCHEMA)
    assert [r["Id"] for r in ci.run(rows, lambda _id: None)] == ["2"]  # SOQL ignores case


def test_date_literals_resolve_to_ranges() -> None:
    today = date(2026, 11, 25)  # a Wednesday
    rows = [
        {
            "Id": str(i),
            "ConvertedDate": d,
            "CreatedDate": datetime(d.year, d.month, d.day, 12, tzinfo=UTC),
        }
        for i, d in enumerate(
            [
                date(2026, 11, 25),
                date(2026, 11, 24),
                date(2026, 11, 22),
                date(2026, 10, 31),
                date(2025, 12, 31),
            ]
        )
    ]

    def ids(condition: str) -> list[str]:
        bound = bind(parse(f"SELECT Id FROM Lead WHERE {condition}"), SCHEMA, today=today)
        return [r["Id"] for r in bound.run(rows, lambda _id: None)]

    assert ids("ConvertedDate = TODAY") == ["0"]
    assert ids("CreatedDate = YESTERDAY") == ["1"]
    assert ids("CreatedDate = THIS_WEEK") == ["0", "1", "2"]  # the week starts on Sunday the 22nd
    assert ids("CreatedDate = LAST_MONTH") == ["3"]
    assert ids("CreatedDate < THIS_YEAR") == ["4"]
    assert ids("ConvertedDate = LAST_N_DAYS:1") == ["0", "1"]  # includes today, as documented
    assert ids("CreatedDate > LAST_N_DAYS:3") == []
    assert ids("CreatedDate >= N_DAYS_AGO:3") == ["0", "1", "2"]
    assert ids("ConvertedDate IN (TODAY, LAST_MONTH)") == ["0", "3"]
    with pytest.raises(SoqlError, match="unexpected token: '\\)'"):
        parse("SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS)")
    with pytest.raises(SoqlError, match="must be of type string"):
        bind(parse("SELECT Id FROM Lead WHERE Email = TODAY"), SCHEMA)


def test_objects_named_like_keywords() -> None:
    assert parse("SELECT Id FROM Group WHERE Type = 'Queue'").sobject == "Group"
    assert bind(parse("select id from group"), SCHEMA).sobject == "Group"
    with pytest.raises(SoqlError, match="unexpected token: 'GROUP'"):
        parse("SELECT Id FROM Lead GROUP BY Status")  # aggregates are not emulated
