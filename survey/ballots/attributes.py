"""What a ballot says about its evaluator: the values of the variables its
group is raked on (SCORING.md section 4), and nothing that narrows the
evaluator down further than the campaign promises (docs/anonymity.md).

A raked variable gets its value one of two ways (``MarginVariable.supply``):

- ``question``: the form asks it (every channel: web, paper, open); the
  answer is the ballot's attribute;
- ``roster``: a column of the roster import. In a named campaign the
  ballot carries the evaluator's attributes as they are. In an anonymous
  one the **k rule** decides, once per batch when it is issued, what each
  invitation's ballot will carry (``Invitation.attributes``): a value
  reaches ballots only where at least k evaluators of the batch share it,
  and so does every combination of values of the group's roster variables.
  Values held back fall into the variable's fallback category (其他); a
  fallback shared by fewer than k takes in the smallest released values
  until it is not; where even that leaves fewer than k, the batch releases
  nothing for the variable. Nothing is decided at ballot time, so a ballot
  reveals no more than the counts of its batch.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, select, update

from survey.extensions import db
from survey.models import Batch, Campaign, CampaignGroup, Evaluator, Invitation, MarginTarget, MarginVariable
from survey.models.base import table_of
from survey.models.distribution import OPEN_CHANNELS

#: A value of each roster variable, in the variables' order (None: no value).
Cell = tuple[str | None, ...]


def variables_of(group: CampaignGroup) -> list[tuple[MarginVariable, list[MarginTarget]]]:
    """The group's raked variables in raking order, each with its categories."""
    targets: dict[str, list[MarginTarget]] = {}
    for m in group.margins:
        targets.setdefault(m.variable, []).append(m)
    return [(v, targets.get(v.variable, [])) for v in group.margin_variables]


@dataclass(frozen=True)
class RosterVariable:
    """A raked variable taken from the roster: its categories and fallback."""

    variable: str
    label: str
    categories: tuple[str, ...]
    fallback: str | None


def roster_variables(group: CampaignGroup) -> list[RosterVariable]:
    return [RosterVariable(v.variable, v.label, tuple(t.category for t in targets),
                           v.fallback if v.fallback in {t.category for t in targets} else None)
            for v, targets in variables_of(group) if not v.asked]


def asked_variables(group: CampaignGroup) -> list[MarginVariable]:
    return [v for v in group.margin_variables if v.asked]


# --- the k rule ---------------------------------------------------------------


@dataclass
class Release:
    """What a batch's ballots may carry of the roster: per evaluator (in the
    order given) the released attributes (None: none), and a summary for the
    batch's page (Batch.attribute_release)."""

    attributes: list[dict[str, str] | None]
    summary: dict[str, Any] = field(default_factory=dict)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def _named(value: Any, var: RosterVariable) -> str | None:
    """The roster's value as a category of the margin: itself where the margin
    names it, else the fallback (no value, or one the margin does not name)."""
    text = _text(value)
    return text if text in var.categories else var.fallback


def _merge_small(cells: list[Cell], fallback: Cell, k: int) -> list[Cell]:
    """Every cell shared by fewer than k becomes `fallback`; then, while the
    fallback cell holds 1 to k-1, the smallest other cell joins it (ties: the
    later in the order of first appearance). Where everything has joined and
    it still holds fewer than k, it is returned as it is: the caller drops it."""
    counts = Counter(cells)
    small = {c for c, n in counts.items() if n < k}
    cells = [fallback if c in small else c for c in cells]
    while True:
        counts = Counter(cells)
        held = counts.get(fallback, 0)
        if held == 0 or held >= k:
            return cells
        others = [c for c in counts if c != fallback]
        if not others:
            return cells
        order = {c: i for i, c in enumerate(dict.fromkeys(cells))}
        smallest = min(others, key=lambda c: (counts[c], -order[c]))
        cells = [fallback if c == smallest else c for c in cells]


