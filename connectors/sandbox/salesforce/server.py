"""A local Salesforce org over real HTTPS, for tests, the demo and benchmarks.

``SalesforceSandbox`` serves the REST API (query, sObjects, sObject Collections, limits), Bulk
API 2.0, the Metadata API's CRUD calls (SOAP, ``salesforce_metadata``), OAuth's token and
userinfo endpoints on 127.0.0.1 with a throwaway CA, so simple-salesforce talks to it
unmodified::

    with SalesforceSandbox(leads=500) as sf_box:
        sf = simple_salesforce.Salesforce(instance_url=sf_box.instance_url,
                                          session_id=sf_box.session_id, session=sf_box.session())

Around every ``/services/data`` call the server applies, in this order: faults (dropped
connection, latency, a 503/502, or a "burst" answered as Salesforce does with 403
``REQUEST_LIMIT_EXCEEDED``), the session check (401 ``INVALID_SESSION_ID``), the daily API
allocation (403 ``REQUEST_LIMIT_EXCEEDED`` once spent) and then the resource. Every such
response carries ``Sforce-Limit-Info: api-usage=N/M``. Requests are counted per endpoint and
status in ``counters``. Admin endpoints under ``/__sandbox/`` (no auth, never counted):
``GET counters``, ``POST counters/reset``, ``GET|POST faults`` (JSON object or a spec string),
``POST touch`` (``{"object": "Lead", "count": 10}``), ``POST expire-sessions``.
What is emulated and where each behaviour comes from: ``README.md``.
"""

from __future__ import annotations

import re
import shlex
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TextIO

from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.faults import Counters, Faults
from leadsync.connectors.sandbox.salesforce.auth import Sessions
from leadsync.connectors.sandbox.salesforce.bulk import BulkApi
from leadsync.connectors.sandbox.salesforce.bulk1 import Bulk1Api
from leadsync.connectors.sandbox.salesforce.handler import Handler
from leadsync.connectors.sandbox.salesforce.http import ApiError, Call, Reply
from leadsync.connectors.sandbox.salesforce.metadata import MetadataApi, install
from leadsync.connectors.sandbox.salesforce.rest import RestApi, compile_query
from leadsync.connectors.sandbox.salesforce.schema import Schema
from leadsync.connectors.sandbox.salesforce.seed import load_dataset
from leadsync.connectors.sandbox.salesforce.store import Store
from leadsync.connectors.sandbox.tls import SandboxTLS

if TYPE_CHECKING:
    import requests
    import simple_salesforce

__all__ = ["LOGIN_HOSTS", "SalesforceSandbox", "serve_forever"]

#: Where Salesforce clients log in: production orgs, and sandbox orgs (``is_sandbox``).
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")
_HOSTS = ("127.0.0.1", "localhost")

_VERSION = re.compile(r"^v(\d{2}\.\d)$")
_ID_LIKE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?(?:-\d+)?$")


