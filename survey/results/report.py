"""The 评议结果报告: an A4 PDF of a campaign's results for filing and printing,
made by WeasyPrint from ``templates/report/report.html`` (HTML and a print
stylesheet) with the installed CJK fonts embedded, so that its Chinese text
is drawn and can be extracted (poppler, Ghostscript, PDFium).

Cover, method (groups and weights, trimming, bootstrap, thresholds: the
snapshot's rules), the ranking of each category with its charts (SVG, text
kept as text), return rates, per-indicator highlights where the results have
per-unit ``items`` (SCORING.md section 5a), consequences, and the sign-off;
before 定稿 every page carries the 草稿 watermark. Everything a user typed is
escaped by the template (planted markup prints as text)."""
from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_request_context, render_template
from sqlalchemy import func, select

from survey import charts
from survey.clock import beijing_date, format_beijing, today
from survey.extensions import db
from survey.models import Approval, Ballot, Campaign, CampaignGroup, ResultSnapshot
from survey.models.distribution import CHANNEL_LABELS
from survey.results import ResultsError, escalation, exports, queries, signoff
from survey.results.i18n import gettext as _
from survey.results.inputs import FLAG_LABELS
from survey.results.rectification import consequences_of
from survey.results.snapshots import current_snapshot, effective_rules, final_versions, parsed

#: How many of a unit's items the report and the 整改通知 name as its weakest.
WEAKEST = 3


def ballot_count(campaign: Campaign) -> int:
    """The campaign's ballots (blank ones too)."""
    return int(db.session.scalar(select(func.count()).select_from(Ballot)
                                 .where(Ballot.campaign_id == campaign.id)) or 0)


def require_ballots(campaign: Campaign) -> None:
    """Refuse a campaign without a ballot: there are no results to report."""
    if ballot_count(campaign) == 0:
        raise ResultsError(_("评议活动 %(code)s 还没有收到评议票，不能生成评议结果报告和文书。", code=campaign.code))


def weakest_items(result: dict[str, Any], items: list[tuple[str, str]], k: int = WEAKEST) -> list[queries.ItemRow]:
    """A unit's ``k`` lowest-scored items (``queries.item_rows``), the lowest first (ties in questionnaire order)."""
    return [row for row in queries.item_rows(result, items) if row.score is not None][:k]


def has_items(results: dict[str, Any]) -> bool:
    return any(u.get("items") for u in results["units"])


@dataclass
class ItemOverview:
    """An item across the units: the mean of their scores, the lowest and the highest."""

    label: str
    mean: float
    low: tuple[str, float]
    high: tuple[str, float]
    units: int


def item_overview(results: dict[str, Any], items: list[tuple[str, str]], names: dict[str, str]) -> list[ItemOverview]:
    """Each item (in questionnaire order) over the units that have a score for it."""
    by_item: dict[str, list[tuple[str, float]]] = {}
    for u in results["units"]:
        for row in queries.item_rows(u, items):
            if row.score is not None:
                by_item.setdefault(row.code, []).append((names.get(u["code"], u["code"]), row.score))
    out = []
    for code, label in items:
        scores = by_item.get(code)
        if scores:
            out.append(ItemOverview(label, sum(s for _n, s in scores) / len(scores),
                                    min(scores, key=lambda p: p[1]), max(scores, key=lambda p: p[1]), len(scores)))
    return out


def chart_data_uri(campaign: Campaign, snap: ResultSnapshot, results: dict[str, Any], name: str) -> str:
    """A chart of the results pages (``exports.chart_spec``) as an SVG data URI
    whose text stays text (``charts.SVG_TEXT``): WeasyPrint draws it with the
    CJK font and embeds it, so the chart's words can be found in the PDF too.
    It is the one kept beside the snapshot (the results job draws it with the
    pages' charts), drawn here only where it is missing."""
    data = exports.chart_bytes(campaign, snap, results, name, charts.SVG_TEXT)
    return "data:image/svg+xml;base64," + base64.b64encode(data).decode("ascii")


def method_summary(campaign: Campaign, rules: dict[str, Any]) -> dict[str, Any]:
    """What the method section says, from the rules the results were computed with."""
    groups = db.session.scalars(select(CampaignGroup).where(CampaignGroup.campaign_id == campaign.id)
                                .order_by(CampaignGroup.position)).all()
    total = sum(g.weight for g in groups) or 1.0
    bottom = rules.get("bottom")
    objective: dict[str, float] = dict(rules.get("objective_components") or {})
    parts = (rules["ballot_share"] + sum(objective.values())) or 1.0
    return {
        "groups": [{"label": g.label, "weight": g.weight, "share": g.weight / total} for g in groups],
        # the shares of the composite score, as it takes them: over their sum
        "ballot_share": rules["ballot_share"] / parts,
        "objective": {name: share / parts for name, share in objective.items()},
        "trim": rules["trim_per_end"],
        "nonresponse_adjust": rules["nonresponse_adjust"],
        "weight_cap": rules["weight_cap"],
        "exclude_flags": [_(FLAG_LABELS.get(f, f)) for f in rules["exclude_flags"]],
        "thresholds": rules["thresholds"],
        "max_dissatisfied_share": rules.get("max_dissatisfied_share"),
        "bottom": bottom,
        "min_valid": rules["min_valid_per_unit"],
        "bootstrap": rules["bootstrap"],
    }


