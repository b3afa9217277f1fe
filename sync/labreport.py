"""Showing backtests and model diffs: JSON for machines, a table for people, HTML to share.

The JSON objects are the contract (``--format json``); the table and the HTML page
show the same figures.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from leadsync.scoring.backtest import BacktestReport, Threshold
from leadsync.scoring.diff import DiffReport, Move
from leadsync.scoring.engine import ScoreResult, format_points
from leadsync.sync.output import as_json, number


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _threshold(found: Threshold | None, target: float) -> dict[str, Any]:
    if found is None:
        return {"target": target, "score": None}
    return {
        "target": target,
        "score": number(found.score),
        "mqls": found.mqls,
        "precision": _round(found.precision),
        "recall": _round(found.recall),
    }


def _lead(result: ScoreResult) -> dict[str, Any]:
    return {**as_json(result), "why": result.explanation()}


def backtest_json(report: BacktestReport) -> dict[str, Any]:
    return {
        "model": report.model,
        "leads": report.leads,
        "converted": report.converted,
        "without_outcome": report.without_outcome,
        "rate": _round(report.rate),
        "auc": _round(report.auc),
        "tiers": [
            {
                "name": t.name,
                "leads": t.leads,
                "converted": t.converted,
                "rate": _round(t.rate),
                "lift": _round(t.lift, 2),
            }
            for t in report.tiers
        ],
        "mql": {
            "threshold": report.mql.threshold,
            "mqls": report.mql.mqls,
            "converted": report.mql.converted,
            "precision": _round(report.mql.precision),
            "recall": _round(report.mql.recall),
        },
        "deciles": [
            {
                "decile": d.decile,
                "min_score": number(d.min_score),
                "max_score": number(d.max_score),
                "leads": round(d.leads, 1),
                "converted": round(d.converted, 1),
                "rate": _round(d.rate),
            }
            for d in report.deciles
        ],
        "lowest_converted": [_lead(r) for r in report.lowest_converted],
        "suggested_thresholds": {
            "volume": _threshold(report.by_volume, report.target_volume),
            "precision": _threshold(report.by_precision, report.target_precision),
        },
    }


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _score(value: Decimal) -> str:
    return format_points(value, signed=False)


def _suggestions(report: BacktestReport) -> list[str]:
    lines = []
    for label, found in (
        (f"MQL volume ≤ {report.target_volume:.0%} of leads", report.by_volume),
        (f"precision ≥ {report.target_precision:.0%}", report.by_precision),
    ):
        if found is None:
            lines.append(f"{label}: no threshold reaches it")
        else:
            lines.append(
                f"{label}: threshold {_score(found.score)} → {found.mqls} MQLs, "
                f"precision {_pct(found.precision)}, recall {_pct(found.recall)}"
            )
    return lines


def backtest_table(report: BacktestReport, console: Console) -> None:
    console.print(
        f"[bold]{report.model}[/]: {report.leads} leads with an outcome, "
        f"{report.converted} converted ({_pct(report.rate)}); ROC AUC {_num(report.auc)}"
        + (
            f"; {report.without_outcome} without an outcome, left out"
            if report.without_outcome
            else ""
        )
    )
    tiers = Table(title="Tiers")
    for column in ("tier", "leads", "converted", "rate", "lift"):
        tiers.add_column(column, justify="left" if column == "tier" else "right")
    for t in reversed(report.tiers):
        tiers.add_row(t.name, str(t.leads), str(t.converted), _pct(t.rate), _num(t.lift, 2))
    console.print(tiers)
    m = report.mql
    console.print(
        f"MQL ≥ {m.threshold:g}: {m.mqls} MQLs, {m.converted} converted — "
        f"precision {_pct(m.precision)}, recall {_pct(m.recall)}"
    )
    deciles = Table(title="Score deciles (1 = best scored)")
    for column in ("decile", "scores", "leads", "converted", "rate"):
        deciles.add_column(column, justify="right")
    for d in report.deciles:
        deciles.add_row(
            str(d.decile),
            f"{_score(d.min_score)}–{_score(d.max_score)}",
            f"{d.leads:.0f}",
            f"{d.converted:.1f}",
            _pct(d.rate),
        )
    console.print(deciles)
    if report.lowest_converted:
        low = Table(title="Lowest-scored converted leads")
        for column in ("lead", "score", "tier", "why"):
            low.add_column(column)
        for r in report.lowest_converted:
            low.add_row(r.lead_id, _score(r.score), r.tier, r.explanation() or "no rule fired")
        console.print(low)
    console.print("Suggested thresholds:")
    for line in _suggestions(report):
        console.print(f"  {line}")


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
    "td:first-child,th:first-child{text-align:left}"
)


def _html_table(title: str, header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<h2>{html.escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _page(title: str, parts: list[str]) -> str:
    return (
        f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style><h1>{html.escape(title)}</h1>{''.join(parts)}</html>\n"
    )


def _backtest_parts(report: BacktestReport) -> list[str]:
    m = report.mql
    summary = (
        f"{report.leads} leads with an outcome, {report.converted} converted "
        f"({_pct(report.rate)}); ROC AUC {_num(report.auc)}; {report.without_outcome} "
        f"without an outcome. MQL ≥ {m.threshold:g}: {m.mqls} MQLs, precision "
        f"{_pct(m.precision)}, recall {_pct(m.recall)}."
    )
    return [
        f"<p>{html.escape(summary)}</p>",
        _html_table(
            "Tiers",
            ["tier", "leads", "converted", "rate", "lift"],
            [
                [t.name, str(t.leads), str(t.converted), _pct(t.rate), _num(t.lift, 2)]
                for t in reversed(report.tiers)
            ],
        ),
        _html_table(
            "Score deciles",
            ["decile", "scores", "leads", "converted", "rate"],
            [
                [
                    str(d.decile),
                    f"{_score(d.min_score)}–{_score(d.max_score)}",
                    f"{d.leads:.0f}",
                    f"{d.converted:.1f}",
                    _pct(d.rate),
                ]
                for d in report.deciles
            ],
        ),
        _html_table(
            "Lowest-scored converted leads",
            ["lead", "score", "tier", "why"],
            [
                [r.lead_id, _score(r.score), r.tier, r.explanation() or "no rule fired"]
                for r in report.lowest_converted
            ],
        ),
        "<h2>Suggested thresholds</h2><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in _suggestions(report))
        + "</ul>",
    ]


def backtest_html(report: BacktestReport) -> str:
    return _page(f"Backtest of {report.model}", _backtest_parts(report))


def _move_json(move: Move) -> dict[str, Any]:
    return {
        "id": move.lead_id,
        "old": {"score": number(move.old.score), "tier": move.old.tier, "mql": move.old.is_mql},
        "new": {"score": number(move.new.score), "tier": move.new.tier, "mql": move.new.is_mql},
        "delta": number(move.delta),
        "rules": [
            {"rule": r.rule, "old": number(r.old), "new": number(r.new), "delta": number(r.delta)}
            for r in move.rules
        ],
    }


def diff_json(
    report: DiffReport, backtests: tuple[BacktestReport, BacktestReport] | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "old": report.old_model,
        "new": report.new_model,
        "leads": report.leads,
        "changed": report.changed,
        "matrix": {
            "old_tiers": list(report.old_tiers),
            "new_tiers": list(report.new_tiers),
            "counts": [list(row) for row in report.matrix],
        },
        "new_mqls": {
            "count": report.new_mqls,
            "examples": [_move_json(m) for m in report.new_mql_examples],
        },
        "lost_mqls": {
            "count": report.lost_mqls,
            "examples": [_move_json(m) for m in report.lost_mql_examples],
        },
        "top_moves": [_move_json(m) for m in report.top_moves],
    }
    if backtests is not None:
        out["backtest"] = {"old": backtest_json(backtests[0]), "new": backtest_json(backtests[1])}
    return out


def _rules_text(move: Move) -> str:
    return " · ".join(
        f"{r.rule} {format_points(r.old, signed=False)}→{format_points(r.new, signed=False)}"
        for r in move.rules
    )


def _matrix_rows(report: DiffReport) -> list[list[str]]:
    return [
        [old, *(str(n) for n in row)]
        for old, row in zip(report.old_tiers, report.matrix, strict=True)
    ]


def _moves_rows(moves: tuple[Move, ...]) -> list[list[str]]:
    return [
        [
            m.lead_id,
            f"{_score(m.old.score)} {m.old.tier}",
            f"{_score(m.new.score)} {m.new.tier}",
            format_points(m.delta),
            _rules_text(m),
        ]
        for m in moves
    ]


_MOVE_HEADER = ["lead", "old", "new", "change", "rules that moved it"]


def diff_table(
    report: DiffReport,
    backtests: tuple[BacktestReport, BacktestReport] | None,
    console: Console,
) -> None:
    console.print(
        f"[bold]{report.old_model} → {report.new_model}[/]: {report.leads} leads, "
        f"{report.changed} change score; {report.new_mqls} new MQLs, {report.lost_mqls} lost"
    )
    matrix = Table(title="Tier moves (rows: old tier, columns: new tier)")
    for column in ["old \\ new", *report.new_tiers]:
        matrix.add_column(column, justify="right")
    for row in _matrix_rows(report):
        matrix.add_row(*row)
    console.print(matrix)
    for title, moves in (
        ("New MQLs", report.new_mql_examples),
        ("Lost MQLs", report.lost_mql_examples),
        ("Largest moves", report.top_moves),
    ):
        if moves:
            table = Table(title=title)
            for column in _MOVE_HEADER:
                table.add_column(column)
            for row in _moves_rows(moves):
                table.add_row(*row)
            console.print(table)
    if backtests is not None:
        side = Table(title="Backtests side by side")
        side.add_column("")
        side.add_column(backtests[0].model, justify="right")
        side.add_column(backtests[1].model, justify="right")
        for label, get in (
            ("ROC AUC", lambda b: _num(b.auc)),
            ("MQLs", lambda b: str(b.mql.mqls)),
            ("MQL precision", lambda b: _pct(b.mql.precision)),
            ("MQL recall", lambda b: _pct(b.mql.recall)),
        ):
            side.add_row(label, get(backtests[0]), get(backtests[1]))
        console.print(side)


def diff_html(report: DiffReport, backtests: tuple[BacktestReport, BacktestReport] | None) -> str:
    summary = (
        f"{report.leads} leads, {report.changed} change score; {report.new_mqls} new MQLs, "
        f"{report.lost_mqls} lost."
    )
    parts = [
        f"<p>{html.escape(summary)}</p>",
        _html_table(
            "Tier moves (rows: old, columns: new)",
            ["old \\ new", *report.new_tiers],
            _matrix_rows(report),
        ),
        _html_table("New MQLs", _MOVE_HEADER, _moves_rows(report.new_mql_examples)),
        _html_table("Lost MQLs", _MOVE_HEADER, _moves_rows(report.lost_mql_examples)),
        _html_table("Largest moves", _MOVE_HEADER, _moves_rows(report.top_moves)),
    ]
    if backtests is not None:
        for backtest in backtests:
            parts.append(f"<h2>Backtest of {html.escape(backtest.model)}</h2>")
            parts += _backtest_parts(backtest)
    return _page(f"{report.old_model} → {report.new_model}", parts)
