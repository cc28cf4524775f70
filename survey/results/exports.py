"""The committee's charts of a campaign and its exports: the XLSX workbook,
the PDF report (charts with the CJK font embedded) and the results JSON."""
from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any, cast

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.drawing.image import Image as XLImage
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import update

from survey import charts, jobs
from survey.campaigns.board import group_rows
from survey.extensions import db
from survey.models import Campaign, Job, ResultSnapshot
from survey.models.outcome import ANSWER_LABELS, CLASS_LABELS
from survey.results import artifacts, queries, tables
from survey.results.comments import answers_of, comments_of
from survey.results.history import history, units_with_history
from survey.results.i18n import gettext as _
from survey.results.rectification import rectifications_of
from survey.results.snapshots import current_snapshot, effective_rules, parsed, results_for, shown_snapshot
from survey.spreadsheets import append_row

#: The workbook's sheets, in order (their names are what people see in Excel).
SHEETS = ("评议结果", "分组得分", "选项占比", "回收率", "意见与答复", "整改情况")


def _class_labels() -> dict[str, str]:
    return {k: _(v) for k, v in CLASS_LABELS.items()}


#: What draws a chart (a function of ``survey.charts``) and the arguments it is drawn with.
ChartSpec = tuple[Callable[..., Figure], tuple[Any, ...]]


def _category_view(campaign: Campaign, results: dict[str, Any], category: str) -> queries.CategoryView:
    """A category's ranking (KeyError for a category the campaign has not)."""
    return {v.code: v for v in queries.ranking(campaign, results)}[category]


def _ranking_spec(campaign: Campaign, results: dict[str, Any], category: str) -> ChartSpec:
    view = _category_view(campaign, results, category)
    units = [{"name": row.name, "score": row.result["score"], "ci95": row.result["ci95"], "class": row.final_class}
             for row in view.units]
    rules = effective_rules(campaign)
    return charts.ranking_chart, (units, rules["thresholds"], _("%(c)s 综合得分与95%%区间", c=view.label),
                                  _class_labels())


def _shares_spec(campaign: Campaign, results: dict[str, Any], category: str) -> ChartSpec:
    view = _category_view(campaign, results, category)
    units = [{"name": row.name, "shares": row.result["shares"]} for row in view.units]
    return charts.shares_chart, (units, queries.option_labels(campaign), _("%(c)s 各选项占比", c=view.label))


def _returns_spec(campaign: Campaign, results: dict[str, Any]) -> ChartSpec:
    """Per group the app's own rate (over the personal channels, or against the quota
    where only open channels issued nothing), with the open channels' ballots beside it."""
    labels = queries.group_labels(campaign)
    rows = group_rows(campaign, results)
    groups = []
    for g in results["groups"]:
        row = rows.get(g["code"])
        groups.append({"label": labels.get(g["code"], g["code"]),
                       "return_rate": row.shown_rate if row else g["return_rate"],
                       "quota": bool(row and row.quota_rate is not None),
                       "open_returned": row.open_returned if row else 0})
    return charts.return_rate_chart, (groups, campaign.return_target, _("各评议主体回收率"))


def _history_spec(campaign: Campaign, unit_code: str, results: dict[str, Any] | None = None) -> ChartSpec:
    cu = queries.campaign_unit(campaign, unit_code)
    if cu is None:
        raise KeyError(unit_code)
    known = {campaign.id: results} if results is not None else None
    return charts.history_chart, (history(unit_code, known), effective_rules(campaign)["thresholds"],
                                  _("%(n)s 历年综合得分", n=cu.name))


def chart_spec(campaign: Campaign, results: dict[str, Any], name: str) -> ChartSpec:
    """What draws a chart and everything it is drawn from, by its URL name:
    ranking-<category>, shares-<category>, returns, history-<unit>."""
    kind, _sep, arg = name.partition("-")
    if kind == "ranking" and arg:
        return _ranking_spec(campaign, results, arg)
    if kind == "shares" and arg:
        return _shares_spec(campaign, results, arg)
    if kind == "returns" and not arg:
        return _returns_spec(campaign, results)
    if kind == "history" and arg:
        return _history_spec(campaign, arg, results)
    raise KeyError(name)


def chart(campaign: Campaign, results: dict[str, Any], name: str) -> Figure:
    """A chart by its URL name (see ``chart_spec``)."""
    builder, args = chart_spec(campaign, results, name)
    return builder(*args)


CHART_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def chart_key(builder: Callable[..., Figure], args: tuple[Any, ...], fmt: str) -> str:
    """The artifact key of a chart: what draws it, everything it is drawn from, the format."""
    return artifacts.digest([builder.__module__, builder.__qualname__, fmt, list(args)])


