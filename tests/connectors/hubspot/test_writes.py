"""The HubSpot connector's writes against the sandbox: score fields, scores, tasks, OAuth."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.base import ScoreWrite, TaskRequest
from leadsync.connectors.hubspot.auth import TokenSource
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import ALL_SCOPES, HubSpotSandbox
from leadsync.errors import CrmAuthError, CrmError

if TYPE_CHECKING:
    from tests.connectors.conftest import HubFactory

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _write(lead_id: str, score: str = "61.5", owner: str | None = None) -> ScoreWrite:
    return ScoreWrite(lead_id, "contact", Decimal(score), "warm", "+50 demo request", "b2b@1",
                      NOW, owner)  # fmt: skip


def _task(lead_id: str, owner: str | None = None, n: int = 1) -> TaskRequest:
    return TaskRequest(f"leadsync:acme:{lead_id}:{n}", lead_id, "contact", owner,
                       f"MQL: lead {lead_id} scored 61.5", "+50 demo request", NOW)  # fmt: skip


def test_score_fields_are_created_once_and_tier_options_follow_the_model(
    make_hub: HubFactory,
) -> None:
    hub = make_hub(contacts=5)
    created = hub.connector.ensure_score_fields(["hot", "warm", "cold"])
    assert created == [
        "lead_score", "lead_score_tier", "lead_score_reasons", "lead_score_model",
        "lead_score_updated_at", "lead_score_feedback",
    ]  # fmt: skip
    props = hub.sandbox.store.props["contacts"]
    assert hub.sandbox.store.groups["contacts"]["lead_scoring"].label == "Lead scoring"
    assert (props["lead_score"].type, props["lead_score"].label) == ("number", "Lead Score")
    assert props["lead_score_reasons"].field_type == "textarea"
    assert props["lead_score_updated_at"].type == "datetime"
    assert [o["value"] for o in props["lead_score_tier"].options] == ["hot", "warm", "cold"]
    assert [o["value"] for o in props["lead_score_feedback"].options] == [
        "accepted", "rejected_not_a_buyer", "rejected_bad_timing", "rejected_bad_data",
    ]  # fmt: skip
    assert all(props[n].group_name == "lead_scoring" for n in created)
    hub.sandbox.counters.reset()
    assert hub.connector.ensure_score_fields(["hot", "warm", "cold"]) == []
    assert hub.sandbox.counters.snapshot() == {"properties.batch_read": {200: 1}}  # one call
    assert hub.connector.ensure_score_fields(["A", "B"]) == []
    options = {o["value"]: o["hidden"] for o in props["lead_score_tier"].options}
    assert options == {"A": False, "B": False, "hot": True, "warm": True, "cold": True}


def test_a_lost_answer_to_a_create_is_success_once_the_property_is_there(
    make_hub: HubFactory,
) -> None:
    """Issue 12 item 9: a create is done but its answer lost; the retry meets 409 CONFLICT,
    which is the goal reached, not a failure (the group, then a property)."""
    hub = make_hub(contacts=5)
    hub.sandbox.faults.update(lost_writes=1)  # the group's create
    created = hub.connector.ensure_score_fields(["hot", "warm", "cold"])
    assert len(created) == 6
    assert hub.sandbox.counters.snapshot()["properties.groups.create"] == {0: 1, 409: 1}
    props = hub.sandbox.store.props["contacts"]
    del props["lead_score"]  # as if an admin deleted it
    hub.sandbox.counters.reset()
    hub.sandbox.faults.update(lost_writes=1)  # the property's create
    assert hub.connector.ensure_score_fields(["hot", "warm", "cold"]) == ["lead_score"]
    assert hub.sandbox.counters.snapshot()["properties.batch_create"] == {0: 1, 207: 1}
    assert props["lead_score"].type == "number" and props["lead_score"].group_name == "lead_scoring"


def test_a_property_of_another_type_is_refused_with_what_to_do(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=5)
    hub.connector.ensure_score_fields(["warm"])
    hub.sandbox.store.props["contacts"]["lead_score"].type = "string"
    with pytest.raises(CrmError) as raised:
        hub.connector.ensure_score_fields(["warm"])
    message = str(raised.value)
    assert "property lead_score exists with type 'string'" in message
    assert "type 'number'" in message and "fields setting" in message


def test_missing_schema_scope_names_the_scope_to_add(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=5, scopes=set(ALL_SCOPES) - {"crm.schemas.contacts.write"})
    with pytest.raises(CrmAuthError) as error:
        hub.connector.ensure_score_fields(["hot", "cold"])
    message = str(error.value)
    assert "lacks the scope crm.schemas.contacts.write" in message
    assert "acme" in message and "lead_score" in message


def test_scores_are_written_in_batches_of_100_with_their_stamps(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=250)
    hub.connector.ensure_score_fields(["warm"])
    hub.sandbox.counters.reset()
    owner = hub.sandbox.store.owner_ids[0]
    writes = [_write(str(i), owner=owner if i == 5 else None) for i in range(1, 251)]
    result = hub.connector.write_scores(writes)
    assert not result.failed and set(result.done) == {str(i) for i in range(1, 251)}
    assert hub.sandbox.counters.snapshot() == {"contacts.batch_update": {200: 3}}
    props = hub.sandbox.store.contact_props(4)
    assert props["lead_score"] == "61.5" and props["lead_score_tier"] == "warm"
    assert props["hubspot_owner_id"] == owner
    lead = hub.connector.get_lead("5")
    assert lead is not None and lead.modified_at is not None
    assert result.done["5"] == str(int(lead.modified_at.timestamp() * 1000))


def test_partial_failures_end_up_in_failed_never_dropped(make_hub: HubFactory) -> None:
    faults = Faults(seed=2)
    hub = make_hub(contacts=120, faults=faults)
    hub.connector.ensure_score_fields(["warm"])
    faults.update(partial_failure_rate=0.4)
    ids = [str(i) for i in range(1, 121)] + ["999999"]
    result = hub.connector.write_scores([_write(i) for i in ids])
    assert set(result.done) | set(result.failed) == set(ids)
    assert not set(result.done) & set(result.failed)
    assert "OBJECT_NOT_FOUND" in result.failed["999999"]
    assert len(result.failed) > 1
    assert all("INTERNAL_ERROR" in m for i, m in result.failed.items() if i != "999999")
    store = hub.sandbox.store
    for i in ids[:-1]:
        written = store.contact_props(int(i) - 1).get("lead_score")
        assert (written == "61.5") == (i in result.done)
    # Transient failures were retried once inside the call.
    assert hub.sandbox.counters.snapshot()["contacts.batch_update"][207] >= 3


def test_server_errors_on_writes_are_retried_to_the_same_end_state(make_hub: HubFactory) -> None:
    faults = Faults(seed=9)
    hub = make_hub(contacts=150, faults=faults)
    hub.connector.ensure_score_fields(["warm"])
    faults.update(error_rate=0.25, drop_rate=0.05)
    result = hub.connector.write_scores([_write(str(i)) for i in range(1, 151)])
    assert not result.failed and len(result.done) == 150
    store = hub.sandbox.store
    assert all(store.contact_props(k)["lead_score"] == "61.5" for k in range(150))


def _tasks_by_key(sandbox: HubSpotSandbox) -> Counter[str]:
    keys: Counter[str] = Counter()
    for rec in sandbox.store.tasks.values():
        body = rec.properties.get("hs_task_body") or ""
        keys.update(part.strip("[]") for part in body.split() if part.startswith("[leadsync:"))
    return keys


def test_tasks_are_associated_owned_and_found_back(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=50)
    owner = hub.sandbox.store.owner_ids[1]
    tasks = [_task("4", owner), _task("9"), _task("9", owner, n=2)]
    result = hub.connector.create_tasks(tasks)
    assert not result.failed and set(result.done) == {t.key for t in tasks}
    assert hub.sandbox.counters.snapshot() == {"tasks.batch_create": {201: 1}}
    rec = hub.sandbox.store.tasks[int(result.done["leadsync:acme:4:1"])]
    assert rec.associations == [("contacts", 4, 204)]
    p = rec.properties
    assert (p["hubspot_owner_id"], p["hs_task_priority"], p["hs_task_status"]) == (
        owner, "HIGH", "NOT_STARTED"
    )  # fmt: skip
    assert p["hs_task_type"] == "TODO" and p["hs_task_subject"] == "MQL: lead 4 scored 61.5"
    assert p["hs_task_body"].endswith("\n\n[leadsync:acme:4:1]")
    assert p["hs_timestamp"].startswith("2026-11-23T12:00:00")
    keys = [t.key for t in tasks] + ["leadsync:acme:12:1"]
    assert hub.connector.find_tasks(keys) == result.done


def test_failed_task_batches_are_reconciled_without_duplicates(make_hub: HubFactory) -> None:
    faults = Faults(error_rate=0.5, partial_failure_rate=0.3, drop_rate=0.1, seed=11)
    hub = make_hub(contacts=80, faults=faults)
    tasks = [_task(str(i)) for i in range(1, 61)]
    result = hub.connector.create_tasks(tasks)
    assert set(result.done) | set(result.failed) == {t.key for t in tasks}
    created = _tasks_by_key(hub.sandbox)
    assert max(created.values()) == 1  # never a duplicate
    assert set(created) == set(result.done)
    faults.clear()
    again = hub.connector.create_tasks([t for t in tasks if t.key in result.failed])
    assert not again.failed and max(_tasks_by_key(hub.sandbox).values()) == 1
    assert hub.connector.find_tasks([t.key for t in tasks]).keys() == {t.key for t in tasks}


class _TokenServer:
    """HubSpot's ``POST /oauth/v1/token`` (the sandbox has none): issues sandbox tokens."""

    def __init__(self, sandbox: HubSpotSandbox, expires_in: int) -> None:
        self.requests: list[dict[str, list[str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                from urllib.parse import parse_qs

                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                server.requests.append(form)
                token = f"oauth-access-{len(server.requests)}"
                sandbox.tokens[token] = set(ALL_SCOPES)
                ok = form.get("refresh_token") == ["refresh-secret"]
                body = {"access_token": token, "refresh_token": "refresh-secret",
                        "expires_in": expires_in} if ok else {"status": "BAD_REFRESH_TOKEN"}  # fmt: skip
                data = json.dumps(body).encode()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def oauth_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HubSpotSandbox, Account]]:
    monkeypatch.setenv("LEADSYNC_TEST_HS_SECRET", "client-secret")
    monkeypatch.setenv("LEADSYNC_TEST_HS_REFRESH", "refresh-secret")
    with HubSpotSandbox(contacts=20, seed=2, search_per_second=10_000) as sb:
        creds = {"client_id": "app-1", "client_secret": "LEADSYNC_TEST_HS_SECRET",
                 "refresh_token": "LEADSYNC_TEST_HS_REFRESH"}  # fmt: skip
        yield sb, Account(id="acme", crm="hubspot", credentials=creds, host=sb.url)


def test_oauth_refreshes_before_expiry_and_rebuilds_the_client(
    oauth_sandbox: tuple[HubSpotSandbox, Account],
) -> None:
    sandbox, account = oauth_sandbox
    tokens = _TokenServer(sandbox, expires_in=1800)
    now = [1000.0]
    auth = TokenSource(account.hubspot_credentials(), what="acme", host=tokens.url,
                       clock=lambda: now[0])  # fmt: skip
    connector = HubSpotConnector(account, auth=auth)
    try:
        assert connector.existing(["1", "2"]) == {"1", "2"}
        now[0] += 1800 - 5 * 60 - 1  # still valid for more than the margin
        assert connector.existing(["3"]) == {"3"}
        assert len(tokens.requests) == 1
        now[0] += 2  # within five minutes of expiry: refreshed before the call
        assert connector.existing(["4"]) == {"4"}
        assert len(tokens.requests) == 2
        assert tokens.requests[0]["grant_type"] == ["refresh_token"]
        assert tokens.requests[0]["client_secret"] == ["client-secret"]
        del sandbox.tokens["oauth-access-2"]  # revoked early: a 401 refreshes once
        assert connector.existing(["5"]) == {"5"}
        assert len(tokens.requests) == 3
    finally:
        connector.close()
        tokens.httpd.shutdown()


def test_oauth_refusal_is_a_clear_auth_error(
    oauth_sandbox: tuple[HubSpotSandbox, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox, account = oauth_sandbox
    monkeypatch.setenv("LEADSYNC_TEST_HS_REFRESH", "refresh-xyz-gone")
    tokens = _TokenServer(sandbox, expires_in=1800)
    auth = TokenSource(account.hubspot_credentials(), what="HubSpot account 'acme'",
                       host=tokens.url)  # fmt: skip
    connector = HubSpotConnector(account, auth=auth)
    try:
        with pytest.raises(CrmAuthError, match="re-authorize the app") as error:
            connector.existing(["1"])
        message = str(error.value)
        assert "refresh-xyz-gone" not in message and "client-secret" not in message
    finally:
        connector.close()
        tokens.httpd.shutdown()


def test_due_dates_and_stamps_are_epoch_ms(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=3)
    hub.connector.ensure_score_fields(["warm"])
    done = hub.connector.write_scores([_write("2")]).done
    lead = hub.connector.get_lead("2")
    assert lead is not None and lead.written.updated_at == NOW
    assert lead.modified_at is not None
    assert abs(lead.modified_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert done["2"] == str(int(lead.modified_at.timestamp() * 1000))


class _LeaseLost(Exception):
    pass


def test_the_fence_is_asked_before_every_task_batch(make_hub: HubFactory) -> None:
    """A replica that lost its lease between two batches sends no further batch."""
    hub = make_hub(contacts=250)
    asked = 0

    def fence() -> None:
        nonlocal asked
        asked += 1
        if asked > 1:
            raise _LeaseLost

    with pytest.raises(_LeaseLost):
        hub.connector.create_tasks([_task(str(i)) for i in range(1, 251)], fence)
    assert sum(_tasks_by_key(hub.sandbox).values()) == 100


def test_one_refused_input_sinks_only_its_own_task(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=120)
    tasks = [_task(str(i), owner="999" if i == 37 else None) for i in range(1, 121)]
    result = hub.connector.create_tasks(tasks)
    assert set(result.failed) == {"leadsync:acme:37:1"} and "hubspot_owner_id" in str(result.failed)
    assert len(result.done) == 119 and sum(_tasks_by_key(hub.sandbox).values()) == 119
