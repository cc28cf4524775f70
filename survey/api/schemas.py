"""The shapes of the API's answers, as pydantic models: the views build them,
and their JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) is what
/api/v1/openapi.json says of each answer (survey/api/registry.py).

A field's ``description`` is the documentation a developer reads; figures
that do not exist are null, as in pingyi-results/1 (SCORING.md section 9)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

Item = TypeVar("Item")

#: A code as the app's CHECKs allow it (survey/models/base.py ``code_checks``).
CODE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Code = Annotated[str, Field(description="代码（字母、数字、- 与 _）")]
#: An instant in ISO 8601 with its offset, in Beijing time (survey/clock.py ``iso_beijing``).
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time",
                                           "description": "ISO 8601，北京时间（+08:00）"})]
Status = Literal["draft", "open", "closed", "finalized", "published"]
ClassCode = Literal["satisfied", "basically_satisfied", "dissatisfied", "insufficient"]
Channel = Literal["online", "email", "sms", "paper", "qr", "public"]
ErrorCode = Literal["bad_request", "unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict",
                    "gone", "too_large", "too_many_requests", "error"]


class Schema(BaseModel):
    """An answer of ours: exactly these keys (additionalProperties: false)."""

    model_config = ConfigDict(extra="forbid")


# --- errors ------------------------------------------------------------------


class ErrorItem(Schema):
    path: str = Field(description="出错的位置：`$` 指整个请求，`query.limit` 指查询参数 limit，"
                               "`body.scores[2].score` 指请求体中的一个值")
    reason: str = Field(description="原因（中文）")
    reason_en: str = Field(description="The reason in English")


class ErrorDocument(Schema):
    """Every error of the API (pingyi-errors/1, the format of a refused bundle, with a `code`)."""

    format: Literal["pingyi-errors/1"]
    code: ErrorCode = Field(description="错误类别，随 HTTP 状态而定（401 unauthorized, 404 not_found …）")
    errors: list[ErrorItem] = Field(min_length=1)


# --- paging --------------------------------------------------------------------


class Page(Schema, Generic[Item]):
    """One page of a list. Pass `next_cursor` back as `?cursor=` for the next
    page (with the same `limit`); it is null on the last page."""

    items: list[Item]
    limit: int = Field(description="本页最多条数（请求的 limit）")
    next_cursor: str | None = Field(description="下一页的游标；最后一页为 null")


# --- campaigns -----------------------------------------------------------------


class CampaignSummary(Schema):
    code: Code
    name: str
    year: int
    status: Status = Field(description="draft 草稿, open 进行中, closed 已截止, finalized 已定稿, published 已公示")
    status_label: str = Field(description="状态的中文名称")
    anonymous: bool = Field(description="匿名评议：评议票与发放记录之间没有任何关联")
    opens_at: Timestamp | None
    closes_at: Timestamp | None


class Category(Schema):
    code: Code
    label: str


class ScoredItem(Schema):
    code: Code
    label: str
    weight: float


class Option(Schema):
    code: Code
    label: str
    points: float | None = Field(description="分值；null 表示不计分的选项（不了解）")


class GroupRef(Schema):
    code: Code
    label: str
    weight: float


class CampaignDetail(CampaignSummary):
    return_target: float = Field(description="回收率目标（0–1）")
    categories: list[Category]
    items: list[ScoredItem]
    scale: list[Option]
    groups: list[GroupRef]


class CampaignPage(Page[CampaignSummary]):
    pass


# --- return figures ------------------------------------------------------------


class Returns(Schema):
    """回收情况, as the return board computes them (survey/campaigns/board.py)."""

    issued: int | None = Field(description="发放份数；含开放渠道（公开、二维码海报）时为 null")
    returned: int = Field(description="回收份数（含空白票、被剔除的票）")
    valid: int = Field(description="有效票数")
    rate: float | None = Field(description="回收率 returned / issued；issued 为 null 或 0 时为 null")
    valid_rate: float | None = Field(description="有效率 valid / issued")
    below_target: bool = Field(description="回收率低于活动的目标")


class UnitEntry(Schema):
    code: Code
    name: str
    name_en: str | None
    category: Code
    category_label: str
    returns: Returns | None = Field(description="该单位的回收情况；单位联络员的密钥为 null")


class UnitPage(Page[UnitEntry]):
    pass


class GroupEntry(Schema):
    code: Code
    label: str
    weight: float
    returns: Returns


class GroupPage(Page[GroupEntry]):
    pass


class BatchEntry(Schema):
    code: Code
    group: Code
    channel: Channel
    label: str
    returns: Returns
    invitations: int | None = Field(description="个人链接（或编号纸质表）数")
    unanswered: int | None = Field(description="尚未使用的个人链接数")


class BatchPage(Page[BatchEntry]):
    pass


# --- results -------------------------------------------------------------------


class GroupResult(Schema):
    code: Code
    label: str
    n: int = Field(description="该评议主体对本单位的有效票数")
    score: float | None


class UnitResult(Schema):
    """A unit's result as its page shows it. For a liaison's key: only after
    the results are finalized, and evaluator groups with fewer valid ballots
    than the committee's minimum are not shown one by one (`hidden_groups`)."""

    campaign: Code
    unit: Code
    name: str
    category: Code
    final: bool = Field(description="true：已定稿的结果；false：尚未定稿，仅供参考")
    interim: bool = Field(description="true：评议尚未截止，中间结果，仅供内部参考（须评议领导小组在结果设置中开启；"
                                      "未开启时评议截止前答 409）")
    final_class: ClassCode = Field(description="评定等次（含评议领导小组的调整）")
    final_class_label: str
    computed_class: ClassCode = Field(description="按评分办法计算的等次")
    score: float | None = Field(description="综合得分")
    rank: int | None = Field(description="类别内名次；数据不足时为 null")
    groups: list[GroupResult]
    hidden_groups: int = Field(description="因票数过少未单独显示的评议主体数")


