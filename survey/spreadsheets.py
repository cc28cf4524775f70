"""Cells for files that open in Excel or WPS: text from users is always text.

A comment or a plan that starts with `=` would otherwise be written to an XLSX
as a live formula (`=HYPERLINK(…)`, DDE), and a CSV cell starting with
`= + - @`, a tab or a carriage return is read as one by spreadsheet programs.
Every XLSX row and every CSV cell of the app goes through these helpers."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

#: What a spreadsheet program takes as the start of a formula in a CSV cell.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def append_row(sheet: Worksheet, values: Iterable[Any]) -> None:
    """Append a row; every string is stored as a string (never a formula)."""
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
            if cell.value.startswith(FORMULA_STARTS):
                # Shown as typed, and kept as text if the user edits the cell.
                cell.quotePrefix = True


def write_only_row(sheet: WriteOnlyWorksheet, values: Iterable[Any]) -> list[Any]:
    """A row for a write-only (streamed) sheet's ``append``: the same rule as
    ``append_row``, cell by cell only where a string starts like a formula
    (every other value goes in as it is, which keeps the stream fast)."""
    row = list(values)
    for k, value in enumerate(row):
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            cell.quotePrefix = True
            row[k] = cell
    return row


def csv_cell(value: Any) -> Any:
    """A CSV cell: text that a spreadsheet would read as a formula gets a leading
    apostrophe (the convention Excel and WPS show as plain text)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]
