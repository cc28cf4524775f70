"""Editable Word (.docx) drafts the office edits, signs and sends, made from
the results the pages show: the 通报批评 of the 不满意 units, the
书面检查通知 of the 基本满意 units, the 媒体公布名单, and the 整改通知 of a
unit (or of every unit) with its weakest indicators (where the results have
per-unit ``items``, SCORING.md section 5a) and the comments it must answer
(what its liaison may see: comments of too small a group stay withheld).

Every draft is A4, in the fonts of official documents (仿宋_GB2312 body,
方正小标宋简体 title; Word substitutes where they are missing), with the
office (``PINGYI_OFFICE_NAME``) and the date as 落款. Text from users is
written as text (python-docx escapes it); characters XML cannot hold are
dropped."""
from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from flask import current_app

from survey.clock import today
from survey.models import Campaign, CampaignUnit
from survey.models.outcome import CLASS_LABELS
from survey.results import ResultsError, queries
from survey.results.comments import liaison_view
from survey.results.i18n import gettext as _
from survey.results.rectification import consequences_of, rectification_of
from survey.results.report import require_ballots, weakest_items
from survey.results.snapshots import current_snapshot, parsed

MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

BODY_FONT = "仿宋_GB2312"
TITLE_FONT = "方正小标宋简体"
HEADING_FONT = "黑体"
#: What XML 1.0 cannot hold (python-docx would refuse the whole document).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: Any) -> str:
    """User text as a document can hold it."""
    return _NOT_XML.sub("", str(text))


def chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


# --- the page and its parts -----------------------------------------------------


def _fonts(element: Any, name: str) -> None:
    """Set a style's or a run's font for Latin and Chinese text alike."""
    rpr = element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), name)


def new_document(title: str) -> DocxDocument:
    """An A4 document with the margins of GB/T 9704 and the body font, 3号 (16 pt)."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(16)
    _fonts(normal.element, BODY_FONT)
    normal.paragraph_format.line_spacing = Pt(28)
    normal.paragraph_format.space_after = Pt(0)
    doc.core_properties.title = clean(title)
    doc.core_properties.author = clean(current_app.config["PINGYI_OFFICE_NAME"])
    return doc


def _run(paragraph: Any, text: str, font: str | None = None, size: float | None = None, bold: bool = False) -> Any:
    run = paragraph.add_run(clean(text))
    if font:
        _fonts(run._element, font)
    if size:
        run.font.size = Pt(size)
    run.bold = bold or None
    return run


def title(doc: DocxDocument, text: str) -> None:
    """The title, 2号 (22 pt), centred, with a blank line after."""
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.line_spacing = Pt(36)
    p.paragraph_format.space_after = Pt(16)
    _run(p, text, TITLE_FONT, 22)


def addressee(doc: DocxDocument, text: str) -> None:
    """主送: flush left, ending with a full-width colon."""
    _run(doc.add_paragraph(), f"{text}：")


def para(doc: DocxDocument, text: str) -> Any:
    """A body paragraph, its first line indented by two characters."""
    p = doc.add_paragraph()
    p.paragraph_format.first_line_indent = Pt(32)
    _run(p, text)
    return p


def heading(doc: DocxDocument, text: str) -> None:
    p = doc.add_paragraph()
    p.paragraph_format.first_line_indent = Pt(32)
    _run(p, text, HEADING_FONT)


def table(doc: DocxDocument, header: list[str], rows: list[list[Any]]) -> None:
    """A bordered table in 4号 (14 pt), the header in bold."""
    t = doc.add_table(rows=1, cols=len(header))
    t.style = doc.styles["Table Grid"]
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(t.rows[0].cells, header, strict=True):
        _run(cell.paragraphs[0], text, HEADING_FONT, 14)
    for row in rows:
        cells = t.add_row().cells
        for cell, value in zip(cells, row, strict=True):
            _run(cell.paragraphs[0], "—" if value is None else str(value), size=14)


def signature(doc: DocxDocument, day: dt.date) -> None:
    """落款: the office and the date, flush right, after two blank lines."""
    doc.add_paragraph()
    doc.add_paragraph()
    for text in (current_app.config["PINGYI_OFFICE_NAME"], chinese_date(day)):
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.right_indent = Pt(64)
        _run(p, text)


def page_break(doc: DocxDocument) -> None:
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def saved(doc: DocxDocument) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


# --- what the drafts are made from ------------------------------------------------


@dataclass
class Drafting:
    """The campaign's results as the drafts read them."""

    campaign: Campaign
    results: dict[str, Any]
    views: list[queries.CategoryView]
    final: bool
    day: dt.date

    def units_of_class(self, cls: str) -> list[tuple[queries.CategoryView, queries.UnitRow]]:
        return [(view, row) for view in self.views for row in view.units if row.final_class == cls]

    def note(self, doc: DocxDocument) -> None:
        """Before 定稿: say that the figures may still change."""
        if not self.final:
            p = para(doc, _("（评议结果尚未定稿，本稿依据 %(d)s 的计算结果拟写，定稿后请核对。）", d=chinese_date(self.day)))
            p.runs[0].italic = True


