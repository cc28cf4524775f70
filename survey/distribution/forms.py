"""The distribution pages' forms."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from survey.ballots.questionnaire import COMMENT_MAX, MarginQuestionRow, answer_field, comment_field, margin_field
from survey.forms import FlaskForm
from survey.models import Campaign, CampaignUnit
from survey.models.distribution import CHANNEL_LABELS, MESSAGE_CHANNELS, MESSAGE_KINDS

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
                                                SelectChoice("roster", _l("按名册发放（记名，仅限非匿名评议）")),
                                                SelectChoice("coupon", _l("不编号（报纸剪报、来信等；录入时生成编号）"))],
                        default="count")
    #: A window's QR poster (知情评议): the one unit its form shows (0: the group's units).
    unit = SelectField(_l("窗口单位（二维码海报只评一个单位时选择）"), coerce=int, default=0, validate_choice=True)


class ActionForm(FlaskForm):
    """A button that changes something (CSRF only)."""


class IssuedForm(FlaskForm):
    issued = IntegerField(_l("实际发放份数"), validators=[InputRequired(), NumberRange(min=0)])


class CapForm(FlaskForm):
    ip_cap = IntegerField(_l("同一网络地址 24 小时内最多提交（份，0 为不限，留空按系统设置）"),
                          validators=[Optional(), NumberRange(min=0, max=10_000_000)])


class PeriodForm(FlaskForm):
    """A batch's own opening and closing times (北京时间; empty: the campaign's)."""

    opens_at = DateTimeLocalField(_l("开始时间（北京时间，可空）"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    closes_at = DateTimeLocalField(_l("截止时间（北京时间，可空）"), format="%Y-%m-%dT%H:%M", validators=[Optional()])


class CheckboxesField(SelectMultipleField):  # type: ignore[misc]  # wtforms has no type information
    """A multiple choice shown as check boxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UnitsForm(FlaskForm):
    """The units on a batch's form (none ticked: the group's units)."""

    units = CheckboxesField(_l("本批次评议表上的单位（不选则为该评议主体评议的全部单位）"), coerce=int,
                            validate_choice=True)


class SerialForm(FlaskForm):
    #: A serial typed by hand, or the form's whole QR link typed by a keyboard-wedge scanner.
    serial = StringField(_l("评议表编号（或扫描表上的二维码）"), validators=[InputRequired(), Length(max=500)])


class ScheduleForm(FlaskForm):
    """Reminders from the batch page: from N days before the deadline, every M days."""

    days_before = DecimalField(_l("截止前几天开始催办"), places=None, default=3,
                               validators=[InputRequired(), NumberRange(min=0.01, max=365)])
    every_days = DecimalField(_l("每隔几天催办一次"), places=None, default=2,
                              validators=[InputRequired(), NumberRange(min=0.01, max=365)])


#: The forms of the messages page, by their prefix: (kind, channel).
MESSAGE_FORMS = {f"{kind}-{channel}": (kind, channel) for channel in MESSAGE_CHANNELS for kind in MESSAGE_KINDS}


class MessageForm(FlaskForm):
    """A campaign's own wording of one kind of message on one channel; each
    form of the page has the prefix '<kind>-<channel>' (MESSAGE_FORMS)."""

    subject = StringField(_l("邮件主题"), validators=[Length(max=200)])
    body = TextAreaField(_l("正文"), validators=[InputRequired(), Length(max=4000)])



def paper_form_class(campaign: Campaign, units: list[CampaignUnit],
                     margins: tuple[MarginQuestionRow, ...] = (), *, comments: bool = False) -> type[FlaskForm]:
    """Keying a paper form: one radio group per margin question (required:
    services.check_paper_margins says which is missing) and per unit and
    item, "未填" first (key 0), then the scale in order (keys 1..n); with
    `comments` (the second keying), a comment per unit."""

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
        if comments:
            setattr(PaperForm, comment_field(unit.id), TextAreaField(
                _l("对“%(unit)s”的意见建议", unit=unit.name), validators=[Optional()],
                render_kw={"maxlength": COMMENT_MAX, "rows": 2}))
    return PaperForm