@dataclass
class SignOff:
    """The 定稿 record the report closes with (None before finalization)."""

    version: int
    finalized_on: dt.date
    quorum: int | None
    approvals: list[Approval]
    results_sha256: str
    note: str | None


def sign_off(campaign: Campaign, snap: ResultSnapshot) -> SignOff | None:
    """The approvers of the first final version (who signed the results off)
    and its date; the version shown (a later one after a decided appeal)."""
    if not campaign.state.is_frozen or snap.kind != "final":
        return None
    first = final_versions(campaign)[0]
    approvals = [a for a in signoff.approvals_of(campaign) if signoff.counts(a, first.results_sha256)]
    return SignOff(snap.version, beijing_date(first.created_at), first.quorum, approvals, snap.results_sha256,
                   snap.note)


def channels_with_ballots(results: dict[str, Any]) -> list[tuple[str, str]]:
    """The channels some unit has ballots from (SCORING.md section 5a ``by_channel``), with their labels."""
    seen = {channel for u in results["units"] for channel, f in (u.get("by_channel") or {}).items() if f["n"]}
    return [(code, _(label)) for code, label in CHANNEL_LABELS.items() if code in seen] + \
        [(code, code) for code in sorted(seen) if code not in CHANNEL_LABELS]


def context(campaign: Campaign) -> dict[str, Any]:
    """Everything the report template shows."""
    require_ballots(campaign)
    snap = current_snapshot(campaign)
    results = parsed(snap)
    rules = effective_rules(campaign)
    views = queries.ranking(campaign, results)
    names = {u.code: u.name for u in queries.unit_list(campaign)}
    items = queries.labels_of(campaign).items
    glabels = queries.group_labels(campaign)
    settings = queries.settings_for(campaign)
    draft = not campaign.state.is_frozen
    highlights = []
    if has_items(results):
        for view in views:
            highlights.append((view, [(row, weakest_items(row.result, items)) for row in view.units]))
    return {
        "campaign": campaign, "snap": snap, "draft": draft, "interim": queries.interim(campaign), "today": today(),
        "office": current_app.config["PINGYI_OFFICE_NAME"],
        "ballots": results["ballots"], "views": views, "rules": rules,
        "method": method_summary(campaign, rules),
        "groups": [{**g, "label": glabels.get(g["code"], g["code"])} for g in results["groups"]],
        "return_target": campaign.return_target,
        "charts": {name: chart_data_uri(campaign, snap, results, name)
                   for name in [f"{kind}-{v.code}" for v in views for kind in ("ranking", "shares")] + ["returns"]},
        "items": item_overview(results, items, names) if highlights else [],
        "channels": channels_with_ballots(results),
        "highlights": highlights,
        "consequences": consequences_of(campaign, cancelled=False) if not draft else [],
        "consequence_rules": queries.consequence_rules(settings),
        "escalation_rules": [escalation.describe(r) for r in escalation.rules_of(queries.consequence_rules(settings))],
        "sign_off": sign_off(campaign, snap),
        "approvals": [a for a in signoff.approvals_of(campaign) if signoff.counts(a, snap.results_sha256)]
        if draft else [],
        "quorum": signoff.quorum(campaign, settings),
        "warnings": results.get("warnings") or [],
        "format_beijing": format_beijing,
    }


def html(campaign: Campaign) -> str:
    """The report's HTML (what WeasyPrint lays out)."""
    return render_template("report/report.html", **context(campaign))


def pdf(campaign: Campaign) -> bytes:
    """The 评议结果报告 as A4 PDF bytes (a 草稿 before 定稿). Outside a request
    (the command line) it is made in the office's language, Chinese. Nothing
    is fetched while it is laid out: the charts are data URIs, and any other
    URL (none is written; user text is escaped) is refused."""
    import weasyprint  # imported here: pango is loaded only where a report is printed
    from weasyprint.urls import URLFetcher

    if has_request_context():
        text = html(campaign)
    else:
        with current_app.test_request_context("/"):
            text = html(campaign)
    document = weasyprint.HTML(string=text, url_fetcher=URLFetcher(allowed_protocols={"data"}))
    return bytes(document.write_pdf())
