"""The evaluator's forms: the questionnaire form (WTForms, built from the
questionnaire model, read by its one parser) and the receipt check."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional, ValidationError

from survey.ballots.i18n import label_of
from survey.ballots.questionnaire import (
    COMMENT_MAX,
    ParsedBallot,
    Questionnaire,
    UnitRow,
    answer_field,
    comment_field,
    margin_field,
    parse_ballot,
)
from survey.caches import Cache
from survey.tokens import normalise_receipt

#: What the buttons of the form and of the summary page ask for.
ACTIONS = ("save", "review", "edit", "submit")


class QuestionnaireBase(FlaskForm):  # type: ignore[misc]  # flask_wtf has no type information
    """Fields every questionnaire has; the per-unit fields are added by
    questionnaire_class(). Answers and comments are read by
    questionnaire.parse_ballot (``parsed`` after validate()), whose errors
    become the fields' errors."""

    receipt = HiddenField()
    #: The server's signature binding the receipt to this link (tokens.receipt_mac).
    receipt_mac = HiddenField()
    started = HiddenField()
    #: Which button was pressed; none (a plain POST) means submit.
    action = StringField(validators=[Optional()])
    _questionnaire: Questionnaire
    #: The evaluator's own unit, whose fields are not on the form.
    _own_unit_id: int | None = None
    parsed: ParsedBallot

    def process(self, formdata: Any = None, obj: Any = None, data: Any = None,
                extra_filters: Any = None, **kwargs: Any) -> None:
        formdata = self.meta.wrap_formdata(self, formdata)
        self._posted = formdata
        super().process(formdata, obj, data, extra_filters, **kwargs)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        # An empty POST has no formdata (WTForms gives None): read it as no fields.
        self.parsed = parse_ballot(self._questionnaire, self._posted or MultiDict(), self._own_unit_id)
        for name, message in self.parsed.errors.items():
            field = self[name]
            field.errors = [*field.errors, field.gettext(message)]
        if self.parsed.malformed:
            # Not something this form posts (another form's fields, a field
            # twice): nothing of it is taken, whatever the button.
            self.form_errors.append(_("提交的内容与本评议表不符（有多余或重复的栏目）。请核对下面的答案后重新提交；如仍有问题，请刷新页面。"))
        self._errors = None  # form.errors is computed again, with those
        return valid and not self.parsed.errors and not self.parsed.malformed

    def validate_action(self, field: StringField) -> None:
        if field.data and field.data not in ACTIONS:
            raise ValidationError(_("未知的操作"))


#: Built form classes by everything they are built from.
_CLASSES: Cache[tuple[Any, ...], type[QuestionnaireBase]] = Cache("ballots.form_classes", 256)


def questionnaire_class(questionnaire: Questionnaire, own_unit_id: int | None, *,
                        open_channel: bool = False) -> type[QuestionnaireBase]:
    """A form class for the questionnaire's units on this evaluator's form:
    one radio group per margin question, one per unit and item (any may be
    left blank in a draft: completeness is a rule of the campaign, checked by
    check_ballot) and a comment per unit.

    Classes are kept per process: building one costs more than the rest of
    a submission, and the key holds every label, so an edit makes a new one.
    """
    units = tuple(questionnaire.on_form(own_unit_id))
    key = (str(get_locale()), open_channel, own_unit_id, units, questionnaire)
    cls = _CLASSES.get(key)
    if cls is None:
        cls = _CLASSES.put(key, _build_questionnaire_class(questionnaire, own_unit_id, units, open_channel))
    return cls


def _build_questionnaire_class(questionnaire: Questionnaire, own_unit_id: int | None,
                               units: Sequence[UnitRow], open_channel: bool) -> type[QuestionnaireBase]:
    class Form(QuestionnaireBase):
        pass

    Form._questionnaire = questionnaire
    Form._own_unit_id = own_unit_id
    # Labels are the campaign's data, shown as data (in English where the
    # campaign gives an English label), never looked up in the catalogue.
    for question in questionnaire.margins:
        # Required (check_ballot), yet Optional here: a draft may leave it blank.
        setattr(Form, margin_field(question.id), RadioField(
            label_of(question), choices=[SelectChoice(str(o.id), o.category) for o in question.options],
            validators=[Optional()], validate_choice=False))
    choices = [SelectChoice(str(o.id), label_of(o)) for o in questionnaire.scale]
    for unit in units:
        for item in questionnaire.items:
            # The parser checks the value (validate_choice=False: one check, not two).
            setattr(Form, answer_field(unit.id, item.id), RadioField(
                f"{label_of(unit)} · {label_of(item)}", choices=choices, validators=[Optional()], validate_choice=False,
            ))
        setattr(Form, comment_field(unit.id), TextAreaField(
            _("对“%(unit)s”的意见建议（可选）", unit=label_of(unit)), render_kw={"maxlength": COMMENT_MAX}))
    if open_channel:
        Form.own_unit = SelectField(
            _("您是否在参评单位工作？"),
            choices=[SelectChoice("", _("否，不在参评单位工作"))]
            + [SelectChoice(str(u.id), label_of(u)) for u in units],
            validators=[Optional()])
    return Form


class ReceiptForm(FlaskForm):  # type: ignore[misc]  # flask_wtf has no type information
    code = StringField(_l("回执码"), validators=[InputRequired(message=_l("请输入回执码"))])

    def validate_code(self, field: StringField) -> None:
        code = normalise_receipt(field.data or "")
        if code is None:
            raise ValidationError(_("回执码应为 16 位字母和数字（如 ABCD-EFGH-JKMN-PQRS），请核对后重新输入。"))
        field.data = code
