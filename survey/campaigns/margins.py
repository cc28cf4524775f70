"""Setting up a group's raking margins (加权边际, SCORING.md section 4): its
variables, each with its categories and population proportions, where the
proportions come from, and how a ballot gets the variable's value (a question
on the form, or the roster under the k rule: survey/ballots/attributes.py).

Each save is all or nothing: every problem of the variable is listed (naming
the variable, the category or line, and the field), and nothing is written
unless there is none."""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from survey.ballots.attributes import refresh_releases
from survey.campaigns.setup import SetupRefused, ensure_editable
from survey.extensions import db
from survey.models import Campaign, CampaignGroup, Evaluator, MarginTarget, MarginVariable
from survey.models.campaign import ATTRIBUTE_K_MIN, MARGIN_SUPPLIES

VARIABLE_MAX = 64
TEXT_MAX = 200
#: "东区 0.4", "东区,40%", "东区：0.4", "东区<tab>0.4" (pasted from a spreadsheet).
_LINE = re.compile(r"^(?P<category>.+?)\s*[\s,，:：=]\s*(?P<proportion>[^\s,，:：=]+)$")


@dataclass(frozen=True)
class MarginProblem:
    """One reason a margin is refused: the form field it concerns and why."""

    field: str
    message: str


class MarginRefused(SetupRefused):
    """A margin with problems; nothing was saved. ``problems`` lists them all."""

    def __init__(self, problems: list[MarginProblem]) -> None:
        super().__init__("；".join(p.message for p in problems))
        self.problems = problems


def _control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def format_proportion(value: float) -> str:
    return f"{value:.10g}"


def categories_text(targets: list[MarginTarget]) -> str:
    """The categories as the form shows them: one "类别 比例" per line."""
    return "\n".join(f"{t.category} {format_proportion(t.proportion)}" for t in targets)


def parse_categories(text: str, variable: str) -> tuple[list[tuple[str, float]], list[MarginProblem]]:
    """The lines of the categories field, as (category, proportion) in their
    order, and every problem with the line and category it is on."""
    rows: list[tuple[str, float]] = []
    problems: list[MarginProblem] = []
    seen: dict[str, int] = {}

    def problem(message: str) -> None:
        problems.append(MarginProblem("categories", message))

    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            problem(_("边际变量“%(variable)s”第 %(n)d 行“%(line)s”：应写成“类别 比例”，如“东区 0.4”或“东区 40%%”",
                      variable=variable, n=number, line=line[:40]))
            continue
        category, written = match.group("category").strip(), match.group("proportion")
        where = _("边际变量“%(variable)s”第 %(n)d 行（类别“%(category)s”）",
                  variable=variable, n=number, category=category[:40])
        if len(category) > TEXT_MAX:
            problem(_("%(where)s：类别名称过长（%(n)d 个字符，最多 %(max)d 个）", where=where, n=len(category),
                      max=TEXT_MAX))
            continue
        if _control(category):
            problem(_("%(where)s：类别名称含有控制字符", where=where))
            continue
        try:
            proportion = float(written[:-1]) / 100 if written.endswith(("%", "％")) else float(written)
        except ValueError:
            problem(_("%(where)s：比例“%(value)s”不是数字", where=where, value=written[:20]))
            continue
        if not math.isfinite(proportion) or not 0 <= proportion <= 1:
            problem(_("%(where)s：比例应在 0 到 1 之间（或写百分数，如 40%%），实为“%(value)s”",
                      where=where, value=written[:20]))
            continue
        if category in seen:
            problem(_("%(where)s：类别与第 %(first)d 行重复", where=where, first=seen[category]))
            continue
        seen[category] = number
        rows.append((category, proportion))
    if not rows and not problems:
        problem(_("边际变量“%(variable)s”没有类别：每行写一个类别和它的比例，如“东区 0.4”", variable=variable))
    elif rows and not problems and not sum(p for _c, p in rows) > 0:
        problem(_("边际变量“%(variable)s”的比例之和必须大于 0（各类别的比例会按其和折算，不必正好等于 1）",
                  variable=variable))
    return rows, problems


def _text_problems(values: dict[str, str], variable: str) -> list[MarginProblem]:
    problems = []
    names = {"variable": _("变量名"), "label": _("问题"), "label_en": _("英文问题"), "source": _("数据来源"),
             "fallback": _("归并类别")}
    for key, name in names.items():
        value = values.get(key) or ""
        longest = VARIABLE_MAX if key == "variable" else TEXT_MAX
        if len(value) > longest:
            problems.append(MarginProblem(key, _("边际变量“%(variable)s”的%(field)s过长（%(n)d 个字符，最多 %(max)d 个）",
                                                 variable=variable[:40], field=name, n=len(value), max=longest)))
        elif _control(value):
            problems.append(MarginProblem(key, _("边际变量“%(variable)s”的%(field)s含有控制字符",
                                                 variable=variable[:40], field=name)))
    return problems


