"""Roster import (评议代表名单): read a CSV or XLSX file, check every row, and insert
the whole file in one statement only when no row has a problem."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, insert, select

from survey.errors import UserError
from survey.extensions import db
from survey.models import Campaign, CampaignGroup, Evaluator, Unit
from survey.spreadsheets import csv_row

NAME, PHONE, EMAIL, ORGANISATION, GROUP, OWN_UNIT = "姓名", "手机", "邮箱", "工作单位", "评议主体", "所在单位代码"
#: The template's columns, in order; any further column is a free attribute (区域, 行业…).
COLUMNS = (NAME, PHONE, EMAIL, ORGANISATION, GROUP, OWN_UNIT)
REQUIRED_COLUMNS = (NAME, GROUP)
#: Headings people write for the same column.
ALIASES = {"手机号": PHONE, "手机号码": PHONE, "移动电话": PHONE, "电子邮箱": EMAIL, "电子邮件": EMAIL,
           "邮箱地址": EMAIL, "email": EMAIL, "e-mail": EMAIL, "单位": ORGANISATION, "工作单位名称": ORGANISATION,
           "评议主体代码": GROUP, "所在单位": OWN_UNIT}
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
MAX_BYTES = 20 * 1024 * 1024
#: What an XLSX may unpack to (its XML is compressed ~10-50×; a "zip bomb" far more).
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
#: Rows of one roster file (a province's roster is imported in several files).
MAX_ROWS = 100_000


@dataclass(frozen=True)
class RowProblem:
    """One reason a roster file is refused: where (file, row as the spreadsheet numbers it, column) and why."""

    file: str
    row: int
    column: str
    reason: str


class RosterRefused(UserError):
    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(_("名单有 %(n)d 处问题，未导入任何一行", n=len(problems)))
        self.problems = problems


class RosterTooLarge(RosterRefused):
    """A file over a size or row limit: refused before it is parsed any further."""

    status_code = 413

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__([RowProblem(filename, 0, "", reason)])


@dataclass(frozen=True)
class ImportResult:
    imported: int
    per_group: dict[str, int]


# --- reading ---------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030, which Excel in China writes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone number typed into a number cell
    return str(value).strip()


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """All rows of the file's first sheet as text cells (row 1 is the header)."""
    name = filename.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        _check_unpacked_size(filename, data)
        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise RosterRefused([RowProblem(filename, 0, "", _("无法读取 XLSX 文件：%(e)s", e=exc))]) from exc
        try:
            return _bounded(filename, ([_cell(v) for v in row]
                                       for row in workbook.worksheets[0].iter_rows(values_only=True)))
        finally:
            workbook.close()
    if name.endswith(".csv") or name.endswith(".txt"):
        try:
            text = _decode(data)
        except UnicodeDecodeError as exc:
            raise RosterRefused([RowProblem(filename, 0, "", _("无法识别文件编码，请另存为 UTF-8 或 GB18030 编码的 CSV"))]) from exc
        return _bounded(filename, ([c.strip() for c in row] for row in csv.reader(io.StringIO(text, newline=""))))
    raise RosterRefused([RowProblem(filename, 0, "", _("只接受 .csv 或 .xlsx 文件"))])


