"""What the committee and the organizer put into the results besides the
ballots: the data-quality flags whose ballots are excluded, objective scores
and vetoes. None of it changes once the results are final."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from survey import audit
from survey.errors import Forbidden, UserError
from survey.extensions import db
from survey.models import Campaign, CampaignUnit, ObjectiveScore, User, Veto
from survey.results import ResultsError
from survey.results.i18n import gettext as _
from survey.results.queries import rows_of, unit_result, units_of
from survey.results.snapshots import compute, results_for
from survey.roster.services import RowProblem

FLAGS = ("duplicate", "straight_line", "speeder", "burst", "extreme_rater")
FLAG_LABELS = {"duplicate": "重复提交", "straight_line": "一律同选", "speeder": "答题过快",
               "burst": "同一网段集中提交", "extreme_rater": "极端评分"}


def _require_known(flags: list[str]) -> None:
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise ResultsError(_("未知的数据质量标记：%(f)s", f="、".join(unknown)))


def _require_open(campaign: Campaign) -> None:
    if campaign.state.is_frozen:
        raise ResultsError(_("评议结果已定稿，不能再修改。"))


def preview_exclude_flags(campaign: Campaign, flags: list[str]) -> dict[str, Any]:
    """What the results would be with another ``exclude_flags``: the classes that change."""
    _require_known(flags)
    current = results_for(campaign)
    _bundle, preview = compute(campaign, {"exclude_flags": list(flags)})
    names = {cu.code: cu.name for cu in units_of(campaign)}
    changes = []
    for u in preview["units"]:
        old = unit_result(current, u["code"])
        if old["class"] != u["class"]:
            changes.append({"code": u["code"], "name": names.get(u["code"], u["code"]),
                            "before": old["class"], "after": u["class"],
                            "score_before": old["score"], "score_after": u["score"]})
    return {"flags": list(flags), "changes": changes, "excluded": preview["ballots"]["excluded"],
            "excluded_before": current["ballots"]["excluded"], "valid": preview["ballots"]["valid"]}


def adopt_exclude_flags(campaign: Campaign, flags: list[str]) -> None:
    _require_open(campaign)
    _require_known(flags)
    before = dict(campaign.rules or {})
    campaign.rules = {**before, "exclude_flags": list(flags)}
    audit.record("rules.exclude_flags", f"campaign:{campaign.code}", {"rules": before}, {"rules": campaign.rules})


def _next_position(campaign: Campaign, model: type[ObjectiveScore] | type[Veto]) -> int:
    """The position after the campaign's last objective score or veto."""
    last = db.session.scalar(select(func.coalesce(func.max(model.position), -1))
                             .join(CampaignUnit).where(CampaignUnit.campaign_id == campaign.id))
    return (last if last is not None else -1) + 1


def normalised(raw: float, full_marks: float) -> float:
    """The value the analysis uses: 100 × raw / full marks, clipped to [0, 100]."""
    return min(100.0, max(0.0, 100.0 * raw / full_marks))


def check_enterable(campaign: Campaign, component: str, user: User | None) -> None:
    """Whether ``user`` may enter ``component``: never a component the app
    derives (the register's deductions); an assessing department only its own."""
    from survey.register.services import derived_components
    from survey.rounds.services import rollup_code

    if component == rollup_code(campaign):
        raise UserError(_("考核项目 %(c)s 由平时考核轮次的综合得分生成，不能录入或导入。", c=component))
    if component in derived_components(campaign):
        raise UserError(_("考核项目 %(c)s 由督查登记的扣分生成，不能录入或导入。", c=component))
    if user is not None and user.role == "assessor" and component != user.component:
        raise Forbidden(_("本账号只能录入考核项目 %(c)s。", c=user.component or ""))


def check_in_period(campaign: Campaign, day: dt.date | None) -> str | None:
    """Why an assessment of ``day`` does not belong to the campaign (None: it does):
    a dated score belongs to the campaign whose assessment period contains its date."""
    if day is None or campaign.period_start is None or campaign.period_end is None:
        return None
    if not campaign.period_start <= day <= campaign.period_end:
        return _("考核日期 %(d)s 不在本次评议的考核期（%(a)s 至 %(b)s）内", d=day.isoformat(),
                 a=campaign.period_start.isoformat(), b=campaign.period_end.isoformat())
    return None


