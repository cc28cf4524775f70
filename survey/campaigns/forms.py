"""The organizer's setup forms; every message says what is wrong and how to fix it."""
from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from analysis import FLAGS
from survey.clock import format_beijing, from_beijing, utcnow
from survey.forms import FlaskForm

#: Codes appear in bundles, URLs and files: letters, digits, - and _.
CODE = Regexp(r"^[A-Za-z0-9_-]+$", message=_l("代码只能由字母、数字、- 和 _ 组成"))
FLAG_LABELS = {"duplicate": _l("重复提交"), "straight_line": _l("全部同一极端选项"), "speeder": _l("答题过快"),
               "burst": _l("同一网段集中提交"), "extreme_rater": _l("极端评分者")}


class Positive:
    """A number strictly above 0 (NumberRange takes 0 itself)."""

    def __init__(self, message: Any) -> None:
        self.message = message

    def __call__(self, form: Any, field: Any) -> None:
        if field.data is not None and not field.data > 0:
            raise ValidationError(self.message)


class Below:
    """A number in [low, high)."""

    def __init__(self, low: float, high: float, message: Any) -> None:
        self.low, self.high, self.message = low, high, message

    def __call__(self, form: Any, field: Any) -> None:
        if field.data is not None and not self.low <= field.data < self.high:
            raise ValidationError(self.message)


def checkboxes(label: Any, **kwargs: Any) -> Any:
    """A multiple choice shown as a list of checkboxes."""
    return SelectMultipleField(label, widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
                               **kwargs)


class RowForm(FlaskForm):
    """A form whose fields are the keyword arguments of a setup service
    (``setup.add_item(campaign, **form.values())``), text stripped."""

    def values(self) -> dict[str, Any]:
        return {name: (field.data or "").strip() if isinstance(field, StringField) else field.data
                for name, field in self._fields.items() if name != "csrf_token"}


def _within_years(field: Any) -> None:
    """Times the database accepts (its CHECK, like a bundle's limits: 2000–2100)."""
    if field.data and not 2000 <= field.data.year <= 2100:
        raise ValidationError(_l("时间应在 2000 年到 2100 年之间"))


