"""Roster import (评议代表名单): read a CSV or XLSX file, check every row, and insert
the whole file in one statement only when no row has a problem."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, or_, select

from survey.clock import utcnow
from survey.errors import UserError
from survey.extensions import db
from survey.models import Campaign, CampaignGroup, Evaluator, Invitation, RosterUpload, Unit
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
    def __init__(self, problems: list[RowProblem], table: list[list[str]] | None = None, valid: int = 0) -> None:
        super().__init__(_("名单有 %(n)d 处问题，未导入任何一行", n=len(problems)))
        self.problems = problems
        #: The file's cells and its number of valid rows, where its rows were read.
        self.table, self.valid = table, valid


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
    _refuse_old_format(filename, data)
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


#: The file types of Excel 97-2003 (.xls) and WPS (.et, .ett): an OLE compound file, not read here.
OLD_SPREADSHEETS = (".xls", ".et", ".ett", ".xlt")
OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _refuse_old_format(filename: str, data: bytes) -> None:
    """An .xls or WPS .et file (or one renamed .xlsx/.csv) is refused with what to do:
    no reader of the old binary format is kept well enough to trust with a roster."""
    if filename.lower().endswith(OLD_SPREADSHEETS) or data.startswith(OLE_SIGNATURE):
        raise RosterRefused([RowProblem(filename, 0, "", _(
            "这是 Excel 97-2003（.xls）或 WPS 表格（.et）格式的文件，不能直接导入。请另存为 .xlsx："
            "在 Excel 或 WPS 中打开它，点“文件 › 另存为”，文件类型选“Excel 工作簿（*.xlsx）”，再导入新文件"))])


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
        raise RosterRefused(problems, table, len(records))
    db.session.execute(insert(Evaluator), records)
    return _result(campaign, records)


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


# --- a refused file's valid rows -------------------------------------------------------

#: How long a refused file is kept for importing its valid rows and downloading the skipped ones.
UPLOAD_KEPT = dt.timedelta(days=1)


@dataclass(frozen=True)
class Partial:
    """What a refused file still offers: its valid rows, and the rows skipped with their problems."""

    valid: int
    skipped: dict[int, list[RowProblem]]


def partial_import(problems: list[RowProblem], valid: int) -> Partial | None:
    """The valid rows of a refused file may be imported when every problem is a
    row's (not the header's or the file's) and at least one row is valid."""
    if valid == 0 or any(p.row < 2 for p in problems):
        return None
    skipped: dict[int, list[RowProblem]] = {}
    for p in problems:
        skipped.setdefault(p.row, []).append(p)
    return Partial(valid, skipped)


def keep_upload(campaign: Campaign, filename: str, table: list[list[str]]) -> RosterUpload:
    """Keep a refused file's cells (the caller commits); files older than UPLOAD_KEPT go."""
    db.session.execute(delete(RosterUpload).where(RosterUpload.created_at < utcnow() - UPLOAD_KEPT))
    upload = RosterUpload(campaign_id=campaign.id, filename=filename[:255], table=table)
    db.session.add(upload)
    db.session.flush()
    return upload


def upload_of(campaign: Campaign, upload_id: int) -> RosterUpload | None:
    upload = db.session.get(RosterUpload, upload_id)
    if upload is None or upload.campaign_id != campaign.id or upload.created_at < utcnow() - UPLOAD_KEPT:
        return None
    return upload


def recent_uploads(campaign: Campaign) -> list[RosterUpload]:
    """The files whose valid rows were imported lately (their skipped rows can still be downloaded)."""
    return list(db.session.scalars(select(RosterUpload).where(
        RosterUpload.campaign_id == campaign.id, RosterUpload.imported_at.is_not(None),
        RosterUpload.created_at >= utcnow() - UPLOAD_KEPT).order_by(RosterUpload.id.desc())))


