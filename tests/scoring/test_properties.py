"""Properties that must hold for every lead: hypothesis looks for a counter-example."""

from __future__ import annotations

from datetime import timedelta

from builders import AS_OF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from leadsync.config.templates import resolve_model, template_names
from leadsync.scoring.engine import score
from leadsync.scoring.lead import CONTENT_KINDS, EVENT_TYPES, Event, Lead
from leadsync.scoring.loader import parse_model

# Every mechanism at once: caps, decay, windows, weights, group caps and a clamp.
STRESS = parse_model(
    """
name: stress
version: 1
groups:
  engagement: {max: 60, min: -30, weight: 0.7}
  fit: {max: 25, weight: 1.3}
rules:
  - {id: title, when: {title: {contains_any: [ceo, vp, director]}}, points: 20}
  - {id: size, when: {company_size: {between: [50, 500]}}, points: 15}
  - {id: generic, when: {email: {domain_in: [gmail.com]}}, points: -7.5}
  - {id: views, on: page_view, points: 3.3, max_points: 20, half_life_days: 17}
  - {id: demo, on: [demo_request, {type: form_submit, form: {contains_any: [demo]}}], points: 41, max_count: 2, within_days: 60}
  - {id: careers, on: {type: page_view, url: {contains_any: [/careers]}}, points: -13, half_life_days: 45}
  - id: activity
    buckets:
      count: {on: [email_open, email_click], within_days: 90}
      cases: [{when: {at_least: 3}, points: 9.99}, {when: {at_least: 1}, points: 3.33}]
  - {id: quiet, inactive_days: 30, points: -11.1}
clamp: {min: -20, max: 70}
tiers: [{name: low}, {name: mid, min: 20.5}, {name: top, min: 50}]
mql_threshold: 50
"""
)
MODELS = [resolve_model(name) for name in template_names()] + [STRESS]

URLS = [
    "https://acme.io/pricing",
    "/careers",
    "https://acme.io/jobs/1",
    "/blog/a",
    "/new-arrivals",
    "/",
]


@st.composite
def events(draw) -> Event:
    event_type = draw(st.sampled_from(sorted(EVENT_TYPES)))
    attrs = {
        "url": draw(st.sampled_from(URLS)),
        "form": draw(st.sampled_from(["Request a demo", "Contact us", "Newsletter"])),
        "campaign": draw(st.sampled_from(["Promo spring", "Newsletter"])),
        "kind": draw(st.sampled_from(sorted(CONTENT_KINDS))),
    }
    days = draw(st.floats(min_value=-5, max_value=400, allow_nan=False))
    return Event.create(event_type, AS_OF - timedelta(days=days), attrs)


properties = st.fixed_dictionaries(
    {},
    optional={
        "title": st.sampled_from(["CEO", "VP Sales", "Engineer", "Directeur", " ", "student"]),
        "company_size": st.one_of(st.integers(0, 20_000), st.sampled_from(["120", "n/a", None])),
        "industry": st.sampled_from(["Technology", "retail", "E-commerce", "Finance", None]),
        "email": st.sampled_from(["a@gmail.com", "b@acme.io", "broken.address", None]),
        "uses_competitor": st.booleans(),
        "trading_area": st.sampled_from(["main", "secondary", "outside"]),
        "engagement_level": st.sampled_from(["high", "medium", "low", ""]),
        "country": st.sampled_from(["FR", "US", "NO"]),
        "age": st.integers(15, 90),
    },
)
leads = st.builds(
    Lead, id=st.just("l"), properties=properties, events=st.lists(events(), max_size=30).map(tuple)
)
models = st.sampled_from(MODELS)


@settings(max_examples=300, deadline=None)
@given(leads, models)
def test_explanation_always_sums_to_the_score(lead, model):
    result = score(lead, model, AS_OF)
    assert sum(r.points for r in result.reasons) == result.score
    assert all(r.points == round(r.points, 2) for r in result.reasons)


@settings(max_examples=200, deadline=None)
@given(leads, models, st.randoms(use_true_random=False))
def test_event_order_never_changes_the_score(lead, model, rnd):
    shuffled = list(lead.events)
    rnd.shuffle(shuffled)
    again = score(Lead(lead.id, lead.properties, tuple(shuffled)), model, AS_OF)
    assert again == score(lead, model, AS_OF)


@settings(max_examples=300, deadline=None)
@given(leads, events(), models)
def test_an_event_matching_only_positive_rules_never_lowers_the_score(lead, extra, model):
    alone = {r.rule: r.raw_points for r in score(Lead("e", {}, (extra,)), model, AS_OF).reasons}
    baseline = {r.rule for r in score(Lead("e", {}, ()), model, AS_OF).reasons}
    matched = {rule: raw for rule, raw in alone.items() if rule not in baseline}
    assume(all(raw > 0 for raw in matched.values()))
    before = score(lead, model, AS_OF).score
    after = score(Lead(lead.id, lead.properties, (*lead.events, extra)), model, AS_OF).score
    assert after >= before