def _check_unpacked_size(filename: str, data: bytes) -> None:
    """Refuse an XLSX whose members unpack to more than MAX_UNPACKED_BYTES, from the
    zip directory alone (nothing is decompressed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise RosterRefused([RowProblem(filename, 0, "", _("无法读取 XLSX 文件：文件已损坏或不是 XLSX"))]) from exc
    if unpacked > MAX_UNPACKED_BYTES:
        raise RosterTooLarge(filename, _("文件解压后超过 %(mb)d MB，请分成几个文件导入",
                                         mb=MAX_UNPACKED_BYTES // (1024 * 1024)))


def _bounded(filename: str, rows: Iterator[list[str]]) -> list[list[str]]:
    """At most MAX_ROWS rows and the header; refused as soon as one more is read."""
    table = []
    for row in rows:
        table.append(row)
        if len(table) > MAX_ROWS + 1:
            raise RosterTooLarge(filename, _("文件超过 %(n)d 行，请分成几个文件导入", n=MAX_ROWS))
    return table


def normalise_mobile(text: str) -> str | None:
    """Mainland mobile numbers written with spaces, dashes or +86 as 11 digits; None if not one."""
    digits = re.sub(r"[\s\-()（）]", "", text)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
    return digits if MOBILE_RE.match(digits) else None


# --- checking ----------------------------------------------------------------------------


def _group_lookup(campaign: Campaign) -> dict[str, CampaignGroup]:
    lookup: dict[str, CampaignGroup] = {}
    for g in campaign.groups:
        lookup[g.code] = g
        lookup.setdefault(g.label, g)
        lookup.setdefault(g.group.label, g)
    return lookup


def check_rows(campaign: Campaign, filename: str, table: list[list[str]]) -> tuple[list[dict[str, Any]], list[RowProblem]]:
    """The rows to insert, and every problem of the file (both lists are complete)."""
    problems: list[RowProblem] = []

    def problem(row: int, column: str, reason: str) -> None:
        problems.append(RowProblem(filename, row, column, reason))

    if not table or not any(table[0]):
        problem(1, "", _("文件是空的：第 1 行应为表头（%(cols)s）", cols="、".join(COLUMNS)))
        return [], problems
    header = [ALIASES.get(h.strip().lstrip("\ufeff").lower(), ALIASES.get(h.strip(), h.strip()))
              for h in table[0]]
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        if not h:
            continue
        if h in index:
            problem(1, h, _("表头中“%(col)s”出现了两次", col=h))
        index.setdefault(h, i)
    for col in REQUIRED_COLUMNS:
        if col not in index:
            problem(1, col, _("缺少“%(col)s”列（表头应为：%(cols)s）", col=col, cols="、".join(COLUMNS)))
    if PHONE not in index and EMAIL not in index:
        problem(1, PHONE, _("缺少“手机”和“邮箱”列，至少要有其中一列"))
    if problems:
        return [], problems
    attribute_columns = [(h, i) for h, i in index.items() if h not in COLUMNS]

    groups = _group_lookup(campaign)
    group_names = "、".join(f"{g.code}（{g.label}）" for g in campaign.groups) or _("（本次评议还没有评议主体）")
    units = dict(db.session.execute(select(Unit.code, Unit.id)).all())
    # Who is already on this campaign's roster (one query, whatever its size).
    known_phone: dict[str, str] = {}
    known_email: dict[str, str] = {}
    for name, phone, email in db.session.execute(
        select(Evaluator.name, Evaluator.phone, Evaluator.email).where(Evaluator.campaign_id == campaign.id)
    ):
        if phone:
            known_phone[phone] = name
        if email:
            known_email[email.lower()] = name
    seen_phone: dict[str, int] = {}
    seen_email: dict[str, int] = {}

    def get(cells: list[str], col: str) -> str:
        i = index.get(col)
        return cells[i].strip() if i is not None and i < len(cells) else ""

    records: list[dict[str, Any]] = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue  # blank line
        before = len(problems)
        name, phone_text, email = get(cells, NAME), get(cells, PHONE), get(cells, EMAIL)
        organisation, group_text, own_text = get(cells, ORGANISATION), get(cells, GROUP), get(cells, OWN_UNIT)
        if not name:
            problem(number, NAME, _("缺少姓名"))
        elif len(name) > 100:
            problem(number, NAME, _("姓名过长（最多 100 字）"))
        phone = None
        if not phone_text and not email:
            problem(number, PHONE, _("手机和邮箱都没有填写，至少要填一项"))
        if phone_text:
            phone = normalise_mobile(phone_text)
            if phone is None:
                problem(number, PHONE, _("手机号码格式不对：“%(v)s”（应为 11 位手机号，如 13812345678）", v=phone_text))
            elif phone in seen_phone:
                problem(number, PHONE, _("与第 %(n)d 行是同一人（手机 %(v)s 重复）", n=seen_phone[phone], v=phone))
            elif phone in known_phone:
                problem(number, PHONE, _("已在名单中（%(name)s 的手机 %(v)s）", name=known_phone[phone], v=phone))
            else:
                seen_phone[phone] = number
        if email:
            key = email.lower()
            if not EMAIL_RE.match(email) or len(email) > 254:
                problem(number, EMAIL, _("邮箱格式不对：“%(v)s”", v=email))
            elif key in seen_email:
                problem(number, EMAIL, _("与第 %(n)d 行是同一人（邮箱 %(v)s 重复）", n=seen_email[key], v=email))
            elif key in known_email:
                problem(number, EMAIL, _("已在名单中（%(name)s 的邮箱 %(v)s）", name=known_email[key], v=email))
            else:
                seen_email[key] = number
        group = groups.get(group_text)
        if not group_text:
            problem(number, GROUP, _("缺少评议主体（可填：%(groups)s）", groups=group_names))
        elif group is None:
            problem(number, GROUP, _("未知评议主体“%(v)s”（可填：%(groups)s）", v=group_text, groups=group_names))
        own_unit_id = None
        if own_text:
            own_unit_id = units.get(own_text)
            if own_unit_id is None:
                problem(number, OWN_UNIT, _("未知单位代码“%(v)s”", v=own_text))
        if len(organisation) > 200:
            problem(number, ORGANISATION, _("工作单位过长（最多 200 字）"))
        if len(problems) == before and group is not None:
            attributes = {h: cells[i].strip() for h, i in attribute_columns if i < len(cells) and cells[i].strip()}
            records.append({"group_id": group.group_id, "name": name, "phone": phone, "email": email or None,
                            "organisation": organisation or None, "attributes": attributes,
                            "own_unit_id": own_unit_id, "campaign_id": campaign.id})
    if not records and not problems:
        problem(2, "", _("文件中没有评议代表（表头以下都是空行）"))
    return records, problems


def import_roster(campaign: Campaign, filename: str, data: bytes) -> ImportResult:
    """Check the whole file, then insert it with one executemany; all or nothing.

    Raises RosterRefused with every problem; nothing is written then.
    """
    if len(data) > MAX_BYTES:
        raise RosterRefused([RowProblem(filename, 0, "", _("文件超过 20 MB，请分成几个文件导入"))])
    return import_table(campaign, filename, read_table(filename, data))


def import_table(campaign: Campaign, source: str, table: list[list[str]]) -> ImportResult:
    """Import rows already read (row 1 the header), all or nothing: the file's
    path above, and the JSON API's (survey/api/imports.py), which makes the
    table from its body. Raises RosterRefused with every problem."""
    if campaign.state.is_frozen:
        raise RosterRefused([RowProblem(source, 0, "", _("评议活动已定稿，不能再导入名单"))])
    records, problems = check_rows(campaign, source, table)
    if problems:
        raise RosterRefused(problems)
    db.session.execute(insert(Evaluator), records)
    per_group: dict[str, int] = {}
    labels = {g.group_id: g.label for g in campaign.groups}
    for r in records:
        per_group[labels[r["group_id"]]] = per_group.get(labels[r["group_id"]], 0) + 1
    return ImportResult(len(records), per_group)


# --- the roster and its template --------------------------------------------------------


def roster_counts(campaign: Campaign) -> list[tuple[CampaignGroup, int]]:
    counts = dict(db.session.execute(
        select(Evaluator.group_id, func.count(Evaluator.id))
        .where(Evaluator.campaign_id == campaign.id).group_by(Evaluator.group_id)).all())
    return [(g, counts.get(g.group_id, 0)) for g in campaign.groups]


def roster_page(campaign: Campaign, limit: int = 200) -> list[Evaluator]:
    return list(db.session.scalars(
        select(Evaluator).where(Evaluator.campaign_id == campaign.id).order_by(Evaluator.id).limit(limit)))


def template_rows(campaign: Campaign) -> list[list[str]]:
    """The header, with two example attribute columns."""
    return [[*COLUMNS, "区域", "行业"]]


def template_csv(campaign: Campaign) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(csv_row(row) for row in template_rows(campaign))
    # With a BOM, Excel opens the UTF-8 file with the right characters.
    return out.getvalue().encode("utf-8-sig")


def _help_lines(campaign: Campaign) -> Iterable[list[str]]:
    yield [_("列"), _("说明")]
    yield [NAME, _("必填")]
    yield [PHONE, _("11 位手机号；手机和邮箱至少填一项")]
    yield [EMAIL, _("电子邮箱；手机和邮箱至少填一项")]
    yield [ORGANISATION, _("评议代表的工作单位（可空）")]
    yield [GROUP, _("必填，填下列代码或名称之一")]
    for g in campaign.groups:
        yield ["", f"{g.code} = {g.label}"]
    yield [OWN_UNIT, _("评议代表所在的被评议单位代码（可空；本人不评议本单位）")]
    for u in campaign.units:
        yield ["", f"{u.code} = {u.name}"]
    yield [_("其他列"), _("如区域、行业：原样保存为评议代表的属性，可用于加权和统计")]


def template_xlsx(campaign: Campaign) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.create_sheet(_("名单"), 0)
    workbook.remove(workbook.worksheets[1])  # the empty sheet a new workbook starts with
    for row in template_rows(campaign):
        sheet.append(row)
    for column in ("A", "B", "C", "D", "E", "F"):
        sheet.column_dimensions[column].width = 18
    help_sheet = workbook.create_sheet(_("填写说明"))
    for line in _help_lines(campaign):
        help_sheet.append(line)
    help_sheet.column_dimensions["B"].width = 60
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