def import_valid_rows(campaign: Campaign, upload: RosterUpload, expected: int) -> tuple[ImportResult, int]:
    """Import the valid rows of a kept file in one statement (the caller commits),
    checked again against the roster as it is now; refused unless exactly the
    `expected` rows the organizer confirmed are still valid. Returns the result
    and the number of rows skipped."""
    if upload.imported_at is not None:
        raise UserError(_("文件“%(f)s”的有效行已经导入过了", f=upload.filename))
    if campaign.state.is_frozen:
        raise UserError(_("评议活动已定稿，不能再导入名单"))
    records, problems = check_rows(campaign, upload.filename, upload.table)
    partial = partial_import(problems, len(records))
    if partial is None or len(records) != expected:
        raise UserError(_("名单或文件已变化，现在有 %(n)d 行有效：请重新导入文件后再确认", n=len(records)))
    db.session.execute(insert(Evaluator), records)
    # From now on the file is its skipped rows (the imported ones would read as duplicates).
    upload.table = [upload.table[0], *(cells for number, cells in enumerate(upload.table[1:], start=2)
                                       if number in partial.skipped)]
    upload.imported_at = utcnow()
    return _result(campaign, records), len(partial.skipped)


def skipped_rows_csv(campaign: Campaign, upload: RosterUpload) -> bytes:
    """The rows of a kept file that have problems, as they were, with a column 问题 first: fix and import it again."""
    _records, problems = check_rows(campaign, upload.filename, upload.table)
    by_row: dict[int, list[RowProblem]] = {}
    for p in problems:
        by_row.setdefault(p.row, []).append(p)
    table = upload.table
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(csv_row([_("问题"), *(table[0] if table else [])]))
    for number, cells in enumerate(table[1:], start=2):
        if number in by_row:
            reasons = "；".join(f"{p.column}：{p.reason}" if p.column else p.reason for p in by_row[number])
            writer.writerow(csv_row([reasons, *cells]))
    return out.getvalue().encode("utf-8-sig")


def _result(campaign: Campaign, records: list[dict[str, Any]]) -> ImportResult:
    per_group: dict[str, int] = {}
    labels = {g.group_id: g.label for g in campaign.groups}
    for r in records:
        per_group[labels[r["group_id"]]] = per_group.get(labels[r["group_id"]], 0) + 1
    return ImportResult(len(records), per_group)


# --- one person: search, edit, delete ---------------------------------------------------


def search(campaign: Campaign, text: str = "", group_code: str = "", limit: int = 200) -> tuple[int, list[Evaluator]]:
    """The campaign's people whose name, phone, e-mail or work unit contains `text`
    (any case), in the group `group_code` if given: how many, and the first `limit`."""
    query = select(Evaluator).where(Evaluator.campaign_id == campaign.id)
    text = text.strip()
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(*(func.lower(column).like(pattern, escape="\\") for column in (
            Evaluator.name, Evaluator.phone, Evaluator.email, Evaluator.organisation))))
    if group_code:
        group = next((g for g in campaign.groups if g.code == group_code), None)
        query = query.where(Evaluator.group_id == (group.group_id if group is not None else -1))
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return total, list(db.session.scalars(query.order_by(Evaluator.id).limit(limit)))


def person_or_none(campaign: Campaign, evaluator_id: int) -> Evaluator | None:
    evaluator = db.session.get(Evaluator, evaluator_id)
    return evaluator if evaluator is not None and evaluator.campaign_id == campaign.id else None


def invitations_of(evaluator: Evaluator) -> list[Invitation]:
    return list(db.session.scalars(select(Invitation).where(Invitation.evaluator_id == evaluator.id)
                                   .order_by(Invitation.id)))


#: The fields of a person the edit form changes, as the audit log names them.
PERSON_FIELDS = {"name": NAME, "phone": PHONE, "email": EMAIL, "organisation": ORGANISATION,
                 "group": GROUP, "own_unit": OWN_UNIT}