def release(variables: Sequence[RosterVariable], values: Sequence[Mapping[str, Any]], k: int) -> Release:
    """The k rule over one batch: ``values`` are its evaluators' roster
    attributes (one mapping each); every released value and every released
    combination of values is shared by at least k of them."""
    n = len(values)
    summary: dict[str, Any] = {"k": k, "evaluators": n, "variables": {}}
    if not variables or n == 0:
        return Release([None] * n, summary)
    named = [[_named(v.get(var.variable), var) for var in variables] for v in values]
    unnamed = [sum(1 for raw in values if _text(raw.get(var.variable)) not in var.categories) for var in variables]
    columns: list[list[str | None]] = []
    for j, var in enumerate(variables):
        column = [row[j] for row in named]
        merged = _merge_small([(c,) for c in column], (var.fallback,), k)
        column = [c[0] for c in merged]
        if 0 < Counter(column).get(None, 0) < k or 0 < Counter(column).get(var.fallback, 0) < k:
            column = [None] * n  # a cell of fewer than k remains: nothing released
        columns.append(column)
    cells = [tuple(col[i] for col in columns) for i in range(n)]
    fallback = tuple(var.fallback if any(c is not None for c in col) else None
                     for var, col in zip(variables, columns, strict=True))
    cells = _merge_small(cells, fallback, k)
    if 0 < Counter(cells).get(fallback, 0) < k:
        cells = [(None,) * len(variables)] * n
    attributes: list[dict[str, str] | None] = []
    for cell in cells:
        own = {var.variable: value for var, value in zip(variables, cell, strict=True) if value is not None}
        attributes.append(own or None)
    for j, var in enumerate(variables):
        final = Counter(cell[j] for cell in cells)
        summary["variables"][var.variable] = {
            "label": var.label,
            "values": {str(v): c for v, c in final.items() if v is not None},
            "unnamed": unnamed[j],
            "held_back": sum(1 for row, cell in zip(named, cells, strict=True)
                             if row[j] is not None and row[j] != var.fallback and cell[j] != row[j]),
            "absent": final.get(None, 0),
        }
    return Release(attributes, summary)


def release_for(campaign: Campaign, group: CampaignGroup, evaluator_ids: Sequence[int]) -> Release | None:
    """The k rule for a batch of these evaluators (None where it does not
    apply: a named campaign, a group raked on no roster variable)."""
    variables = roster_variables(group)
    if not campaign.anonymous or not variables or not evaluator_ids:
        return None
    found: dict[int, dict[str, Any]] = {}
    ids = list(evaluator_ids)
    for start in range(0, len(ids), 10_000):
        chunk = ids[start:start + 10_000]
        found.update((i, a) for i, a in db.session.execute(select(Evaluator.id, Evaluator.attributes)
                                                           .where(Evaluator.id.in_(chunk))))
    return release(variables, [found.get(i) or {} for i in ids], campaign.attribute_k)


def refresh_releases(campaign: Campaign, groups: Iterable[CampaignGroup] | None = None) -> int:
    """Decide the k rule again for the batches of these groups (all where
    None), after their margins, k or the campaign's anonymity changed: only
    while no ballot can exist (a draft), so that no ballot carries the old
    decision. Returns the number of batches decided."""
    if not campaign.state.allows_ballot_changes:
        return 0
    wanted = {g.id for g in (campaign.groups if groups is None else groups)}
    table = table_of(Invitation)
    decided = 0
    batches = db.session.scalars(select(Batch).where(Batch.campaign_id == campaign.id, Batch.issued.is_not(None),
                                                     Batch.campaign_group_id.in_(wanted)).order_by(Batch.id))
    for batch in batches:
        rows = [(i, e) for i, e in db.session.execute(
            select(Invitation.id, Invitation.evaluator_id)
            .where(Invitation.batch_id == batch.id, Invitation.evaluator_id.is_not(None)).order_by(Invitation.id))]
        outcome = release_for(campaign, batch.group, [e for _i, e in rows if e is not None])
        attributes = outcome.attributes if outcome is not None else [None] * len(rows)
        if rows:
            db.session.execute(update(table).where(table.c.id == bindparam("b_id"))
                               .values(attributes=bindparam("b_attributes")),
                               [{"b_id": i, "b_attributes": a} for (i, _e), a in zip(rows, attributes, strict=True)],
                               execution_options={"synchronize_session": False})
        batch.attribute_release = outcome.summary if outcome is not None else None
        decided += 1
    return decided


