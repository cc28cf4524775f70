"""The shapes of the API's answers, as pydantic models: the views build them,
and their JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1) is what
/api/v1/openapi.json says of each answer (survey/api/registry.py).

A field's ``description`` is the documentation a developer reads; figures
that do not exist are null, as in pingyi-results/1 (SCORING.md section 9)."""
from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

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
    path: str = Field(description="出错的位置：`$` 指整个请求，`query.limit` 指查询参数 limit")
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
