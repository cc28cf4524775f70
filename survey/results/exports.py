"""The committee's charts of a campaign and its exports: the XLSX workbook
and the results JSON (the PDF report is ``survey.results.report``)."""
from __future__ import annotations

import datetime as dt
import functools
import io
import unicodedata
from collections.abc import Callable
from typing import Any, cast

from matplotlib.figure import Figure
from openpyxl import Workbook
from openpyxl.drawing.image import Image as XLImage
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select, update

from survey import charts, jobs
from survey.campaigns.board import group_rows
from survey.clock import to_beijing
from survey.extensions import db
from survey.models import CHANNELS, Batch, Campaign, Job, ResultSnapshot
from survey.models.distribution import CHANNEL_LABELS
from survey.models.outcome import ANSWER_LABELS, CLASS_LABELS
from survey.results import artifacts, queries, tables
from survey.results.comments import answers_of, comments_of
from survey.results.history import history, history_inputs, units_with_history
from survey.results.i18n import gettext as _
from survey.results.rectification import rectifications_of
from survey.results.snapshots import current_snapshot, effective_rules, parsed, shown_snapshot
from survey.spreadsheets import append_row

#: The workbook's sheets, in order (their names are what people see in Excel).
SHEETS = ("评议结果", "分组得分", "选项占比", "回收率", "意见与答复", "整改情况")
#: The sheets of SCORING.md section 5a's per-unit figures, after 选项占比, where
#: the results have them (``items``, ``by_batch``, ``by_channel``, ``by_attribute``).
BREAKDOWN_SHEETS = ("分项指标", "分批次", "分渠道", "分属性")


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


def _items_spec(campaign: Campaign, results: dict[str, Any], unit_code: str) -> ChartSpec:
    """A unit's indicators (SCORING.md section 5a), drawn like a ranking: the weakest at the bottom."""
    result = queries.unit_result(results, unit_code)
    rows = queries.item_rows(result, queries.labels_of(campaign).items)
    if len(rows) < 2:
        raise KeyError(unit_code)
    cu = queries.campaign_unit(campaign, unit_code)
    name = cu.name if cu is not None else unit_code
    items = [{"name": row.label, "score": row.score, "ci95": row.ci95, "class": None} for row in rows]
    return charts.ranking_chart, (items, effective_rules(campaign)["thresholds"],
                                  _("%(n)s 各指标得分与95%%区间", n=name), _class_labels(), _("问卷得分"))


def chart_spec(campaign: Campaign, results: dict[str, Any], name: str) -> ChartSpec:
    """What draws a chart and everything it is drawn from, by its URL name:
    ranking-<category>, shares-<category>, returns, history-<unit>, items-<unit>."""
    kind, _sep, arg = name.partition("-")
    if kind == "ranking" and arg:
        return _ranking_spec(campaign, results, arg)
    if kind == "shares" and arg:
        return _shares_spec(campaign, results, arg)
    if kind == "returns" and not arg:
        return _returns_spec(campaign, results)
    if kind == "history" and arg:
        return _history_spec(campaign, arg, results)
    if kind == "items" and arg:
        return _items_spec(campaign, results, arg)
    raise KeyError(name)


def chart(campaign: Campaign, results: dict[str, Any], name: str) -> Figure:
    """A chart by its URL name (see ``chart_spec``)."""
    builder, args = chart_spec(campaign, results, name)
    return builder(*args)


#: The formats a chart is served in (``results.chart``).
CHART_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
#: The formats a chart is kept in: those served, and the SVG with its words as
#: text that the PDF report embeds (``survey.results.report``).
KEPT_TYPES = {**CHART_TYPES, charts.SVG_TEXT: "image/svg+xml"}


def chart_key(builder: Callable[..., Figure], args: tuple[Any, ...], fmt: str) -> str:
    """The artifact key of a chart: what draws it, everything it is drawn from, the format."""
    return artifacts.digest([builder.__module__, builder.__qualname__, fmt, list(args)])


def _keyed_chart(campaign: Campaign, results_of: Callable[[], dict[str, Any]], name: str,
                 fmt: str) -> tuple[str, Callable[[], Figure]]:
    """A chart's artifact key and what draws it. A unit's history is keyed by
    what it is drawn from as stored (each year's campaign and the hash of its
    shown results, ``history_inputs``), so a process finds it kept without
    reading any year's results; the other charts by their drawing's inputs."""
    kind, _sep, arg = name.partition("-")
    if kind == "history" and arg:
        cu = queries.campaign_unit(campaign, arg)
        if cu is None:
            raise KeyError(name)
        key = artifacts.digest(["history", fmt, arg, history_inputs(arg), effective_rules(campaign)["thresholds"],
                                _("%(n)s 历年综合得分", n=cu.name)])

        def history_figure() -> Figure:
            builder, args = _history_spec(campaign, arg, results_of())
            return builder(*args)
        return key, history_figure
    builder, args = chart_spec(campaign, results_of(), name)
    return chart_key(builder, args, fmt), lambda: builder(*args)