def save_variable(campaign: Campaign, group: CampaignGroup, *, variable: str, label: str, supply: str,
                  categories: str, source: str = "", fallback: str = "", label_en: str = "",
                  row: MarginVariable | None = None) -> MarginVariable:
    """Add a raked variable to the group (``row`` None) or replace one, with its
    categories (the text of the form: one "类别 比例" per line), all or nothing."""
    ensure_editable(campaign)
    if group.campaign_id != campaign.id or (row is not None and row.campaign_group_id != group.id):
        raise SetupRefused(_("边际变量不属于本次评议"))
    variable, label, source, fallback = variable.strip(), label.strip(), source.strip(), fallback.strip()
    problems = _text_problems({"variable": variable, "label": label, "label_en": label_en, "source": source,
                               "fallback": fallback}, variable)
    if not variable:
        problems.append(MarginProblem("variable", _("请填写边际变量名（评议票上属性的名称，如“区域”）")))
    elif any(v.variable == variable and v is not row for v in group.margin_variables):
        problems.append(MarginProblem("variable", _("“%(group)s”已有边际变量“%(variable)s”",
                                                     group=group.label, variable=variable)))
    if supply not in MARGIN_SUPPLIES:
        problems.append(MarginProblem("supply", _("边际变量“%(variable)s”的取值方式未知：%(supply)s",
                                                  variable=variable, supply=supply)))
    rows, category_problems = parse_categories(categories, variable)
    problems.extend(category_problems)
    names = [c for c, _p in rows]
    if fallback and not category_problems and fallback not in names:
        problems.append(MarginProblem("fallback", _("边际变量“%(variable)s”的归并类别“%(fallback)s”不在它的类别中",
                                                    variable=variable, fallback=fallback)))
    if supply == "roster" and campaign.anonymous and not fallback:
        problems.append(MarginProblem("fallback", _(
            "边际变量“%(variable)s”取自名册：匿名评议中请指定归并类别（如“其他”），"
            "人数少于 k 的值归入该类别", variable=variable)))
    if problems:
        raise MarginRefused(problems)

    old_targets = [t for t in group.margins if row is not None and t.variable == row.variable]
    structural = (row is None or row.variable != variable or row.supply != supply
                  or [t.category for t in old_targets] != names
                  or (supply == "roster" and (row.fallback or "") != fallback))
    if structural:
        # The form's questions, or what the roster puts on ballots, change.
        ensure_editable(campaign, alters_ballots=True)
    roster_involved = supply == "roster" or (row is not None and row.supply == "roster")
    if row is None:
        row = MarginVariable(position=max((v.position for v in group.margin_variables), default=-1) + 1,
                             variable=variable, label=label or variable, supply=supply)
        group.margin_variables.append(row)
    for target in old_targets:
        group.margins.remove(target)
    db.session.flush()  # the old categories go before the new ones (one unique key)
    row.variable, row.label, row.supply = variable, label or variable, supply
    row.label_en, row.source, row.fallback = label_en.strip() or None, source or None, fallback or None
    for k, (category, proportion) in enumerate(rows):
        group.margins.append(MarginTarget(variable_position=row.position, variable=variable, position=k,
                                          category=category, proportion=proportion))
    db.session.flush()
    if roster_involved:
        refresh_releases(campaign, [group])
    return row


def remove_variable(campaign: Campaign, row: MarginVariable) -> None:
    """Stop raking the group on this variable (its form question goes too)."""
    ensure_editable(campaign, alters_ballots=True)
    group = row.campaign_group
    for target in [t for t in group.margins if t.variable == row.variable]:
        group.margins.remove(target)
    group.margin_variables.remove(row)
    db.session.flush()
    if row.supply == "roster":
        refresh_releases(campaign, [group])


def set_attribute_k(campaign: Campaign, k: int) -> None:
    """The k of the k rule; batches already issued keep their decision once
    the campaign is open (in a draft they are decided again)."""
    ensure_editable(campaign)
    if not ATTRIBUTE_K_MIN <= k <= 10_000_000:
        raise SetupRefused(_("k 至少为 %(min)d（每个写入评议票的名册属性值至少要有 k 名评议代表共有）",
                             min=ATTRIBUTE_K_MIN))
    if k != campaign.attribute_k:
        campaign.attribute_k = k
        db.session.flush()
        refresh_releases(campaign)


def roster_columns(campaign: Campaign, limit: int = 2000) -> list[str]:
    """The roster's extra column headings (what a roster variable can be named)."""
    seen: dict[str, None] = {}
    for attributes in db.session.scalars(select(Evaluator.attributes).where(Evaluator.campaign_id == campaign.id)
                                         .limit(limit)):
        for key in attributes or {}:
            seen.setdefault(str(key), None)
    return list(seen)


def shares(targets: list[MarginTarget]) -> dict[int, float]:
    """Each category's proportion as SCORING.md uses it: normalised to sum 1."""
    total = sum(t.proportion for t in targets)
    return {t.id: t.proportion / total for t in targets} if total > 0 else {}


def form_values(row: MarginVariable, targets: list[MarginTarget]) -> dict[str, Any]:
    return {"variable": row.variable, "label": row.label, "label_en": row.label_en or "", "supply": row.supply,
            "source": row.source or "", "fallback": row.fallback or "", "categories": categories_text(targets)}
