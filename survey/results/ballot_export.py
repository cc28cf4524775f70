"""The anonymised ballots of a campaign, one row per ballot: CSV, XLSX, SPSS
``.sav``, Stata ``.dta`` and Parquet (docs/exports.md says what is in them).

A row holds the ballot's random id, batch, evaluator group, channel, the time
it was submitted (Beijing time, to the second), how long filling it in took,
its source as a pseudonym, the campaign's data-quality flags, every answer
(the option's code and its label, one column each per unit × item) and the
comment on each unit. Nothing that leads to an invitation, a token or a
person: no invitation id, no evaluator, no attribute of the ballot (raking
answers, roster values; not even in a named campaign), no receipt hash, no
drafts.

Sources are pseudonyms (``survey.ballots.pseudonyms``): once the campaign is
finalized, the ones stored then (the same as in the final bundle); before,
ones drawn afresh for each export from the system's random source and
forgotten, so two exports of an open campaign give the same address
different pseudonyms (docs/anonymity.md).

How it is read. The flags are those of the return board and the results:
``survey.bundles.campaign_arrays`` reads every ballot of the campaign into the
analysis arrays (answers as one int8 per unit × item), and
``analysis.flag_ballots`` flags them; that pass needs the whole campaign, as
``duplicate`` and ``burst`` compare ballots with each other. The rows are then
written chunk by chunk from those arrays, with the comments read alongside
from one streamed query (``yield_per``); CSV, XLSX (openpyxl write-only) and
Parquet (one row group per chunk) never hold more than a chunk of rows.
``.sav`` and ``.dta`` are written by pyreadstat from one whole pandas frame
(its writer needs the row count up front): their memory grows with the
campaign (bench/exports.py measures it; docs/exports.md states the limit).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select

from analysis import flag_ballots
from survey.ballots.pseudonyms import pseudonymise
from survey.bundles import campaign_arrays
from survey.clock import iso_beijing, to_beijing, utcnow
from survey.errors import UserError
from survey.extensions import db
from survey.models import Ballot, Campaign, Comment
from survey.models.distribution import CHANNEL_LABELS
from survey.results import queries
from survey.results.i18n import gettext as _
from survey.results.inputs import FLAG_LABELS, FLAGS
from survey.spreadsheets import csv_cell, write_only_row


@dataclass(frozen=True)
class Format:
    media_type: str
    #: What the results page calls it.
    title: str


#: The formats, by file extension.
FORMATS: dict[str, Format] = {
    "csv": Format("text/csv", "CSV"),
    "xlsx": Format("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX"),
    "sav": Format("application/x-spss-sav", "SPSS (.sav)"),
    "dta": Format("application/x-stata-dta", "Stata (.dta)"),
    "parquet": Format("application/vnd.apache.parquet", "Parquet"),
}
#: Ballots per chunk: a CSV write, an XLSX stretch, a Parquet row group.
CHUNK = 8192
#: The data sheet and the codebook sheet of the XLSX file.
SHEETS = ("评议票", "变量说明")

# Column kinds.
TEXT = "text"  # a string (or none)
CODE = "code"  # a code out of the column's categories (a string in every format)
LABEL = "label"  # a label out of the column's categories (.sav/.dta: its number 1…k with value labels)
FLAG = "flag"  # 0/1 (Parquet: a boolean)
NUMBER = "number"  # a float (or none)
TIME = "time"  # Beijing wall-clock time, to the second

#: Variable names: what SPSS and Stata both accept (Stata: at most 32 characters).
NAME_MAX = 32
#: Longest variable label Stata keeps.
DTA_LABEL_MAX = 80


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str
    #: CODE and LABEL columns: what index k of the column stands for.
    categories: tuple[str, ...] = ()


def format_of(path: str | os.PathLike[str]) -> str:
    """The format named by a file's extension (UserError, in Chinese, for any other)."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise UserError(_("不支持的文件类型“%(ext)s”（%(path)s）：请用 %(known)s 之一。",
                          ext=f".{ext}" if ext else _("无扩展名"), path=str(path),
                          known="、".join(f".{k}" for k in FORMATS)))
    return ext


def filename(campaign: Campaign, fmt: str) -> str:
    """The download's name; before 截止 it says ``interim`` (中间结果)."""
    interim = "-interim" if queries.interim(campaign) else ""
    return f"pingyi-ballots-{campaign.code}{interim}.{fmt}"


