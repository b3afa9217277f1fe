"""The Salesforce Metadata API's CRUD calls on the connector's own ``requests.Session``.

What ``leadsync setup --create`` sends is what simple-salesforce's ``sf.mdapi`` sends: zeep
SOAP requests built from simple-salesforce's bundled ``metadata.wsdl``, posted to the client's
``metadata_url`` (``/services/Soap/m/<version>/``) with the session id in ``SessionHeader``.
Two things keep ``sf.mdapi`` itself out of the way:

- ``SfdcMetadataApi`` builds its zeep client with zeep's default transport, which opens a
  ``requests.Session`` of its own and offers no parameter to pass one. That session would not
  trust a private CA the connector's session trusts (the sandbox's), would obey
  ``REQUESTS_CA_BUNDLE`` and proxies the connector's session ignores, and its calls would
  escape the connector's counting hook and ``Sforce-Limit-Info`` reading. zeep's supported
  way is ``Client(wsdl, transport=Transport(session=…))``, so this module builds that client
  on the same WSDL file, with :class:`SessionTransport` on the connector's session.
- ``MetadataType.create`` flattens unsuccessful ``SaveResult``s into a bare ``Exception``
  text; setup needs their status codes (``DUPLICATE_DEVELOPER_NAME``: the field exists).

Every call runs through ``SalesforceApi.call`` (limiter, retry policy, one re-login on an
expired session). Salesforce answers request-level failures as SOAP faults (HTTP 500,
``faultcode`` ``sf:CODE``); they are raised as ``SalesforceError``s carrying the status the
REST API gives the same code, so ``describe_failure`` classifies them as it does REST errors:
``INVALID_SESSION_ID`` 401, ``REQUEST_LIMIT_EXCEEDED`` 403, ``UNKNOWN_EXCEPTION`` 500, anything
else 400. ``INSUFFICIENT_ACCESS`` (the user lacks "Modify Metadata") is raised at once as
:class:`MetadataAccessError`, which the caller turns into what the admin must do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import simple_salesforce.metadata
from simple_salesforce.exceptions import SalesforceError
from zeep import Client, Settings
from zeep.exceptions import Fault, TransportError
from zeep.transports import Transport

from leadsync.errors import CrmPermissionError

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

    from leadsync.connectors.salesforce.api import SalesforceApi

__all__ = ["MAX_COMPONENTS", "MetadataAccessError", "MetadataClient", "Saved", "SessionTransport"]

NS = "http://soap.sforce.com/2006/04/metadata"
BINDING = f"{{{NS}}}MetadataBinding"
WSDL = Path(simple_salesforce.metadata.__file__).with_name("metadata.wsdl")
#: Components per createMetadata/updateMetadata/readMetadata call (Metadata API guide).
MAX_COMPONENTS = 10
_STATUS = {
    "INVALID_SESSION_ID": 401,
    "REQUEST_LIMIT_EXCEEDED": 403,
    "UNKNOWN_EXCEPTION": 500,
    "SERVER_UNAVAILABLE": 503,
}
_NO_ACCESS = frozenset({"INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY"})


class MetadataAccessError(CrmPermissionError):
    """The API user may not use the Metadata API (``INSUFFICIENT_ACCESS``); Salesforce's text."""


@dataclass(frozen=True, slots=True)
class Saved:
    """One component's ``SaveResult``: ``errors`` as ``(statusCode, message)`` pairs."""

    full_name: str
    success: bool
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def codes(self) -> set[str]:
        return {code for code, _ in self.errors}

    def describe(self) -> str:
        return "; ".join(f"{code}: {message}" for code, message in self.errors) or "no reason given"


class SessionTransport(Transport):
    """zeep's HTTP transport on an existing session, leaving the session as it found it.

    ``Transport.__init__`` mounts a ``file://`` adapter on the session and overwrites its
    ``User-Agent``; the session is shared with every REST call of the connector, so both are
    undone (the WSDL is read from a plain path, which zeep opens without the session). And an
    answer that is not XML (a proxy's 502 page, an empty 503) is raised as zeep's
    ``TransportError`` with its status, before zeep tries to parse it as an envelope.
    """

    def __init__(self, session: requests.Session, timeout: float) -> None:
        agent = session.headers.get("User-Agent")
        adapters = dict(session.adapters)
        super().__init__(session=session, timeout=timeout, operation_timeout=timeout)
        session.adapters.clear()
        session.adapters.update(adapters)
        if agent is None:
            session.headers.pop("User-Agent", None)
        else:
            session.headers["User-Agent"] = agent

    def post(self, address: str, message: Any, headers: Any) -> requests.Response:
        response = super().post(address, message, headers)
        if "xml" not in response.headers.get("Content-Type", ""):
            raise TransportError(
                f"HTTP {response.status_code} without a SOAP envelope",
                status_code=response.status_code,
                content=response.content,
            )
        return response