def set_objective_score(campaign: Campaign, cu: CampaignUnit, component: str, raw: float, evidence: str,
                        full_marks: float = 100.0, user: User | None = None,
                        assessed_on: dt.date | None = None) -> ObjectiveScore:
    """A unit's score of a component, on the component's own scale (``raw`` of
    ``full_marks``: 100, 1000 points, a deduction base), with its evidence; the
    analysis reads 100 × raw / full marks, clipped to [0, 100]."""
    _require_open(campaign)
    check_enterable(campaign, component, user)
    if not (math.isfinite(raw) and math.isfinite(full_marks)) or full_marks <= 0 or raw < 0:
        raise UserError(_("得分不能为负，满分须大于 0。"))
    outside = check_in_period(campaign, assessed_on)
    if outside:
        raise UserError(outside)
    score = normalised(raw, full_marks)
    row = db.session.scalar(select(ObjectiveScore).where(
        ObjectiveScore.campaign_unit_id == cu.id, ObjectiveScore.component == component))
    before = None if row is None else {"component": component, "score": row.score, "raw": row.raw,
                                       "full_marks": row.full_marks}
    if row is None:
        row = ObjectiveScore(campaign_unit=cu, position=_next_position(campaign, ObjectiveScore),
                             component=component, score=score)
        db.session.add(row)
    row.score, row.raw, row.full_marks, row.evidence = score, raw, full_marks, evidence
    row.assessed_on = assessed_on
    audit.record("objective_score.set", f"campaign:{campaign.code}/unit:{cu.code}", before,
                 {"component": component, "score": score, "raw": raw, "full_marks": full_marks,
                  "evidence": evidence, **({"assessed_on": assessed_on} if assessed_on else {})})
    return row


# --- importing a component's scores (CSV/XLSX) ---------------------------------------

#: The columns of a scores file, by heading.
UNIT_COLUMN, COMPONENT_COLUMN, RAW_COLUMN, FULL_COLUMN, EVIDENCE_COLUMN = "单位代码", "考核项目", "得分", "满分", "依据"
DATE_COLUMN = "考核日期"
SCORE_COLUMNS = (UNIT_COLUMN, COMPONENT_COLUMN, RAW_COLUMN, FULL_COLUMN, EVIDENCE_COLUMN, DATE_COLUMN)


class ScoresRefused(UserError):
    """A scores file with problems: nothing of it is saved; each problem names its row and column."""

    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(_("得分文件有 %(n)d 处问题，未导入任何一行", n=len(problems)))
        self.problems = problems


