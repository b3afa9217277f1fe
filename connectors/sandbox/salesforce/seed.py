"""Load the shared generated people into Salesforce's objects.

How canonical leadsync events land in a Salesforce org (and so how a connector turns them back):

========================  ==================================================================
event                     Salesforce record
========================  ==================================================================
call                      Task, ``TaskSubtype='Call'``, ``Type='Call'``, duration, disposition
email_reply               Task, ``TaskSubtype='Email'``, ``Subject='Email: Re: <campaign>'``
(sales email sent)        Task, ``TaskSubtype='Email'``, ``Subject='Email: <campaign>'``, two
                          hours before the first open/click/reply of a ``sales`` sequence step
                          (no canonical event: a connector must skip it)
meeting                   Event, ``Type='Meeting'``, ``StartDateTime``
email_open / email_click  CampaignMember of an ``Email`` campaign: ``Opened`` / ``Responded``
newsletter_subscribe      CampaignMember of an ``Email`` campaign (the list): ``Subscribed``
newsletter_unsubscribe    ``HasOptedOutOfEmail = true`` on the lead or contact
webinar_register/attend   CampaignMember of a ``Webinar`` campaign: ``Registered``/``Attended``
content_download          CampaignMember of a ``Content`` campaign (the asset): ``Downloaded``
form_submit, demo_/quote_/contact_request  CampaignMember of a ``Web`` campaign (the form):
                          ``Responded``
page_view                 not stored: core Salesforce has no page-view object (that lives in
                          Account Engagement), as in a real org without it
========================  ==================================================================

A person is one CampaignMember per campaign (Salesforce allows no duplicates): the furthest
status wins, ``HasResponded``/``FirstRespondedDate`` come from the first responding event. The
first ``leads`` people become Leads (those without an owner sit in a Queue, ``00G``); the next
``contacts`` become Contacts with one Account per company carrying the firmographics. Owners
become Users (an inactive one stays inactive); an "Integration User" is the API user.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from leadsync.connectors.sandbox.data import Dataset, Person
from leadsync.connectors.sandbox.salesforce.opportunities import declare, load_outcome
from leadsync.connectors.sandbox.salesforce.store import Store

__all__ = ["load_dataset"]

_RANK = {"Sent": 0, "Opened": 1, "Registered": 1, "Subscribed": 2, "Responded": 2}
_RANK |= {"Downloaded": 2, "Attended": 3}
_RESPONDED = {"Responded", "Subscribed", "Downloaded", "Attended"}
_SOURCES = ("Web", "Web", "Web", "Partner Referral", "Purchased List", "Phone Inquiry", "Other")
_FORMS = {"form_submit", "demo_request", "quote_request", "contact_request"}


def load_dataset(
    store: Store, data: Dataset, *, leads: int, outcomes: bool = False, opportunities: bool = False
) -> dict[str, int]:
    """Insert users, a queue, leads, contacts, accounts and activities; return counts.

    ``opportunities`` adds the Contacts' opportunities (on their Account, with a contact
    role) and leaves every Lead unconverted; ``outcomes`` adds those and also converts the
    Leads that reached one (:mod:`~leadsync.connectors.sandbox.salesforce.opportunities`).
    """
    start = data.as_of - timedelta(days=800)
    api_user = store.load(
        "User",
        {"Username": "integration@sandbox.example", "LastName": "User", "FirstName": "Integration",
         "Email": "integration@sandbox.example", "Alias": "integ", "IsActive": True,
         "UserType": "Standard"},
        at=start,
    )  # fmt: skip
    store.api_user_id = api_user
    for table in store.tables.values():
        for record in table.values():
            record["CreatedById"] = record["LastModifiedById"] = api_user
    users: dict[str, str] = {}
    for owner in data.owners:
        users[owner.id] = store.load(
            "User",
            {"Username": owner.email, "LastName": owner.last_name, "FirstName": owner.first_name,
             "Email": owner.email, "Alias": (owner.first_name[:1] + owner.last_name)[:8].lower(),
             "IsActive": owner.active, "UserType": "Standard"},
            at=start,
        )  # fmt: skip
    queue = store.load(
        "Group",
        {"Name": "Inbound Leads", "DeveloperName": "Inbound_Leads", "Type": "Queue"},
        at=start,
    )
    active = [users[o.id] for o in data.owners if o.active] or [api_user]
    loader = _Loader(store, users, queue, active, start)
    if outcomes or opportunities:
        declare(store)
    for person in data.people[:leads]:
        who = loader.person(person, "Lead")
        if outcomes:
            load_outcome(store, person, "Lead", who)
    for person in data.people[leads:]:
        who = loader.person(person, "Contact")
        if outcomes or opportunities:
            load_outcome(store, person, "Contact", who)
    loader.flush_members()
    return store.counts()


class _Loader:
    """Keeps the campaign and account caches while people are loaded."""

    def __init__(
        self, store: Store, users: dict[str, str], queue: str, active: list[str], start: datetime
    ) -> None:
        self.store = store
        self.users = users
        self.queue = queue
        self.active = active
        self.start = start
        self.campaigns: dict[tuple[str, str], str] = {}
        self.accounts: dict[str, str] = {}
        self.members: dict[tuple[str, str], dict[str, Any]] = {}

    def person(self, p: Person, sobject: str) -> str:
        """Load the person as a Lead or Contact with its activities; its record id."""
        owner = self.users.get(p.owner_id or "")
        if owner is None:
            owner = self.queue if sobject == "Lead" else self.active[p.key % len(self.active)]
        activities = p.activities()
        last = max([p.created_at] + [a.at for a in activities])
        common = {
            "FirstName": p.first_name,
            "LastName": p.last_name or "[not provided]",
            "Title": p.title,
            "Email": p.email,
            "LeadSource": _SOURCES[p.key % len(_SOURCES)],
            "OwnerId": owner,
            "HasOptedOutOfEmail": any(a.kind == "newsletter_unsubscribe" for a in activities),
        }
        contacted = any(a.kind in ("call", "email_reply", "meeting") for a in activities)
        if sobject == "Lead":
            values = common | {
                "Company": p.company or "[not provided]",
                "Country": p.country,
                "Industry": p.industry,
                "NumberOfEmployees": p.company_size,
                "Status": "Working - Contacted" if contacted else "Open - Not Contacted",
                "IsConverted": False,
            }
        else:
            values = common | {"AccountId": self.account(p, owner), "MailingCountry": p.country}
        touches = [a.at for a in activities if a.kind in ("call", "email_reply", "meeting")]
        values["LastActivityDate"] = max(touches).date() if touches else None
        who = self.store.load(sobject, values, at=p.created_at)
        record = self.store.tables[sobject][who]
        record["LastModifiedDate"] = record["SystemModstamp"] = last
        task_owner = owner if not owner.startswith("00G") else self.active[0]
        sent: set[str] = set()
        for a in activities:
            attrs = dict(a.attrs)
            step = attrs.get("campaign", "")
            if attrs.get("campaign_type") == "sales" and step not in sent:
                sent.add(step)  # the rep's sequence email, logged before its first open or reply
                self.sent_email(who, task_owner, step, a.at - timedelta(hours=2))
            self.activity(sobject, who, task_owner, a.kind, a.at, attrs)
        return who

    def sent_email(self, who: str, owner: str, step: str, at: datetime) -> None:
        task = {"WhoId": who, "OwnerId": owner, "ActivityDate": at.date(),
                "Subject": f"Email: {step}", "Type": "Email", "TaskSubtype": "Email",
                "Status": "Completed", "Priority": "Normal", "CompletedDateTime": at}  # fmt: skip
        self.store.load("Task", task, at=at)

    def account(self, p: Person, owner: str) -> str | None:
        if not p.company:
            return None
        if p.company not in self.accounts:
            self.accounts[p.company] = self.store.load(
                "Account",
                {"Name": p.company, "Industry": p.industry, "NumberOfEmployees": p.company_size,
                 "BillingCountry": p.country, "Type": "Prospect", "OwnerId": owner,
                 "Website": f"https://{p.domain}" if p.domain else None},
                at=self.start,
            )  # fmt: skip
        return self.accounts[p.company]

    def activity(
        self, sobject: str, who: str, owner: str, kind: str, at: datetime, attrs: dict[str, str]
    ) -> None:
        base = {"WhoId": who, "OwnerId": owner, "ActivityDate": at.date()}
        if kind == "call":
            task = base | {"Subject": "Call", "Type": "Call", "TaskSubtype": "Call",
                           "Status": "Completed", "Priority": "Normal", "CallType": "Outbound",
                           "CallDurationInSeconds": int(attrs.get("duration_s", "0") or 0),
                           "CallDisposition": attrs.get("outcome"),
                           "CompletedDateTime": at}  # fmt: skip
            self.store.load("Task", task, at=at)
        elif kind == "email_reply":
            task = base | {"Subject": f"Email: Re: {attrs.get('campaign', '')}".strip(),
                           "Type": "Email", "TaskSubtype": "Email", "Status": "Completed",
                           "Priority": "Normal", "CompletedDateTime": at}  # fmt: skip
            self.store.load("Task", task, at=at)
        elif kind == "meeting":
            event = base | {"Subject": attrs.get("title", "Meeting"), "Type": "Meeting",
                            "StartDateTime": at, "ActivityDateTime": at, "DurationInMinutes": 30,
                            "EventSubtype": "Event", "IsAllDayEvent": False}  # fmt: skip
            self.store.load("Event", event, at=at)
        elif kind in ("email_open", "email_click"):
            status = "Responded" if kind == "email_click" else "Opened"
            camp = self.campaign(
                "Email", attrs.get("campaign", "Email"), attrs.get("campaign_type")
            )
            self.member(camp, sobject, who, status, at)
        elif kind == "newsletter_subscribe":
            camp = self.campaign("Email", attrs.get("list", "Newsletter"), "newsletter")
            self.member(camp, sobject, who, "Subscribed", at)
        elif kind in ("webinar_register", "webinar_attend"):
            camp = self.campaign("Webinar", attrs.get("name", "Webinar"), None)
            status = "Attended" if kind == "webinar_attend" else "Registered"
            self.member(camp, sobject, who, status, at)
        elif kind == "content_download":
            camp = self.campaign("Content", attrs.get("asset", "Content"), attrs.get("kind"))
            self.member(camp, sobject, who, "Downloaded", at)
        elif kind in _FORMS:
            camp = self.campaign("Web", attrs.get("form", "Web form"), kind)
            self.member(camp, sobject, who, "Responded", at)

    def campaign(self, type_: str, name: str, description: str | None) -> str:
        key = (type_, name)
        if key not in self.campaigns:
            self.campaigns[key] = self.store.load(
                "Campaign",
                {"Name": name[:80], "Type": type_, "Status": "In Progress", "IsActive": True,
                 "StartDate": self.start.date(), "Description": description,
                 "OwnerId": self.active[0]},
                at=self.start,
            )  # fmt: skip
        return self.campaigns[key]

    def member(self, campaign: str, sobject: str, who: str, status: str, at: datetime) -> None:
        m = self.members.setdefault(
            (campaign, who),
            {"CampaignId": campaign, "LeadId": who if sobject == "Lead" else None,
             "ContactId": who if sobject == "Contact" else None, "Status": status,
             "HasResponded": False, "FirstRespondedDate": None, "_first": at, "_last": at},
        )  # fmt: skip
        if _RANK[status] > _RANK[m["Status"]]:
            m["Status"] = status
        if status in _RESPONDED and not m["HasResponded"]:
            m["HasResponded"], m["FirstRespondedDate"] = True, at.date()
        m["_first"], m["_last"] = min(m["_first"], at), max(m["_last"], at)

    def flush_members(self) -> None:
        for m in self.members.values():
            first, last = m.pop("_first"), m.pop("_last")
            rid = self.store.load("CampaignMember", m, at=first)
            record = self.store.tables["CampaignMember"][rid]
            record["LastModifiedDate"] = record["SystemModstamp"] = last
        self.members.clear()
