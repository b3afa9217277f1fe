"""The review shown three ways: JSON for machines, a table for a terminal, one HTML file.

The HTML report is a single self-contained file: its charts are SVG drawn by
matplotlib and written inline, with no script, font or image from the network, so it
opens offline, prints, and can be mailed as it is.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from leadsync.scoring.lead import FEEDBACK
from leadsync.scoring.review import Rate, ReviewReport, Winner
from leadsync.sync.output import number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_COLOURS = ("#7b8794", "#3e7cb1", "#e07a1f", "#2a9d5c", "#b0413e", "#6c4f9e")


def review_json(report: ReviewReport) -> dict[str, Any]:
    return {
        "model": report.model,
        "leads": report.leads,
        "with_outcome": report.with_outcome,
        "converted": report.converted,
        "mql_to_sql": _rate(report.mql_to_sql),
        "bands": [
            {
                "name": b.name,
                "min": b.low,
                "leads": b.leads,
                "close_rate": _rate(b.close_rate),
                "won": b.won,
                "cycle_days": None if b.cycle_days is None else round(b.cycle_days, 1),
            }
            for b in report.bands
        ],
        "low_score_winners": [_winner(w) for w in report.low_score_winners],
        "winners_share": dict(report.winners_share),
        "tiers_over_time": dict(report.tiers_over_time),
        "over_time": [
            {
                "period": p.period,
                "leads": p.leads,
                "mql_to_sql": _rate(p.mql_to_sql),
                "close_rate": _rate(p.close_rate),
            }
            for p in report.over_time
        ],
        "deciles": [
            {
                "decile": d.decile,
                "min_score": number(d.min_score),
                "max_score": number(d.max_score),
                "leads": round(d.leads, 1),
                "rate": None if d.rate is None else round(d.rate, 4),
            }
            for d in report.deciles
        ],
        "rules": [
            {
                "rule": r.rule,
                "label": r.label,
                "points": number(r.points),
                "leads": r.leads,
                "rate": _rate(r.rate),
                "lift": None if r.lift is None else round(r.lift, 3),
                "disagrees": r.disagrees,
                "suggested_points": r.suggested,
            }
            for r in report.rules
        ],
        "suggested_threshold": _threshold(report),
        "rejected": _rate(report.feedback),
        "rejected_by_tier": {name: _rate(r) for name, r in report.rejected_by_tier},
        "rejected_by_rule": {name: _rate(r) for name, r in report.rejected_by_rule},
        "rejected_mqls": [_winner(w) for w in report.rejected_mqls],
        "rejected_share": dict(report.rejected_share),
        "tasks_by_tier": dict(report.tasks_by_tier),
        "missing": list(report.missing),
    }


def _threshold(report: ReviewReport) -> dict[str, Any] | None:
    found = report.threshold
    if found is None:
        return None
    return {
        "score": number(found.score),
        "mqls": found.mqls,
        "precision": None if found.precision is None else round(found.precision, 4),
        "recall": None if found.recall is None else round(found.recall, 4),
    }


def _winner(w: Winner) -> dict[str, Any]:
    return {
        "id": w.lead_id,
        "score": number(w.score),
        "tier": w.tier,
        "reasons": w.reasons,
        "won_at": w.won_at.isoformat() if w.won_at else None,
        "feedback": w.feedback,
    }


def _tasks(report: ReviewReport) -> str:
    """``mql 12 done, 3 overdue; warm 1 deleted``."""
    return "; ".join(
        f"{tier} " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        for tier, counts in report.tasks_by_tier
    )


def _rate(rate: Rate) -> dict[str, Any]:
    value = None if rate.value is None else round(rate.value, 4)
    return {"leads": rate.leads, "hits": rate.hits, "rate": value}


def _percent(rate: Rate) -> str:
    if rate.value is None:
        return f"too few leads ({rate.leads})"
    return f"{rate.value:.0%} of {rate.leads}"


def review_table(report: ReviewReport, console: Console) -> None:
    console.print(
        f"[bold]Review of {report.model}[/]: {report.leads} leads, {report.with_outcome} with "
        f"an outcome, {report.converted} converted"
    )
    console.print(f"MQL → SQL: {_percent(report.mql_to_sql)}")
    table = Table("band (initial score)", "leads", "close rate", "won", "median cycle")
    for b in report.bands:
        cycle = "—" if b.cycle_days is None else f"{b.cycle_days:.0f} days"
        table.add_row(b.name, str(b.leads), _percent(b.close_rate), str(b.won), cycle)
    console.print(table)
    if report.over_time:
        periods = Table("first scored in", "leads", "MQL → SQL", "close rate")
        for p in report.over_time:
            periods.add_row(p.period, str(p.leads), _percent(p.mql_to_sql), _percent(p.close_rate))
        console.print(periods)
    if report.low_score_winners:
        winners = Table("won with a low score", "score", "tier", "what they did")
        for w in report.low_score_winners:
            winners.add_row(w.lead_id, str(number(w.score)), w.tier, w.reasons or "—")
        console.print(winners)
        shared = ", ".join(f"{label} ({n})" for label, n in report.winners_share)
        console.print(f"what they share: {shared or 'no rule'}")
    if report.feedback.leads:
        console.print(
            f"MQLs sales rejected: {_percent(report.feedback)}; by tier: "
            + ", ".join(f"{n} {_percent(r)}" for n, r in report.rejected_by_tier)
        )
        rejected = Table("rejected MQL", "score", "feedback", "why it scored")
        for w in report.rejected_mqls:
            rejected.add_row(w.lead_id, str(number(w.score)), FEEDBACK.get(w.feedback or "", ""),
                             w.reasons or "—")  # fmt: skip
        console.print(rejected)
        shared = ", ".join(f"{label} ({n})" for label, n in report.rejected_share)
        console.print(f"what the rejected MQLs share: {shared or 'no rule'}")
    if report.tasks_by_tier:
        console.print(f"MQL tasks: {_tasks(report)}")
    disagreeing = [r for r in report.rules if r.disagrees]
    if disagreeing:
        rules = Table("rule whose points disagree", "points", "leads", "converted", "suggested")
        for r in disagreeing:
            rules.add_row(r.label, str(number(r.points)), str(r.leads), _percent(r.rate),
                          str(r.suggested))  # fmt: skip
        console.print(rules)
    if report.threshold is not None:
        console.print(f"suggested MQL threshold: {number(report.threshold.score)} "
                      "(write it as a model file with --suggest FILE)")  # fmt: skip
    for line in report.missing:
        console.print(f"[yellow]missing:[/] {line}", markup=True)


def review_html(report: ReviewReport, account: str) -> str:
    """The whole report as one HTML page."""
    charts = [
        ("Initial scores, by tier", _distribution(report)),
        ("Close rate by initial score band", _close_rates(report)),
        ("Median sales cycle by band", _cycles(report)),
        ("Leads first scored each month, by tier", _over_time(report)),
        ("Calibration: conversion by tenth of initial score", _calibration(report)),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(b.name)}</td><td>{b.leads}</td>"
        f"<td>{html.escape(_percent(b.close_rate))}</td><td>{b.won}</td>"
        f"<td>{'—' if b.cycle_days is None else f'{b.cycle_days:.0f} days'}</td></tr>"
        for b in report.bands
    )
    winners = "".join(
        f"<tr><td>{html.escape(w.lead_id)}</td><td>{number(w.score)}</td>"
        f"<td>{html.escape(w.tier)}</td><td>{html.escape(w.reasons or '—')}</td></tr>"
        for w in report.low_score_winners
    )
    missing = "".join(f"<li>{html.escape(m)}</li>" for m in report.missing)
    figures = "".join(
        f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption>{svg}</figure>'
        for title, svg in charts
    )
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>leadsync review · {html.escape(account)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1f2933; }}
h1 {{ font-size: 1.5rem; }} .kpi {{ font-size: 1.1rem; }}
.charts {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(30rem, 1fr));
          gap: 1rem; }}
figure.chart {{ margin: 0; border: 1px solid #e4e7eb; padding: .5rem; }}
figure.chart svg {{ width: 100%; height: auto; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border-bottom: 1px solid #e4e7eb; padding: .3rem .8rem; text-align: left; }}
.missing {{ background: #fff4e5; border-left: 4px solid #e07a1f; padding: .5rem 1rem; }}
@media print {{ .charts {{ display: block; }} figure.chart {{ break-inside: avoid; }} }}
</style></head><body>
<h1>Lead scoring review · {html.escape(account)} · {html.escape(report.model)}</h1>
<p class="kpi">{report.leads} leads, {report.with_outcome} with an outcome, {report.converted}
converted. MQL → SQL: <strong>{html.escape(_percent(report.mql_to_sql))}</strong>.</p>
{f'<div class="missing"><strong>Missing</strong><ul>{missing}</ul></div>' if missing else ""}
<div class="charts">{figures}</div>
<h2>By initial score band</h2>
<table><tr><th>band</th><th>leads</th><th>close rate</th><th>won</th><th>median cycle</th></tr>
{rows}</table>
<h2>Over time (by when leadsync first scored the leads)</h2>
<table><tr><th>period</th><th>leads</th><th>MQL → SQL</th><th>close rate</th></tr>
{
        "".join(
            f"<tr><td>{html.escape(p.period)}</td><td>{p.leads}</td>"
            f"<td>{html.escape(_percent(p.mql_to_sql))}</td>"
            f"<td>{html.escape(_percent(p.close_rate))}</td></tr>"
            for p in report.over_time
        )
    }
</table>
<h2>Won with a low score</h2>
<table><tr><th>lead</th><th>score</th><th>tier</th><th>what they did</th></tr>{winners}</table>
<p>Rules they share: {
        html.escape(", ".join(f"{k} ({n})" for k, n in report.winners_share)) or "none"
    }</p>
<h2>MQLs sales rejected</h2>
<p>{html.escape(_percent(report.feedback))} of the MQLs with feedback; by tier:
{html.escape(", ".join(f"{n} {_percent(r)}" for n, r in report.rejected_by_tier)) or "—"};
by rule: {
        html.escape(", ".join(f"{n} {_percent(r)}" for n, r in report.rejected_by_rule)) or "—"
    }.</p>
<table><tr><th>lead</th><th>score</th><th>feedback</th><th>why it scored</th></tr>
{
        "".join(
            f"<tr><td>{html.escape(w.lead_id)}</td><td>{number(w.score)}</td>"
            f"<td>{html.escape(FEEDBACK.get(w.feedback or '', ''))}</td>"
            f"<td>{html.escape(w.reasons or '—')}</td></tr>"
            for w in report.rejected_mqls
        )
    }</table>
<p>What they share: {
        html.escape(", ".join(f"{k} ({n})" for k, n in report.rejected_share)) or "—"
    }</p>
<p>MQL tasks, by initial tier: {html.escape(_tasks(report)) or "—"}.</p>
<h2>Rules whose points disagree with the outcomes</h2>
<table><tr><th>rule</th><th>points</th><th>leads</th><th>converted</th><th>suggested</th></tr>
{
        "".join(
            f"<tr><td>{html.escape(r.label)}</td><td>{number(r.points)}</td><td>{r.leads}</td>"
            f"<td>{html.escape(_percent(r.rate))}</td><td>{r.suggested}</td></tr>"
            for r in report.rules
            if r.disagrees
        )
    }</table>
<p>Suggested MQL threshold: {number(report.threshold.score) if report.threshold else "—"}
(<code>leadsync review --suggest model.yaml</code> writes these as a model file to
<code>model diff</code> and <code>model backtest</code> before adopting it).</p>
<footer><small>Made by leadsync on {made}.</small></footer>
</body></html>
"""


