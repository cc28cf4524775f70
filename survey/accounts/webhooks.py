"""The admin's webhook pages (/admin/webhooks): register an endpoint (URL,
events, signing secret), switch it off and on, send it a test event, and
read the delivery log (state, attempts, last answer and error). What is
sent, when and how is survey/webhooks.py."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from survey import jobs, webhooks
from survey.clock import format_beijing
from survey.extensions import db
from survey.forms import FlaskForm
from survey.models.webhook import WebhookEndpoint
from survey.web import action

bp = Blueprint("webhooks", __name__)


class EventsField(SelectMultipleField):  # type: ignore[misc]  # wtforms ships no types
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class EndpointForm(FlaskForm):
    url = StringField(_l("接收地址（URL）"), validators=[
        InputRequired(message=_l("请填写接收地址")), Length(max=2000)])
    description = StringField(_l("说明（接收的系统）"), validators=[Optional(), Length(max=200)])
    events = EventsField(_l("发送的事件"), choices=[SelectChoice(e, f"{e}（{text}）")
                                                  for e, text in webhooks.EVENTS.items()],
                         validators=[InputRequired(message=_l("请至少选择一个事件"))])
    secret = StringField(_l("签名密钥（留空则自动生成）"), validators=[Optional(), Length(min=16, max=200)])


class ButtonForm(FlaskForm):
    """A bare POST with its CSRF token."""


def _render(form: EndpointForm, status: int = 200, **context: Any) -> tuple[str, int]:
    counts = webhooks.delivery_counts()
    return render_template("accounts/webhooks.html", form=form, endpoints=webhooks.endpoints(), counts=counts,
                           deliveries=webhooks.deliveries(limit=50), button=ButtonForm(),
                           format_beijing=format_beijing, **context), status


def _endpoint_or_404(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


@bp.get("/admin/webhooks")
def index() -> ResponseReturnValue:
    jobs.kick()  # deliveries left by a restarted process are taken up again
    return _render(EndpointForm(formdata=None))


@bp.post("/admin/webhooks")
@action("webhooks.index")
def create() -> ResponseReturnValue:
    form = EndpointForm()
    if not form.validate():
        return _render(form, 400)
    endpoint = webhooks.register(form.url.data, form.events.data or [], secret=form.secret.data,
                                 description=form.description.data or "")
    # Redirected (a reload must not register it twice): the endpoint's page shows its
    # secret, opened on this first visit (never carried through the session cookie).
    return redirect(url_for("webhooks.endpoint", endpoint_id=endpoint.id, created=1))


@bp.get("/admin/webhooks/<int:endpoint_id>")
def endpoint(endpoint_id: int) -> ResponseReturnValue:
    row = _endpoint_or_404(endpoint_id)
    return render_template("accounts/webhook.html", endpoint=row, deliveries=webhooks.deliveries(row, limit=200),
                           button=ButtonForm(), events=webhooks.EVENTS, format_beijing=format_beijing,
                           created=request.args.get("created") == "1")


@bp.post("/admin/webhooks/<int:endpoint_id>/active")
@action("webhooks.index")
def toggle(endpoint_id: int) -> ResponseReturnValue:
    row = _endpoint_or_404(endpoint_id)
    if ButtonForm().validate_on_submit():
        webhooks.set_active(row, not row.active)
        flash(_("已启用 %(url)s。", url=row.url) if row.active else _("已停用 %(url)s。", url=row.url), "info")
    return redirect(url_for("webhooks.endpoint", endpoint_id=row.id))


@bp.post("/admin/webhooks/<int:endpoint_id>/ping")
@action("webhooks.index")
def ping(endpoint_id: int) -> ResponseReturnValue:
    row = _endpoint_or_404(endpoint_id)
    if ButtonForm().validate_on_submit():
        webhooks.ping(row)
        flash(_("已排队发送测试事件（ping），结果见下方的发送记录。"), "info")
    return redirect(url_for("webhooks.endpoint", endpoint_id=row.id))
