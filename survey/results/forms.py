"""The committee's, the organizer's and the liaisons' forms on results pages."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from survey.models.outcome import ANSWER_KINDS, ANSWER_LABELS, APPEAL_DECISIONS, APPEAL_LABELS, CLASS_LABELS, CLASSES
from survey.results.inputs import FLAG_LABELS, FLAGS


class Form(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no types: the forms below subclass this
    """The base of the results' forms."""


class MultiCheckboxField(SelectMultipleField):  # type: ignore[misc]  # wtforms ships no types
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ExcludeFlagsForm(Form):
    """Which data-quality flags exclude a ballot (read from the query string to preview)."""

    class Meta:
        csrf = False

    flags = MultiCheckboxField("剔除带有以下标记的评议票", choices=[SelectChoice(f, _l(FLAG_LABELS[f])) for f in FLAGS])


class AdoptFlagsForm(Form):
    flags = MultiCheckboxField("剔除带有以下标记的评议票", choices=[SelectChoice(f, _l(FLAG_LABELS[f])) for f in FLAGS])


class ConfirmForm(Form):
    """A button that only needs the CSRF token (approve, finalize, accept …)."""


class ObjectiveScoreForm(Form):
    unit = SelectField("被评议单位", validators=[InputRequired(message="请选择单位")])
    component = StringField("考核项目代码", default="work",
                            validators=[DataRequired(message="请填写考核项目代码"), Length(max=64)])
    score = FloatField("得分", validators=[InputRequired(message="请填写得分"),
                                         NumberRange(0, 100, message="得分应在 0 到 100 之间")])
    evidence = TextAreaField("依据", validators=[DataRequired(message="请写明得分依据（文件、考核记录）")])


class VetoForm(Form):
    unit = SelectField("被评议单位", validators=[InputRequired(message="请选择单位")])
    reason = TextAreaField("否决事由", validators=[DataRequired(message="请写明一票否决的事由")])
    evidence = TextAreaField("证据", validators=[DataRequired(message="请写明证据（文号、材料）")])


class OverrideForm(Form):
    unit = SelectField("被评议单位", validators=[InputRequired(message="请选择单位")])
    new_class = SelectField("调整为", choices=[SelectChoice(c, _l(CLASS_LABELS[c])) for c in CLASSES])
    reason = TextAreaField("调整理由", validators=[DataRequired(message="调整评定等次必须写明理由")])


class SettingsForm(Form):
    quorum = IntegerField("定稿所需审定人数（留空为全体领导小组成员）",
                          validators=[Optional(), NumberRange(min=1, message="审定人数至少为 1")])
    min_group_ballots = IntegerField("单位联络员可见分组的最少票数", default=5,
                                     validators=[InputRequired(message="请填写最少票数"),
                                                 NumberRange(min=1, message="最少票数至少为 1")])
    rectification_due = DateField("整改截止日期", validators=[Optional()])
    self_examination = BooleanField("基本满意：书面检查")
    self_examination_days = IntegerField("书面检查期限（天）", default=15,
                                         validators=[InputRequired(message="请填写天数"), NumberRange(min=1)])
    criticism_notice = BooleanField("不满意：通报批评")
    media_list = BooleanField("不满意：媒体公布名单")
    bonus_linkage = BooleanField("不满意：与绩效奖金挂钩")
    leader_handling = StringField("不满意：领导干部处理方式（留空为不处理）", default="诫勉谈话",
                                  validators=[Optional(), Length(max=100)])
    escalate_bottom_two_years = BooleanField("连续两年末位：组织处理")
    interim_results = BooleanField("评议进行中允许查看中间结果（标明“中间结果，仅供内部参考”）")
    # the public page (公示): survey.results.publication.PUBLIC_OPTIONS
    public_detail = SelectField("公示内容", choices=[
        SelectChoice("classes", _l("只公示评定等次（不公示得分和名次）")),
        SelectChoice("scores", _l("公示名次、综合得分和评定等次"))])
    public_office = StringField("发布单位（留空为系统设置的评议办名称）", validators=[Optional(), Length(max=200, message="最多 200 个字")])
    public_contact = TextAreaField("联系方式（电话、电子邮箱、地址）", validators=[Optional(), Length(max=1000, message="最多 1000 个字")])
    appeal_until = DateField("申诉截止日期（留空为公示结束日期）", validators=[Optional()])
    appeal_how = TextAreaField("申诉方式（留空为：由被评议单位联络员登录本系统提出申诉）",
                               validators=[Optional(), Length(max=2000, message="最多 2000 个字")])


class PublishForm(Form):
    public = BooleanField("向社会公示（不勾选则仅内部通报）", default=True)
    public_from = DateField("公示开始日期", validators=[Optional()])
    public_until = DateField("公示结束日期", validators=[Optional()])


class AnswerForm(Form):
    kind = SelectField("答复类别", choices=[SelectChoice(k, _l(ANSWER_LABELS[k])) for k in ANSWER_KINDS])
    text = TextAreaField("答复及办理情况", validators=[DataRequired(message="请填写答复内容")])


class TextForm(Form):
    text = TextAreaField("内容", validators=[DataRequired(message="请填写内容")])


class DecideAppealForm(Form):
    decision = SelectField("复核结论", choices=[SelectChoice(d, _l(APPEAL_LABELS[d])) for d in APPEAL_DECISIONS])
    outcome = TextAreaField("复核意见", validators=[DataRequired(message="请填写复核意见")])
    new_class = SelectField("变更后的评定", choices=[SelectChoice("", "—")] + [SelectChoice(c, _l(CLASS_LABELS[c])) for c in CLASSES],
                            validators=[Optional()])


class ReviewForm(Form):
    """The committee's word on a rectification: with 验收 optional, with 退回修改 required (the service says so)."""

    comment = TextAreaField("审核意见", validators=[Optional(), Length(max=2000, message="审核意见最多 2000 字")])


class DueForm(Form):
    due_on = DateField("整改截止日期", validators=[InputRequired(message="请填写日期")])


class FollowUpForm(Form):
    unit = SelectField("被评议单位", validators=[InputRequired(message="请选择单位")])
    scheduled_on = DateField("回头看日期", validators=[InputRequired(message="请填写日期")])
    note = TextAreaField("检查内容", validators=[Optional()])
