"""Text from users stays text in XLSX and CSV (survey/spreadsheets.py)."""
from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook, load_workbook

from survey.spreadsheets import append_row, csv_row

EVIL = ["=HYPERLINK(\"http://evil.example\",\"点我\")", "=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)",
        "\tx", "\rx", "正常文字"]


def test_an_xlsx_row_holds_no_formula() -> None:
    book = Workbook()
    append_row(book.active, [*EVIL, 3, None])
    buffer = io.BytesIO()
    book.save(buffer)
    sheet_xml = zipfile.ZipFile(io.BytesIO(buffer.getvalue())).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    read = load_workbook(io.BytesIO(buffer.getvalue())).active
    cells = next(read.iter_rows())
    # The text, not a formula. A lone carriage return comes back as written
    # (_x000D_) or, with some of openpyxl's XML writers, as a line feed.
    assert [c.value.replace("\r", "\n") for c in cells[:len(EVIL)]] == [v.replace("\r", "\n") for v in EVIL]
    assert [c.value for c in cells[:len(EVIL) - 2]] == EVIL[:-2]
    assert all(c.data_type == "s" for c in cells[:len(EVIL)]) and cells[len(EVIL)].value == 3


def test_a_csv_row_neutralises_formula_starts() -> None:
    row = csv_row([*EVIL, 3, None])
    assert row[:-3] == ["'" + v for v in EVIL[:-1]]
    assert row[-3:] == ["正常文字", 3, None]