class MetadataClient:
    """createMetadata, updateMetadata and readMetadata for one connector's org."""

    def __init__(self, api: SalesforceApi) -> None:
        self.api = api
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The zeep client, parsing the WSDL (about 0.3 s) on first use."""
        if self._client is None:
            self._client = Client(
                str(WSDL),
                transport=SessionTransport(self.api.session, self.api.timeout),
                settings=Settings(strict=False, xsd_ignore_sequence_order=True),
            )
        return self._client

    def build(self, type_name: str, **values: Any) -> Any:
        """A component or part of one, e.g. ``build("CustomField", fullName=…, type="Number")``."""
        return self.client.get_type(f"{{{NS}}}{type_name}")(**values)

    def create(self, components: Sequence[Any], *, safe: bool = False) -> list[Saved]:
        """``createMetadata``, ten components a call; one result per component, in order.

        ``safe``: the caller takes a ``DUPLICATE_DEVELOPER_NAME`` result for success, so a
        request whose answer was lost may be sent again (it then meets its own work).
        """
        return [
            s for chunk in _chunks(components) for s in self._save("createMetadata", chunk, safe)
        ]

    def update(self, components: Sequence[Any]) -> list[Saved]:
        """``updateMetadata``: each component replaces the stored one whole."""
        return [s for chunk in _chunks(components) for s in self._save("updateMetadata", chunk)]

    def read(self, type_name: str, names: Sequence[str]) -> list[Any | None]:
        """``readMetadata``: the component per name, None where none has that name."""
        found: list[Any | None] = []
        for chunk in _chunks(names):
            records = self._call("readMetadata", safe=True, type=type_name, fullNames=list(chunk))
            found.extend(r if r is not None and r.fullName else None for r in records or [])
        return found

    def _save(self, operation: str, components: Sequence[Any], safe: bool = False) -> list[Saved]:
        results = self._call(operation, safe=safe, metadata=list(components))
        return [
            Saved(
                full_name=str(r.fullName or ""),
                success=bool(r.success),
                errors=tuple((str(e.statusCode), str(e.message)) for e in r.errors or []),
            )
            for r in results or []
        ]

    def _call(self, operation: str, *, safe: bool, **arguments: Any) -> Any:
        """One SOAP request through the connector's gateway (re-login makes a new header)."""

        def attempt(sf: Salesforce) -> Any:
            client = self.client
            service = client.create_service(BINDING, sf.metadata_url)
            header = client.get_element(f"{{{NS}}}SessionHeader")(sessionId=sf.session_id)
            try:
                return getattr(service, operation)(**arguments, _soapheaders=[header])
            except Fault as fault:
                raise _fault_error(sf.metadata_url, operation, fault) from None
            except TransportError as exc:
                raw = exc.content if isinstance(exc.content, bytes) else b""
                content = [{"errorCode": None, "message": raw[:200].decode("utf-8", "replace")}]
                status = exc.status_code or 500
                raise SalesforceError(sf.metadata_url, status, operation, content) from None  # type: ignore[arg-type]

        return self.api.call(f"metadata {operation}", attempt, safe=safe)


def _fault_error(url: str, operation: str, fault: Fault) -> Exception:
    """A SOAP fault as the exception ``describe_failure`` understands (or a permission error)."""
    code = str(fault.code or "").rpartition(":")[2]
    message = str(fault.message or code)
    if code in _NO_ACCESS:
        return MetadataAccessError(message)
    content = [{"errorCode": code, "message": message}]
    return SalesforceError(url, _STATUS.get(code, 400), operation, content)  # type: ignore[arg-type]


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), MAX_COMPONENTS):
        yield items[start : start + MAX_COMPONENTS]