def chart_bytes(campaign: Campaign, snap: ResultSnapshot, results: dict[str, Any] | None, name: str,
                fmt: str) -> bytes:
    """A chart's bytes in one of ``KEPT_TYPES``, drawn once and kept beside the snapshot
    (``artifacts.fetch``: a new computation or override gives new inputs,
    hence a new key). ``results``: the snapshot's, where at hand (else parsed only where needed)."""
    key, figure = _keyed_chart(campaign, lambda: results if results is not None else parsed(snap), name, fmt)
    return artifacts.fetch(snap, key, KEPT_TYPES[fmt], lambda: charts.render(figure(), fmt))


def keep_chart(campaign: Campaign, snap: ResultSnapshot, results: dict[str, Any], name: str) -> None:
    """Make sure a chart is kept beside the snapshot in every format, drawing
    one figure for all the formats that are missing."""
    keyed = {fmt: _keyed_chart(campaign, lambda: results, name, fmt) for fmt in KEPT_TYPES}

    @functools.cache
    def figure() -> Figure:
        return keyed["png"][1]()

    def drawn(fmt: str) -> Callable[[], bytes]:
        return lambda: charts.render(figure(), fmt)

    with artifacts.keeping():
        for fmt, media_type in KEPT_TYPES.items():
            artifacts.fetch(snap, keyed[fmt][0], media_type, drawn(fmt))


def chart_names(campaign: Campaign, results: dict[str, Any]) -> list[str]:
    """Every chart the results pages show: ranking and option shares of each
    category, the return rates, the history of each unit rated in more than one year."""
    names = []
    for view in queries.ranking(campaign, results):
        names += [f"ranking-{view.code}", f"shares-{view.code}"]
    names.append("returns")
    shown = units_with_history(campaign)  # a unit's page shows its history from a second year on
    names += [f"history-{cu.code}" for cu in queries.unit_list(campaign) if cu.code in shown]
    items = queries.labels_of(campaign).items
    names += [f"items-{u['code']}" for u in results["units"]
              if sum(1 for row in queries.item_rows(u, items) if row.score is not None) > 1]
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


# --- the workbook's layout ------------------------------------------------------------------

#: Number formats: scores, shares (percentages), counts; dates and times are Beijing time.
SCORE, SHARE, COUNT, DATE, TIME = "0.00", "0.0%", "0", "yyyy-mm-dd", "yyyy-mm-dd hh:mm"
#: Every sheet has the title row (campaign, sheet, the 草稿 mark), then the header, then its table.
TITLE_ROW, HEADER_ROW = 1, 2
#: The widest a column gets, in Excel's character widths (a Chinese character takes two); longer text wraps.
WIDEST = 50
#: Headers up to this width stay on one line; longer ones wrap onto two.
ONE_LINE_HEADER = 12
_HEADER_FILL = PatternFill("solid", fgColor="D9E2EC")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="52606D"))
_BRAND = "B3261E"


def _column_formats(options: list[tuple[str, str]]) -> dict[str, str]:
    """The number format of each figure column, by its header (translated as the header is):
    the option columns are shares. A new figure column adds its header here
    (or ends in 率, see ``_format_of``); any other column keeps Excel's General."""
    formats = {label: SHARE for _code, label in options}
    formats.update({
        _("有效票"): COUNT, _("名次"): COUNT, _("发放"): COUNT, _("回收"): COUNT, _("有效"): COUNT,
        _("问卷得分"): SCORE, _("综合得分"): SCORE, _("得分"): SCORE,
        _("95%区间下限"): SCORE, _("95%区间上限"): SCORE,
        _("稳定性"): SHARE, _("回收率"): SHARE,
        _("截止日期"): DATE,
        # the personal channels' return figures beside pingyi-results/1's (回收率 sheet)
        _("个人渠道发放"): COUNT, _("个人渠道回收"): COUNT, _("开放渠道回收"): COUNT, _("名额"): COUNT,
        _("对名额的比例"): SHARE,
    })
    return formats


def _format_of(head: Any, formats: dict[str, str]) -> str | None:
    """A column's number format by its header; a header ending in 率 (回收率,
    个人渠道回收率 …) is a rate, shown as a percentage."""
    if not isinstance(head, str):
        return None
    return formats.get(head, SHARE if head.endswith("率") else None)


