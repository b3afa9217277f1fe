"""The property batch endpoints of the HubSpot sandbox: read and create many at once.

HubSpot documents both for every object type, in both API families
(``POST /crm/v3/properties/{objectType}/batch/read`` and ``…/batch/create``, dated
``/crm/properties/2026-03/{objectType}/batch/…``): the same rules as the one-property
calls, answered as a batch (``results``, plus ``errors``/``numErrors`` and 207 when some
inputs failed). Read body: ``{"archived": false, "inputs": [{"name": …}]}``; a name that
does not exist (or is archived, unless ``archived`` is true) is an ``OBJECT_NOT_FOUND``
error item. Create body: ``{"inputs": [<property create body>…]}``; every input is
validated first (any invalid one fails the whole batch with 400, as one create would);
a name already taken is a ``CONFLICT`` error item, the other inputs are created (201).
"""

from __future__ import annotations

from typing import Any

from leadsync.connectors.sandbox.hubspot.api import (
    OBJECT_TYPES,
    ApiRequest,
    Result,
    _bad,
    _batch,
    _inputs,
    _item_error,
)
from leadsync.connectors.sandbox.hubspot.schema import add_property, property_input_error

__all__ = ["batch_create_properties", "batch_read_properties"]

#: Inputs one property batch call accepts (the object batch endpoints' limit).
MAX_INPUTS = 100


def _object(req: ApiRequest) -> str | None:
    assert req.match
    obj = req.match["obj"]
    return obj if obj in OBJECT_TYPES else None


def batch_read_properties(req: ApiRequest) -> Result:
    """``POST …/properties/{objectType}/batch/read``: the named definitions; unknown ones
    are error items (207)."""
    obj = _object(req)
    if obj is None:
        return _bad("Unable to infer object type")
    inputs = _inputs(req, MAX_INPUTS)
    if isinstance(inputs, tuple):
        return inputs
    archived = bool((req.body or {}).get("archived"))
    names = [str((item or {}).get("name") or "") for item in inputs]
    if not all(names):
        return _bad("Invalid input JSON: every input needs a 'name'.")
    defs = req.store.props[obj]
    found = [defs[n] for n in names if n in defs and defs[n].archived == archived]
    missing = [n for n in names if n not in {d.name for d in found}]
    message = f"Unable to find properties {missing}"
    errors = [_item_error("OBJECT_NOT_FOUND", message, [], name=missing)] if missing else []
    return _batch([d.to_json() for d in found], errors)


def batch_create_properties(req: ApiRequest) -> Result:
    """``POST …/properties/{objectType}/batch/create``: all valid or 400; taken names are
    ``CONFLICT`` error items (207), the rest created (201)."""
    obj = _object(req)
    if obj is None:
        return _bad("Unable to infer object type")
    inputs = _inputs(req, MAX_INPUTS)
    if isinstance(inputs, tuple):
        return inputs
    bodies: list[dict[str, Any]] = [b if isinstance(b, dict) else {} for b in inputs]
    for b in bodies:
        invalid = property_input_error(b)
        if invalid is not None:
            return _bad(invalid)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    with req.store.lock:
        for b in bodies:
            status, body = add_property(req, obj, b)
            if status == 201:
                results.append(body)
            elif status == 409:
                errors.append(_item_error("CONFLICT", body["message"], [], name=[b["name"]]))
            else:
                return status, body  # a group that does not exist: the whole batch fails
    return _batch(results, errors, ok=201)