class SalesforceSandbox:
    """One sandbox org: data, HTTPS server, sessions, limits, faults and counters."""

    def __init__(
        self,
        *,
        leads: int = 1000,
        contacts: int = 0,
        seed: int = 0,
        port: int = 0,
        api_version: str = "59.0",
        score_fields: bool = True,
        metadata_access: bool = True,
        session_seconds: float = 7200,
        daily_limit: int = 100_000,
        faults: Faults | None = None,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        bulk_polls_in_progress: int = 1,
        outcomes: bool = False,
        opportunities: bool = False,
    ) -> None:
        self.api_version = api_version
        self.port = port
        self.daily_limit = daily_limit
        self.faults = faults or Faults()
        self.counters = Counters()
        schema = Schema(score_fields=score_fields)
        install(schema)
        self.store = Store(schema)
        self.dataset_counts = load_dataset(
            self.store,
            generate(leads + contacts, seed=seed),
            leads=leads,
            outcomes=outcomes,
            opportunities=opportunities,
        )
        self.sessions = Sessions(
            client_id=client_id, client_secret=client_secret, session_seconds=session_seconds
        )
        self.sessions.user_id = self.store.api_user_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.rest = RestApi(self.store, fail_item=self.faults.fail_item, limits=self.limits)
        self.bulk = BulkApi(
            self.store,
            compile_query=lambda text: compile_query(self.store, text),
            fail_item=self.faults.fail_item,
            polls_in_progress=bulk_polls_in_progress,
        )
        self._used = 0
        self._usage_lock = threading.Lock()
        self.bulk1 = Bulk1Api(
            self.store,
            compile_query=lambda text: compile_query(self.store, text),
            valid_session=self.sessions.valid,
            spend=self._spend,
            polls_in_progress=bulk_polls_in_progress,
        )
        self.metadata = MetadataApi(
            self.store, valid_session=self.sessions.valid, spend=self._spend,
            allowed=metadata_access,
        )  # fmt: skip
        self._tls: SandboxTLS | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.session_id = ""
        self.refresh_token = self.sessions.new_refresh_token()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> SalesforceSandbox:
        """Generate the CA, bind the port and serve in a background thread.

        The certificate also names Salesforce's login hosts, so a client that hard-codes
        ``https://login.salesforce.com`` (tap-salesforce) can be sent here through an HTTPS
        proxy, trusting only this sandbox's CA.
        """
        self._tls = SandboxTLS(hosts=(*_HOSTS, *LOGIN_HOSTS))
        server = _Server(("127.0.0.1", self.port), Handler)
        server.sandbox = self
        server.tls_context = self._tls.server_context()
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="salesforce-sandbox", daemon=True
        )
        self._thread.start()
        self.session_id = self.sessions.new_access_token()
        return self

    def stop(self) -> None:
        """Stop serving and delete the CA file."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tls is not None:
            self._tls.close()
            self._tls = None

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a client needs -----------------------------------------------------------------
    @property
    def instance_url(self) -> str:
        """``https://127.0.0.1:PORT`` (what a token response calls ``instance_url``)."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint."""
        return f"{self.instance_url}/services/oauth2/token"

    @property
    def ca_path(self) -> str:
        """PEM file of the throwaway CA: ``session.verify = ca_path``."""
        if self._tls is None:
            raise RuntimeError("the sandbox is not started")
        return self._tls.ca_path

    def session(self) -> requests.Session:
        """A ``requests.Session`` that trusts the sandbox CA.

        ``verify = ca_path`` alone is not enough where ``REQUESTS_CA_BUNDLE`` or
        ``CURL_CA_BUNDLE`` is set: requests lets those override a session's ``verify``
        (psf/requests#3829). So the session also ignores the environment (no proxy either,
        which a loopback server never wants).
        """
        import requests

        http = requests.Session()
        http.verify = self.ca_path
        http.trust_env = False
        return http

    def client(self, session_id: str | None = None) -> simple_salesforce.Salesforce:
        """A simple-salesforce client on this sandbox (default: the start-up session)."""
        import simple_salesforce

        return simple_salesforce.Salesforce(
            instance_url=self.instance_url,
            session_id=session_id or self.session_id,
            session=self.session(),
            version=self.api_version,
        )

    def expire_sessions(self) -> None:
        """End every access token now; ``refresh_token`` keeps working."""
        self.sessions.expire_all()

    def touch(self, sobject: str = "Lead", count: int = 10) -> list[str]:
        """Simulate user edits: move ``SystemModstamp`` of ``count`` records; their ids."""
        spec = self.store.schema.get(sobject)
        if spec is None:
            raise LookupError(f"unknown object {sobject!r}")
        return self.store.touch(spec.name, count)

    # -- API usage -----------------------------------------------------------------------------
    @property
    def api_usage(self) -> int:
        """API requests spent today."""
        with self._usage_lock:
            return self._used

    def reset_usage(self, used: int = 0) -> None:
        """Set today's spent allocation (e.g. to test running out)."""
        with self._usage_lock:
            self._used = used

    def _spend(self) -> bool:
        with self._usage_lock:
            if self._used >= self.daily_limit:
                return False
            self._used += 1
            return True

    def limit_info(self) -> str:
        """The ``Sforce-Limit-Info`` header value."""
        return f"api-usage={self.api_usage}/{self.daily_limit}"

    def limits(self) -> dict[str, Any]:
        """``GET /limits``: ``{Name: {Max, Remaining}}`` as in ``limits.json``."""
        query_jobs = sum(1 for j in self.bulk.jobs.values() if j.kind == "query")
        ingest_jobs = sum(1 for j in self.bulk.jobs.values() if j.kind == "ingest")
        used = self.api_usage
        return {
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
            "ConcurrentSyncReportRuns": {"Max": 20, "Remaining": 20},
            "DailyApiRequests": {"Max": self.daily_limit, "Remaining": self.daily_limit - used},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {
                "Max": 15000,
                "Remaining": 15000 - ingest_jobs - self.bulk1.batch_count,
            },
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - query_jobs},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
            "FileStorageMB": {"Max": 1024, "Remaining": 1024},
            "HourlyODataCallout": {"Max": 10000, "Remaining": 10000},
            "SingleEmail": {"Max": 5000, "Remaining": 5000},
        }

    # -- dispatch (called by the handler) -------------------------------------------------------
    def dispatch_api(self, call: Call, version: str) -> Reply:
        """Session, allocation, then the resource; every reply carries Sforce-Limit-Info."""
        auth = call.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not self.sessions.valid(token.strip()):
            reply = ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid").reply()
            reply.headers["WWW-Authenticate"] = "Token"
        elif not self._spend():
            reply = ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").reply()
        else:
            try:
                if call.parts and call.parts[0] == "jobs":
                    reply = self.bulk.handle(call, float(version))
                else:
                    reply = self.rest.handle(call)
            except ApiError as exc:
                reply = exc.reply()
        reply.headers["Sforce-Limit-Info"] = self.limit_info()
        return reply

    @staticmethod
    def endpoint_name(method: str, parts: list[str]) -> str:
        """The counter key: method and path below the version, ids replaced by ``{id}``."""
        shown = ["{id}" if _ID_LIKE.match(p) and any(c.isdigit() for c in p) else p for p in parts]
        return f"{method} {'/'.join(p for p in shown if p)}"

    @staticmethod
    def parse_version(segment: str) -> str | None:
        """``v59.0`` → ``59.0``; None for anything else (Salesforce answers 404)."""
        m = _VERSION.match(segment)
        return m.group(1) if m else None