class CampaignForm(FlaskForm):
    code = StringField(_l("活动代码"), validators=[InputRequired(message=_l("请填写活动代码，如 2027")),
                                                   Length(max=64), CODE])
    name = StringField(_l("活动名称"), validators=[InputRequired(message=_l("请填写活动名称")), Length(max=200)])
    year = IntegerField(_l("年度"), validators=[InputRequired(message=_l("请填写年度，如 2027")),
                                                NumberRange(2000, 2100, message=_l("年度应在 2000 到 2100 之间"))])
    anonymous = BooleanField(_l("匿名评议（评议票不与评议代表关联）"), default=True)
    return_target = DecimalField(_l("回收率目标（%）"), places=None, default=90, validators=[
        InputRequired(message=_l("请填写回收率目标")),
        NumberRange(min=1, max=100, message=_l("回收率目标应在 1%% 到 100%% 之间"))])
    opens_at = DateTimeLocalField(_l("开始时间（北京时间，可空）"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    closes_at = DateTimeLocalField(_l("截止时间（北京时间，可空）"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    copy_from = SelectField(_l("复制以往活动的设置（单位、评议主体、指标、选项、计分规则）"), choices=[], default="")
    is_test = BooleanField(_l("这是测试活动（用来试用系统：不会被默认复制，开始评议前可以归档或删除）"), default=False)
    #: A 平时考核 round (docs/rounds.md) or an annual campaign; a round's day.
    kind = SelectField(_l("活动类型"), choices=[SelectChoice("annual", _l("年度评议")),
                                                  SelectChoice("round", _l("平时考核轮次"))],
                       default="annual", validators=[AnyOf(("annual", "round"))])
    held_on = DateField(_l("考核日期（平时考核轮次：计入考核期包含这一天的年度评议）"), validators=[Optional()])
    #: The deadline already stored (naive UTC): kept as it is, it is no new past deadline.
    previous_closes_at: Any = None

    def validate_opens_at(self, field: Any) -> None:
        _within_years(field)

    def validate_held_on(self, field: Any) -> None:
        if self.kind is not None and self.kind.data == "round" and field.data is None:
            raise ValidationError(_l("平时考核轮次须填写考核日期"))

    def validate_closes_at(self, field: Any) -> None:
        _within_years(field)
        if field.data and self.opens_at.data and field.data <= self.opens_at.data:
            raise ValidationError(_l("截止时间必须晚于开始时间"))
        refuse_past_deadline(_utc(field.data), self.previous_closes_at)

    def values(self) -> dict[str, Any]:
        return {"name": self.name.data.strip(), "year": self.year.data, "anonymous": self.anonymous.data,
                "return_target": float(self.return_target.data) / 100,
                "opens_at": _utc(self.opens_at.data), "closes_at": _utc(self.closes_at.data)}


def refuse_past_deadline(deadline: Any, previous: Any = None) -> None:
    """A deadline (naive UTC) being saved must lie ahead, unless it is the one
    already stored (the form of a campaign whose deadline passed can still be saved)."""
    if deadline is not None and deadline != previous and deadline <= utcnow():
        raise ValidationError(_l("截止时间 %(at)s（北京时间）已过，请填写以后的时间",
                                 at=format_beijing(deadline)))


def _utc(local: Any) -> Any:
    """A time typed in Beijing time (or none), as the naive UTC the database keeps."""
    return None if local is None else from_beijing(local)


class CampaignEditForm(CampaignForm):
    """The same fields without the code (it names the campaign in links and files), copying or the
    test mark, and the ballot's option of leaving units unanswered."""
    code = None
    copy_from = None
    is_test = None
    kind = None
    held_on = None
    allow_unanswered = BooleanField(_l("允许评议代表对不了解的单位不作答（记为未作答，不记为“不了解”）"))

    def values(self) -> dict[str, Any]:
        return {**super().values(), "allow_unanswered": bool(self.allow_unanswered.data)}


class BulkUnitsForm(FlaskForm):
    """Categories and units pasted (one unit a line) or in a CSV/XLSX file (setup.bulk_units)."""

    text = TextAreaField(_l("粘贴单位列表（每行一个单位：类别、单位代码、单位名称、英文名称（可空），用 Tab、逗号或空格分隔；可直接从表格复制）"),
                         validators=[Length(max=200_000)])
    file = FileField(_l("或选择 CSV / XLSX 文件（同样四列，第一行可为表头）"))


class MoveForm(FlaskForm):
    direction = HiddenField(validators=[InputRequired(), AnyOf(("up", "down"))])


class StatusForm(FlaskForm):
    target = HiddenField(validators=[InputRequired()])


class DeleteForm(FlaskForm):
    """A bare POST with its CSRF token."""


class CategoryForm(RowForm):
    code = StringField(_l("类别代码"), validators=[InputRequired(message=_l("请填写类别代码")), Length(max=64), CODE])
    label = StringField(_l("类别名称（已有类别可不填）"), validators=[Length(max=200)])
    label_en = StringField(_l("类别的英文名称（可空，评议代表切换到英文时显示）"), validators=[Length(max=200)])


class UnitForm(RowForm):
    category = SelectField(_l("类别"), coerce=int, validators=[InputRequired(message=_l("请先添加类别"))])
    code = StringField(_l("单位代码"), validators=[InputRequired(message=_l("请填写单位代码")), Length(max=64), CODE])
    name = StringField(_l("单位名称（已有单位可不填）"), validators=[Length(max=200)])
    name_en = StringField(_l("单位的英文名称（可空，评议代表切换到英文时显示）"), validators=[Length(max=200)])


class GroupForm(RowForm):
    code = StringField(_l("评议主体代码"), validators=[InputRequired(message=_l("请填写评议主体代码")),
                                                       Length(max=64), CODE])
    label = StringField(_l("评议主体名称（已有的可不填）"), validators=[Length(max=200)])
    weight = FloatField(_l("权重"), validators=[
        InputRequired(message=_l("请填写权重（正数）")),
        Positive(message=_l("权重必须是正数（大于 0）"))])
    quota = IntegerField(_l("名额（计划发放份数，可空）"), validators=[
        Optional(), NumberRange(min=0, message=_l("名额不能为负数"))])


class GroupEditForm(GroupForm):
    code = None


class RatedUnitsForm(FlaskForm):
    units = checkboxes(_l("评议的单位"), coerce=int)


class ItemForm(RowForm):
    code = StringField(_l("指标代码"), validators=[InputRequired(message=_l("请填写指标代码")), Length(max=64), CODE])
    label = StringField(_l("指标名称"), validators=[InputRequired(message=_l("请填写指标名称")), Length(max=200)])
    label_en = StringField(_l("指标的英文名称（可空，评议代表切换到英文时显示）"), validators=[Length(max=200)])
    weight = FloatField(_l("权重"), default=1.0, validators=[
        InputRequired(message=_l("请填写权重（正数）")),
        Positive(message=_l("权重必须是正数（大于 0）"))])
    help = TextAreaField(_l("说明（可空，显示在评议表上，如这个指标评价什么）"),
                         validators=[Length(max=500, message=_l("说明最多 500 字"))])
    help_en = TextAreaField(_l("说明的英文（可空）"), validators=[Length(max=500, message=_l("说明最多 500 字"))])


class ItemEditForm(ItemForm):
    code = None


class OptionForm(RowForm):
    code = StringField(_l("选项代码"), validators=[InputRequired(message=_l("请填写选项代码")), Length(max=32), CODE])
    label = StringField(_l("选项名称"), validators=[InputRequired(message=_l("请填写选项名称")), Length(max=100)])
    label_en = StringField(_l("选项的英文名称（可空，评议代表切换到英文时显示）"), validators=[Length(max=100)])
    points = FloatField(_l("分值（0–100；“不了解”等不计分选项留空）"), validators=[
        Optional(), NumberRange(min=0, max=100, message=_l("分值应在 0 到 100 之间；不计分选项请留空"))])


class OptionEditForm(OptionForm):
    code = None


#: How a raked variable's value reaches the ballot (MarginVariable.supply).
SUPPLY_LABELS = {"question": _l("在评议表上询问（各渠道必答）"), "roster": _l("取自名册（导入名单的附加列；匿名评议按 k 规则）")}


class MarginForm(RowForm):
    """One raked variable of a group; its categories one per line (margins.parse_categories)."""

    variable = StringField(_l("变量名（评议票上属性的名称；取自名册时与名单的列名相同，如“区域”）"), validators=[
        InputRequired(message=_l("请填写边际变量名，如“区域”")), Length(max=64)])
    label = StringField(_l("问题（评议表上显示，如“您所在的区”；可空，默认同变量名）"), validators=[Length(max=200)])
    label_en = StringField(_l("问题的英文（可空，评议代表切换到英文时显示）"), validators=[Length(max=200)])
    supply = SelectField(_l("取值方式"), choices=[SelectChoice(k, v) for k, v in SUPPLY_LABELS.items()],
                         default="question")
    source = StringField(_l("比例的数据来源（如“统计年鉴 2025”）"), validators=[Length(max=200)])
    categories = TextAreaField(_l("类别及总体比例（每行一个，如“东区 0.4”或“东区 40%”；比例按其和折算）"),
                               validators=[InputRequired(message=_l("请填写类别及比例，每行一个，如“东区 0.4”"))])
    fallback = StringField(_l("归并类别（取自名册时：人数少于 k 或名册中没有的值归入此类，须是上面的类别之一，如“其他”）"),
                           validators=[Length(max=200)])


class AttributeKForm(FlaskForm):
    attribute_k = IntegerField(_l("k：名册属性值至少要有多少名同批次评议代表共有，才写入匿名评议票"), validators=[
        InputRequired(message=_l("请填写 k（至少 5）")),
        NumberRange(min=5, max=10_000_000, message=_l("k 至少为 5"))])


_COMPONENT = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*[=:：]\s*([0-9.]+)\s*$")


class RulesForm(FlaskForm):
    """SCORING.md section 8, one field per rule, each checked with a message that explains it."""

    ballot_share = FloatField(_l("问卷测评占比"), validators=[
        InputRequired(message=_l("请填写问卷测评占比")),
        Positive(message=_l("问卷测评占比必须是正数（如 1 或 0.7）"))])
    objective_components = TextAreaField(_l("客观考核分项及占比（每行一项，如 work=0.3；可空）"))
    satisfied = FloatField(_l("“满意”阈值（综合得分不低于此值）"), validators=[
        InputRequired(message=_l("请填写满意阈值")),
        NumberRange(0, 100, message=_l("阈值应在 0 到 100 之间"))])
    basic = FloatField(_l("“基本满意”阈值（低于此值为不满意）"), validators=[
        InputRequired(message=_l("请填写基本满意阈值")),
        NumberRange(0, 100, message=_l("阈值应在 0 到 100 之间"))])
    max_dissatisfied_share = FloatField(_l("不满意率上限（0–1，达到即评为不满意；可空）"), validators=[
        Optional(), NumberRange(0, 1, message=_l("不满意率上限应在 0 到 1 之间，如 0.3 表示 30%%"))])
    bottom_n = IntegerField(_l("末位规则：每类最后 n 名（可空）"), validators=[
        Optional(), NumberRange(min=1, message=_l("末位名数 n 至少为 1"))])
    bottom_below = FloatField(_l("末位规则：且综合得分低于"), validators=[Optional()])
    min_valid_per_unit = IntegerField(_l("每个单位至少有效票数"), validators=[
        InputRequired(message=_l("请填写每个单位至少有效票数")),
        NumberRange(min=0, message=_l("有效票数不能为负数"))])
    trim_per_end = FloatField(_l("每端去除比例（去掉最高分和最低分，0 ≤ p < 0.5）"), validators=[
        InputRequired(message=_l("请填写每端去除比例，不去除填 0")),
        Below(0, 0.5,
              message=_l("每端去除比例必须不小于 0 且小于 0.5（两端合计不能去掉全部选票）"))])
    nonresponse_adjust = BooleanField(_l("按回收率调整权重（无回答调整）"))
    weight_cap = FloatField(_l("权重上限（组内平均权重的倍数；可空表示不截断）"), validators=[
        Optional(), Positive(message=_l("权重上限必须是正数"))])
    exclude_flags = checkboxes(_l("剔除带以下标记的选票"), choices=[SelectChoice(f, FLAG_LABELS[f]) for f in FLAGS])
    burst_limit = IntegerField(_l("同一网段 10 分钟内提交上限"), validators=[
        InputRequired(message=_l("请填写集中提交上限")), NumberRange(min=0, message=_l("上限不能为负数"))])
    overall_item = SelectField(_l("总体评价指标（计算满意率用）"), choices=[])
    replicates = IntegerField(_l("自助法重复次数"), validators=[
        InputRequired(message=_l("请填写自助法重复次数")), NumberRange(min=0, message=_l("次数不能为负数"))])
    seed = IntegerField(_l("随机种子"), validators=[
        InputRequired(message=_l("请填写随机种子")), NumberRange(min=0, message=_l("随机种子不能为负数"))])

    def validate_basic(self, field: Any) -> None:
        if field.data is not None and self.satisfied.data is not None and not self.satisfied.data > field.data:
            raise ValidationError(_l("阈值顺序不对：满意阈值（%(s)s）必须高于基本满意阈值（%(b)s）",
                                     s=f"{self.satisfied.data:g}", b=f"{field.data:g}"))

    def validate(self, extra_validators: Any = None) -> bool:
        ok: bool = super().validate(extra_validators)
        # Both optional, but only together (Optional() would skip a per-field check).
        if (self.bottom_n.data is None) != (self.bottom_below.data is None) and not self.bottom_n.errors:
            self.bottom_below.errors = [*self.bottom_below.errors, _l("末位规则需要同时填写名数 n 和分数线，或都留空")]
            ok = False
        return ok

    def validate_objective_components(self, field: Any) -> None:
        self.components()

    def components(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for n, line in enumerate((self.objective_components.data or "").splitlines(), start=1):
            if not line.strip():
                continue
            match = _COMPONENT.match(line)
            if not match:
                raise ValidationError(_l("第 %(n)d 行“%(line)s”看不懂：请写成 代码=占比，如 work=0.3", n=n, line=line.strip()))
            value = float(match.group(2))
            if not value > 0:
                raise ValidationError(_l("第 %(n)d 行：占比必须是正数", n=n))
            out[match.group(1)] = value
        return out

    def rules(self) -> dict[str, Any]:
        bottom = None if self.bottom_n.data is None else {"n": self.bottom_n.data, "below": self.bottom_below.data}
        return {
            "ballot_share": self.ballot_share.data, "objective_components": self.components(),
            "thresholds": {"satisfied": self.satisfied.data, "basic": self.basic.data},
            "max_dissatisfied_share": self.max_dissatisfied_share.data, "bottom": bottom,
            "min_valid_per_unit": self.min_valid_per_unit.data, "trim_per_end": self.trim_per_end.data,
            "nonresponse_adjust": bool(self.nonresponse_adjust.data), "weight_cap": self.weight_cap.data,
            "exclude_flags": [f for f in FLAGS if f in (self.exclude_flags.data or [])],
            "burst_limit": self.burst_limit.data, "overall_item": self.overall_item.data or None,
            "bootstrap": {"replicates": self.replicates.data, "seed": self.seed.data},
        }

    def fill(self, rules: dict[str, Any]) -> None:
        """Show the campaign's effective rules."""
        self.ballot_share.data = rules["ballot_share"]
        self.objective_components.data = "\n".join(f"{k}={v}" for k, v in rules["objective_components"].items())
        self.satisfied.data = rules["thresholds"]["satisfied"]
        self.basic.data = rules["thresholds"]["basic"]
        self.max_dissatisfied_share.data = rules["max_dissatisfied_share"]
        bottom = rules["bottom"] or {}
        self.bottom_n.data, self.bottom_below.data = bottom.get("n"), bottom.get("below")
        self.min_valid_per_unit.data = rules["min_valid_per_unit"]
        self.trim_per_end.data = rules["trim_per_end"]
        self.nonresponse_adjust.data = rules["nonresponse_adjust"]
        self.weight_cap.data = rules["weight_cap"]
        self.exclude_flags.data = list(rules["exclude_flags"])
        self.burst_limit.data = rules["burst_limit"]
        self.overall_item.data = rules["overall_item"] or ""
        self.replicates.data = rules["bootstrap"]["replicates"]
        self.seed.data = rules["bootstrap"]["seed"]


__all__ = ["CampaignForm", "CampaignEditForm", "StatusForm", "DeleteForm", "CategoryForm", "UnitForm",
           "GroupForm", "GroupEditForm", "RatedUnitsForm", "ItemForm", "ItemEditForm", "OptionForm",
           "OptionEditForm", "RulesForm", "MarginForm", "AttributeKForm"]