class ResultBatch(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    issued: int | None
    returned: int
    valid: int
    return_rate: float | None


class ResultGroup(ResultBatch):
    ess: float
    alpha: float | None


class ResultUnit(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    code: str
    category: str
    n_valid: int
    score_ballot: float | None
    score: float | None
    shares: dict[str, float | None] | None
    group_scores: dict[str, float | None]
    class_: ClassCode = Field(alias="class")
    reasons: list[str]
    rank: int | None
    ci95: list[float] | None
    stability: float | None
    borderline: bool


class ResultsDocument(BaseModel):
    """pingyi-results/1 (SCORING.md section 9) as stored with the snapshot:
    the keys of section 9, and the committee's `explain` beside them."""

    model_config = ConfigDict(extra="allow")
    format: Literal["pingyi-results/1"]
    campaign: str
    ballots: dict[str, Any]
    batches: list[ResultBatch]
    groups: list[ResultGroup]
    units: list[ResultUnit]
    warnings: list[dict[str, Any]]


class ItemGroupScore(Schema):
    code: Code
    label: str
    score: float | None


class ItemResult(Schema):
    """A unit's figures on one item (SCORING.md section 5a): ballot scores, no objective components."""

    code: Code
    label: str
    n: int = Field(description="对该项目给出计分选项的有效票数（各评议主体之和）")
    hidden: bool = Field(description="单位联络员的密钥：票数少于最小组规模，得分、占比与区间不显示（为 null）")
    score: float | None = Field(description="该项目的得分（各评议主体按权重合成）")
    group_scores: list[ItemGroupScore] = Field(
        description="各评议主体对该项目的得分；单位联络员的密钥不列出票数少于最小组规模的评议主体")
    shares: dict[str, float] | None = Field(description="各计分选项的占比（选项代码 → 占比）")
    ci95: list[float] | None = Field(description="95% 区间（自助法）；无法计算时为 null")


class UnitItems(Schema):
    """A unit's per-item results as stored with the results (SCORING.md
    section 5a `items`), in the campaign's item order."""

    campaign: Code
    unit: Code
    final: bool = Field(description="true：已定稿的结果；false：尚未定稿，仅供参考")
    interim: bool = Field(description="true：评议尚未截止，中间结果，仅供内部参考（须评议领导小组在结果设置中开启；"
                                      "未开启时评议截止前答 409）")
    available: bool = Field(description="false：所存结果计算于分项得分（SCORING.md 5a）之前，items 为空")
    items: list[ItemResult]
    hidden_groups: int = Field(description="因票数过少未单独显示的评议主体数（单位联络员的密钥）")


# --- comments, consequences, rectification -------------------------------------

AnswerKind = Literal["explain", "coordinate", "improve"]


class CommentAnswerOut(Schema):
    kind: AnswerKind = Field(description="explain 解释说明, coordinate 协调解决, improve 改进服务")
    kind_label: str
    text: str
    answered_at: Timestamp


class CommentEntry(Schema):
    id: int
    text: str
    group: Code | None = Field(description="评议主体代码；单位联络员看到的合并组（其他评议主体）为 null")
    group_label: str
    answer: CommentAnswerOut | None = Field(description="单位的答复；尚未答复为 null")


class CommentPage(Page[CommentEntry]):
    withheld: int = Field(description="因所在评议主体票数过少而未向单位联络员显示的意见数（其他角色为 0）")


ConsequenceKind = Literal["self_examination", "criticism_notice", "media_list", "bonus_linkage",
                          "leader_handling", "organizational_handling"]


ConsequenceState = Literal["pending", "executed", "received"]


class ConsequenceEntry(Schema):
    id: int
    unit: Code
    kind: ConsequenceKind
    kind_label: str
    text: str
    due_on: dt.date | None
    done_at: Timestamp | None
    created_at: Timestamp
    cancelled_at: Timestamp | None = Field(description="因申诉改变等次而撤销的时间；有效的为 null")
    note: str | None
    owner: str | None = Field(description="责任部门或责任人")
    state: ConsequenceState = Field(description="pending 待办, executed 已执行, received 已收到（书面检查）")
    state_label: str
    overdue: bool = Field(description="红字：有效、待办且已过期限")
    marked_red_at: Timestamp | None = Field(description="首次逾期标红的时间（落实后仍保留，即“已消红”）")
    proof: str | None = Field(description="证明材料：收到的书面检查、通报文号等")
    amount: float | None = Field(description="扣减的绩效奖金金额（元）")
    percent: float | None = Field(description="扣减的绩效奖金比例（%）")
    persons: str | None = Field(description="组织处理、领导干部处理：主要负责人和直接责任人员及处理方式")
    rule: str | None = Field(description="生成它的加重处理规则（其 key）；按等次生成的为 null")


class ConsequencePage(Page[ConsequenceEntry]):
    pass


class RectificationEntry(Schema):
    id: int
    unit: Code
    name: str
    due_on: dt.date = Field(description="整改截止日期")
    plan: str | None = Field(description="整改方案")
    plan_at: Timestamp | None
    report: str | None = Field(description="整改报告")
    report_at: Timestamp | None
    overdue: bool = Field(description="红字：逾期未验收（验收后仍保留记录，见 marked_red_at）")
    marked_red_at: Timestamp | None
    accepted_at: Timestamp | None = Field(description="验收时间；未验收为 null")
    review_state: Literal["none", "plan", "report", "returned", "resubmitted", "accepted"] = Field(
        description="审核状态：未提交、已提交方案、待验收、已退回修改、修改后重新提交、已验收")
    returned_at: Timestamp | None = Field(description="最近一次退回修改的时间；从未退回为 null")
    review_comment: str | None = Field(description="评议领导小组最近的审核意见（退回修改或验收时填写）")


class RectificationPage(Page[RectificationEntry]):
    pass


# --- the audit log ---------------------------------------------------------------


class AuditEntryOut(Schema):
    id: int = Field(description="递增的编号：以最后见到的 id 作 ?after= 即可只取新的记录")
    at: Timestamp
    username: str | None = Field(description="操作者的用户名（当时的）；系统操作为 null")
    action: str = Field(description="动作，如 campaign.finalize、veto.create")
    target: str = Field(description="对象，如 campaign:2026/unit:u03")
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(Page[AuditEntryOut]):
    pass


# --- writing: the roster and objective scores ----------------------------------


def _not_blank(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return text


#: Text of a request body: no NUL character (no database column takes one).
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
#: Text that must say something (not only spaces).
Filled = Annotated[Text, Field(min_length=1), AfterValidator(_not_blank)]


def _attribute_names(attributes: dict[str, str]) -> dict[str, str]:
    """An attribute's name is a further column of the roster: not one of the
    template's columns (nor a heading read as one), not blank, no spaces around."""
    from survey.roster.services import ALIASES, COLUMNS

    for name in attributes:
        if not name.strip() or name != name.strip():
            raise PydanticCustomError("attribute_name", "attribute names must not be blank or padded with spaces")
        if name in COLUMNS or name in ALIASES or name.lower() in ALIASES:
            raise PydanticCustomError("attribute_column", "{name} is a column of the roster, not an attribute",
                                      {"name": name})
    return attributes


class EvaluatorIn(Schema):
    """One evaluator (评议代表): the columns of the roster template."""

    name: Filled = Field(description="姓名（必填，最多 100 字）")
    phone: Text | None = Field(None, description="手机（11 位，可带 +86、空格或短横线）；手机与邮箱至少填一项")
    email: Text | None = Field(None, description="电子邮箱")
    organisation: Text | None = Field(None, description="工作单位（最多 200 字）")
    group: Filled = Field(description="评议主体：代码或名称")
    own_unit: Text | None = Field(None, description="所在被评议单位的代码（本人不评议本单位）")
    attributes: Annotated[dict[Text, Text], AfterValidator(_attribute_names)] = Field(
        default_factory=dict, description="其他属性（区域、行业…）：名称 → 值，原样保存，可用于加权和统计；"
                                          "名称不能是上面的列（姓名、手机…）")


#: The most evaluators one request adds (as many as the rows of one roster file).
MAX_EVALUATORS = 100_000


class RosterImport(Schema):
    """Evaluators to add to the campaign's roster: all of them, or none."""

    evaluators: list[EvaluatorIn] = Field(min_length=1, max_length=MAX_EVALUATORS)


class RosterImported(Schema):
    imported: int = Field(description="导入的评议代表人数")
    per_group: dict[str, int] = Field(description="各评议主体（名称）导入的人数")


class ObjectiveScoreIn(Schema):
    unit: str = Field(pattern=CODE_PATTERN, description="被评议单位代码")
    component: str = Field("work", pattern=CODE_PATTERN, description="考核项目代码，如 work（工作考核）")
    score: float = Field(ge=0, le=1e9, allow_inf_nan=False,
                         description="得分，按 full_marks 分制（默认百分制）；计分时折算为 100 × score ÷ full_marks，限定在 0–100")
    full_marks: float = Field(100.0, gt=0, le=1e9, allow_inf_nan=False, description="满分（100、1000 或扣分基数）")
    evidence: Filled = Field(max_length=2000, description="得分依据（文件、考核记录）")


class ObjectiveScoresImport(Schema):
    """Objective scores to set: all of them, or none. A unit's score of a
    component that it already has is replaced."""

    scores: list[ObjectiveScoreIn] = Field(min_length=1, max_length=10_000)


class ObjectiveScoreOut(Schema):
    unit: Code
    component: str
    score: float = Field(description="计分用的得分（0–100）")
    raw: float | None = Field(None, description="原始得分（按 full_marks 分制）；早先录入的百分制得分为 null")
    full_marks: float | None = Field(None, description="满分")
    evidence: str | None = Field(None, description="得分依据")


class ObjectiveScorePage(Page[ObjectiveScoreOut]):
    pass


class ObjectiveScoresImported(Schema):
    imported: int = Field(description="保存的得分数（新增或替换）")


# --- the anonymised ballots ------------------------------------------------------

BallotColumnKind = Literal["text", "code", "label", "flag", "number", "time"]
#: A cell of a ballot row: text, a code or label, 0/1, a number, an instant; null where none.
BallotCell = str | int | float | None


class BallotColumn(Schema):
    name: str = Field(description="变量名（也是每行的键），与 CSV/XLSX/SPSS/Stata/Parquet 导出相同")
    label: str = Field(description="说明")
    kind: BallotColumnKind = Field(description="text 文本, code 代码, label 标签, flag 0/1, number 数值, "
                                               "time 提交时间（ISO 8601，北京时间）")
    categories: list[str] = Field(description="code 与 label 列的可能取值（按顺序）；其他列为空")


class BallotPage(Page[dict[str, BallotCell]]):
    """The anonymised ballots, one object per ballot keyed by the columns'
    names (the raw ballot export's rows, survey/results/ballot_export.py)."""

    ballots: int = Field(description="本活动的评议票总数")
    interim: bool = Field(description="true：评议尚未截止，中间结果，仅供内部参考（须评议领导小组在结果设置中开启；"
                                      "未开启时评议截止前答 409）")
    pseudonyms: Literal["final", "per_request"] = Field(
        description="来源地址化名：final 定稿时确定、各页一致；per_request 定稿前每次请求另取，只在一页之内可比")
    columns: list[BallotColumn]


# --- the supervision register (督查登记) -----------------------------------------


class ComplainantOut(Schema):
    """Who raised a case: personal data, answered to the case handler's key only."""

    name: str | None
    phone: str | None
    contact: str | None


class CaseOut(Schema):
    id: int
    code: str = Field(description="案件编号")
    kind: Literal["complaint", "petition", "hotline", "e_supervision", "inspection"]
    kind_label: str
    source: str
    date: dt.date = Field(description="案件日期（决定计入哪次评议）")
    unit: Code
    summary: str
    place: str | None = Field(description="明查暗访：地点或窗口")
    points: float | None = Field(description="明查暗访：自定扣分（null：按规则）")
    status: Literal["registered", "accepted", "rejected", "assigned", "replied", "verified", "closed"]
    status_label: str
    due_on: dt.date | None = Field(description="交办后的答复期限")
    red: bool = Field(description="红字：逾期未答复")
    cleared: bool = Field(description="已消红")
    verdict: Literal["founded", "partly", "unfounded"] | None
    campaign: Code | None = Field(description="核实结论计入的评议活动")
    complainant: ComplainantOut | None = Field(description="反映人：只答复督查投诉办理人员的密钥，其他角色为 null")


class CasePage(Page[CaseOut]):
    pass


class CaseDeduction(Schema):
    case: str = Field(description="案件编号")
    points: float


class DerivedUnitValue(Schema):
    unit: Code
    deducted: float = Field(description="扣分合计")
    raw: float = Field(description="原始得分 max(0, 基数 − 扣分合计)")
    score: float = Field(description="得分 = 原始得分 ÷ 基数 × 100")
    cases: list[CaseDeduction]


class DeductionRuleOut(Schema):
    kind: str
    verdict: str
    points: float


class RegisterComponentOut(Schema):
    code: Code
    label: str
    base: float = Field(description="扣分基数")
    rules: list[DeductionRuleOut]
    units: list[DerivedUnitValue]


class RegisterComponentPage(Page[RegisterComponentOut]):
    pass


class PublicationRow(Schema):
    unit: Code
    name: str
    total: int
    founded: int
    partly: int
    unfounded: int
    open: int


class PublicationOut(Schema):
    month: str = Field(description="YYYY-MM")
    published_at: Timestamp
    counts: list[PublicationRow]


class PublicationPage(Page[PublicationOut]):
    pass


class MissingComponent(Schema):
    component: Code
    units: list[Code] = Field(description="尚缺该分项得分的单位")


class MissingComponentPage(Page[MissingComponent]):
    pass
# --- consequences carried out, escalation rules, 回头看, 先进 ---------------------------


class ConsequenceAssign(Schema):
    """Who carries a pending consequence out, and by when (both replaced)."""

    owner: str | None = Field(None, max_length=100, description="责任部门或责任人；null 为未定")
    due_on: dt.date | None = Field(None, description="办理期限；null 为不设")


class ConsequenceCarryOut(Schema):
    """What proves a consequence carried out: a document (every kind but
    bonus_linkage), the amount or percentage withheld (bonus_linkage), the
    persons (leader_handling, organizational_handling)."""

    proof: str = Field("", max_length=2000, description="证明材料：文件名称、文号、收到的书面检查")
    amount: float | None = Field(None, ge=0, allow_inf_nan=False, description="扣减金额（元）")
    percent: float | None = Field(None, ge=0, le=100, allow_inf_nan=False, description="扣减比例（%）")
    persons: str = Field("", max_length=2000, description="处理的主要负责人和直接责任人员，每行一人，写明处理方式")


EscalationBasis = Annotated[str, Field(description="依据：class 评定等次, bottom 评议末位（监督登记册将增加 cases 属实案件）")]


class EscalationRuleIO(Schema):
    basis: EscalationBasis
    value: str | None = Field(None, description="basis 为 class 时的等次代码；cases 时的案件类别；bottom 为 null")
    count: int = Field(ge=1, le=1000, description="次数（按等次、末位计数时每年至多计一次，故不能多于年数）")
    years: int = Field(ge=1, le=10, description="年数，含本年度")
    consequence: ConsequenceKind
    verdicts: list[str] = Field(default_factory=list, description="按案件计数的依据：计入的核实结论；空为全部属实")
    text: str | None = Field(None, max_length=500, description="处理意见；{单位} 代表单位名称；null 为按规则生成")


class EscalationRuleOut(EscalationRuleIO):
    key: str = Field(description="规则的标识，记在它生成的处理事项上（rule）")
    description: str = Field(description="规则的文字说明")
    builtin: bool = Field(description="内置的“连续两年末位 → 组织处理”（在结果设置中开关）")


class ConsequenceRulesIn(Schema):
    """The committee's escalation rules, owners and deadlines (each replaced
    as a whole; the class rules stay as the settings page set them)."""

    escalation: list[EscalationRuleIO] = Field(default_factory=list, max_length=50)
    owners: dict[ConsequenceKind, str] = Field(default_factory=dict, description="各处理事项的默认责任部门")
    due_days: dict[ConsequenceKind, int] = Field(default_factory=dict, description="各处理事项的默认办理天数（自定稿之日）")


class ConsequenceRules(Schema):
    escalate_bottom_two_years: bool
    rules: list[EscalationRuleOut] = Field(description="生效的加重处理规则（内置规则在前）")
    owners: dict[ConsequenceKind, str]
    due_days: dict[ConsequenceKind, int]


FollowUpOutcome = Literal["closed", "reopened", "noted"]


class FollowUpEntry(Schema):
    id: int
    unit: Code
    name: str
    scheduled_on: dt.date
    note: str | None
    findings: str | None
    outcome: FollowUpOutcome | None = Field(description="closed 整改到位销号, reopened 重新整改, noted 仅记录；未记录为 null")
    new_due: dt.date | None = Field(description="重新整改的截止日期")
    done_at: Timestamp | None


class FollowUpPage(Page[FollowUpEntry]):
    pass


class FollowUpFindings(Schema):
    findings: Filled = Field(max_length=5000, description="回头看发现的情况")
    outcome: FollowUpOutcome
    new_due: dt.date | None = Field(None, description="重新整改（reopened）的截止日期，须在今天以后")


class StarBand(Schema):
    min_score: float = Field(ge=0, le=100, allow_inf_nan=False)
    stars: int = Field(ge=1, le=5)


class HonourRuleIO(Schema):
    top_k: int | None = Field(None, ge=1, le=1000, description="每个类别前几名；null 不限")
    min_score: float | None = Field(None, ge=0, le=100, allow_inf_nan=False, description="综合得分下限；null 不限")
    stars: list[StarBand] = Field(default_factory=list, description="星级，分数从高到低")
    public_stars: bool = Field(False, description="在公示页显示星级")
    title: str = Field("先进单位", min_length=1, max_length=100)


HonourDecision = Literal["awarded", "declined"]


class HonourCandidate(Schema):
    unit: Code
    name: str
    category: Code
    rank: int
    score: float
    stars: int | None
    decision: HonourDecision | None = Field(description="awarded 授予, declined 不授予；待评定为 null")
    title: str | None
    amount: float | None = Field(description="奖励金额（元）")
    note: str | None


class Honours(Schema):
    rule: HonourRuleIO
    candidates: list[HonourCandidate] = Field(description="按规则产生的候选单位（定稿后），按类别、名次")


class HonourDecide(Schema):
    decision: HonourDecision
    title: str = Field("", max_length=100, description="称号；空为规则中的称号")
    amount: float | None = Field(None, ge=0, allow_inf_nan=False, description="奖励金额（元）")
    note: str = Field("", max_length=2000)
# --- on the spot: 现场测评 sessions and window posters (issue #14) -----------------


class SubsetFigures(Schema):
    """SCORING.md §5a's figures of a subset of the valid ballots for one unit."""

    n: int = Field(description="有效票数 Σ_g n(u,g)")
    score: float | None = Field(description="问卷得分 S(u)（不含考核分）")
    shares: dict[str, float | None] | None = Field(description="总体评价指标上各计分选项的比例（选项代码 → 比例）")


class SessionGroup(Schema):
    batch: Code = Field(description="该评议主体在本场次的批次")
    group: Code
    group_label: str
    expected: int = Field(description="应到人数（即批次的发放数）")
    returned: int = Field(description="已提交的评议票数")


class SessionUnitTally(Schema):
    code: Code
    name: str
    n: int = Field(description="本场次的有效票数")
    score: float | None = Field(description="问卷得分（子数据包上按评分办法计算）")
    shares: dict[str, float | None] = Field(description="总体评价指标上各计分选项的比例")


class SessionTally(Schema):
    """现场结果: `analysis` on the session's sub-bundle (its batches, their
    ballots, its units, the campaign's rules); no objective scores, vetoes,
    campaign-wide ranks or classes."""

    received: int
    valid: int
    units: list[SessionUnitTally]


class SessionEntry(Schema):
    code: Code
    name: str
    place: str | None
    starts_at: Timestamp | None
    state: Literal["planned", "open", "closed"] = Field(description="planned 未开始, open 进行中, closed 已结束")
    announce: bool = Field(description="当场公布：结束后投影页显示现场结果")
    units: list[Code] = Field(description="本场次的参评单位")
    groups: list[SessionGroup]
    tally: SessionTally | None = Field(description="现场结果；场次结束前为 null")
    campaign_breakdown: dict[str, SubsetFigures] | None = Field(
        description="评议活动截止后，本场次批次在全部数据中的分项结果（评分办法 §5a，单位代码 → 数字）；截止前为 null")


class SessionPage(Page[SessionEntry]):
    pass


class PosterEntry(Schema):
    """A window QR poster (知情评议): an open batch whose form shows the units listed."""

    batch: Code
    group: Code
    channel: Channel
    units: list[Code] = Field(description="表单上的单位（窗口海报通常只有一个）")
    public_url: str = Field(description="海报二维码的地址")
    ip_cap: int | None = Field(description="同一网络地址 24 小时内最多提交的份数（0 为不限）")
    returned: int = Field(description="已提交的评议票数")
    results: dict[str, SubsetFigures] | None = Field(
        description="评议活动截止后本批次的分项结果（评分办法 §5a，by_batch；单位代码 → 数字）；截止前为 null")


class PosterPage(Page[PosterEntry]):
    pass


# --- opinions from outside the ballots (survey/api/opinions.py) ---------------------------


class RaiserOut(Schema):
    name: str | None
    phone: str | None
    contact: str | None


class OpinionOut(Schema):
    id: int
    code: str = Field(description="意见编号（不是反映人的查询码）")
    source: Literal["forum", "visit", "reception", "hotline"] = Field(description="座谈会、走访、接访、热线")
    source_label: str
    source_detail: str
    date: dt.date = Field(description="意见日期（决定所属的评议活动）")
    unit: Code
    summary: str
    status: Literal["registered", "assigned", "answered", "closed"]
    status_label: str
    due_on: dt.date | None = Field(description="交办后的答复期限")
    answer: str | None = Field(description="单位的答复（反映人凭查询码可见）")
    answered_at: Timestamp | None
    red: bool = Field(description="红字：逾期未答复")
    cleared: bool = Field(description="已消红")
    campaign: Code | None = Field(description="考核期包含意见日期的评议活动")
    raiser: RaiserOut | None = Field(description="反映人：只答复意见办理人员（handler）的密钥，其他角色为 null")


class OpinionPage(Page[OpinionOut]):
    pass
# --- 平时考核 rounds (survey/api/rounds.py, docs/rounds.md) -------------------------------


class RoundOut(Schema):
    code: Code
    name: str
    held_on: dt.date | None = Field(description="考核日期：计入考核期包含这一天的年度评议")
    status: Status = Field(description="draft 草稿, open 进行中, closed 已截止, published 已发布（轮次没有定稿）")
    status_label: str
    counts_for: str | None = Field(description="计入的年度评议的代码；null：没有考核期包含考核日期的年度评议")


class RoundPage(Page[RoundOut]):
    pass


class RoundRankingRow(Schema):
    unit: Code
    name: str
    category: Code
    rank: int | None = Field(description="类别内名次；有效票不足为 null")
    score: float | None = Field(description="综合得分（0–100）")
    n_valid: int = Field(description="有效票数")


class RoundRanking(Schema):
    round: RoundOut
    published: bool = Field(description="排名已由评议办发布（计入平时考核）")
    units: list[RoundRankingRow]


class RollupRound(Schema):
    code: Code
    name: str
    held_on: dt.date


class RollupUnit(Schema):
    unit: Code
    score: float | None = Field(description="平时考核得分：已发布各轮综合得分的平均值；null：缺失")
    composites: dict[str, float | None] = Field(description="各轮（按轮次代码）的综合得分；null：该轮没有综合得分")


class RollupOut(Schema):
    component: Code | None = Field(description="平时考核项目的代码（如 pingshi）；null：未设")
    label: str | None
    weight: float | None = Field(description="计分规则 objective_components 中的权重")
    rounds: list[RollupRound]
    units: list[RollupUnit]


class RoundPublishIn(Schema):
    """Publishing a round takes no settings: its ranking is what its results give."""

    round: Code = Field(description="要发布的轮次代码（与路径中的相同，防止误发）")
