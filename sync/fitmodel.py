"""A fit as an ordinary model file, and that file checked by the real engine.

:func:`model_text` writes the fitted rules as YAML any leadsync command reads, its
header comment saying what data it was fitted on, when, and how it ranked leads the
fit never saw. :func:`engine_check` is the second read of the lead file: every lead is
scored by the engine with the model *as written* (and with the start model), counted
in the backtest of its part — so the figures reported are the ``model backtest``
figures of the file — and compared with the score the fit meant it to have.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import yaml

from leadsync.errors import LeadError
from leadsync.scoring import model as m
from leadsync.scoring.backtest import Backtest, BacktestReport
from leadsync.scoring.engine import compiled
from leadsync.scoring.loader import parse_model
from leadsync.sync.fit import Fit
from leadsync.sync.fitcandidates import POINTS_TO_DOUBLE
from leadsync.sync.fithistory import History, held_out
from leadsync.sync.leadfile import Columns, read_leads


@dataclass(frozen=True)
class Checked:
    """The engine's backtests of the fitted (and start) model, by part, and agreement."""

    training: BacktestReport
    held_out: BacktestReport
    start_training: BacktestReport | None
    start_held_out: BacktestReport | None
    agree: int
    """Training and held-out leads whose engine score is the one the fit meant."""
    rows: int


def model_body(fit: Fit, name: str, version: str, description: str) -> str:
    """The model's YAML, without its header."""
    data: dict[str, Any] = {
        "name": name,
        "version": version,
        "description": description,
        "rules": fit.rules,
        "tiers": fit.tiers,
        "mql_threshold": fit.mql_threshold,
    }
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88)
    return _ON.sub("on:", text)


class _Dumper(yaml.SafeDumper):
    """Conditions on one line (``{at_least: 5}``, ``[ceo, vp]``), as the templates write
    them; ``on`` unquoted, since leadsync reads YAML 1.2 booleans only."""

    def represent_mapping(self, tag: str, mapping: Any, flow_style: bool | None = None) -> Any:
        flat = all(not isinstance(v, dict | list) for v in dict(mapping).values())
        if not flat:
            simple = all(
                not isinstance(v, dict | list)
                or (isinstance(v, list) and all(not isinstance(x, dict | list) for x in v))
                for v in dict(mapping).values()
            )
            flat = simple and len(dict(mapping)) <= 2 and "points" not in dict(mapping)
        return super().represent_mapping(tag, mapping, flow_style=flat or None)

    def represent_sequence(self, tag: str, sequence: Any, flow_style: bool | None = None) -> Any:
        flat = all(not isinstance(v, dict | list) for v in sequence)
        return super().represent_sequence(tag, sequence, flow_style=flat or None)


_Dumper.add_representer(dict, _Dumper.represent_dict)


_ON = re.compile(r"(?<=[\s{,])'on':")


def model_spec(body: str) -> m.ScoringModel:
    """The body parsed as any model file is: it loads, or the fit has a bug."""
    return parse_model(body, source="fitted model")


def model_text(
    body: str,
    fit: Fit,
    history: History,
    checked: Checked,
    start: m.ScoringModel | None,
    as_of: datetime,
    today: datetime,
) -> str:
    """The file: a header comment, then the body."""
    t, h = checked.training, checked.held_out
    notes = [
        f"Fitted by `leadsync model fit` on {today:%Y-%m-%d} from {history.source} "
        f"(scored as of {as_of.isoformat().replace('+00:00', 'Z')}): {h.leads + t.leads:,} "
        f"leads with an outcome ({h.converted + t.converted:,} converted); {t.leads:,} fitted "
        f"on, {h.leads:,} held out (one in five, by a hash of the id).",
        f"ROC AUC, scored by the engine with this file: {_auc(h)} on the held-out leads, "
        f"{_auc(t)} on the training leads."
        + (
            f" The start model {start.ref}: {_auc(checked.start_held_out)} held out."
            if start is not None and checked.start_held_out is not None
            else ""
        ),
        f"{len(fit.rules)} rules chosen from {fit.candidates} candidates; "
        f"{POINTS_TO_DOUBLE} points double a lead's odds of converting. MQL at "
        f"{fit.mql_threshold:g}: {fit.mql_share:.1%} of the training leads.",
    ]
    if start is not None and (start.groups or start.clamp):
        notes.append(
            "The start model's group caps, weights and clamp are left out: "
            "fitted points add up as they are."
        )
    header = "".join(f"# {line}\n" for note in notes for line in textwrap.wrap(note, 86))
    return header + body


def _auc(report: BacktestReport | None) -> str:
    return "–" if report is None or report.auc is None else f"{report.auc:.3f}"


def engine_check(
    history: History,
    columns: Columns,
    spec: m.ScoringModel,
    start: m.ScoringModel | None,
    intended: np.ndarray,
    on_invalid: Callable[[LeadError], None] | None,
) -> Checked:
    """Read the file again and backtest ``spec`` (and ``start``) on each part."""
    now = history.now
    fitted = compiled(spec)
    labs = [Backtest(spec), Backtest(spec)]
    start_labs = [Backtest(start), Backtest(start)] if start is not None else None
    row = agree = 0
    tolerance = 0.005 * max(1, len(spec.rules))
    for lead in read_leads(history.source, on_invalid, columns):
        converted = lead.outcome.converted if lead.outcome else None
        if converted is None:
            continue
        part = 1 if held_out(lead.id) else 0
        result = fitted.score(lead, now)
        labs[part].add(result, converted)
        if row < len(intended) and abs(float(result.score) - intended[row]) <= tolerance:
            agree += 1
        if start_labs is not None:
            start_labs[part].add_lead(lead, now)
        row += 1
    return Checked(
        labs[0].report(),
        labs[1].report(),
        start_labs[0].report() if start_labs else None,
        start_labs[1].report() if start_labs else None,
        agree,
        row,
    )
