"""Deterministic, CRM-neutral test data for the sandbox CRMs.

Both sandboxes (HubSpot and Salesforce) load the same people from here and map them
into their own objects, so a connector test on either CRM sees the same population.

Why it is built this way:

- **Reproducible**: everything derives from ``seed`` (and ``as_of``, which defaults
  to a fixed date, never the clock). ``generate(100)`` is a prefix of
  ``generate(1000)`` for the same seed, because the company pool and the owners do
  not depend on ``n`` and profiles are drawn in key order.
- **Small**: a person's year of engagement is *not* stored. :meth:`Person.activities`
  regenerates it on demand from ``(seed, key)``, so a million people fit in memory.
- **Realistic and complete**: titles, sizes, industries, countries, business and
  personal email domains, missing and malformed values; engagement that makes every
  rule of the shipped scoring templates fire somewhere (pricing and blog pages, careers
  pages visited by job seekers — a persona of their own, who never buy — "Request a
  demo" forms, case-study and white-paper downloads named so that a CRM's form names
  say their kind, webinars,
  email opens and promotional clicks, newsletter (un)subscriptions, meetings, calls,
  contact and quote requests, "/new-arrivals"; carts, abandoned carts and purchases
  for consumers); varied recency (many people silent for more than 90 days). A test
  scores the data with every shipped template and checks that no rule stays silent.
- **An outcome to evaluate models against**: ``converted`` is hidden from the CRM
  mapping by convention and correlated with fit (title, size, industry, business
  email) and behaviour (the latent ``intent`` that also drives the activities), with
  some wins from low-fit leads; :mod:`~leadsync.connectors.sandbox.outcomes` dates it
  and :mod:`~leadsync.connectors.sandbox.leads` writes people as canonical leads with it.
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime

from leadsync.connectors.sandbox.engagement import YEAR, Activity, activities_of, weights

__all__ = [
    "ACTIVITY_KINDS",
    "DEFAULT_AS_OF",
    "Activity",
    "Company",
    "Dataset",
    "Owner",
    "Person",
    "generate",
]

#: The default reference date: fixed so that output never depends on the clock.
DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=UTC)

#: Every canonical leadsync event type the generator emits.
ACTIVITY_KINDS: tuple[str, ...] = (
    "page_view",
    "form_submit",
    "email_open",
    "email_click",
    "email_reply",
    "webinar_register",
    "webinar_attend",
    "meeting",
    "call",
    "content_download",
    "newsletter_subscribe",
    "newsletter_unsubscribe",
    "demo_request",
    "quote_request",
    "contact_request",
    "cart_add",
    "cart_abandon",
    "purchase",
)


@dataclass(frozen=True, slots=True)
class Owner:
    """A CRM user who can own leads (a HubSpot owner, a Salesforce user)."""

    id: str
    email: str
    first_name: str
    last_name: str
    active: bool = True


@dataclass(frozen=True, slots=True)
class Company:
    """A company people work for (shared by many people, never duplicated in memory)."""

    name: str
    domain: str
    size: int | None
    industry: str | None
    country: str | None


@dataclass(slots=True)
class Person:
    """A lead or contact. ``key`` (0..n-1) is stable for a given seed.

    ``converted`` is the hidden outcome for model evaluation: CRM mappings should
    not expose it (:mod:`~leadsync.connectors.sandbox.outcomes` gives its dates, the
    deal and its stage). ``intent`` (0..100) is the latent buying interest that drives
    both the activities and the outcome; it is internal to the generator.
    ``job_seeker`` marks the persona that visits the careers pages to apply, not to
    buy: low intent, never a customer. ``trading_area`` (main, secondary, outside)
    follows the country, as a company's configuration of its markets would. ``domain`` is the
    employer's web domain for a business address (None for a consumer); ``age`` is a
    custom property some models score (None for a quarter of the people).
    """

    key: int
    first_name: str | None
    last_name: str | None
    email: str | None
    title: str | None
    company: str | None
    company_size: int | None
    industry: str | None
    country: str | None
    owner_id: str | None
    created_at: datetime
    marketing_consent: bool
    uses_competitor: bool
    converted: bool
    intent: int = field(default=0, repr=False)
    seed: int = field(default=0, repr=False)
    as_of: datetime = field(default=DEFAULT_AS_OF, repr=False)
    domain: str | None = field(default=None, repr=False)
    age: int | None = field(default=None, repr=False)
    job_seeker: bool = field(default=False, repr=False)
    trading_area: str | None = field(default=None, repr=False)

    def activities(self) -> list[Activity]:
        """This person's engagement over the year before ``as_of``, sorted by ``at``.

        Regenerated on every call (never stored) from ``(seed, key)``: the same
        person always gets the same list.
        """
        return activities_of(self)


@dataclass
class Dataset:
    """A generated population: owners and people, all relative to ``as_of``."""

    seed: int
    as_of: datetime
    owners: list[Owner]
    people: list[Person]


# --------------------------------------------------------------------------- pools

_FIRST = (
    "Jane", "John", "Marie", "Pierre", "Sophie", "Lucas", "Emma", "Hugo", "Léa", "Thomas",
    "Camille", "Nicolas", "Julie", "Antoine", "Sarah", "David", "Laura", "Michael", "Anna",
    "James", "Olivia", "Noah", "Chloé", "Louis", "Manon", "Paul", "Inès", "Maximilian",
    "Sofia", "Lukas", "Hannah", "Oliver", "Amelia", "William", "Zoé", "Gabriel", "Mia",
    "Arthur", "Alice", "Jules", "Élodie", "François", "Björn", "Priya", "Ravi", "Mei",
)  # fmt: skip
_LAST = (
    "Martin", "Bernard", "Dubois", "Durand", "Lefèvre", "Moreau", "Laurent", "Simon",
    "Michel", "Garcia", "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis",
    "Wilson", "Taylor", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Peeters",
    "Janssens", "Tremblay", "Roy", "Gagnon", "O'Brien", "Rossi", "Fernández", "Novak",
    "Patel", "Chen", "Nguyen", "Kowalski", "Van den Berg", "Lambert", "Fontaine",
)  # fmt: skip
_TITLES: tuple[tuple[str, float], ...] = (
    ("CEO", 3), ("Chief Executive Officer", 1), ("Founder", 2), ("Co-founder & CEO", 1),
    ("VP Sales", 3), ("VP Marketing", 3), ("VP Engineering", 1.5),
    ("Director of Marketing", 3), ("Marketing Director", 2), ("Sales Director", 2),
    ("Directeur commercial", 2.5), ("Directrice marketing", 2), ("Directeur général", 1.5),
    ("Chief Technology Officer", 2), ("CTO", 1.5), ("Head of Growth", 2),
    ("Marketing Manager", 5), ("Sales Manager", 4), ("Product Manager", 3),
    ("Account Executive", 3), ("Business Developer", 2), ("Responsable marketing", 2),
    ("Software Engineer", 4), ("engineer", 2), ("Data Analyst", 2), ("Consultant", 3),
    ("Office Manager", 1.5), ("Recruiter", 1), ("HR Manager", 1), ("Student", 3),
    ("Étudiant", 1.5), ("Intern", 1.5), ("Freelance", 1),
)  # fmt: skip
_INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("Technology", 22), ("E-commerce", 10), ("Retail", 9), ("Finance", 8),
    ("Healthcare", 7), ("Manufacturing", 8), ("Education", 5), ("Consulting", 7),
    ("Media", 4), ("Real Estate", 3), ("Logistics", 4), ("Public Sector", 2),
)  # fmt: skip
_COUNTRIES: tuple[tuple[str, float], ...] = (
    ("FR", 30), ("US", 20), ("GB", 10), ("DE", 10), ("BE", 6), ("CA", 6), ("ES", 4),
    ("IT", 4), ("NL", 3), ("CH", 3), ("BR", 2), ("IN", 2), ("JP", 1),
)  # fmt: skip
_SIZE_BANDS: tuple[tuple[int, int, float], ...] = (
    (1, 10, 18), (11, 50, 22), (51, 200, 22), (201, 500, 16), (501, 1000, 9),
    (1001, 5000, 9), (5001, 20000, 4),
)  # fmt: skip
_CO_A = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
    "Tyrell", "Cyberdyne", "Wonka", "Aperture", "Gringotts", "Nakatomi", "Oceanic", "Pied",
    "Dunder", "Massive", "Blue", "Nova", "Lumen", "Vertex", "Atlas", "Boréal", "Cobalt",
    "Delta", "Helix", "Kite", "Orion", "Pixel", "Quantum", "Sigma", "Terra", "Zenith",
)  # fmt: skip
_CO_B = (
    "Labs", "Systems", "Software", "Analytics", "Retail", "Logistics", "Health", "Finance",
    "Industries", "Media", "Consulting", "Commerce", "Cloud", "Robotics", "Foods",
)  # fmt: skip
_CITIES = (
    "Paris", "Lyon", "Nantes", "Lille", "Berlin", "Munich", "London", "Leeds", "Boston",
    "Austin", "Denver", "Montréal", "Toronto", "Brussels", "Ghent", "Madrid", "Milan",
    "Zurich", "Rotterdam", "Bordeaux", "Toulouse", "Hamburg", "Seattle", "Chicago",
)  # fmt: skip
_CO_SUFFIX = ("", " SAS", " Inc.", " GmbH", " Ltd", " SA", " BV")
_TLDS = {"FR": "fr", "DE": "de", "GB": "co.uk", "BE": "be", "CA": "ca", "ES": "es",
         "IT": "it", "NL": "nl", "CH": "ch", "BR": "com.br", "IN": "in", "JP": "jp"}  # fmt: skip
_PERSONAL_DOMAINS = (
    "gmail.com", "gmail.com", "yahoo.fr", "yahoo.com", "hotmail.com", "hotmail.fr",
    "outlook.com", "orange.fr", "free.fr", "gmx.de", "icloud.com", "laposte.net",
)  # fmt: skip
_N_COMPANIES = 5000

_OWNERS: tuple[tuple[str, str], ...] = (
    ("Alice", "Bernard"), ("Bruno", "Carpentier"), ("Claire", "Dumont"), ("Dan", "Evans"),
    ("Eva", "Fischer"), ("Farid", "Gharbi"), ("Greta", "Hansen"), ("Hélène", "Ibert"),
    ("Ian", "Jacobs"), ("Julia", "Klein"), ("Karim", "Lopez"), ("Lena", "Morel"),
)  # fmt: skip

_HIGH_TITLE_WORDS = ("ceo", "chief", "vp", "director", "directeur", "directrice", "head")
_LOW_TITLE_WORDS = ("student", "étudiant", "intern", "recruiter", "freelance")


_TITLE_V, _TITLE_W = weights(_TITLES)
_IND_V, _IND_W = weights(_INDUSTRIES)
_CTRY_V, _CTRY_W = weights(_COUNTRIES)
_SIZE_V, _SIZE_W = weights(_SIZE_BANDS)


def _ascii(text: str) -> str:
    """Lower-case ASCII slug for email local parts and domains ("Lefèvre" → "lefevre")."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if c.isalnum() and c.isascii()).lower()


