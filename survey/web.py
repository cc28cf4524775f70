"""The one request idiom of the staff pages: look the campaign up or answer 404,
do the work through a service, commit once or roll back and say why.

    @bp.post("/campaigns/<code>/thing")
    @action("setup.basics")
    def thing(code: str) -> ResponseReturnValue:
        campaign = campaign_or_404(code)
        services.do_thing(campaign, ...)      # raises a UserError to refuse
        flash(_("已保存"), "info")
        return redirect(url_for(...))

A refusal (`survey.errors.UserError`) is rolled back and shown as a message
on the page the user came from (or the fallback endpoint); anything else
commits exactly once, after the view returned.

An action that cannot be undone asks first (`unconfirmed`): the POST without
``confirmed=1`` changes nothing and answers with a page that says what cannot
be undone and posts the same fields again with it. Its button's form carries
``data-confirm`` (`templates/_confirm.html`), so with JavaScript the question
is a dialog on the page itself (static/staff.js); without, it is that page."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import contains_eager, joinedload
from werkzeug.routing import IntegerConverter, Map

from survey.database import prepared
from survey.errors import UserError
from survey.extensions import db
from survey.models import Batch, Campaign, CampaignUnit, Unit

View = TypeVar("View", bound=Callable[..., Any])


#: The largest row id the databases store (PostgreSQL's integer): a larger number names no row.
MAX_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """The app's ``<int:…>``: a number in a URL beyond ``MAX_ID`` matches no rule (404),
    instead of reaching PostgreSQL as an integer out of range (a 500)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


@prepared
def _campaign_by_code() -> Select[Campaign]:
    return select(Campaign).where(Campaign.code == bindparam("code"))


@prepared
def _batch_by_code() -> Select[Batch]:
    return select(Batch).where(Batch.campaign_id == bindparam("campaign_id"), Batch.code == bindparam("code"))


@prepared
def _unit_by_code() -> Select[CampaignUnit]:
    # The unit's record and its category come in the same row: every page of a unit shows both.
    return (select(CampaignUnit).join(Unit, CampaignUnit.unit_id == Unit.id)
            .options(contains_eager(CampaignUnit.unit), joinedload(CampaignUnit.category))
            .where(CampaignUnit.campaign_id == bindparam("campaign_id"), Unit.code == bindparam("code")))


def campaign_or_404(code: str) -> Campaign:
    campaign: Campaign | None = db.session.scalar(_campaign_by_code(), {"code": code})
    if campaign is None:
        abort(404)
    return campaign


def batch_or_404(campaign: Campaign, code: str) -> Batch:
    batch: Batch | None = db.session.scalar(_batch_by_code(), {"campaign_id": campaign.id, "code": code})
    if batch is None:
        abort(404)
    return batch


def unit_or_404(campaign: Campaign, code: str) -> CampaignUnit:
    """A campaign's unit by the unit's code (with its unit record and category)."""
    cu: CampaignUnit | None = db.session.scalar(_unit_by_code(), {"campaign_id": campaign.id, "code": code})
    if cu is None:
        abort(404)
    return cu


#: Blueprints whose forms refuse NUL themselves: the questionnaire shows the form again
#: with the field's problem (survey/ballots/questionnaire.py CONTROL_CHARACTERS).
_REFUSE_NUL_THEMSELVES = frozenset({"ballots", "preview"})


def refuse_nul() -> None:
    """Before every request: a query or form value holding NUL (U+0000) is refused
    with a 400 in the user's language, signed in or not (the sign-in form, the
    public lookups). No database column holds one (PostgreSQL refuses it
    outright), so it would otherwise end as a 500 half-way through."""
    if request.path.startswith("/api/") or request.blueprint in _REFUSE_NUL_THEMSELVES:
        # The API names the parameter or the place in the body (survey/api/registry.py).
        return
    if request.args and any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        raise UserError(_("请求中含有不可见的控制字符 NUL（U+0000），请删去后重试。"))
    if request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") \
            and any("\x00" in k or "\x00" in v for k, v in request.form.items(multi=True)):
        raise UserError(_("提交的内容含有不可见的控制字符 NUL（U+0000），请删去后重试。"))


def first_nul(value: object, path: str) -> str | None:
    """Where in a decoded JSON value the first string holding NUL is (``body.rules[2].text``), if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if "\x00" in str(key):
                return where
            found = first_nul(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = first_nul(item, f"{path}[{index}]")
            if found:
                return found
    return None


def form_text(name: str, label: str, *, required: bool = True) -> str:
    """A posted form field, stripped; a required one left empty is refused, naming its label."""
    value = (request.form.get(name) or "").strip()
    if required and not value:
        raise UserError(_("请填写“%(f)s”。", f=label))
    return value


def form_date(name: str, label: str) -> dt.date:
    """A posted date (YYYY-MM-DD, required); anything else is refused, naming its label."""
    text = form_text(name, label)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(_("“%(f)s”应为日期（YYYY-MM-DD）。", f=label)) from None


def back(fallback: str, **values: Any) -> ResponseReturnValue:
    """Redirect to the page the user came from (same site only), else to `fallback`."""
    referrer = request.referrer
    if referrer and referrer.startswith(request.host_url):
        return redirect(referrer)
    return redirect(url_for(fallback, **values))


def action(fallback: str) -> Callable[[View], View]:
    """A view that changes data: commit once when it returns; on a UserError roll
    back, flash its message and go back (to `fallback`, given the view's URL
    arguments it accepts, when there is no same-site referrer)."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                response = view(*args, **kwargs)
            except UserError as exc:
                db.session.rollback()
                flash(exc.message, "error")
                return back(fallback, **_values_for(fallback, kwargs))
            db.session.commit()
            return response

        return wrapped  # type: ignore[return-value]

    return decorator


def _values_for(endpoint: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from flask import current_app

    wanted: set[str] = set()
    for rule in current_app.url_map.iter_rules(endpoint):
        wanted |= rule.arguments
    return {k: v for k, v in kwargs.items() if k in wanted}


#: The field of a confirmed POST (the confirmation page's and dialog's button add it).
CONFIRMED = "confirmed"


def unconfirmed(title: str, consequence: str, *, cancel: str, button: str | None = None,
                template: str = "confirm.html", **context: Any) -> str | None:
    """The confirmation page of an action that cannot be undone, unless this
    POST carries ``confirmed=1`` (then None: go ahead). `consequence` says what
    cannot be undone; `template` may extend confirm.html with a preview."""
    if request.form.get(CONFIRMED) == "1":
        return None
    fields = [(k, v) for k, v in request.form.items(multi=True) if k != CONFIRMED]
    return render_template(template, title=title, consequence=consequence, cancel=cancel,
                           button=button or title, fields=fields, target=request.path, **context)


def render_and_commit(template: str, **context: Any) -> str:
    """Render, then commit what reading wrote (a recomputed results cache):
    committing first would expire every loaded row and reload them all."""
    html = render_template(template, **context)
    db.session.commit()
    return html


def flash_form_errors(form: Any) -> None:
    """Every field error of a WTForms form as a message, with the field's label."""
    for name, errors in form.errors.items():
        field = getattr(form, name, None)
        label = field.label.text if field is not None and hasattr(field, "label") else name
        for error in errors:
            flash(f"{label}：{error}", "error")