def _figure() -> Figure:
    from matplotlib.figure import Figure  # loaded only when a report is drawn

    figure = Figure(figsize=(6.4, 3.2), layout="constrained")
    return figure


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _distribution(report: ReviewReport) -> str:
    """How many leads had each initial score, stacked by tier."""
    figure = _figure()
    axes = figure.add_subplot()
    if not report.scores:
        return _empty(figure, axes, "no leads")
    low = float(min(s for s, _, _ in report.scores))
    high = float(max(s for s, _, _ in report.scores))
    bins = [low + (high - low) * i / 20 for i in range(21)] if high > low else [low - 1, low + 1]
    for colour, band in zip(_COLOURS, report.bands, strict=False):
        values = [float(s) for s, tier, n in report.scores if tier == band.name for _ in range(n)]
        axes.hist(values, bins=bins, label=band.name, color=colour, histtype="barstacked")
    axes.legend(fontsize=8)
    axes.set_xlabel("initial score")
    axes.set_ylabel("leads")
    return _svg(figure)


def _empty(figure: Figure, axes: Any, message: str) -> str:
    """A chart without data says why, instead of empty axes."""
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    return _svg(figure)


def _close_rates(report: ReviewReport) -> str:
    figure = _figure()
    axes = figure.add_subplot()
    if not report.with_outcome:
        return _empty(figure, axes, "no outcomes yet: see Missing")
    names = [b.name for b in report.bands]
    values = [100 * (b.close_rate.value or 0) for b in report.bands]
    bars = axes.bar(names, values, color=_COLOURS[1])
    for bar, band in zip(bars, report.bands, strict=True):
        label = "too few" if band.close_rate.value is None else f"n={band.leads}"
        axes.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)  # fmt: skip
    axes.set_ylabel("converted (%)")
    return _svg(figure)


