"""Who may vote, and on what: personal links and open batches, the units on
a form, and why a form is refused (campaign lifecycle and time windows).

``find_link`` is the personal link's fast read: the link with its batch,
campaign and evaluator as one Core row plus the questionnaire (two queries);
``find_invitation`` is the full path's ORM read of the same link.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import contains_eager, joinedload

from survey.ballots.questionnaire import Questionnaire, Rules, UnitRow, load_questionnaire
from survey.clock import utcnow
from survey.extensions import db
from survey.models import Batch, Campaign, CampaignCategory, CampaignUnit, Evaluator, Invitation, ReplacedLink
from survey.models.distribution import OPEN_CHANNELS
from survey.models.lifecycle import CampaignState
from survey.tokens import hash_token


def find_invitation(token: str) -> Invitation | None:
    """The invitation of a token, with what its form needs loaded in the same round."""
    invitation: Invitation | None = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == hash_token(token))
        .options(joinedload(Invitation.batch).joinedload(Batch.campaign), joinedload(Invitation.evaluator)))
    return invitation


def find_replaced(token: str) -> ReplacedLink | None:
    """The record of a link that a reminder replaced (only its holder can look it up: by its hash)."""
    replaced: ReplacedLink | None = db.session.scalar(
        select(ReplacedLink).where(ReplacedLink.token_hash == hash_token(token))
        .options(joinedload(ReplacedLink.batch).joinedload(Batch.campaign)))
    return replaced


_OPEN_BATCH = (select(Batch).join(Batch.campaign).options(contains_eager(Batch.campaign))
               .where(Campaign.code == bindparam("campaign_code"), Batch.code == bindparam("batch_code")))


def find_open_batch(campaign_code: str, batch_code: str) -> Batch | None:
    """The open-channel (QR poster, public) batch behind a public form address,
    with its campaign; read once per request (the channel's limits and the
    form both ask). An open paper batch (newspaper coupons) has no web form."""
    found: dict[tuple[str, str], Batch | None] = g.setdefault("open_batches", {}) if has_request_context() else {}
    key = (campaign_code, batch_code)
    if key not in found:
        batch: Batch | None = db.session.scalar(_OPEN_BATCH, {"campaign_code": campaign_code,
                                                             "batch_code": batch_code})
        found[key] = batch if batch is not None and batch.is_open_batch and batch.channel in OPEN_CHANNELS else None
    return found[key]


def find_public_batch(public_code: str) -> Batch | None:
    """The open batch behind a QR poster's address /q/<public_code>."""
    batch: Batch | None = db.session.scalar(select(Batch).where(Batch.public_code == public_code))
    return batch if batch is not None and batch.is_open_batch and batch.channel in OPEN_CHANNELS else None


# --- the units on a form ---


def questionnaire_of(batch: Batch) -> Questionnaire:
    """The questionnaire of a batch's group (read on the session's connection)."""
    return load_questionnaire(db.session.connection(), batch.campaign_id, batch.campaign_group_id, batch.id)


def campaign_units(campaign: Campaign, rows: Sequence[UnitRow]) -> list[CampaignUnit]:
    """The campaign's unit objects of these questionnaire rows, in their order,
    with their categories (one query, whatever the number of categories)."""
    by_id = {cu.id: cu for cu in db.session.scalars(
        select(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id)
        .options(joinedload(CampaignUnit.category)))}
    return [by_id[u.id] for u in rows]


@dataclass(frozen=True)
class CategoryRow:
    """A campaign category as a form shows it (a section's heading, ``label_of``)."""

    id: int
    label: str
    label_en: str | None = None


#: (campaign unit id, its category's id, label, English label) of every unit of a campaign.
UnitCategories = tuple[tuple[int, int, str, "str | None"], ...]


def _categories_statement() -> Select[Any]:
    cu, cc = CampaignUnit.__table__, CampaignCategory.__table__
    return (select(cu.c.id, cc.c.id, cc.c.label, cc.c.label_en)
            .select_from(cu.join(cc, cc.c.id == cu.c.campaign_category_id))
            .where(cu.c.campaign_id == bindparam("campaign_id")).order_by(cu.c.id))


_CATEGORIES = _categories_statement()


def unit_categories(connection: Connection, campaign_id: int) -> UnitCategories:
    """Each unit's category, as plain rows (one query): what a form's sections
    are made of, and part of the key of its cached markup (pages.py)."""
    return tuple((r[0], r[1], r[2], r[3]) for r in connection.execute(_CATEGORIES, {"campaign_id": campaign_id}))


def form_sections(units: Sequence[UnitRow], categories: UnitCategories) -> list[tuple[CategoryRow, list[UnitRow]]]:
    """The units on a form by their category, in the units' order (a section
    per category, where its first unit is)."""
    category_of = {unit_id: CategoryRow(category_id, label, label_en)
                   for unit_id, category_id, label, label_en in categories}
    by_category: dict[int, tuple[CategoryRow, list[UnitRow]]] = {}
    for unit in units:
        category = category_of[unit.id]
        by_category.setdefault(category.id, (category, []))[1].append(unit)
    return list(by_category.values())


