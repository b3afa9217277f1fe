"""Logging in, session expiry on every auth path (REST and Bulk), and the API allocation.

The sandbox issues tokens for client credentials, refresh token and JWT bearer grants
and ends every session on ``expire_sessions()``; its daily allocation answers 403
``REQUEST_LIMIT_EXCEEDED`` once spent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sf_support import Orgs, connector, lead_ids, read_all, write

from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.sandbox.faults import Faults
from leadsync.errors import CrmAuthError, CrmError, CrmRateLimited


@pytest.fixture
def orgs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Orgs]:
    opened = Orgs(monkeypatch)
    yield opened
    opened.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "server.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))  # fmt: skip
    return path


@pytest.mark.parametrize("mode", ["client_credentials", "refresh_token", "jwt"])
def test_expired_sessions_are_renewed_for_rest_and_bulk(
    orgs: Orgs, mode: str, key_file: Path
) -> None:
    org = orgs(leads=150, seed=21, mode=mode, key_file=key_file,
               salesforce={"bulk_threshold": 100})  # fmt: skip
    assert org.sf.owners()  # logs in
    assert org.calls("POST oauth2/token") == 1
    org.box.expire_sessions()
    pages = read_all(org.sf.all_leads(None))  # REST count, then Bulk jobs
    assert sum(len(p.leads) for p in pages) == len(lead_ids(org.box))
    assert org.calls("POST oauth2/token") == 2
    assert org.box.counters.snapshot()["GET query"].get(401) == 1
    # expiry in the middle of Bulk work: the next Bulk request re-authenticates
    org.box.expire_sessions()
    ids = lead_ids(org.box)[:2100] if len(lead_ids(org.box)) > 2000 else lead_ids(org.box)
    result = org.sf.write_scores([write(i) for i in ids])
    assert set(result.done) == set(ids)
    assert org.calls("POST oauth2/token") == 3


def test_bulk_jobs_reauthenticate_mid_job(orgs: Orgs) -> None:
    org = orgs(leads=2200, seed=22, mode="client_credentials")
    ids = lead_ids(org.box)[:2050]
    org.sf.owners()
    expired = {"n": 0}

    def expire_after_upload(response: object, *args: object, **kwargs: object) -> None:
        url = str(getattr(response, "url", ""))
        if url.endswith("/batches") and not expired["n"]:
            expired["n"] = 1
            org.box.expire_sessions()

    org.sf.api.session.hooks["response"].append(expire_after_upload)
    result = org.sf.write_scores([write(i) for i in ids])
    assert set(result.done) == set(ids) and result.failed == {}
    snap = org.box.counters.snapshot()
    assert snap["PATCH jobs/ingest/{id}"].get(401) == 1
    assert org.calls("POST oauth2/token") == 2


def test_a_session_id_cannot_be_renewed_and_says_so(orgs: Orgs) -> None:
    org = orgs(leads=10)
    org.box.expire_sessions()
    with pytest.raises(CrmAuthError, match="cannot be renewed"):
        read_all(org.sf.all_leads(None))


def test_bad_client_secret_is_one_clear_message(
    orgs: Orgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = orgs(leads=5, mode="client_credentials")
    env = org.account.credentials["consumer_secret"]
    monkeypatch.setenv(env, "wrong")
    with pytest.raises(CrmAuthError, match="consumer_secret") as err:
        org.sf.owners()
    assert "wrong" not in str(err.value)


def test_spent_allocation_stops_with_rate_limited(orgs: Orgs) -> None:
    org = orgs(leads=10, daily_reserve=0)
    org.box.reset_usage(org.box.daily_limit)
    with pytest.raises(CrmRateLimited, match="daily API limit is spent"):
        read_all(org.sf.all_leads(None))
    assert org.calls() == 1  # never retried


def test_daily_reserve_stops_cleanly_and_the_run_resumes(orgs: Orgs) -> None:
    org = orgs(leads=2100, seed=23, sandbox={"daily_limit": 1000}, daily_reserve=0.1)
    org.box.reset_usage(890)  # page 1 costs 10 calls, then 100 are left
    pages = []
    with pytest.raises(CrmRateLimited, match="reserve"):
        for page in org.sf.all_leads(None):
            pages.append(page)
    assert len(pages) == 1 and org.box.api_usage <= 900
    assert 403 not in {s for by in org.box.counters.snapshot().values() for s in by}
    org.box.reset_usage(0)  # the allocation freed up: the next run resumes from the cursor
    later = connector(org.box, org.account)
    rest = read_all(later.all_leads(pages[-1].cursor))
    later.close()
    ids = [c.lead.id for p in pages + rest for c in p.leads]
    assert sorted(ids) == sorted(lead_ids(org.box))


def test_faults_are_retried_for_safe_calls(orgs: Orgs) -> None:
    faults = Faults(error_rate=0.3, drop_rate=0.1, burst_429=2, seed=9)
    patient = RetryPolicy(max_attempts=12, base_s=0.001, cap_s=0.01, max_total_s=20)
    org = orgs(leads=120, seed=24, sandbox={"faults": faults}, connector_kw={"policy": patient})
    clean = orgs(leads=120, seed=24)
    want = {c.lead.id: c for p in clean.sf.all_leads(None) for c in p.leads}
    for _ in range(3):
        got = {c.lead.id: c for p in org.sf.all_leads(None) for c in p.leads}
        assert got == want
    snap = org.box.counters.snapshot()
    statuses = {s for by in snap.values() for s in by}
    assert {403, 0} <= statuses and (502 in statuses or 503 in statuses)
    assert org.sf.usage().throttled == 2  # the ConcurrentRequests refusals


def test_unsafe_errors_are_not_retried(orgs: Orgs) -> None:
    org = orgs(leads=5)
    with pytest.raises(CrmError, match=r"MALFORMED_QUERY|INVALID"):
        list(org.sf.api.query_rows("SELECT Id FROM Lead WHERE"))
    assert org.calls() == 1


# -- the token endpoint fails like any other (issue 12, item 7) ----------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"burst_503": 2},
        {"burst_502": 2},
        {"burst_429": 2},  # 403 REQUEST_LIMIT_EXCEEDED ConcurrentRequests
        {"drop_rate": 0.5, "seed": 1},
    ],
    ids=["503", "502", "403-request-limit", "dropped"],
)
def test_a_transient_login_failure_is_retried(orgs: Orgs, fault: dict[str, object]) -> None:
    org = orgs(leads=5, mode="client_credentials")
    org.box.faults.update(**fault)
    assert org.sf.owners() is not None  # the first call logs in
    tokens = org.box.counters.snapshot()["POST oauth2/token"]
    assert tokens.get(200) == 1 and sum(tokens.values()) >= 2
    org.box.faults.clear()


@pytest.mark.parametrize(
    ("fault", "said"),
    [({"burst_503": 99}, "HTTP 503"), ({"burst_502": 99}, "HTTP 502")],
)
def test_a_login_that_keeps_failing_says_why_not_bad_credentials(
    orgs: Orgs, fault: dict[str, object], said: str
) -> None:
    org = orgs(leads=5, mode="refresh_token")
    org.box.faults.update(**fault)
    with pytest.raises(CrmError) as raised:
        org.sf.owners()
    message = str(raised.value)
    assert type(raised.value) is CrmError  # not CrmAuthError: the credentials are fine
    assert said in message and "after 6 attempts" in message
    assert f"Salesforce account '{org.account.id}': login (refresh token)" in message
    assert "oauth2/token" in message and org.box.refresh_token not in message
    org.box.faults.clear()


def test_a_refused_grant_is_the_credentials_error_at_once(
    orgs: Orgs, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = orgs(leads=5, mode="refresh_token")
    monkeypatch.setenv(org.account.credentials["refresh_token"], "5Aep861-revoked")
    with pytest.raises(CrmAuthError, match="invalid_grant") as raised:
        org.sf.owners()
    assert "revoked" in str(raised.value) and "5Aep861" not in str(raised.value)
    assert sum(org.box.counters.snapshot()["POST oauth2/token"].values()) == 1