def drafting(campaign: Campaign) -> Drafting:
    require_ballots(campaign)
    results = parsed(current_snapshot(campaign))
    return Drafting(campaign, results, queries.ranking(campaign, results), campaign.state.is_frozen, today())


def _names(rows: list[tuple[queries.CategoryView, queries.UnitRow]]) -> str:
    return "、".join(row.name for _view, row in rows)


def _require(rows: list[Any], message: str) -> None:
    if not rows:
        raise ResultsError(message)


def class_counts(campaign: Campaign) -> dict[str, int]:
    """How many units have each final class (the page says which drafts there are)."""
    counts: dict[str, int] = {}
    for cls in queries.final_classes(campaign, parsed(current_snapshot(campaign))).values():
        counts[cls] = counts.get(cls, 0) + 1
    return counts


# --- the drafts -----------------------------------------------------------------------


def criticism_notice(campaign: Campaign) -> bytes:
    """通报批评: one notice naming every 不满意 unit."""
    d = drafting(campaign)
    rows = d.units_of_class("dissatisfied")
    _require(rows, _("%(c)s 没有评为“不满意”的单位，无需通报批评。", c=campaign.name))
    if len(rows) == 1:
        head = _("关于对%(n)s予以通报批评的通报（草稿）", n=rows[0][1].name)
    else:
        head = _("关于对%(n)s等%(k)d个单位予以通报批评的通报（草稿）", n=rows[0][1].name, k=len(rows))
    doc = new_document(head)
    title(doc, head)
    addressee(doc, _("各有关单位"))
    d.note(doc)
    para(doc, _("按照%(c)s工作安排，%(o)s组织%(g)s对被评议单位进行了评议。经评议领导小组审定，"
                "%(n)s在本次评议中被评为“不满意”单位。", c=campaign.name, o=current_app.config["PINGYI_OFFICE_NAME"],
                g="、".join(queries.group_labels(campaign).values()), n=_names(rows)))
    table(doc, [_("单位"), _("类别"), _("综合得分"), _("名次")],
          [[row.name, view.label, row.score_text, row.result["rank"]] for view, row in rows])
    para(doc, _("为严肃评议纪律，督促整改落实，决定对上述单位予以通报批评。被通报单位要认真查找问题，深刻剖析原因，"
                "逐条对照评议意见制定整改方案，按期完成整改并报送整改报告。各单位要引以为戒，切实改进作风，提升服务水平。"))
    signature(doc, d.day)
    return saved(doc)


def inspection_notice(campaign: Campaign) -> bytes:
    """书面检查通知: one notice per 基本满意 unit, each on its own page."""
    d = drafting(campaign)
    rows = d.units_of_class("basically_satisfied")
    _require(rows, _("%(c)s 没有评为“基本满意”的单位，无需书面检查。", c=campaign.name))
    days = int(queries.consequence_rules(queries.settings_for(campaign))["self_examination_days"])
    units = {cu.code: cu for cu in queries.units_of(campaign)}
    doc = new_document(_("%(c)s 书面检查通知（草稿）", c=campaign.name))
    for k, (_view, row) in enumerate(rows):
        if k:
            page_break(doc)
        due = next((c.due_on for c in consequences_of(campaign, units[row.code], cancelled=False)
                    if c.kind == "self_examination" and c.due_on), None) or d.day + dt.timedelta(days=days)
        title(doc, _("关于%(n)s提交书面检查的通知（草稿）", n=row.name))
        addressee(doc, row.name)
        d.note(doc)
        para(doc, _("在%(c)s中，你单位综合得分 %(s)s 分，评定等次为“基本满意”。", c=campaign.name, s=row.score_text))
        para(doc, _("按照评议办法，请你单位对照评议意见认真查找工作中存在的不足，于%(d)s前向评议领导小组提交书面检查，"
                    "写明存在的问题、原因分析和改进措施。", d=chinese_date(due)))
        signature(doc, d.day)
    return saved(doc)