def _cycles(report: ReviewReport) -> str:
    figure = _figure()
    axes = figure.add_subplot()
    if not any(b.cycle_days for b in report.bands):
        return _empty(figure, axes, "no won deals with dates yet")
    names = [b.name for b in report.bands]
    axes.bar(names, [b.cycle_days or 0 for b in report.bands], color=_COLOURS[2])
    axes.set_ylabel("median days to won")
    return _svg(figure)


def _over_time(report: ReviewReport) -> str:
    figure = _figure()
    axes = figure.add_subplot()
    periods = [p for p, _ in report.tiers_over_time]
    bottom = [0] * len(periods)
    for colour, band in zip(_COLOURS, report.bands, strict=False):
        values = [counts.get(band.name, 0) for _, counts in report.tiers_over_time]
        axes.bar(periods, values, bottom=bottom, label=band.name, color=colour)
        bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    if not periods:
        return _empty(figure, axes, "no score history yet")
    axes.legend(fontsize=8)
    axes.set_ylabel("leads")
    return _svg(figure)


def _calibration(report: ReviewReport) -> str:
    """Conversion rate by tenth of initial score, best first: a well-ranked model's line
    falls from left to right; the dashed line is the average rate."""
    figure = _figure()
    axes = figure.add_subplot()
    ranked = [d for d in report.deciles if d.rate is not None]
    if not ranked:
        return _empty(figure, axes, "no outcomes yet: see Missing")
    axes.plot([d.decile for d in ranked], [100 * (d.rate or 0) for d in ranked], marker="o",
              color=_COLOURS[3])  # fmt: skip
    if report.with_outcome:
        axes.axhline(100 * report.converted / report.with_outcome, color=_COLOURS[0], ls="--")
    axes.set_xticks(range(1, 11))
    axes.set_xlabel("tenth of leads by initial score (1 = best scored)")
    axes.set_ylabel("converted (%)")
    return _svg(figure)
