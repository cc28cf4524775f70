"""Opinions from outside the ballots (群众意见: 座谈会、走访、接访、热线).

    登记 registered ─assign─▶ 交办 assigned ─answer─▶ 单位已答复 answered ─close─▶ 办结 closed

Staff (the handler, the organizer) enter an opinion about one unit; they hand
it to the unit (交办) with a deadline; the unit's liaison answers it. Past
the deadline unanswered it is marked red (红字, ``mark_overdue``, also sent as
the webhook event ``opinion.overdue``); the answer clears the mark (消红).

Whoever raised it gets a lookup code (16 characters of Crockford base32, 80
random bits, like a ballot's receipt), stored only as its SHA-256: the public
page /opinion shows the opinion's number, source, date, unit, summary, state
and the unit's answer, nothing of the raiser. Failed lookups are counted per
address (in the sign-in failures' table, under a digest of their own) and
over ``LOOKUP_LIMIT`` the page answers 429. The raiser's name and contact
(``OpinionRaiser``) are read only by ``raiser_of``, for the roles of
``RAISER_ROLES``; the audit log names opinions by number only."""
from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Select, delete, func, select

from survey import audit, webhooks
from survey.clock import utcnow
from survey.errors import Conflict, NotFound, UserError
from survey.extensions import db
from survey.models import Campaign, Opinion, OpinionRaiser, SignInFailure, Unit, User
from survey.models.opinion import OPINION_SOURCES, OPINION_STATUSES
from survey.results.i18n import gettext as _
from survey.tokens import format_receipt, new_receipt, normalise_receipt

#: The roles that see who raised an opinion (pages and API).
#: As the register's complainants: the case-handling role only (the organizer handles opinions without them).
RAISER_ROLES = frozenset({"handler"})
#: Failed lookups one address may make in the window before the page answers 429.
LOOKUP_LIMIT = 20
LOOKUP_WINDOW = dt.timedelta(hours=1)
SUMMARY_MAX = 4000
DETAIL_MAX = 200
RAISER_MAX = {"name": 100, "phone": 40, "contact": 200}
RAISER_LABELS = {"name": "反映人姓名", "phone": "反映人电话", "contact": "反映人其他联系方式"}


def _target(opinion: Opinion) -> str:
    """The audit target of an opinion: its number, nothing of its content or raiser."""
    return f"opinion:{opinion.code}"


def hash_code(code: str) -> bytes:
    """The stored digest of a (normalised) lookup code."""
    return hashlib.sha256(b"opinion:" + code.encode("ascii")).digest()


def sees_raiser(user: User | None) -> bool:
    return user is not None and getattr(user, "role", None) in RAISER_ROLES


def campaign_for(day: dt.date) -> Campaign | None:
    """The campaign whose assessment period (考核期) contains ``day`` (the latest
    starting one, if periods overlap); None when none does."""
    return db.session.scalar(
        select(Campaign).where(Campaign.period_start.is_not(None), Campaign.period_end.is_not(None),
                               Campaign.period_start <= day, Campaign.period_end >= day)
        .order_by(Campaign.period_start.desc(), Campaign.id.desc()).limit(1))


def _clean(text: str | None, limit: int, label: str) -> str:
    value = (text or "").strip()
    if len(value) > limit:
        raise UserError(_("“%(f)s”最多 %(n)d 个字符。", f=label, n=limit))
    return value


def new_opinion(user: User | None, *, source: str, source_detail: str, raised_on: dt.date, unit: Unit,
                summary: str, today: dt.date, raiser: dict[str, str] | None = None) -> tuple[Opinion, str]:
    """登记: a new opinion and its raiser (kept apart). Returns the opinion and
    its lookup code, formatted (XXXX-XXXX-XXXX-XXXX): shown once, to be given
    to whoever raised it; only its digest is kept."""
    if source not in OPINION_SOURCES:
        raise UserError(_("未知的意见来源：%(s)s", s=source))
    text = _clean(summary, SUMMARY_MAX, _("意见摘要"))
    if not text:
        raise UserError(_("请填写意见摘要。"))
    if raised_on > today:
        raise UserError(_("“%(f)s”不能晚于今天。", f=_("日期")))
    person = {k: _clean((raiser or {}).get(k), limit, _(RAISER_LABELS[k])) for k, limit in RAISER_MAX.items()}
    code = new_receipt()
    campaign = campaign_for(raised_on)
    opinion = Opinion(code="-", lookup_hash=hash_code(code), source=source,
                      source_detail=_clean(source_detail, DETAIL_MAX, _("来源说明")), raised_on=raised_on,
                      unit=unit, summary=text, step="registered", campaign=campaign,
                      created_by_id=user.id if user is not None else None)
    db.session.add(opinion)
    db.session.flush()
    opinion.code = f"YJ{raised_on.year}-{opinion.id:05d}"
    if any(person.values()):
        db.session.add(OpinionRaiser(opinion_id=opinion.id, name=person["name"] or None,
                                     phone=person["phone"] or None, contact=person["contact"] or None))
    audit.record("opinion.create", _target(opinion), None, {
        "opinion": opinion.code, "source": source, "unit": unit.code,
        "campaign": campaign.code if campaign is not None else None})
    return opinion, format_receipt(code)


