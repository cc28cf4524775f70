"""Roster import: CSV (UTF-8, BOM, GB18030) and XLSX, every bad row reported, nothing
imported until the file is clean, a fixed number of statements whatever the size."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event, func, select

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Campaign, Evaluator
from survey.roster import services
from survey.roster.services import RosterRefused
from tests.factories import bundle, login, make_campaign, make_user

HEADER = ["姓名", "手机", "邮箱", "工作单位", "评议主体", "所在单位代码", "区域", "行业"]
GOOD = [
    ["张三", "138 0013 8000", "zhang@example.cn", "某某公司", "client", "u1", "东区", "制造业"],
    ["李四", "+86 13900139000", "", "某某协会", "专家学者", "", "西区", ""],
    ["王五", "", "wang@example.cn", "", "服务对象", "", "", "服务业"],
]


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.fixture
def rctx(app):
    with app.test_request_context():
        yield


@pytest.fixture
def campaign(app, rctx) -> Campaign:
    campaign, _tokens = make_campaign(status="draft", invitations=0)
    return campaign


def roster(campaign: Campaign) -> list[Evaluator]:
    return list(db.session.scalars(select(Evaluator).where(Evaluator.campaign_id == campaign.id).order_by(Evaluator.id)))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_a_clean_csv_is_imported_in_every_encoding(campaign, encoding) -> None:
    result = services.import_roster(campaign, "名单.csv", csv_bytes([HEADER, *GOOD], encoding))
    db.session.commit()
    assert result.imported == 3 and result.per_group == {"服务对象": 2, "专家学者": 1}
    people = roster(campaign)
    assert [(e.name, e.phone, e.email, e.group.code) for e in people] == [
        ("张三", "13800138000", "zhang@example.cn", "client"),
        ("李四", "13900139000", None, "expert"),
        ("王五", None, "wang@example.cn", "client")]
    assert people[0].attributes == {"区域": "东区", "行业": "制造业"}
    assert people[0].own_unit.code == "u1" and people[1].own_unit is None
    assert people[2].attributes == {"行业": "服务业"}


def test_a_clean_xlsx_is_imported_with_numbers_for_phones(campaign) -> None:
    rows = [HEADER, ["张三", 13800138000, "zhang@example.cn", "某某公司", "client", "u1", "东区", "制造业"],
            [None] * 8,  # a blank line in the middle is skipped
            ["李四", 13900139000.0, None, None, "expert", None, "西区", None]]
    result = services.import_roster(campaign, "roster.xlsx", xlsx_bytes(rows))
    assert result.imported == 2
    assert [e.phone for e in roster(campaign)] == ["13800138000", "13900139000"]


def test_every_bad_row_is_reported_and_nothing_imported(campaign) -> None:
    rows = [HEADER, *GOOD,
            ["赵六", "", "", "", "client", "", "", ""],                       # row 5: neither phone nor e-mail
            ["钱七", "1380013", "qian@", "", "client", "", "", ""],            # row 6: bad mobile and e-mail
            ["孙八", "13700137000", "", "", "市民", "", "", ""],               # row 7: unknown group
            ["周九", "13600136000", "", "", "client", "u99", "", ""],          # row 8: unknown unit
            ["张三", "13800138000", "", "", "client", "", "", ""],             # row 9: same phone as row 2
            ["", "13500135000", "ZHANG@example.cn", "", "client", "", "", ""],  # row 10: no name, e-mail of row 2
            ]
    with pytest.raises(RosterRefused) as caught:
        services.import_roster(campaign, "名单.csv", csv_bytes(rows))
    got = [(p.file, p.row, p.column, p.reason) for p in caught.value.problems]
    assert got == [
        ("名单.csv", 5, "手机", "手机和邮箱都没有填写，至少要填一项"),
        ("名单.csv", 6, "手机", "手机号码格式不对：“1380013”（应为 11 位手机号，如 13812345678）"),
        ("名单.csv", 6, "邮箱", "邮箱格式不对：“qian@”"),
        ("名单.csv", 7, "评议主体", "未知评议主体“市民”（可填：client（服务对象）、expert（专家学者））"),
        ("名单.csv", 8, "所在单位代码", "未知单位代码“u99”"),
        ("名单.csv", 9, "手机", "与第 2 行是同一人（手机 13800138000 重复）"),
        ("名单.csv", 10, "姓名", "缺少姓名"),
        ("名单.csv", 10, "邮箱", "与第 2 行是同一人（邮箱 ZHANG@example.cn 重复）"),
    ]
    db.session.rollback()
    assert roster(campaign) == []


def test_people_already_on_the_roster_are_duplicates(campaign) -> None:
    services.import_roster(campaign, "a.csv", csv_bytes([HEADER, *GOOD]))
    db.session.commit()
    with pytest.raises(RosterRefused) as caught:
        services.import_roster(campaign, "b.csv", csv_bytes([HEADER, ["张三丰", "13800138000", "", "", "client", "", "", ""]]))
    assert [(p.row, p.reason) for p in caught.value.problems] == [(2, "已在名单中（张三 的手机 13800138000）")]
    # Another campaign's roster is another roster: the same person may be on it.
    other = import_bundle(bundle("t2027"), status="draft")
    again = services.import_roster(other, "c.csv", csv_bytes([HEADER, ["张三", "13800138000", "", "", "client", "", "", ""]]))
    assert again.imported == 1


@pytest.mark.parametrize("rows,message", [
    ([["名字", "手机", "评议主体"]], "缺少“姓名”列"),
    ([["姓名", "工作单位", "评议主体"]], "缺少“手机”和“邮箱”列，至少要有其中一列"),
    ([["姓名", "手机", "手机", "评议主体"]], "表头中“手机”出现了两次"),
    ([HEADER], "文件中没有评议代表"),
    ([], "文件是空的"),
])
def test_header_problems(campaign, rows, message) -> None:
    with pytest.raises(RosterRefused) as caught:
        services.import_roster(campaign, "x.csv", csv_bytes(rows))
    assert any(message in p.reason for p in caught.value.problems)


def test_other_file_types_and_broken_xlsx_are_refused(campaign) -> None:
    with pytest.raises(RosterRefused) as caught:
        services.import_roster(campaign, "x.ods", b"PK\x03\x04")
    assert caught.value.problems[0].reason == "只接受 .csv 或 .xlsx 文件"
    with pytest.raises(RosterRefused) as caught:  # Excel 97-2003: what to do (tests/survey/test_roster_management.py)
        services.import_roster(campaign, "x.xls", b"\xd0\xcf\x11\xe0")
    assert "请另存为 .xlsx" in caught.value.problems[0].reason
    with pytest.raises(RosterRefused) as caught:
        services.import_roster(campaign, "x.xlsx", b"not a zip")
    assert caught.value.problems[0].reason.startswith("无法读取 XLSX 文件")


def test_aliases_of_the_headings_are_understood(campaign) -> None:
    rows = [["姓名", "手机号码", "电子邮箱", "评议主体"], ["张三", "13800138000", "z@example.cn", "client"]]
    assert services.import_roster(campaign, "x.csv", csv_bytes(rows)).imported == 1


def test_a_large_file_takes_a_fixed_number_of_statements(app, campaign) -> None:
    rows = [HEADER] + [[f"评议员{k}", f"13{k:09d}", f"p{k}@example.cn", "某单位", "client" if k % 2 else "expert",
                        "", "东区" if k % 3 else "西区", ""] for k in range(5000)]
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        result = services.import_roster(campaign, "big.csv", csv_bytes(rows))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.commit()
    assert result.imported == 5000
    assert len(statements) < 10  # units, known people, one INSERT (executemany): never per row
    assert sum(s.lstrip().upper().startswith("INSERT") for s in statements) == 1
    assert db.session.scalar(select(func.count(Evaluator.id)).where(Evaluator.campaign_id == campaign.id)) == 5000


def test_templates_have_the_columns(campaign) -> None:
    text = services.template_csv(campaign).decode("utf-8")
    assert text.startswith("\ufeff") and next(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[:6] == list(services.COLUMNS)
    workbook = load_workbook(io.BytesIO(services.template_xlsx(campaign)))
    assert [c.value for c in workbook.worksheets[0][1]][:6] == list(services.COLUMNS)
    help_text = "\n".join(str(c.value) for row in workbook.worksheets[1].iter_rows() for c in row)
    assert "client = 服务对象" in help_text and "u1 = 市第1局" in help_text
    # The template itself (header only) is refused as empty, never half-imported.
    with pytest.raises(RosterRefused):
        services.import_roster(campaign, "t.xlsx", services.template_xlsx(campaign))


# --- the pages ------------------------------------------------------------------------


@pytest.fixture
def organizer(app, client):
    with app.app_context():
        make_campaign(status="draft", invitations=0)
        make_user("organizer")
    login(client, "organizer")
    return client


def test_import_page_lists_problems_then_imports_the_fixed_file(app, organizer) -> None:
    bad = csv_bytes([HEADER, *GOOD, ["赵六", "", "", "", "client", "", "", ""]], "gb18030")
    answer = organizer.post("/campaigns/t2026/roster", data={"file": (io.BytesIO(bad), "名单.csv")},
                            content_type="multipart/form-data")
    assert answer.status_code == 400
    assert "有 1 处问题，未导入任何人" in answer.text and "手机和邮箱都没有填写" in answer.text
    with app.app_context():
        assert db.session.scalar(select(func.count(Evaluator.id))) == 0
    good = csv_bytes([HEADER, *GOOD], "gb18030")
    answer = organizer.post("/campaigns/t2026/roster", data={"file": (io.BytesIO(good), "名单.csv")},
                            content_type="multipart/form-data", follow_redirects=True)
    assert answer.status_code == 200 and "已导入 3 名评议代表" in answer.text
    assert 'data-testid="roster-count-client">2<' in answer.text


def test_template_downloads(app, organizer) -> None:
    answer = organizer.get("/campaigns/t2026/roster/template.xlsx")
    assert answer.status_code == 200 and answer.data[:2] == b"PK"
    assert "attachment" in answer.headers["Content-Disposition"]
    answer = organizer.get("/campaigns/t2026/roster/template.csv")
    assert answer.status_code == 200 and answer.data.decode("utf-8-sig").startswith("姓名,手机,邮箱")


def test_an_xlsx_that_unpacks_too_large_is_refused_with_413_before_parsing(organizer, monkeypatch) -> None:
    import zipfile

    monkeypatch.setattr(services, "MAX_UNPACKED_BYTES", 1024 * 1024)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"<a>" + b" " * (3 * 1024 * 1024) + b"</a>")
    assert len(bomb.getvalue()) < 64 * 1024  # small on the wire
    parsed: list[bytes] = []
    monkeypatch.setattr("openpyxl.load_workbook", lambda *a, **k: parsed.append(b"x"))
    response = organizer.post("/campaigns/t2026/roster", data={"file": (io.BytesIO(bomb.getvalue()), "bomb.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 413 and "解压后超过 1 MB" in response.get_data(as_text=True)
    assert parsed == []


def test_a_file_over_the_row_limit_is_refused_with_413(organizer, monkeypatch) -> None:
    monkeypatch.setattr(services, "MAX_ROWS", 10)
    rows = "姓名,评议主体\n" + "".join(f"代表{k},client\n" for k in range(11))
    response = organizer.post("/campaigns/t2026/roster", data={"file": (io.BytesIO(rows.encode()), "big.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 413 and "超过 10 行" in response.get_data(as_text=True)