@dataclass(frozen=True)
class ScoreRow:
    unit: CampaignUnit
    component: str
    raw: float
    full_marks: float
    evidence: str
    assessed_on: dt.date | None = None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_score_table(campaign: Campaign, filename: str, table: list[list[str]],
                      user: User | None) -> list[ScoreRow]:
    """The rows of a scores file (row 1: the headings of SCORE_COLUMNS; 考核项目
    may be left out by an assessing department, whose component it is), or
    ScoresRefused with every problem at its row and column."""
    problems: list[RowProblem] = []

    def problem(row: int, column: str, reason: str) -> None:
        problems.append(RowProblem(filename, row, column, reason))

    if not table:
        raise ScoresRefused([RowProblem(filename, 0, "", _("文件是空的"))])
    header = [h.strip() for h in table[0]]
    own = user.component if user is not None and user.role == "assessor" else None
    needed = [c for c in SCORE_COLUMNS if not (c == COMPONENT_COLUMN and own) and c not in (FULL_COLUMN, DATE_COLUMN)]
    missing = [c for c in needed if c not in header]
    if missing:
        raise ScoresRefused([RowProblem(filename, 1, c, _("缺少“%(c)s”列", c=c)) for c in missing])
    at = {name: header.index(name) for name in SCORE_COLUMNS if name in header}
    units = {cu.code: cu for cu in units_of(campaign)}
    from survey.register.services import derived_components
    from survey.rounds.services import rollup_code

    derived, rollup = derived_components(campaign), rollup_code(campaign)
    seen: dict[tuple[str, str], int] = {}
    rows: list[ScoreRow] = []
    for number, cells in enumerate(table[1:], start=2):
        def get(column: str, cells: list[str] = cells) -> str:
            i = at.get(column)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        if not any(c.strip() for c in cells):
            continue
        unit_code, component = get(UNIT_COLUMN), get(COMPONENT_COLUMN) or own or ""
        raw, full_text, evidence = _number(get(RAW_COLUMN)), get(FULL_COLUMN), get(EVIDENCE_COLUMN)
        full = _number(full_text) if full_text else 100.0
        day_text = get(DATE_COLUMN)
        day = None
        if day_text:
            try:
                day = dt.date.fromisoformat(day_text[:10])
            except ValueError:
                problem(number, DATE_COLUMN, _("日期应写作 YYYY-MM-DD"))
            else:
                outside = check_in_period(campaign, day)
                if outside:
                    problem(number, DATE_COLUMN, outside)
        if unit_code not in units:
            problem(number, UNIT_COLUMN, _("本次评议没有代码为“%(u)s”的单位", u=unit_code))
        if not component:
            problem(number, COMPONENT_COLUMN, _("请填写考核项目代码"))
        elif own and component != own:
            problem(number, COMPONENT_COLUMN, _("本账号只能导入考核项目 %(c)s", c=own))
        elif component in derived:
            problem(number, COMPONENT_COLUMN, _("考核项目 %(c)s 由督查登记的扣分生成，不能导入", c=component)
                    if component != rollup else _("考核项目 %(c)s 由平时考核轮次生成，不能导入", c=component))
        if raw is None or raw < 0:
            problem(number, RAW_COLUMN, _("得分应为不小于 0 的数"))
        if full is None or full <= 0:
            problem(number, FULL_COLUMN, _("满分应为大于 0 的数"))
        if not evidence:
            problem(number, EVIDENCE_COLUMN, _("请写明得分依据"))
        key = (unit_code, component)
        if key in seen:
            problem(number, UNIT_COLUMN, _("与第 %(r)d 行是同一单位、同一考核项目", r=seen[key]))
        seen.setdefault(key, number)
        if unit_code in units and raw is not None and full is not None and full > 0:
            rows.append(ScoreRow(units[unit_code], component, raw, full, evidence, day))
    if problems:
        raise ScoresRefused(problems)
    if not rows:
        raise ScoresRefused([RowProblem(filename, 0, "", _("文件中没有得分行"))])
    return rows


def import_scores(campaign: Campaign, filename: str, data: bytes, user: User | None) -> int:
    """A CSV or XLSX of scores, all rows or none (the roster's reader and limits)."""
    from survey.roster.services import RosterRefused, read_table

    _require_open(campaign)
    try:
        table = read_table(filename, data)
    except RosterRefused as exc:
        raise ScoresRefused(exc.problems) from None
    rows = check_score_table(campaign, filename, table, user)
    for row in rows:
        set_objective_score(campaign, row.unit, row.component, row.raw, row.evidence, row.full_marks, user,
                            row.assessed_on)
    return len(rows)


def missing_components(campaign: Campaign) -> list[tuple[str, list[CampaignUnit]]]:
    """The rules' objective components that some units still lack (before 定稿),
    with those units; derived components are never missing."""
    from survey.register.services import derived_components

    wanted = list((campaign.rules or {}).get("objective_components") or {})
    if not wanted:
        return []
    derived = derived_components(campaign)
    have = {(s.campaign_unit_id, s.component) for s in objective_scores_of(campaign)}
    out = []
    for component in wanted:
        if component in derived:
            continue
        lacking = [cu for cu in units_of(campaign) if (cu.id, component) not in have]
        if lacking:
            out.append((component, lacking))
    return out


def add_veto(campaign: Campaign, cu: CampaignUnit, reason: str, evidence: str) -> Veto:
    _require_open(campaign)
    veto = Veto(campaign_unit=cu, position=_next_position(campaign, Veto), reason=reason, evidence=evidence)
    db.session.add(veto)
    audit.record("veto.create", f"campaign:{campaign.code}/unit:{cu.code}", None,
                 {"reason": reason, "evidence": evidence})
    return veto


def remove_veto(campaign: Campaign, veto: Veto) -> None:
    _require_open(campaign)
    audit.record("veto.delete", f"campaign:{campaign.code}/unit:{veto.campaign_unit.code}",
                 {"reason": veto.reason, "evidence": veto.evidence}, None)
    db.session.delete(veto)


def vetoes_of(campaign: Campaign) -> list[Veto]:
    return rows_of(campaign, Veto, Veto.position, Veto.id)


def objective_scores_of(campaign: Campaign) -> list[ObjectiveScore]:
    return rows_of(campaign, ObjectiveScore, CampaignUnit.position, ObjectiveScore.component)