def variable_names(wanted: Sequence[str]) -> list[str]:
    """Names that SPSS and Stata accept, unique whatever the case: letters,
    digits and ``_``, starting with a letter, at most 32 characters; a name
    that would repeat an earlier one gets ``_2``, ``_3``…"""
    seen: set[str] = set()
    out = []
    for want in wanted:
        base = re.sub(r"[^A-Za-z0-9_]", "_", want)
        if not base[:1].isalpha():
            base = "v" + base
        base = name = base[:NAME_MAX]
        k = 2
        while name.lower() in seen:
            suffix = f"_{k}"
            name = base[:NAME_MAX - len(suffix)] + suffix
            k += 1
        seen.add(name.lower())
        out.append(name)
    return out


# --- what is exported ----------------------------------------------------------------


class BallotTable:
    """A campaign's ballots, held as the analysis arrays, and its columns."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign
        self.units = list(campaign.units)
        self.items = list(campaign.items)
        self.scale = list(campaign.scale)
        batches, groups = list(campaign.batches), list(campaign.groups)
        self.channels = tuple(CHANNEL_LABELS)
        group_index = {g.id: k for k, g in enumerate(groups)}
        self.batch_group = np.array([group_index[b.campaign_group_id] for b in batches], dtype=np.int64)
        self.batch_channel = np.array([self.channels.index(b.channel) for b in batches], dtype=np.int64)
        self.unit_index = {cu.id: k for k, cu in enumerate(self.units)}
        #: Sources are the stored ones once finalization has made them pseudonyms.
        self.stable_pseudonyms = campaign.state.is_frozen
        self.max_id = int(db.session.scalar(select(func.coalesce(func.max(Ballot.id), 0))
                                            .where(Ballot.campaign_id == campaign.id)) or 0)
        self.n = 0
        self.ids = np.zeros(0, dtype=np.int64)
        built = campaign_arrays(campaign, max_id=self.max_id) if self.max_id else None
        if built is not None:
            arrays, rows = built
            self.n = arrays.n_ballots
            self.ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=self.n)
            sources = [r[5] for r in rows]
            del rows
            flagged = flag_ballots(arrays)
            self.flags = {f: flagged.flags[f] for f in FLAGS}
            self.excluded, self.blank = flagged.excluded, ~flagged.received
            del flagged
            self.public_ids = arrays.ballot_ids
            self.batch = arrays.ballot_batch
            self.submitted_us = arrays.submitted_us
            self.duration = arrays.duration_s
            self.answers = arrays.answers
            self.source_index, self.pseudonyms = self._pseudonyms(sources)
        self.columns = self._columns([b.code for b in batches], [g.code for g in groups],
                                     [g.label for g in groups])

    def _pseudonyms(self, sources: list[str | None]) -> tuple[NDArray[np.int64], list[str | None]]:
        """Each ballot's index into the distinct sources' pseudonyms (-1: no source)."""
        distinct: dict[str, int] = {}
        index = np.fromiter((-1 if s is None else distinct.setdefault(s, len(distinct)) for s in sources),
                            dtype=np.int64, count=len(sources))
        names: list[str | None] = list(distinct)
        if not self.stable_pseudonyms:
            # Drawn afresh and forgotten: nothing maps them back, nor to another export's.
            names = pseudonymise(names, secrets.SystemRandom())
        return index, names

    def _columns(self, batch_codes: list[str], group_codes: list[str], group_labels: list[str]) -> list[Column]:
        channel_labels = tuple(_(CHANNEL_LABELS[c]) for c in self.channels)
        options = tuple(o.code for o in self.scale), tuple(o.label for o in self.scale)
        wanted: list[tuple[str, str, str, tuple[str, ...]]] = [
            ("ballot_id", _("票号"), TEXT, ()),
            ("batch", _("批次"), CODE, tuple(batch_codes)),
            ("group", _("评议主体代码"), CODE, tuple(group_codes)),
            ("group_label", _("评议主体"), LABEL, tuple(group_labels)),
            ("channel", _("渠道代码"), CODE, self.channels),
            ("channel_label", _("渠道"), LABEL, channel_labels),
            ("submitted_at", _("提交时间（北京时间）"), TIME, ()),
            ("duration_s", _("答题用时（秒）"), NUMBER, ()),
            ("source", _("来源地址（化名）"), TEXT, ()),
            *((f"flag_{f}", _("数据质量标记：%(f)s", f=_(FLAG_LABELS[f])), FLAG, ()) for f in FLAGS),
            ("excluded", _("按剔除规则剔除"), FLAG, ()),
            ("blank", _("空白票"), FLAG, ()),
        ]
        for cu in self.units:
            for item in self.items:
                title = f"{cu.name} · {item.label}"
                wanted.append((f"{cu.code}_{item.code}", _("%(t)s（选项代码）", t=title), CODE, options[0]))
                wanted.append((f"{cu.code}_{item.code}_label", title, LABEL, options[1]))
            wanted.append((f"{cu.code}_comment", _("%(u)s · 意见", u=cu.name), TEXT, ()))
        names = variable_names([w[0] for w in wanted])
        return [Column(name, label, kind, cats) for name, (_w, label, kind, cats) in zip(names, wanted, strict=True)]

    def chunks(self) -> Iterator[dict[str, Any]]:
        """The rows, ``CHUNK`` ballots at a time, column by column: CODE and
        LABEL columns as indices into their categories (-1: none), FLAG as
        booleans, NUMBER as floats (NaN: none), TEXT and TIME as lists."""
        if not self.n:
            return
        comments = db.session.execute(
            select(Comment.ballot_id, Comment.campaign_unit_id, Comment.text)
            .join(Ballot, Comment.ballot_id == Ballot.id)
            .where(Ballot.campaign_id == self.campaign.id, Ballot.id <= self.max_id)
            .order_by(Comment.ballot_id).execution_options(yield_per=CHUNK))
        pending = next(comments, None)
        epoch = dt.datetime(1970, 1, 1)
        names = [c.name for c in self.columns]
        try:
            for start in range(0, self.n, CHUNK):
                part = slice(start, min(start + CHUNK, self.n))
                ids = self.ids[part]
                size = len(ids)
                said: list[list[str | None]] = [[None] * size for _u in self.units]
                while pending is not None and pending[0] <= ids[-1]:
                    row = int(np.searchsorted(ids, pending[0]))
                    if ids[row] == pending[0]:  # (every ballot up to max_id is in the arrays)
                        said[self.unit_index[pending[1]]][row] = pending[2]
                    pending = next(comments, None)
                batch = self.batch[part]
                source = self.source_index[part]
                out: list[Any] = [
                    self.public_ids[part].tolist(), batch, self.batch_group[batch], self.batch_group[batch],
                    self.batch_channel[batch], self.batch_channel[batch],
                    [to_beijing(epoch + dt.timedelta(microseconds=int(us))).replace(microsecond=0)
                     for us in self.submitted_us[part]],
                    self.duration[part],
                    [None if k < 0 else self.pseudonyms[k] for k in source.tolist()],
                    *(self.flags[f][part] for f in FLAGS), self.excluded[part], self.blank[part],
                ]
                answers = self.answers[part]
                for u in range(len(self.units)):
                    for i in range(len(self.items)):
                        out += [answers[:, u, i], answers[:, u, i]]
                    out.append(said[u])
                yield dict(zip(names, out, strict=True))
        finally:
            comments.close()


# --- the formats ---------------------------------------------------------------------------


def _lookup(values: Sequence[str], text: Callable[[str], Any]) -> NDArray[np.object_]:
    """Index k → ``text(values[k])``, and index -1 → None."""
    return np.array([*(text(v) for v in values), None], dtype=object)


def _matrix(table: BallotTable, chunk: dict[str, Any], text: Callable[[Any], Any],
            lookups: dict[str, NDArray[np.object_]], time: Callable[[dt.datetime], Any]) -> list[list[Any]]:
    """A chunk as rows of cells for CSV or XLSX (``text`` guards each string)."""
    size = len(chunk["ballot_id"])
    cells = np.empty((size, len(table.columns)), dtype=object)
    for j, column in enumerate(table.columns):
        values = chunk[column.name]
        if column.kind in (CODE, LABEL):
            cells[:, j] = lookups[column.name][values]
        elif column.kind == FLAG:
            cells[:, j] = values.astype(np.int64)
        elif column.kind == NUMBER:
            cells[:, j] = np.where(np.isnan(values), None, values.astype(object))
        elif column.kind == TIME:
            cells[:, j] = [time(v) for v in values]
        else:
            cells[:, j] = [None if v is None else text(v) for v in values]
    rows: list[list[Any]] = cells.tolist()
    return rows


def _lookups(table: BallotTable, text: Callable[[str], Any]) -> dict[str, NDArray[np.object_]]:
    return {c.name: _lookup(c.categories, text) for c in table.columns if c.kind in (CODE, LABEL)}


def cell_rows(table: BallotTable, chunk: dict[str, Any], time: Callable[[dt.datetime], Any]) -> list[list[Any]]:
    """A chunk (or a slice of one) as rows of plain cells in column order:
    codes and labels as text, flags 0/1, numbers or None, times as `time`
    makes them (the JSON API's ballots, survey/api/ballots.py)."""
    return _matrix(table, chunk, str, _lookups(table, str), time)


def write_csv(table: BallotTable, out: IO[str]) -> None:
    """UTF-8 with a BOM (Excel and WPS read it as such); text never starts a formula."""
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([c.name for c in table.columns])
    lookups = _lookups(table, csv_cell)
    for chunk in table.chunks():
        writer.writerows(_matrix(table, chunk, csv_cell, lookups, lambda t: t.strftime("%Y-%m-%d %H:%M:%S")))


def _codebook(table: BallotTable) -> list[list[str]]:
    """Name, label, type and values of every column (the XLSX's second sheet)."""
    kinds = {TEXT: _("文本"), CODE: _("代码"), LABEL: _("标签"), FLAG: _("0/1"), NUMBER: _("数值"),
             TIME: _("日期时间")}
    rows = [[_("变量名"), _("说明"), _("类型"), _("取值（.sav/.dta 中标签列为数字，值标签如下）")]]
    for c in table.columns:
        if c.kind == CODE:
            values = "; ".join(c.categories)
        elif c.kind == LABEL:
            values = "; ".join(f"{k}={label}" for k, label in enumerate(c.categories, start=1))
        elif c.kind == FLAG:
            values = _("0=否; 1=是")
        else:
            values = ""
        rows.append([c.name, c.label, kinds[c.kind], values])
    return rows


def write_xlsx(table: BallotTable, out: IO[bytes] | str | os.PathLike[str]) -> None:
    """A write-only (streamed) workbook: the ballots, then the codebook."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(SHEETS[0])
    sheet.append(write_only_row(sheet, [c.name for c in table.columns]))
    lookups = _lookups(table, str)
    for chunk in table.chunks():
        for row in _matrix(table, chunk, str, lookups, lambda t: t):
            sheet.append(write_only_row(sheet, row))
    codebook = book.create_sheet(SHEETS[1])
    for row in _codebook(table):
        codebook.append(write_only_row(codebook, row))
    book.save(out)


def _metadata(table: BallotTable) -> dict[str, Any]:
    campaign = table.campaign
    return {"format": "pingyi-ballots/1", "campaign": campaign.code, "name": campaign.name,
            "exported_at": iso_beijing(utcnow()), "ballots": table.n,
            "pseudonyms": "final" if table.stable_pseudonyms else "per_export"}


def _arrow_schema(table: BallotTable, stats: bool) -> Any:
    """Parquet: CODE and LABEL columns dictionary-encoded strings, FLAG booleans.
    ``stats`` (the frame for .sav/.dta): CODE as strings, LABEL as numbers 1…k,
    FLAG as 0/1."""
    import pyarrow as pa

    types = {TEXT: pa.string(), NUMBER: pa.float64(), TIME: pa.timestamp("us"),
             CODE: pa.string() if stats else pa.dictionary(pa.int32(), pa.string()),
             LABEL: pa.float64() if stats else pa.dictionary(pa.int32(), pa.string()),
             FLAG: pa.int8() if stats else pa.bool_()}
    fields = [pa.field(c.name, types[c.kind], metadata={"label": c.label}) for c in table.columns]
    return pa.schema(fields, metadata={"pingyi": json.dumps(_metadata(table), ensure_ascii=False)})


def _arrow_batch(table: BallotTable, chunk: dict[str, Any], schema: Any, stats: bool) -> Any:
    import pyarrow as pa

    arrays = []
    for column, field in zip(table.columns, schema, strict=True):
        values = chunk[column.name]
        if column.kind in (CODE, LABEL):
            missing = values < 0
            if stats and column.kind == LABEL:
                arrays.append(pa.array(np.where(missing, np.nan, values + 1.0), mask=missing, type=field.type))
            elif stats:
                lookup = np.array([*column.categories, None], dtype=object)
                arrays.append(pa.array(lookup[values], type=field.type))
            else:
                indices = pa.array(values.astype(np.int32), mask=missing, type=pa.int32())
                arrays.append(pa.DictionaryArray.from_arrays(indices, pa.array(column.categories, pa.string())))
        elif column.kind == FLAG:
            arrays.append(pa.array(values.astype(np.int8) if stats else values, type=field.type))
        elif column.kind == NUMBER:
            arrays.append(pa.array(values, mask=np.isnan(values), type=field.type))
        else:
            arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_parquet(table: BallotTable, out: IO[bytes] | str | os.PathLike[str]) -> None:
    """One row group per chunk; each column carries its label in its field metadata."""
    import pyarrow.parquet as pq

    schema = _arrow_schema(table, stats=False)
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for chunk in table.chunks():
            writer.write_batch(_arrow_batch(table, chunk, schema, stats=False))


def _frame(table: BallotTable) -> Any:
    """The whole export as one pandas frame (pyreadstat writes nothing else)."""
    import pyarrow as pa

    schema = _arrow_schema(table, stats=True)
    batches = [_arrow_batch(table, chunk, schema, stats=True) for chunk in table.chunks()]
    whole = pa.Table.from_batches(batches, schema=schema)
    del batches
    return whole.to_pandas()


def _value_labels(table: BallotTable) -> dict[str, dict[int | float, str]]:
    labels: dict[str, dict[int | float, str]] = {}
    yes_no: dict[int | float, str] = {0: _("否"), 1: _("是")}
    for c in table.columns:
        if c.kind == LABEL:
            labels[c.name] = {float(k): label for k, label in enumerate(c.categories, start=1)}
        elif c.kind == FLAG:
            labels[c.name] = yes_no
    return labels


def write_sav(table: BallotTable, path: str | os.PathLike[str]) -> None:
    import pyreadstat

    pyreadstat.write_sav(_frame(table), path, file_label=table.campaign.name,
                         column_labels={c.name: c.label for c in table.columns},
                         variable_value_labels=_value_labels(table),
                         variable_measure={c.name: "nominal" for c in table.columns if c.kind == LABEL})


def write_dta(table: BallotTable, path: str | os.PathLike[str]) -> None:
    import pyreadstat

    frame = _frame(table)
    # Stata's missing string is "" (and pyreadstat fails on a missing value in a
    # column long enough for strL).
    text = [c.name for c in table.columns if c.kind in (TEXT, CODE)]
    frame[text] = frame[text].fillna("")
    # Stata keeps 80 characters of a file's or a variable's label.
    pyreadstat.write_dta(frame, path, file_label=table.campaign.name[:DTA_LABEL_MAX],
                         column_labels={c.name: c.label[:DTA_LABEL_MAX] for c in table.columns},
                         variable_value_labels=_value_labels(table))


def write(campaign: Campaign, fmt: str, path: str | os.PathLike[str]) -> int:
    """Write the export to ``path`` (created or replaced); returns the number of ballots."""
    if fmt not in FORMATS:
        raise UserError(_("不支持的导出格式：%(f)s", f=fmt))
    table = BallotTable(campaign)
    if fmt == "csv":
        with open(path, "w", encoding="utf-8", newline="") as out:
            write_csv(table, out)
    elif fmt == "xlsx":
        write_xlsx(table, path)
    elif fmt == "parquet":
        write_parquet(table, path)
    elif fmt == "sav":
        write_sav(table, path)
    else:
        write_dta(table, path)
    return table.n


def write_file(campaign: Campaign, fmt: str, path: str | os.PathLike[str]) -> int:
    """Write the export to ``path`` all or nothing: into a temporary file beside
    it, renamed over ``path`` only once complete."""
    target = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=".pingyi-", suffix=f".{fmt}", dir=target.parent)
    os.close(handle)
    try:
        n = write(campaign, fmt, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return n


def temporary_export(campaign: Campaign, fmt: str) -> IO[bytes]:
    """The export in an open, already unlinked temporary file, at its start
    (a download streams it from there, and it is gone once closed)."""
    directory = tempfile.mkdtemp(prefix="pingyi-export-")
    path = Path(directory) / f"ballots.{fmt}"
    try:
        write(campaign, fmt, path)
        handle = open(path, "rb")  # noqa: SIM115 (the response closes it)
    finally:
        path.unlink(missing_ok=True)
        os.rmdir(directory)
    return handle