def _text_width(text: str) -> int:
    """How wide text shows in a spreadsheet: East Asian wide and full-width characters count two."""
    return max((sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)
                for line in text.splitlines()), default=0)


def _shown(value: Any, fmt: str | None) -> str:
    """A cell's value about as the spreadsheet shows it (for the column's width)."""
    if isinstance(value, dt.datetime):
        return "2026-01-01 00:00"
    if isinstance(value, dt.date):
        return "2026-01-01"
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.1%}" if fmt == SHARE else f"{value:.2f}" if fmt == SCORE else f"{value:g}"
    return str(value)


def beijing(instant: dt.datetime | None) -> dt.datetime | None:
    """A stored instant as the workbook shows it: Beijing wall-clock time (``survey.clock``)."""
    return None if instant is None else to_beijing(instant)


def _title_row(sheet: Worksheet, campaign: Campaign) -> None:
    """The sheet's first row: the campaign and the sheet, with 草稿 / 尚未定稿 before 定稿."""
    title = _("%(c)s · %(s)s", c=campaign.name, s=sheet.title)
    draft = not campaign.state.is_frozen
    if queries.interim(campaign):
        title += "　" + _("中间结果，仅供内部参考")
    elif draft:
        title += "　" + _("草稿 / 尚未定稿")
    append_row(sheet, [title])
    sheet.cell(TITLE_ROW, 1).font = Font(bold=True, size=14, color=_BRAND if draft else None)
    sheet.row_dimensions[TITLE_ROW].height = 24


