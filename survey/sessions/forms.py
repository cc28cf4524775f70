"""The session pages' forms."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateTimeLocalField, FieldList, IntegerField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from survey.distribution.forms import CheckboxesField
from survey.forms import FlaskForm
from survey.sessions.services import CODE_MAX, EXPECTED_MAX


class SessionForm(FlaskForm):
    """A new session: name, place, time, units, and per group of the campaign
    its expected attendance (empty: the group is not present)."""

    code = StringField(_l("场次代码"), validators=[
        InputRequired(), Length(max=CODE_MAX),
        Regexp(r"^[A-Za-z0-9_-]+$", message=_l("场次代码只能含字母、数字、下划线和连字符"))])
    name = StringField(_l("场次名称"), validators=[InputRequired(), Length(max=200)])
    place = StringField(_l("地点"), validators=[Optional(), Length(max=200)])
    starts_at = DateTimeLocalField(_l("时间（北京时间）"), format="%Y-%m-%dT%H:%M", validators=[InputRequired()])
    units = CheckboxesField(_l("参评单位"), coerce=int, validate_choice=True)
    #: One entry per campaign group, in the campaign's order.
    expected = FieldList(IntegerField(validators=[Optional(), NumberRange(min=1, max=EXPECTED_MAX)]))
    announce = BooleanField(_l("当场公布：结束后在投影页显示本场次的现场结果"))