def chart_bytes(campaign: Campaign, snap: ResultSnapshot, results: dict[str, Any], name: str, fmt: str) -> bytes:
    """A chart's PNG or SVG bytes, drawn once and kept beside the snapshot
    (``artifacts.fetch``: a new computation or override gives new inputs,
    hence a new key)."""
    builder, args = chart_spec(campaign, results, name)
    return artifacts.fetch(snap, chart_key(builder, args, fmt), CHART_TYPES[fmt],
                           lambda: charts.render(builder(*args), fmt))


def keep_chart(campaign: Campaign, snap: ResultSnapshot, results: dict[str, Any], name: str) -> None:
    """Make sure a chart is kept beside the snapshot in every format, drawing
    one figure for all the formats that are missing."""
    builder, args = chart_spec(campaign, results, name)

    @functools.cache
    def figure() -> Figure:
        return builder(*args)

    def drawn(fmt: str) -> Callable[[], bytes]:
        return lambda: charts.render(figure(), fmt)

    with artifacts.keeping():
        for fmt, media_type in CHART_TYPES.items():
            artifacts.fetch(snap, chart_key(builder, args, fmt), media_type, drawn(fmt))


def chart_names(campaign: Campaign, results: dict[str, Any]) -> list[str]:
    """Every chart the results pages show: ranking and option shares of each
    category, the return rates, the history of each unit rated in more than one year."""
    names = []
    for view in queries.ranking(campaign, results):
        names += [f"ranking-{view.code}", f"shares-{view.code}"]
    names.append("returns")
    shown = units_with_history(campaign)  # a unit's page shows its history from a second year on
    names += [f"history-{cu.code}" for cu in queries.unit_list(campaign) if cu.code in shown]
    return names


@jobs.handler("draw_results")
def draw_results(job: Job) -> None:
    """Draw every chart and render every table the results pages show for a
    new snapshot, and keep them beside it, so that no page view pays for the
    drawing. Skips everything once the snapshot has been computed again (the
    newer computation queued its own job)."""
    campaign = db.session.get(Campaign, job.params["campaign_id"])
    snap = shown_snapshot(campaign) if campaign is not None else None
    if campaign is None or snap is None or snap.results_sha256 != job.params["results_sha256"]:
        return
    results = parsed(snap)
    names = chart_names(campaign, results)
    db.session.execute(update(Job).where(Job.id == job.id).values(total=len(names) + 1))
    for name in names:
        keep_chart(campaign, snap, results, name)
        jobs.step(job.id)
        db.session.commit()
    tables.keep_all(campaign, snap)
    jobs.step(job.id)
    db.session.commit()