def update_person(campaign: Campaign, evaluator: Evaluator, *, name: str, phone: str, email: str,
                  organisation: str, group_code: str, own_unit_code: str) -> dict[str, tuple[str, str]]:
    """Check and save one person's fields; returns what changed (field: before, after).
    Raises UserError with every problem (field by field). A person with an
    invitation keeps their group: the invitation's batch is the group's."""
    if campaign.state.is_frozen:
        raise UserError(_("评议活动已定稿，不能再修改名单"))
    problems: list[str] = []
    name, email, organisation = name.strip(), email.strip(), organisation.strip()
    if not name:
        problems.append(_("姓名：必填"))
    elif len(name) > 100:
        problems.append(_("姓名：过长（最多 100 字）"))
    mobile = None
    if phone.strip():
        mobile = normalise_mobile(phone)
        if mobile is None:
            problems.append(_("手机：格式不对“%(v)s”（应为 11 位手机号，如 13812345678）", v=phone.strip()))
    if email and (not EMAIL_RE.match(email) or len(email) > 254):
        problems.append(_("邮箱：格式不对“%(v)s”", v=email))
    if not mobile and not email and not problems:
        problems.append(_("手机和邮箱至少要填一项"))
    if len(organisation) > 200:
        problems.append(_("工作单位：过长（最多 200 字）"))
    group = next((g for g in campaign.groups if g.code == group_code), None)
    if group is None:
        problems.append(_("评议主体：未知“%(v)s”", v=group_code))
    own_unit_id = None
    if own_unit_code.strip():
        own_unit_id = db.session.scalar(select(Unit.id).where(Unit.code == own_unit_code.strip()))
        if own_unit_id is None:
            problems.append(_("所在单位代码：未知“%(v)s”", v=own_unit_code.strip()))
    others = select(Evaluator.name).where(Evaluator.campaign_id == campaign.id, Evaluator.id != evaluator.id)
    if mobile and (other := db.session.scalar(others.where(Evaluator.phone == mobile).limit(1))):
        problems.append(_("手机：%(v)s 已是名单中 %(name)s 的手机", v=mobile, name=other))
    if email and (other := db.session.scalar(others.where(func.lower(Evaluator.email) == email.lower()).limit(1))):
        problems.append(_("邮箱：%(v)s 已是名单中 %(name)s 的邮箱", v=email, name=other))
    if group is not None and group.group_id != evaluator.group_id and invitations_of(evaluator):
        problems.append(_("评议主体：此人已在发放批次中，不能改评议主体（可删除此人后重新添加）"))
    if problems:
        raise UserError("；".join(str(p) for p in problems))
    assert group is not None
    before = {"name": evaluator.name, "phone": evaluator.phone or "", "email": evaluator.email or "",
              "organisation": evaluator.organisation or "", "group": evaluator.group.code,
              "own_unit": evaluator.own_unit.code if evaluator.own_unit else ""}
    evaluator.name, evaluator.phone, evaluator.email = name, mobile, email or None
    evaluator.organisation, evaluator.group_id, evaluator.own_unit_id = organisation or None, group.group_id, own_unit_id
    after = {"name": name, "phone": mobile or "", "email": email, "organisation": organisation,
             "group": group.code, "own_unit": own_unit_code.strip()}
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


def delete_person(campaign: Campaign, evaluator: Evaluator) -> int:
    """Take a person off the roster (the caller commits); returns how many of
    their invitations were kept without them.

    Their invitations stay, no longer naming anyone: a returned ballot is kept
    and counted (nothing links it to the person, and nothing is looked up
    about it here beyond what the office already knows, that a link was used);
    a link not yet used is made dead (its hash replaced by one of a token
    nobody has, its clear token erased). The batch's issued count and the k
    rule's released attributes stay as they were decided (docs/anonymity.md)."""
    if campaign.state.is_frozen:
        raise UserError(_("评议活动已定稿，不能再修改名单"))
    from survey.tokens import hash_token, new_token

    kept = 0
    for invitation in invitations_of(evaluator):
        kept += 1
        invitation.evaluator_id = None
        if not invitation.used:
            # Dead link: a ballot already taken but not yet marked used (SQLite) is
            # unaffected, the claim names the invitation, not the token.
            invitation.token_hash = hash_token(new_token())
            invitation.pending_token = invitation.pending_kind = None
    db.session.flush()
    db.session.execute(delete(Evaluator).where(Evaluator.id == evaluator.id))
    return kept