def units_for_batch(batch: Batch, own_unit_id: int | None = None) -> list[CampaignUnit]:
    """The units on a batch's form (questionnaire.units_on_form), as objects."""
    return campaign_units(batch.campaign, questionnaire_of(batch).on_form(own_unit_id))


def own_unit_of(invitation: Invitation) -> int | None:
    return invitation.evaluator.own_unit_id if invitation.evaluator else None


def units_for(invitation: Invitation) -> list[CampaignUnit]:
    """The units this evaluator rates: their group's, but not their own."""
    return units_for_batch(invitation.batch, own_unit_of(invitation))


# --- when forms are taken ---


def refusal_reason(state: CampaignState, opens: Iterable[dt.datetime | None],
                   closes: Iterable[dt.datetime | None], now: dt.datetime | None = None) -> str | None:
    """Why forms are not taken now: "not_open", "closed", "expired" (past a
    closing time), or None when they are. ``opens``/``closes``: the campaign's
    and the batch's times (None: no limit)."""
    now = now or utcnow()
    if state.is_draft:
        return "not_open"
    if not state.is_open:
        return "closed"
    if any(t is not None and now < t for t in opens):
        return "not_open"
    if any(t is not None and now >= t for t in closes):
        return "expired"
    return None


def batch_refusal(batch: Batch, now: dt.datetime | None = None) -> str | None:
    """refusal_reason() of a batch and its campaign."""
    campaign = batch.campaign
    return refusal_reason(campaign.state, (campaign.opens_at, batch.opens_at),
                          (campaign.closes_at, batch.closes_at), now)


# --- the personal link's fast read ---


@dataclass(frozen=True)
class LinkView:
    """A personal link with what its submission needs, read as one row."""

    invitation_id: int
    used: bool
    batch_id: int
    campaign_id: int
    campaign_group_id: int
    #: The campaign's name (the thank-you page's).
    name: str
    status: str
    opens_at: dt.datetime | None
    closes_at: dt.datetime | None
    batch_opens_at: dt.datetime | None
    batch_closes_at: dt.datetime | None
    anonymous: bool
    rules: Rules
    own_unit_id: int | None
    #: The evaluator's roster attributes (a named campaign's ballot carries them).
    attributes: dict[str, Any] | None
    #: What the batch's k rule released of them (an anonymous campaign's ballot carries these).
    released: dict[str, Any] | None
    questionnaire: Questionnaire
    #: The batch's channel ('paper' forms share one claim with their clerks).
    channel: str = ""
    #: The link's token, held only for this request (the claim's and draft's keys).
    token: str = ""

    @property
    def state(self) -> CampaignState:
        """The campaign's lifecycle (CampaignState reads .status and .closes_at)."""
        return CampaignState(self)  # type: ignore[arg-type]  # a row with the Campaign's columns

    def refusal(self, now: dt.datetime | None = None) -> str | None:
        return refusal_reason(self.state, (self.opens_at, self.batch_opens_at),
                              (self.closes_at, self.batch_closes_at), now)

    def units_on_form(self) -> list[UnitRow]:
        return self.questionnaire.on_form(self.own_unit_id)


def _link_statement() -> Select[Any]:
    i, b, c = Invitation.__table__, Batch.__table__, Campaign.__table__
    e = Evaluator.__table__
    return (
        select(i.c.id, i.c.used, i.c.batch_id, b.c.campaign_id, b.c.campaign_group_id, c.c.name,
               c.c.status, c.c.opens_at, c.c.closes_at, b.c.opens_at, b.c.closes_at, c.c.anonymous,
               c.c.max_dissatisfied_share_per_ballot, c.c.comment_required_for_dissatisfied, c.c.rules,
               e.c.own_unit_id, e.c.attributes, i.c.attributes, b.c.channel, c.c.allow_unanswered)
        .select_from(i.join(b, b.c.id == i.c.batch_id).join(c, c.c.id == b.c.campaign_id)
                     .outerjoin(e, e.c.id == i.c.evaluator_id))
        .where(i.c.token_hash == bindparam("token_hash"))
    )


_LINK = _link_statement()


def find_link(connection: Connection, token: str) -> LinkView | None:
    """A personal link with everything its submission needs, in two queries
    (the link with its batch, campaign and evaluator; the questionnaire), as
    plain rows: Core, without the ORM's per-row and per-statement work."""
    row = connection.execute(_LINK, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    (invitation_id, used, batch_id, campaign_id, group_id, name, status, opens_at, closes_at, batch_opens_at,
     batch_closes_at, anonymous, share, comment_required, rules, own_unit_id, attributes, released, channel,
     allow_unanswered) = row
    return LinkView(invitation_id, used, batch_id, campaign_id, group_id, name, status, opens_at, closes_at,
                    batch_opens_at, batch_closes_at, anonymous,
                    Rules.from_columns(share, comment_required, rules, allow_unanswered),
                    own_unit_id, attributes, released, load_questionnaire(connection, campaign_id, group_id, batch_id),
                    channel, token)