def reissue_code(opinion: Opinion) -> str:
    """A new lookup code (the old one stops working), e.g. when the raiser lost it."""
    code = new_receipt()
    opinion.lookup_hash = hash_code(code)
    audit.record("opinion.reissue", _target(opinion), None, {"opinion": opinion.code})
    return format_receipt(code)


def raiser_of(opinion: Opinion) -> OpinionRaiser | None:
    """Who raised it: for the pages and API of ``RAISER_ROLES`` only."""
    return db.session.scalar(select(OpinionRaiser).where(OpinionRaiser.opinion_id == opinion.id))


def _step(opinion: Opinion, allowed: tuple[str, ...], to: str) -> None:
    if opinion.step not in allowed:
        raise Conflict(_("意见 %(c)s 当前为“%(s)s”，不能办理这一步。", c=opinion.code,
                         s=_(OPINION_STATUSES[opinion.step])))
    before = opinion.step
    opinion.step = to
    audit.record(f"opinion.{to}", _target(opinion), {"status": before}, {"status": to})


def assign(opinion: Opinion, due_on: dt.date, today: dt.date) -> None:
    """交办 to the unit's liaison, who answers by ``due_on``."""
    if due_on < today:
        raise UserError(_("答复期限不能早于今天。"))
    _step(opinion, ("registered",), "assigned")
    opinion.due_on = due_on
    opinion.assigned_at = utcnow()


def answer(opinion: Opinion, user: User | None, text: str) -> None:
    """The unit's answer (what the raiser reads); a red mark is cleared (消红)."""
    body = _clean(text, SUMMARY_MAX, _("答复"))
    if not body:
        raise UserError(_("请填写答复内容。"))
    _step(opinion, ("assigned",), "answered")
    opinion.answer = body
    opinion.answered_at = utcnow()
    opinion.answered_by_id = user.id if user is not None else None


def close(opinion: Opinion) -> None:
    """办结."""
    _step(opinion, ("answered",), "closed")
    opinion.closed_at = utcnow()


def mark_overdue(today: dt.date) -> list[Opinion]:
    """红字: assigned opinions past their deadline are marked red (once; cleared by the answer)."""
    marked = list(db.session.scalars(select(Opinion).where(
        Opinion.step == "assigned", Opinion.due_on < today, Opinion.marked_red_at.is_(None))
        .order_by(Opinion.id)))
    for opinion in marked:
        opinion.marked_red_at = utcnow()
        audit.record("opinion.mark_red", _target(opinion), None, {"due_on": opinion.due_on, "today": today})
        webhooks.emit_opinion_overdue(opinion)
    return marked


def opinions_query(*, unit_id: int | None = None, status: str | None = None, source: str | None = None,
                   red: bool = False, campaign_id: int | None = None) -> Select[Opinion]:
    """Opinions, the newest first (then by id: a stable order for paging)."""
    q = select(Opinion)
    if unit_id is not None:
        q = q.where(Opinion.unit_id == unit_id)
    if status:
        q = q.where(Opinion.step == status)
    if source:
        q = q.where(Opinion.source == source)
    if red:
        q = q.where(Opinion.marked_red_at.is_not(None), Opinion.answered_at.is_(None))
    if campaign_id is not None:
        q = q.where(Opinion.campaign_id == campaign_id)
    return q.order_by(Opinion.raised_on.desc(), Opinion.id.desc())


def opinions(limit: int = 500, **filters: object) -> list[Opinion]:
    return list(db.session.scalars(opinions_query(**filters).limit(limit)))  # type: ignore[arg-type]


def opinion_or_404(opinion_id: int) -> Opinion:
    opinion = db.session.get(Opinion, opinion_id)
    if opinion is None:
        raise NotFound(_("没有这条意见。"))
    return opinion


def red_count() -> int:
    return db.session.scalar(select(func.count(Opinion.id)).where(
        Opinion.marked_red_at.is_not(None), Opinion.answered_at.is_(None))) or 0


# --- the public lookup -------------------------------------------------------------------


def _lookup_key(address: str) -> str:
    return hashlib.sha256(("opinion-lookup\x1f" + address).encode("utf-8")).hexdigest()


def lookup_throttled(address: str, now: dt.datetime | None = None) -> bool:
    """Whether this address has failed ``LOOKUP_LIMIT`` lookups within the window."""
    now = now or utcnow()
    count = db.session.scalar(select(func.count(SignInFailure.id)).where(
        SignInFailure.key == _lookup_key(address), SignInFailure.at > now - LOOKUP_WINDOW)) or 0
    return count >= LOOKUP_LIMIT


def lookup(typed: str, address: str) -> Opinion | None:
    """The opinion of a lookup code as typed (None: no such code, or not a code);
    a miss is counted against the address. The caller commits."""
    code = normalise_receipt(typed)
    opinion = None if code is None else db.session.scalar(
        select(Opinion).where(Opinion.lookup_hash == hash_code(code)))
    if opinion is None:
        now = utcnow()
        db.session.execute(delete(SignInFailure).where(SignInFailure.key == _lookup_key(address),
                                                       SignInFailure.at <= now - LOOKUP_WINDOW))
        db.session.add(SignInFailure(key=_lookup_key(address), at=now))
    return opinion
