"""The shared data generator: deterministic, realistic, complete enough for every rule."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from leadsync.connectors.sandbox.data import (
    ACTIVITY_KINDS,
    DEFAULT_AS_OF,
    Activity,
    Dataset,
    generate,
)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(3000, seed=11)


@pytest.fixture(scope="module")
def activities(dataset: Dataset) -> dict[int, list[Activity]]:
    return {p.key: p.activities() for p in dataset.people}


def test_same_seed_same_data_and_prefix_stable() -> None:
    a, b = generate(200, seed=4), generate(500, seed=4)
    assert a.people == b.people[:200]
    assert a.people[17].activities() == b.people[17].activities()
    assert a.owners == b.owners
    assert generate(200, seed=5).people != a.people


def test_as_of_defaults_to_a_fixed_date_and_must_be_aware() -> None:
    assert generate(1).as_of == DEFAULT_AS_OF
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(1, as_of=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="n must be"):
        generate(-1)


def test_activities_sorted_aware_within_the_year(
    dataset: Dataset, activities: dict[int, list[Activity]]
) -> None:
    start = dataset.as_of - timedelta(days=366)
    for person in dataset.people[:500]:
        acts = activities[person.key]
        assert [a.at for a in acts] == sorted(a.at for a in acts)
        for a in acts:
            assert a.at.tzinfo is not None and a.at.utcoffset() == timedelta(0)
            assert start <= a.at <= dataset.as_of
            assert a.at >= person.created_at.replace(microsecond=0) - timedelta(seconds=1)
            assert a.kind in ACTIVITY_KINDS


def test_every_kind_and_every_template_rule_fires(activities: dict[int, list[Activity]]) -> None:
    kinds = Counter(a.kind for acts in activities.values() for a in acts)
    assert set(kinds) == set(ACTIVITY_KINDS)
    urls = {a.attrs["url"] for acts in activities.values() for a in acts if a.kind == "page_view"}
    paths = {u.split(".com", 1)[1] for u in urls}
    assert all(u.startswith("https://") for u in urls)
    assert {"/pricing", "/careers", "/jobs", "/new-arrivals"} <= paths
    assert any(p.startswith("/blog/") for p in paths)
    forms = {
        a.attrs["form"] for acts in activities.values() for a in acts if a.kind == "form_submit"
    }
    assert "Request a demo" in forms
    downloads = {
        a.attrs["kind"]
        for acts in activities.values()
        for a in acts
        if a.kind == "content_download"
    }
    assert {"case_study", "white_paper", "buying_guide", "ebook"} <= downloads
    promo_clicks = [
        a
        for acts in activities.values()
        for a in acts
        if a.kind == "email_click" and a.attrs["campaign_type"] == "promotional"
    ]
    assert promo_clicks and all("campaign" in a.attrs and "url" in a.attrs for a in promo_clicks)
    assert all(
        "name" in a.attrs
        for acts in activities.values()
        for a in acts
        if a.kind.startswith("webinar")
    )


def test_recency_varies(dataset: Dataset, activities: dict[int, list[Activity]]) -> None:
    last = [acts[-1].at for acts in activities.values() if acts]
    stale = sum(1 for at in last if dataset.as_of - at > timedelta(days=90))
    fresh = sum(1 for at in last if dataset.as_of - at < timedelta(days=30))
    assert stale > len(last) * 0.1 and fresh > len(last) * 0.15


def test_profiles_are_realistic_and_messy(dataset: Dataset) -> None:
    people = dataset.people
    emails = [p.email for p in people]
    assert any(e is None for e in emails)
    assert any(e and "@" not in e for e in emails)  # malformed
    assert any(e and e.endswith(("@gmail.com", "@yahoo.fr")) for e in emails)
    assert len({e for e in emails if e}) == sum(1 for e in emails if e)  # unique
    titles = {p.title for p in people}
    for t in (
        "CEO",
        "VP Sales",
        "Director of Marketing",
        "Directeur commercial",
        "Chief Technology Officer",
        "engineer",
        "Student",
    ):
        assert t in titles
    assert None in titles
    assert {"Technology", "E-commerce", "Retail", "Finance", "Healthcare", "Manufacturing"} <= {
        p.industry for p in people
    }
    assert {"FR", "US", "GB", "DE", "BE", "CA"} <= {p.country for p in people}
    sizes = [p.company_size for p in people if p.company_size is not None]
    assert min(sizes) >= 1 and max(sizes) <= 20_000 and min(sizes) <= 10 and max(sizes) > 5000
    owners = {o.id for o in dataset.owners}
    assert any(p.owner_id is None for p in people)
    assert all(p.owner_id in owners for p in people if p.owner_id)
    assert any(not o.active for o in dataset.owners)
    assert any(p.first_name is None for p in people) and any(p.uses_competitor for p in people)
    assert all(p.created_at.tzinfo is not None and p.created_at < dataset.as_of for p in people)


def test_conversion_is_correlated_with_behaviour_and_fit(
    dataset: Dataset, activities: dict[int, list[Activity]]
) -> None:
    def rate(group: list[bool]) -> float:
        return sum(group) / max(1, len(group))

    demo = [
        p.converted
        for p in dataset.people
        if any(a.kind == "demo_request" for a in activities[p.key])
    ]
    no_demo = [
        p.converted
        for p in dataset.people
        if not any(a.kind == "demo_request" for a in activities[p.key])
    ]
    assert rate(demo) > rate(no_demo) * 1.3
    students = [p.converted for p in dataset.people if p.title in ("Student", "Étudiant", "Intern")]
    execs = [p.converted for p in dataset.people if p.title in ("CEO", "VP Sales", "VP Marketing")]
    assert rate(execs) > rate(students) * 1.5
    assert 0.05 < rate([p.converted for p in dataset.people]) < 0.5


def test_ten_thousand_people_generate() -> None:
    # How fast: benchmarks/bench_sandbox.py (speed is measured there, not asserted here).
    data = generate(10_000, seed=2, as_of=datetime(2027, 3, 1, tzinfo=UTC))
    assert len(data.people) == 10_000


def test_kinds_are_the_canonical_event_types() -> None:
    from leadsync.scoring.lead import EVENT_TYPES

    assert set(ACTIVITY_KINDS) == set(EVENT_TYPES)


def test_every_rule_of_every_shipped_template_fires_somewhere(dataset: Dataset) -> None:
    """Score generated people with each template: no rule may stay silent on the data."""
    from pathlib import Path

    import leadsync.config
    from leadsync.scoring import Event, Lead, load_model, score

    leads = []
    for p in dataset.people[:1500]:
        props = {
            "email": p.email,
            "first_name": p.first_name,
            "last_name": p.last_name,
            "title": p.title,
            "company": p.company,
            "company_size": p.company_size,
            "industry": p.industry,
            "country": p.country,
            "owner_id": p.owner_id,
            "marketing_consent": p.marketing_consent,
            "uses_competitor": p.uses_competitor,
            "age": p.age,
            "trading_area": p.trading_area,
        }
        events = tuple(Event.create(a.kind, a.at, dict(a.attrs)) for a in p.activities())
        leads.append(Lead(id=str(p.key), properties=props, events=events))
    templates = sorted((Path(leadsync.config.__file__).parent / "templates").glob("*.yaml"))
    assert len(templates) >= 4
    for path in templates:
        model = load_model(path)
        fired = {
            r.rule
            for lead in leads
            for r in score(lead, model, dataset.as_of).reasons
            if r.raw_points != 0
        }
        assert fired == {rule.id for rule in model.rules}, path.name


def test_job_seekers_are_a_persona_of_their_own(
    dataset: Dataset, activities: dict[int, list[Activity]]
) -> None:
    """Careers pages are visited by job seekers only, who never become customers."""
    careers = ("/careers", "/jobs")
    visitors = {
        p.key
        for p in dataset.people
        for a in activities[p.key]
        if a.kind == "page_view" and any(c in a.attrs["url"] for c in careers)
    }
    seekers = {p.key for p in dataset.people if p.job_seeker}
    assert visitors and visitors <= seekers
    assert 0.03 < len(seekers) / len(dataset.people) < 0.15
    assert not any(p.converted for p in dataset.people if p.job_seeker)
    assert all(p.intent <= 10 for p in dataset.people if p.job_seeker)


def test_trading_area_follows_the_country(dataset: Dataset) -> None:
    areas = Counter(p.trading_area for p in dataset.people)
    assert set(areas) == {"main", "secondary", "outside", None}
    for p in dataset.people:
        assert (p.trading_area is None) == (p.country is None)
        if p.country == "FR":
            assert p.trading_area == "main"


def test_low_fit_leads_win_too(dataset: Dataset) -> None:
    students = [p for p in dataset.people if p.title in ("Student", "Intern") and not p.job_seeker]
    assert any(p.converted for p in students)