def media_list(campaign: Campaign) -> bytes:
    """媒体公布名单: the 不满意 units, for publication."""
    d = drafting(campaign)
    rows = d.units_of_class("dissatisfied")
    _require(rows, _("%(c)s 没有评为“不满意”的单位，没有需要媒体公布的名单。", c=campaign.name))
    head = _("%(c)s“不满意”单位名单（媒体公布稿）", c=campaign.name)
    doc = new_document(head)
    title(doc, head)
    d.note(doc)
    para(doc, _("根据%(c)s结果，经评议领导小组审定，现将评为“不满意”的单位名单公布如下（按类别和名次排列）：",
                c=campaign.name))
    table(doc, [_("序号"), _("单位"), _("类别")],
          [[k, row.name, view.label] for k, (view, row) in enumerate(rows, start=1)])
    para(doc, _("欢迎社会各界对上述单位的整改情况进行监督。"))
    signature(doc, d.day)
    return saved(doc)


def _rectification_pages(doc: DocxDocument, d: Drafting, cu: CampaignUnit, items: list[tuple[str, str]],
                         view: queries.CategoryView, row: queries.UnitRow) -> None:
    campaign = d.campaign
    r = row.result
    rect = rectification_of(cu)
    due = rect.due_on if rect is not None else queries.settings_for(campaign).rectification_due
    title(doc, _("关于%(n)s做好评议整改工作的通知（草稿）", n=row.name))
    addressee(doc, row.name)
    d.note(doc)
    rank = _("在本类别中排第 %(r)d 名", r=r["rank"]) if r["rank"] is not None else _("不参与排名")
    para(doc, _("在%(c)s中，你单位（%(v)s）收回有效评议票 %(n)d 张，综合得分 %(s)s 分，%(rank)s，评定等次为“%(cls)s”。",
                c=campaign.name, v=view.label, n=r["n_valid"], s=row.score_text, rank=rank,
                cls=_(CLASS_LABELS[row.final_class])))
    weakest = weakest_items(r, items)
    if weakest:
        heading(doc, _("一、需要重点改进的指标"))
        table(doc, [_("指标"), _("得分"), _("95%区间")], [[w.label, f"{w.score:.2f}", w.ci_text] for w in weakest])
    view_of = liaison_view(campaign, cu, r)
    heading(doc, _("%(k)s、需要答复的评议意见", k="二" if weakest else "一"))
    if view_of.comments:
        for k, comment in enumerate(view_of.comments, start=1):
            answer = comment["answer"]
            state = _("已答复") if answer is not None else _("待答复")
            para(doc, f"{k}. {clean(comment['text'])}（{comment['group']}；{state}）")
    else:
        para(doc, _("本次评议没有需要你单位答复的意见。"))
    heading(doc, _("%(k)s、整改要求", k="三" if weakest else "二"))
    when = chinese_date(due) if due is not None else _("规定期限")
    para(doc, _("请你单位针对上述问题和意见，逐条制定整改措施，明确责任人和完成时限，于%(d)s前通过评议平台提交整改方案，"
                "逐条答复评议意见；整改完成后提交整改报告。逾期未整改的，将予以通报。", d=when))
    signature(doc, d.day)


def rectification_notice(campaign: Campaign, unit_code: str | None = None) -> bytes:
    """整改通知: of one unit, or of every unit (each on its own pages)."""
    d = drafting(campaign)
    items = queries.labels_of(campaign).items
    units = {cu.code: cu for cu in queries.units_of(campaign)}
    rows = [(view, row) for view in d.views for row in view.units if unit_code is None or row.code == unit_code]
    _require(rows, _("%(c)s 中没有代码为 %(u)s 的单位。", c=campaign.name, u=unit_code or ""))
    name = rows[0][1].name if unit_code is not None else campaign.name
    doc = new_document(_("%(n)s 整改通知（草稿）", n=name))
    for k, (view, row) in enumerate(rows):
        if k:
            page_break(doc)
        _rectification_pages(doc, d, units[row.code], items, view, row)
    return saved(doc)


#: The drafts the results page offers, by URL name.
MAKERS: dict[str, Callable[[Campaign], bytes]] = {
    "criticism": criticism_notice, "inspection": inspection_notice, "media": media_list,
    "rectification": rectification_notice}


def filename(campaign: Campaign, name: str, unit_code: str | None = None) -> str:
    """The download's name (ASCII: the codes are)."""
    return f"pingyi-{campaign.code}-{name}{'-' + unit_code if unit_code else ''}.docx"
