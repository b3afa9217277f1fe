"""The HubSpot sandbox's deal endpoint: ``POST /crm/v3/objects/deals/batch/read``.

Deals are the generated outcomes (:mod:`~leadsync.connectors.sandbox.hubspot.deals`).
"""

from __future__ import annotations

from leadsync.connectors.sandbox.hubspot.api import (
    _MISSING,
    ApiRequest,
    Result,
    _batch,
    _inputs,
    _item_error,
)
from leadsync.connectors.sandbox.hubspot.deals import deal_json


def batch_read_deals(req: ApiRequest) -> Result:
    """``POST /crm/v3/objects/deals/batch/read``: ≤ 100 inputs; unknown ids make it a 207."""
    inputs = _inputs(req, 100)
    if isinstance(inputs, tuple):
        return inputs
    names = req.body.get("properties") or []
    results, missing = [], []
    for item in inputs:
        ident = str((item or {}).get("id", ""))
        person = req.store.person(ident)
        found = deal_json(person, names) if person is not None else None
        if found is None:
            missing.append(ident)
        else:
            results.append(found)
    errors = (
        [_item_error("OBJECT_NOT_FOUND", _MISSING.format(verb="get", kind="DEAL"), missing)]
        if missing
        else []
    )
    return _batch(results, errors)