def xlsx(campaign: Campaign) -> bytes:
    """The workbook: results (with the ranking charts), group scores, shares,
    return rates, comments with answers, rectification status."""
    snap = current_snapshot(campaign)
    results = parsed(snap)
    classes = _class_labels()
    glabels = queries.group_labels(campaign)
    options = queries.option_labels(campaign)
    names = {cu.code: cu.name for cu in queries.units_of(campaign)}
    wb = Workbook()
    ws = cast(Worksheet, wb.active)
    ws.title = SHEETS[0]
    bold = Font(bold=True)
    red = PatternFill("solid", fgColor="F8D7DA")

    def header(sheet: Worksheet, cells: list[Any]) -> None:
        append_row(sheet, cells)
        for cell in sheet[sheet.max_row]:
            cell.font = bold

    header(ws, [_("类别"), _("单位代码"), _("单位"), _("有效票"), _("问卷得分"), _("综合得分"), _("名次"),
                _("计算评定"), _("最终评定"), _("调整理由"), _("95%区间下限"), _("95%区间上限"), _("稳定性"),
                _("临界")])
    views = queries.ranking(campaign, results)
    for view in views:
        for row in view.units:
            r = row.result
            ci = r["ci95"] or [None, None]
            append_row(ws, [view.label, row.code, row.name, r["n_valid"], r["score_ballot"], r["score"], r["rank"],
                       classes[r["class"]], classes[row.final_class],
                       row.override.reason if row.override else None, ci[0], ci[1], r["stability"],
                       _("是") if r["borderline"] else _("否")])
    anchor_row = ws.max_row + 3
    for view in views:
        img = XLImage(io.BytesIO(chart_bytes(campaign, snap, results, f"ranking-{view.code}", "png")))
        img.anchor = f"B{anchor_row}"
        ws.add_image(img)
        anchor_row += int(img.height / 20) + 2

    gs = wb.create_sheet(SHEETS[1])
    header(gs, [_("单位代码"), _("单位"), _("评议主体"), _("有效票"), _("得分")])
    for u in results["units"]:
        for gcode, g in u["explain"]["groups"].items():
            append_row(gs, [u["code"], names.get(u["code"]), glabels.get(gcode, gcode), g["n"], g["score"]])

    ss = wb.create_sheet(SHEETS[2])
    header(ss, [_("单位代码"), _("单位"), _("评议主体")] + [label for _c, label in options])
    for u in results["units"]:
        if u["shares"]:
            append_row(ss, [u["code"], names.get(u["code"]), _("合计")] + [u["shares"].get(c) for c, _l in options])
        for gcode, sh in (u["group_shares"] or {}).items():
            if sh:
                append_row(ss, [u["code"], names.get(u["code"]), glabels.get(gcode, gcode)]
                          + [sh.get(c) for c, _l in options])

    rs = wb.create_sheet(SHEETS[3])
    header(rs, [_("评议主体"), _("发放"), _("回收"), _("有效"), _("回收率"), _("个人渠道发放"), _("个人渠道回收"),
                _("个人渠道回收率"), _("开放渠道回收"), _("名额"), _("对名额的比例")])
    personal = group_rows(campaign, results)
    for g in results["groups"]:
        mine = personal.get(g["code"])
        append_row(rs, [glabels.get(g["code"], g["code"]), g["issued"], g["returned"], g["valid"], g["return_rate"],
                        *((mine.personal_issued, mine.personal_returned, mine.personal_return_rate, mine.open_returned,
                           mine.quota, mine.quota_rate) if mine else (None,) * 6)])
    img = XLImage(io.BytesIO(chart_bytes(campaign, snap, results, "returns", "png")))
    img.anchor = f"A{rs.max_row + 3}"
    rs.add_image(img)

    cs = wb.create_sheet(SHEETS[4])
    header(cs, [_("单位代码"), _("单位"), _("评议主体"), _("意见"), _("答复类别"), _("答复内容")])
    for cu in queries.units_of(campaign):
        received = comments_of(campaign, cu)
        answers = answers_of([comment.id for comment, _gcode in received])
        for comment, gcode in received:
            answer = answers.get(comment.id)
            append_row(cs, [cu.code, cu.name, glabels.get(gcode, gcode), comment.text,
                       _(ANSWER_LABELS[answer.kind]) if answer else None, answer.text if answer else None])

    ts = wb.create_sheet(SHEETS[5])
    header(ts, [_("单位代码"), _("单位"), _("截止日期"), _("整改方案"), _("整改报告"), _("状态")])
    for rect in rectifications_of(campaign):
        status = (_("已验收（已消红）") if rect.was_cleared else _("已验收") if rect.accepted_at
                  else _("红字（逾期）") if rect.is_red else _("进行中"))
        append_row(ts, [rect.campaign_unit.code, rect.campaign_unit.name, rect.due_on, rect.plan, rect.report, status])
        if rect.is_red:
            for cell in ts[ts.max_row]:
                cell.fill = red
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pdf(campaign: Campaign) -> bytes:
    """The report: a summary page, then each category's ranking and shares, then the return rates."""
    results = results_for(campaign)
    classes = _class_labels()
    buf = io.BytesIO()
    figures: list[Figure] = []
    with charts.cjk_fonts():
        cover = charts.new_figure(8.27, 11.69)
        cover.text(0.08, 0.93, campaign.name, fontsize=18, weight="bold")
        cover.text(0.08, 0.89, _("评议结果报告 · 状态：%(s)s", s=campaign.state.label), fontsize=11)
        b = results["ballots"]
        cover.text(0.08, 0.85, _("收回有效票 %(v)d 张，剔除 %(e)d 张，空白 %(bl)d 张", v=b["valid"], e=b["excluded"],
                                 bl=b["blank"]), fontsize=11)
        y = 0.80
        for view in queries.ranking(campaign, results):
            cover.text(0.08, y, view.label, fontsize=13, weight="bold")
            y -= 0.03
            for row in view.units:
                score = row.score_text
                mark = "" if row.override is None else _("（原计算：%(c)s）", c=classes[row.computed_class])
                cover.text(0.1, y, f"{row.result['rank'] or '—'}  {row.name}  {score}  {classes[row.final_class]}{mark}",
                           fontsize=9)
                y -= 0.022
            y -= 0.01
        figures.append(cover)
    for view in queries.ranking(campaign, results):
        figures.append(chart(campaign, results, f"ranking-{view.code}"))
        figures.append(chart(campaign, results, f"shares-{view.code}"))
    figures.append(chart(campaign, results, "returns"))
    with charts.cjk_fonts(), PdfPages(buf, metadata={"Title": campaign.name, "Creator": "Pingyi"}) as pages:
        for fig in figures:
            pages.savefig(fig)
    return buf.getvalue()