# --- a ballot's attributes -----------------------------------------------------


def ballot_attributes(*, anonymous: bool, evaluator: Mapping[str, Any] | None, released: Mapping[str, Any] | None,
                      answered: Mapping[str, str] | None) -> dict[str, Any] | None:
    """What the ballot stores: in a named campaign the evaluator's attributes,
    in an anonymous one only what the batch's k rule released; and the
    answers to the margin questions (they win: the evaluator's own word)."""
    base = evaluator if not anonymous else released
    merged = {**(base or {}), **(answered or {})}
    return merged or None


# --- where a channel cannot supply a raked variable ------------------------------


def supply_gaps(campaign: Campaign, group: CampaignGroup, channel: str, *, named: bool = True,
                summary: Mapping[str, Any] | None = None) -> list[str]:
    """Why ballots of this group through this channel would lack a raked
    attribute (so SCORING.md would skip the group's raking), in words for the
    organizer; ``named``: the batch's forms go to people of the roster
    (false for open batches and anonymous paper forms); ``summary``: an
    issued batch's Batch.attribute_release."""
    variables = [v for v, _t in variables_of(group) if not v.asked]
    if not variables:
        return []
    if channel in OPEN_CHANNELS or not named:
        where = _("公开渠道和二维码海报") if channel in OPEN_CHANNELS else _("不记名纸质表")
        return [_("“%(group)s”按名册属性“%(label)s”加权，%(where)s没有名册：这些评议票缺少该属性，"
                  "该评议主体的加权调整（raking）将被跳过。可在“加权边际”页把它改为在评议表上询问。",
                  group=group.label, label=v.label, where=where) for v in variables]
    gaps = []
    if campaign.anonymous:
        by_name = {r.variable: r for r in roster_variables(group)}
        for v in variables:
            if by_name[v.variable].fallback is None:
                gaps.append(_("名册属性“%(label)s”没有指定归并类别（如“其他”）：人数少于 k 或名册中没有该值的评议代表，"
                              "其评议票将缺少该属性，加权调整将被跳过。", label=v.label))
    if summary:
        k, n = summary.get("k"), summary.get("evaluators", 0)
        for v in variables:
            info = (summary.get("variables") or {}).get(v.variable)
            if info is None:
                gaps.append(_("本批次发放时还没有名册属性“%(label)s”的加权边际：其评议票不带该属性。", label=v.label))
            elif info.get("absent"):
                if info["absent"] == n and n < (k or 0):
                    gaps.append(_("本批次只有 %(n)d 名评议代表，少于 k = %(k)d：名册属性“%(label)s”不能写入评议票，"
                                  "加权调整将被跳过。", n=n, k=k, label=v.label))
                else:
                    gaps.append(_("本批次 %(n)d 名评议代表的“%(label)s”不能写入评议票（k = %(k)d 规则或名册中没有可用的值）："
                                  "加权调整将被跳过。", n=info["absent"], k=k, label=v.label))
    return gaps


def batch_gaps(batch: Batch) -> list[str]:
    """supply_gaps() of an issued batch (a paper batch is named where its forms carry people)."""
    named = not batch.is_open_batch and (batch.channel != "paper" or bool(db.session.scalar(
        select(Invitation.id).where(Invitation.batch_id == batch.id, Invitation.evaluator_id.is_not(None)).limit(1))))
    return supply_gaps(batch.campaign, batch.group, batch.channel, named=named, summary=batch.attribute_release)