def _companies(seed: int) -> list[Company]:
    """The fixed pool of companies for ``seed`` (independent of ``n``)."""
    rng = random.Random(seed * 7919 + 17)
    pool: list[Company] = []
    seen: set[str] = set()
    for i in range(_N_COMPANIES):
        a, b = rng.choice(_CO_A), rng.choice(_CO_B)
        base = f"{a} {b}"
        slug = _ascii(base)
        if slug in seen:
            city = rng.choice(_CITIES)
            base, slug = f"{base} {city}", f"{slug}{_ascii(city)}"
        if slug in seen:
            base, slug = f"{base} {i}", f"{slug}{i}"
        seen.add(slug)
        country = rng.choices(_CTRY_V, cum_weights=_CTRY_W)[0] if rng.random() > 0.04 else None
        tld = _TLDS.get(str(country), "com") if rng.random() < 0.5 else "com"
        lo, hi = rng.choices(_SIZE_V, cum_weights=_SIZE_W)[0]  # type: ignore[misc]
        size = int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1)))) if hi > lo else lo
        size = min(max(size, lo), hi)
        industry = rng.choices(_IND_V, cum_weights=_IND_W)[0] if rng.random() > 0.05 else None
        pool.append(
            Company(
                name=base + rng.choice(_CO_SUFFIX),
                domain=f"{slug}.{tld}",
                size=size if rng.random() > 0.07 else None,
                industry=industry,  # type: ignore[arg-type]
                country=country,  # type: ignore[arg-type]
            )
        )
    return pool


