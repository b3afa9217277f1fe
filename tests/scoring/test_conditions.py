"""Each operator of the condition language, including what a missing value does."""

from __future__ import annotations

import pytest

from leadsync.scoring.conditions import ValueTest, compile_test, email_domain, to_number


def check(condition, value, url_path=False):
    return compile_test(ValueTest.model_validate(condition), url_path=url_path)(value)


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ("technology", " Technology ", True),
        ("technology", "tech", False),
        ({"equals": 120}, "120", True),
        ({"equals": 120}, 120.0, True),
        ({"equals": True}, "yes", True),
        ({"equals": True}, False, False),
        ({"equals": "true"}, True, True),
        (["retail", "e-commerce"], "E-Commerce", True),
        ({"in": "retail"}, "retail", True),
        ({"contains_any": ["ceo", "vice president"]}, "Senior Vice President, Sales", True),
        ({"contains_any": "vp"}, "Director", False),
        ({"between": [50, 500]}, 50, True),
        ({"between": [50, 500]}, "500", True),
        ({"between": [50, 500]}, 501, False),
        ({"between": [50, 500]}, "fifty", False),
        ({"between": [50, 500]}, True, False),
        ({"at_least": 5}, 5, True),
        ({"at_most": 1, "at_least": 0}, 2, False),
        ({"domain_in": ["gmail.com"]}, "Jane@GMAIL.com ", True),
        ({"domain_in": ["gmail.com"]}, "jane.gmail.com", False),
        ({"domain_in": ["gmail.com"]}, "jane@@gmail.com", False),
        ({"matches": "^dir"}, "Director", True),
        ({"matches": "^dir"}, "Sales director", False),
        ({"exists": True}, "  ", False),
        ({"exists": True}, 0, True),
        ({"missing": True}, None, True),
        ({"not": "technology"}, "retail", True),
        ({"not": {"contains_any": ["student"]}}, "Student", False),
        ({"contains_any": ["x"], "not": {"equals": "xx"}}, "x y", True),
    ],
)
def test_operators(condition, value, expected):
    assert check(condition, value) is expected


@pytest.mark.parametrize(
    "condition",
    [
        "technology",
        {"contains_any": ["a"]},
        {"between": [0, 10]},
        {"domain_in": ["a.com"]},
        {"matches": "."},
    ],
)
def test_missing_values_match_nothing_but_missing(condition):
    assert check(condition, None) is False
    assert check(condition, "") is False


def test_url_conditions_look_at_the_path():
    assert check({"contains_any": ["/pricing"]}, "https://acme.io/en/pricing?x=1", url_path=True)
    assert not check({"contains_any": ["pricing"]}, "https://pricing.acme.io/", url_path=True)
    assert check({"equals": "/"}, "https://acme.io", url_path=True)


def test_helpers():
    assert email_domain("a@B.Example.") == "b.example"
    assert email_domain("no-at-sign") is None
    assert to_number(" 1e3 ") == 1000
    assert to_number("nan") is None
