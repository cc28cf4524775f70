"""The distribution pages' forms."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from survey.ballots.questionnaire import MarginQuestionRow, answer_field, margin_field
from survey.forms import FlaskForm
from survey.models import Campaign, CampaignUnit
from survey.models.distribution import CHANNEL_LABELS

#: Channels offered on the batch form, in the order offered.
OFFERED = ("email", "sms", "paper", "qr", "public")


class BatchForm(FlaskForm):
    group = SelectField(_l("评议主体"), coerce=int, validators=[InputRequired()])
    channel = SelectField(_l("发放渠道"), choices=[SelectChoice(c, _l(CHANNEL_LABELS[c])) for c in OFFERED],
                          validators=[InputRequired()])
    code = StringField(_l("批次代码（可不填）"), validators=[
        Optional(), Length(max=24),
        Regexp(r"^[A-Za-z0-9_-]+$", message=_l("批次代码只能含字母、数字、下划线和连字符"))])
    count = IntegerField(_l("份数（不记名纸质表）"),
                         validators=[Optional(), NumberRange(min=1, max=1_000_000)])
    named = SelectField(_l("纸质表"), choices=[SelectChoice("count", _l("按份数发放（不记名）")),
                                                SelectChoice("roster", _l("按名册发放（记名，仅限非匿名评议）"))],
                        default="count")


class ActionForm(FlaskForm):
    """A button that changes something (CSRF only)."""


class IssuedForm(FlaskForm):
    issued = IntegerField(_l("实际发放份数"), validators=[InputRequired(), NumberRange(min=0)])


class CapForm(FlaskForm):
    ip_cap = IntegerField(_l("同一网络地址 24 小时内最多提交（份，0 为不限，留空按系统设置）"),
                          validators=[Optional(), NumberRange(min=0, max=10_000_000)])


class SerialForm(FlaskForm):
    serial = StringField(_l("评议表编号"), validators=[InputRequired(), Length(max=32)])




def paper_form_class(campaign: Campaign, units: list[CampaignUnit],
                     margins: tuple[MarginQuestionRow, ...] = ()) -> type[FlaskForm]:
    """Keying a paper form: one radio group per margin question (required:
    services.check_paper_margins says which is missing) and per unit and
    item; "未填" where left blank."""

    class PaperForm(FlaskForm):
        serial = StringField(validators=[InputRequired(), Length(max=32)])

    for question in margins:
        setattr(PaperForm, margin_field(question.id), RadioField(
            question.label, choices=[SelectChoice("", _l("未填"))] + [SelectChoice(str(o.id), o.category)
                                                                     for o in question.options],
            default="", validate_choice=True))
    choices = [SelectChoice("", _l("未填"))] + [SelectChoice(str(o.id), o.label) for o in campaign.scale]
    for unit in units:
        for item in campaign.items:
            setattr(PaperForm, answer_field(unit.id, item.id), RadioField(
                f"{unit.name} · {item.label}", choices=choices, default="", validate_choice=True))
    return PaperForm
