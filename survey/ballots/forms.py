"""The evaluator's forms: the questionnaire (built per campaign) and the receipt check."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from survey.ballots.services import AnswerMap
from survey.models import Campaign, CampaignUnit
from survey.tokens import normalise_receipt

#: What the buttons of the form and of the summary page ask for.
ACTIONS = ("save", "review", "edit", "submit")
ANSWER_NAME = re.compile(r"^a_(\d+)_(\d+)$")
COMMENT_NAME = re.compile(r"^c_(\d+)$")
COMMENT_MAX = 2000


def answer_field(unit_id: int, item_id: int) -> str:
    return f"a_{unit_id}_{item_id}"


def comment_field(unit_id: int) -> str:
    return f"c_{unit_id}"


class QuestionnaireBase(FlaskForm):
    """Fields every questionnaire has; the per-unit fields are added by
    questionnaire_class()."""

    receipt = HiddenField()
    started = HiddenField()
    #: Which button was pressed; none (a plain POST) means submit.
    action = StringField(validators=[Optional()])
    _unit_ids: Sequence[int] = ()
    _item_ids: Sequence[int] = ()

    def process(self, formdata: Any = None, obj: Any = None, data: Any = None,
                extra_filters: Any = None, **kwargs: Any) -> None:
        # Remember every name posted, so that answers for a unit that is not
        # on this evaluator's form (their own) can be refused, not ignored.
        formdata = self.meta.wrap_formdata(self, formdata)
        self.posted_names = set(formdata.keys()) if formdata else set()
        super().process(formdata, obj, data, extra_filters, **kwargs)

    def validate_action(self, field: StringField) -> None:
        if field.data and field.data not in ACTIONS:
            raise ValidationError(_("未知的操作"))

    def answers(self) -> AnswerMap:
        """The answers given (complete or not), by unit and item."""
        out: AnswerMap = {}
        for unit_id in self._unit_ids:
            for item_id in self._item_ids:
                value = self[answer_field(unit_id, item_id)].data
                if value:
                    out.setdefault(unit_id, {})[item_id] = int(value)
        return out

    def comments(self) -> dict[int, str]:
        out = {}
        for unit_id in self._unit_ids:
            text = (self[comment_field(unit_id)].data or "").strip()
            if text:
                out[unit_id] = text
        return out

    def foreign_unit_ids(self) -> set[int]:
        """Units answered in the request that are not on this form."""
        ids = set()
        for name in self.posted_names:
            match = ANSWER_NAME.match(name) or COMMENT_NAME.match(name)
            if match and int(match.group(1)) not in self._unit_ids:
                ids.add(int(match.group(1)))
        return ids


#: Built form classes by everything they are built from (bounded: cleared when full).
_CLASSES: dict[tuple[Any, ...], type[QuestionnaireBase]] = {}


def questionnaire_class(campaign: Campaign, units: Sequence[CampaignUnit], *,
                        open_channel: bool = False) -> type[QuestionnaireBase]:
    """A form class for this campaign's questionnaire: one radio group per
    unit and item (any may be left blank in a draft: completeness is a rule
    of the campaign, checked by the service) and a comment per unit.

    Classes are kept per process: building one costs more than the rest of
    a submission, and the key holds every label, so an edit makes a new one.
    """
    key = (str(get_locale()), open_channel, tuple((u.id, u.name) for u in units),
           tuple((i.id, i.label) for i in campaign.items), tuple((o.id, o.label) for o in campaign.scale))
    cls = _CLASSES.get(key)
    if cls is None:
        if len(_CLASSES) >= 256:
            _CLASSES.clear()
        cls = _CLASSES[key] = _build_questionnaire_class(campaign, units, open_channel)
    return cls


def _build_questionnaire_class(campaign: Campaign, units: Sequence[CampaignUnit],
                               open_channel: bool) -> type[QuestionnaireBase]:
    class Questionnaire(QuestionnaireBase):
        pass

    Questionnaire._unit_ids = tuple(u.id for u in units)
    Questionnaire._item_ids = tuple(i.id for i in campaign.items)
    # Scale labels are the campaign's data, but the usual ones (满意, 不了解…)
    # have a translation in the catalogue; others are shown as they are.
    choices = [SelectChoice(str(o.id), _(o.label)) for o in campaign.scale]
    for unit in units:
        for item in campaign.items:
            setattr(Questionnaire, answer_field(unit.id, item.id), RadioField(
                f"{unit.name} · {item.label}", choices=choices, validators=[Optional()],
            ))
        setattr(Questionnaire, comment_field(unit.id), TextAreaField(
            _("对“%(unit)s”的意见建议（可选）", unit=unit.name),
            validators=[Length(max=COMMENT_MAX, message=_(
                "对“%(unit)s”的意见建议最多 %(max)d 字", unit=unit.name, max=COMMENT_MAX))]))
    if open_channel:
        Questionnaire.own_unit = SelectField(
            _("您是否在参评单位工作？"),
            choices=[SelectChoice("", _("否，不在参评单位工作"))]
            + [SelectChoice(str(u.id), u.name) for u in units],
            validators=[Optional()])
    return Questionnaire


class ReceiptForm(FlaskForm):
    code = StringField(_l("回执码"), validators=[InputRequired(message=_l("请输入回执码"))])

    def validate_code(self, field: StringField) -> None:
        code = normalise_receipt(field.data or "")
        if code is None:
            raise ValidationError(_("回执码应为 16 位字母和数字（如 ABCD-EFGH-JKMN-PQRS），请核对后重新输入。"))
        field.data = code