class _Server(ThreadingHTTPServer):
    """Threaded HTTPS server; the TLS handshake runs in the request's thread."""

    daemon_threads = True
    block_on_close = False
    sandbox: SalesforceSandbox
    tls_context: Any

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed or timed out mid-answer (a broken pipe, a reset, a TLS EOF) is
        not the server's error: no traceback on stderr. Anything else is printed."""
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLEOFError):
            return
        super().handle_error(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            wrapped = self.tls_context.wrap_socket(request, server_side=True)
        except OSError:
            request.close()
            return
        self.RequestHandlerClass(wrapped, client_address, self)


def serve_forever(
    *,
    port: int = 8443,
    leads: int = 1000,
    contacts: int | None = None,
    seed: int = 0,
    faults: str = "",
    score_fields: bool = True,
    metadata_access: bool = True,
    out: TextIO = sys.stdout,
    ready: Callable[[SalesforceSandbox], None] | None = None,
    stop: threading.Event | None = None,
    outcomes: bool = False,
) -> None:
    """Run a sandbox in the foreground until Ctrl+C (or ``stop`` is set), printing how to
    connect to it; ``ready`` is called with the running sandbox.

    As an org has, it holds Contacts besides the Leads (``contacts``, default a quarter as many
    as the leads), each on its company's Account, and the Contacts' Opportunities; the Leads
    stay unconverted unless ``outcomes``.
    """
    contacts = leads // 4 if contacts is None else contacts
    box = SalesforceSandbox(
        leads=leads,
        contacts=contacts,
        opportunities=True,
        seed=seed,
        port=port,
        score_fields=score_fields,
        metadata_access=metadata_access,
        faults=Faults.parse(faults),
        outcomes=outcomes,
    ).start()
    print(
        f"Salesforce sandbox on {box.instance_url} ({leads} leads, {contacts} contacts, "
        f"seed {seed})\n"
        f"  CA certificate:   {box.ca_path}\n"
        "  to reach it from another process (leadsync, scripts), paste:\n"
        f"    export REQUESTS_CA_BUNDLE={shlex.quote(box.ca_path)}\n"
        f"  or trust it for one account only: salesforce: {{ca_file: {box.ca_path}}}\n"
        f"  session id:       {box.session_id}\n"
        f"  token endpoint:   {box.token_url}\n"
        f"    client_credentials: client_id={box.client_id} client_secret={box.client_secret}\n"
        f"    refresh_token:      {box.refresh_token}\n"
        "  simple-salesforce:\n"
        "    s = requests.Session(); s.verify = '<CA certificate>'\n"
        f"    Salesforce(instance_url='{box.instance_url}', session_id='<session id>', session=s)\n"
        f"  admin: {box.instance_url}/__sandbox/counters | faults | touch | expire-sessions\n"
        "Press Ctrl+C to stop.",
        file=out,
        flush=True,
    )
    if ready is not None:
        ready(box)
    stop = stop or threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        box.stop()