def _owners() -> list[Owner]:
    """The sales team: a dozen owners, the last one deactivated (left the company)."""
    return [
        Owner(
            id=str(41_629_700 + 13 * i),
            email=f"{_ascii(first)}.{_ascii(last)}@example-saas.com",
            first_name=first,
            last_name=last,
            active=i != len(_OWNERS) - 1,
        )
        for i, (first, last) in enumerate(_OWNERS)
    ]


def _fit(title: str | None, size: int | None, industry: str | None, business: bool) -> float:
    """A fit score in about [-1, 1]: the explicit half of a lead's quality."""
    fit = 0.0
    low = (title or "").lower()
    if any(w in low for w in _HIGH_TITLE_WORDS):
        fit += 0.45
    if any(w in low for w in _LOW_TITLE_WORDS):
        fit -= 0.6
    if size is not None and 50 <= size <= 1000:
        fit += 0.3
    if industry in ("Technology", "E-commerce"):
        fit += 0.25
    fit += 0.1 if business else -0.2
    return fit


def generate(n: int, *, seed: int = 0, as_of: datetime | None = None) -> Dataset:
    """Generate ``n`` people (keys 0..n-1) and the owners, deterministically from ``seed``.

    ``as_of`` (timezone-aware; default :data:`DEFAULT_AS_OF`) is "now" for the data:
    every ``created_at`` and activity lies before it.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    as_of = DEFAULT_AS_OF if as_of is None else as_of
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    as_of = as_of.astimezone(UTC)
    companies = _companies(seed)
    owners = _owners()
    active_owner_ids = [o.id for o in owners if o.active]
    inactive_owner_ids = [o.id for o in owners if not o.active]
    rng = random.Random(seed * 1_000_003 + 5)
    as_of_ts = as_of.timestamp()
    rand, choices, choice, randrange = rng.random, rng.choices, rng.choice, rng.randrange
    people: list[Person] = []
    append = people.append
    for key in range(n):
        first: str | None = choice(_FIRST)
        last: str | None = choice(_LAST)
        co = companies[randrange(_N_COMPANIES)]
        title: str | None = choices(_TITLE_V, cum_weights=_TITLE_W)[0]  # type: ignore[assignment]
        if rand() < 0.05:
            title = None
        # Email: business, personal, missing or malformed.
        r = rand()
        local = f"{_ascii(first or 'x')}.{_ascii(last or 'y')}{key}"
        business = False
        email: str | None
        if r < 0.62:
            email, business = f"{local}@{co.domain}", True
        elif r < 0.86:
            email = f"{local}@{choice(_PERSONAL_DOMAINS)}"
        elif r < 0.94:
            email = None
        else:
            email = choice((f"{local}.{co.domain}", f"{local}@", f"{local}@@{co.domain}"))
        if rand() < 0.03:
            first = None
        if rand() < 0.02:
            last = None
        company: str | None = co.name
        size, industry, country = co.size, co.industry, co.country
        if not business and rand() < 0.5:
            company = size = industry = None  # personal address: firmographics often unknown
        if rand() < 0.04:
            country = None
        if rand() < 0.15:
            owner_id = None
        elif rand() < 0.03:
            owner_id = inactive_owner_ids[0]
        else:
            owner_id = choice(active_owner_ids)
        created_at = datetime.fromtimestamp(int(as_of_ts - rand() * 3 * YEAR - 3600), tz=UTC)
        fit = _fit(title, size, industry, business)
        # Intent (0..100): mostly low, a long tail of hot leads, nudged by fit.
        intent = int(min(100.0, max(0.0, rng.betavariate(1.3, 3.5) * 100 + fit * 15)))
        uses_competitor = rand() < 0.12
        logit = -3.9 + 2.2 * fit + 0.045 * intent + (0.4 if uses_competitor else 0.0)
        converted = rand() < 1.0 / (1.0 + math.exp(-logit))
        # Hashes, not the shared generator, so that every other value stayed as it was.
        job_seeker = _unit(seed, key, 1) < (0.35 if _is_low_title(title) else 0.03)
        if job_seeker:  # here for a job: little buying interest, never a customer
            intent, converted = min(intent, 10), False
        elif not converted and fit < 0 and _unit(seed, key, 2) < 0.04:
            converted = True  # a win the fit rules would not predict (a referral, a founder)
        append(
            Person(
                key=key,
                first_name=first,
                last_name=last,
                email=email,
                title=title,
                company=company,
                company_size=size,
                industry=industry,
                country=country,
                owner_id=owner_id,
                created_at=created_at,
                marketing_consent=rand() < 0.8,
                uses_competitor=uses_competitor,
                converted=converted,
                intent=intent,
                seed=seed,
                as_of=as_of,
                domain=co.domain if business else None,
                age=_age(seed, key, title),
                job_seeker=job_seeker,
                trading_area=_trading_area(country),
            )
        )
    return Dataset(seed=seed, as_of=as_of, owners=owners, people=people)


# ------------------------------------------------------------------ activities


def _age(seed: int, key: int, title: str | None) -> int | None:
    """An age (or None for a quarter of people) from a cheap integer hash of (seed, key).

    A hash, not the shared generator, so that adding ages changed no other value.
    """
    h = (key * 0x9E3779B97F4A7C15 + seed * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % (1 << 64)
    h = ((h ^ (h >> 31)) * 0xBF58476D1CE4E5B9) % (1 << 64)
    if h % 4 == 0:
        return None
    if _is_low_title(title):
        return 18 + (h >> 8) % 10
    return 22 + (h >> 8) % 45


def _unit(seed: int, key: int, salt: int) -> float:
    """A uniform draw in [0, 1) from a cheap integer hash of (seed, key, salt)."""
    h = (key * 0x9E3779B97F4A7C15 + seed * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) % (
        1 << 64
    )
    h = ((h ^ (h >> 31)) * 0xBF58476D1CE4E5B9) % (1 << 64)
    h = ((h ^ (h >> 29)) * 0x94D049BB133111EB) % (1 << 64)
    return (h >> 11) / float(1 << 53)


#: Countries by trading area: one company's configuration of its markets.
_MAIN_AREA = frozenset({"FR", "BE", "CH"})
_SECONDARY_AREA = frozenset({"DE", "GB", "NL", "ES", "IT", "CA", "US"})


def _trading_area(country: str | None) -> str | None:
    if country is None:
        return None
    return (
        "main"
        if country in _MAIN_AREA
        else "secondary"
        if country in _SECONDARY_AREA
        else "outside"
    )


def _is_low_title(title: str | None) -> bool:
    low = (title or "").lower()
    return any(w in low for w in _LOW_TITLE_WORDS)