def _lay_out(sheet: Worksheet, formats: dict[str, str]) -> None:
    """Give a finished sheet (title row, header, table) its reading form: the
    header styled, panes frozen below the header and right of the first column,
    an autofilter over the table, each figure's number format, columns as wide
    as their (Chinese) text up to ``WIDEST`` with longer text wrapped, and A4
    landscape printing with the title and header on every page."""
    last_row = max(sheet.max_row, HEADER_ROW)
    headers = [cell.value for cell in sheet[HEADER_ROW]]
    for col, head in enumerate(headers, start=1):
        fmt = _format_of(head, formats)
        head_width = _text_width(str(head or ""))
        widest = head_width if head_width <= ONE_LINE_HEADER else max(ONE_LINE_HEADER, (head_width + 1) // 2)
        for (cell,) in sheet.iter_rows(min_row=HEADER_ROW + 1, max_row=last_row, min_col=col, max_col=col):
            value = cell.value
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                cell.number_format = TIME
            elif isinstance(value, dt.date):
                cell.number_format = DATE
            elif fmt is not None and isinstance(value, int | float) and not isinstance(value, bool):
                cell.number_format = fmt
            width = _text_width(_shown(value, fmt))
            if isinstance(value, str) and (width > WIDEST or "\n" in value):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            widest = max(widest, width)
        sheet.column_dimensions[get_column_letter(col)].width = min(widest + 2, WIDEST)
        cell = sheet.cell(HEADER_ROW, col)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.border = _HEADER_BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    last_col = get_column_letter(max(len(headers), 1))
    sheet.freeze_panes = sheet.cell(HEADER_ROW + 1, 2).coordinate
    sheet.auto_filter.ref = f"A{HEADER_ROW}:{last_col}{last_row}"
    sheet.print_title_rows = f"{TITLE_ROW}:{HEADER_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)


#: Writes a sheet's title row and header (``xlsx``'s ``header``).
Header = Callable[[Worksheet, list[Any]], None]


def _in_order(keys: dict[str, Any], known: dict[str, Any] | list[str] | tuple[str, ...]) -> list[str]:
    """The keys in the campaign's order (questionnaire, batches, channels), then any others."""
    return [k for k in known if k in keys] + [k for k in keys if k not in known]


def _breakdown_sheets(wb: Workbook, campaign: Campaign, results: dict[str, Any], header: Header,
                      names: dict[str, str], glabels: dict[str, str], options: list[tuple[str, str]]) -> None:
    """SCORING.md section 5a's figures, each in a sheet after 选项占比 where the
    results have it: 分项指标 (one row per unit and item: n, score, interval,
    option shares of the item), 分批次, 分渠道 and 分属性 (one row per unit and
    batch, channel or attribute value: n, ballot score, option shares)."""
    units = results["units"]
    position = wb.sheetnames.index(SHEETS[2]) + 1
    share_heads = [label for _code, label in options]

    def shares(values: dict[str, Any] | None) -> list[Any]:
        return [(values or {}).get(code) for code, _label in options]

    if any(u.get("items") for u in units):
        labels = dict(queries.labels_of(campaign).items)
        sheet = wb.create_sheet(BREAKDOWN_SHEETS[0], position)
        position += 1
        header(sheet, [_("单位代码"), _("单位"), _("指标代码"), _("指标"), _("有效票"), _("得分"),
                       _("95%区间下限"), _("95%区间上限")] + share_heads)
        for u in units:
            items = u.get("items") or {}
            for code in _in_order(items, labels):
                figures = items[code]
                ci = figures.get("ci95") or [None, None]
                append_row(sheet, [u["code"], names.get(u["code"]), code, labels.get(code, code), figures.get("n"),
                                   figures.get("score"), ci[0], ci[1]] + shares(figures.get("shares")))
    if any(u.get("by_batch") for u in units):
        batches = {b.code: b for b in db.session.scalars(
            select(Batch).where(Batch.campaign_id == campaign.id).order_by(Batch.position, Batch.id))}
        sheet = wb.create_sheet(BREAKDOWN_SHEETS[1], position)
        position += 1
        header(sheet, [_("单位代码"), _("单位"), _("批次"), _("评议主体"), _("渠道"), _("开始时间（北京时间）"),
                       _("结束时间（北京时间）"), _("有效票"), _("得分")] + share_heads)
        for u in units:
            by_batch = u.get("by_batch") or {}
            for code in _in_order(by_batch, batches):
                batch, figures = batches.get(code), by_batch[code]
                about = ([glabels.get(batch.group.code, batch.group.code), _(CHANNEL_LABELS[batch.channel]),
                          beijing(batch.opens_at), beijing(batch.closes_at)] if batch is not None
                         else [None, None, None, None])
                append_row(sheet, [u["code"], names.get(u["code"]), code, *about, figures.get("n"),
                                   figures.get("score")] + shares(figures.get("shares")))
    if any(u.get("by_channel") for u in units):
        sheet = wb.create_sheet(BREAKDOWN_SHEETS[2], position)
        position += 1
        header(sheet, [_("单位代码"), _("单位"), _("渠道"), _("有效票"), _("得分")] + share_heads)
        for u in units:
            by_channel = u.get("by_channel") or {}
            for channel in _in_order(by_channel, CHANNELS):
                figures = by_channel[channel]
                label = _(CHANNEL_LABELS[channel]) if channel in CHANNEL_LABELS else channel
                append_row(sheet, [u["code"], names.get(u["code"]), label, figures.get("n"),
                                   figures.get("score")] + shares(figures.get("shares")))
    if any(u.get("by_attribute") for u in units):
        sheet = wb.create_sheet(BREAKDOWN_SHEETS[3], position)
        header(sheet, [_("单位代码"), _("单位"), _("属性"), _("取值"), _("有效票"), _("得分")] + share_heads)
        for u in units:
            for attribute, values in (u.get("by_attribute") or {}).items():
                for value, figures in values.items():
                    append_row(sheet, [u["code"], names.get(u["code"]), attribute, value, figures.get("n"),
                                       figures.get("score")] + shares(figures.get("shares")))


def xlsx(campaign: Campaign) -> bytes:
    """The workbook: results (with the ranking charts), group scores, shares,
    per-item figures and breakdowns (where the results have them), return
    rates, comments with answers, rectification status; each sheet laid out
    for reading (``_lay_out``), with a title row marked 草稿 before 定稿."""
    snap = current_snapshot(campaign)
    results = parsed(snap)
    classes = _class_labels()
    glabels = queries.group_labels(campaign)
    options = queries.option_labels(campaign)
    names = {cu.code: cu.name for cu in queries.units_of(campaign)}
    wb = Workbook()
    ws = cast(Worksheet, wb.active)
    ws.title = SHEETS[0]
    red = PatternFill("solid", fgColor="F8D7DA")

    def header(sheet: Worksheet, cells: list[Any]) -> None:
        _title_row(sheet, campaign)
        append_row(sheet, cells)

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
    header(ts, [_("单位代码"), _("单位"), _("截止日期"), _("整改方案"), _("整改报告"), _("状态"),
                _("方案提交时间（北京时间）"), _("报告提交时间（北京时间）"), _("验收时间（北京时间）")])
    for rect in rectifications_of(campaign):
        status = (_("已验收（已消红）") if rect.was_cleared else _("已验收") if rect.accepted_at
                  else _("红字（逾期）") if rect.is_red else _("进行中"))
        append_row(ts, [rect.campaign_unit.code, rect.campaign_unit.name, rect.due_on, rect.plan, rect.report, status,
                        beijing(rect.plan_at), beijing(rect.report_at), beijing(rect.accepted_at)])
        if rect.is_red:
            for cell in ts[ts.max_row]:
                cell.fill = red

    _breakdown_sheets(wb, campaign, results, header, names, glabels, options)
    formats = _column_formats(options)
    for sheet in wb.worksheets:
        _lay_out(sheet, formats)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
