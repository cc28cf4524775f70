"""The anonymised ballot exports (survey/results/ballot_export.py): every
format reads back with one row per ballot, the flags of the results, the
answers' codes and labels and the comments; text is never a formula; nothing
leads to an invitation, a token or a person; sources are pseudonyms (per
export before 定稿, the stored ones after); the command line and the page."""
from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
import re
import zipfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pyreadstat
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from survey import bundles
from survey.ballots.pseudonyms import pseudonymise_sources
from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Ballot, Campaign, Comment, Evaluator, Invitation
from survey.results import ballot_export, snapshots
from survey.spreadsheets import FORMULA_STARTS
from tests.factories import bundle, login, make_campaign, make_user
from tests.survey.test_ballots import form_fields

FORMULA = "=cmd|' /C calc'!A0"
SCRIPT = "<script>alert(1)</script>"
FORMATS = ("csv", "xlsx", "sav", "dta", "parquet")
SCALE = {"S": "满意", "B": "基本满意", "D": "不满意", "U": "不了解"}
START = dt.datetime(2026, 11, 2, 9, 0)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four ballots per chunk and seven answers per partition read into the
    arrays, so that every test crosses chunk and partition boundaries."""
    monkeypatch.setattr(ballot_export, "CHUNK", 4)
    monkeypatch.setattr(bundles, "ANSWER_PARTITION", 7)


def _ballot(public_id: str, batch: str, minutes: float, answers: dict[str, dict[str, str]], *,
            duration: float | None = 240, source: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": public_id, "batch": batch,
                           "submitted_at": (START + dt.timedelta(minutes=minutes)).isoformat() + "+08:00",
                           "answers": answers}
    if duration is not None:
        out["duration_s"] = duration
    if source is not None:
        out["source"] = source
    return out


def export_bundle_doc(code: str = "x2026") -> dict[str, Any]:
    """Three units × two items. Batch e1 (client, e-mail): twelve ballots and two
    speeders (5 s); public batch p1 (expert): two identical ballots from one
    address a minute apart (the second a duplicate), one from the same /24,
    one from IPv6, one blank. Speeders and duplicates are excluded."""
    ballots = []
    opts = list(SCALE)
    for k in range(12):
        answers = {f"u{u}": {"i0": opts[(k + u) % 3], "i1": opts[(k + 2 * u) % 4]} for u in (1, 2, 3)}
        ballots.append(_ballot(f"{k + 1:04d}", "e1", 7 * k, answers, duration=200 + k, source=f"192.0.2.{k + 1}"))
    for k in range(2):
        ballots.append(_ballot(f"s{k}", "e1", 100 + k, {"u1": {"i0": "D"}, "u2": {"i0": "D"}}, duration=5,
                               source=f"198.51.100.{k + 1}"))
    same = {"u1": {"i0": "S", "i1": "B"}, "u3": {"i0": "B"}}
    ballots += [_ballot("d1", "p1", 200, same, source="203.0.113.7"),
                _ballot("d2", "p1", 201, same, source="203.0.113.7"),
                _ballot("d3", "p1", 230, {"u2": {"i0": "B"}}, source="203.0.113.9", duration=None),
                _ballot("d4", "p1", 260, {"u2": {"i0": "U", "i1": "D"}}, source="2001:db8::5"),
                _ballot("d5", "p1", 270, {}, source="203.0.113.200")]
    return bundle(code, units=3, items=2, ballots=ballots, rules={"exclude_flags": ["speeder", "duplicate"]})


#: Comments: (ballot id, unit, text).
COMMENTS = [("0001", "u1", FORMULA), ("0001", "u3", SCRIPT), ("0002", "u2", "窗口服务很好"),
            ("0006", "u3", "@SUM(A1) 办事要跑好几趟"), ("d4", "u2", "+1 " + "长" * 1990)]


def make_export_campaign(code: str = "x2026", status: str = "closed") -> Campaign:
    campaign = import_bundle(export_bundle_doc(code), status=status)
    units = {cu.code: cu.id for cu in campaign.units}
    ids = dict(db.session.execute(select(Ballot.public_id, Ballot.id).where(Ballot.campaign_id == campaign.id)).all())
    for public_id, unit, text in COMMENTS:
        db.session.add(Comment(ballot_id=ids[public_id], campaign_unit_id=units[unit], text=text))
    db.session.commit()
    return campaign


def read_back(fmt: str, path: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows (name → value) as each format's usual reader gives them."""
    if fmt == "csv":
        raw = path.read_bytes()
        assert raw.startswith("\ufeff".encode())  # the BOM Excel wants
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        header = rows[0]
        return header, [dict(zip(header, row, strict=True)) for row in rows[1:]]
    if fmt == "xlsx":
        book = load_workbook(path)
        assert book.sheetnames == list(ballot_export.SHEETS)
        rows_x = list(book[ballot_export.SHEETS[0]].iter_rows(values_only=True))
        header = list(rows_x[0])
        return header, [dict(zip(header, row, strict=True)) for row in rows_x[1:]]
    if fmt == "parquet":
        table = pq.read_table(path)
        return table.column_names, table.to_pylist()
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, _meta = reader(str(path))
    return list(frame.columns), frame.to_dict("records")


def _export(campaign: Campaign, fmt: str, tmp_path: Path, name: str = "out") -> Path:
    path = tmp_path / f"{name}.{fmt}"
    assert ballot_export.write(campaign, fmt, path) == len(export_bundle_doc()["ballots"])
    return path


def _text(value: Any) -> str | None:
    """A text cell as written (CSV: blank is none; .sav: blank is ''; .dta/.sav: NaN is none)."""
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    return str(value)


def _number(value: Any) -> float | None:
    text = _text(value)
    return None if text is None else float(text)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_one_row_per_ballot(ctx, tmp_path: Path, fmt: str) -> None:
    campaign = make_export_campaign()
    doc = export_bundle_doc()
    header, rows = read_back(fmt, _export(campaign, fmt, tmp_path))
    assert header[:9] == ["ballot_id", "batch", "group", "group_label", "channel", "channel_label",
                          "submitted_at", "duration_s", "source"]
    assert header[9:16] == ["flag_duplicate", "flag_straight_line", "flag_speeder", "flag_burst",
                            "flag_extreme_rater", "excluded", "blank"]
    assert header[16:] == [name for u in ("u1", "u2", "u3")
                           for name in (f"{u}_i0", f"{u}_i0_label", f"{u}_i1", f"{u}_i1_label", f"{u}_comment")]
    assert [r["ballot_id"] for r in rows] == [b["id"] for b in doc["ballots"]]
    stats = fmt in ("sav", "dta")
    for row, b in zip(rows, doc["ballots"], strict=True):
        group, channel = ("client", "email") if b["batch"] == "e1" else ("expert", "public")
        assert (_text(row["batch"]), row["group"], row["channel"]) == (b["batch"], group, channel)
        if stats:  # the label columns are numbers with value labels (checked below)
            assert row["group_label"] == (1 if group == "client" else 2)
        else:
            assert row["group_label"] == ("服务对象" if group == "client" else "专家学者")
            assert row["channel_label"] == ("电子邮件" if channel == "email" else "公开渠道")
        when = dt.datetime.fromisoformat(b["submitted_at"]).replace(tzinfo=None)  # Beijing wall clock
        got = row["submitted_at"]
        assert (got if isinstance(got, dt.datetime) else dt.datetime.fromisoformat(got)) == when
        assert _number(row["duration_s"]) == b.get("duration_s")
        for u in ("u1", "u2", "u3"):
            for i in ("i0", "i1"):
                code = b["answers"].get(u, {}).get(i)
                assert _text(row[f"{u}_{i}"]) == code, (b["id"], u, i)
                label = row[f"{u}_{i}_label"]
                if stats:
                    assert _number(label) == (None if code is None else list(SCALE).index(code) + 1)
                else:
                    assert _text(label) == (None if code is None else SCALE[code])
            said = [t for (pid, unit, t) in COMMENTS if pid == b["id"] and unit == u]
            comment = _text(row[f"{u}_comment"])
            if fmt == "csv" and said and said[0].startswith(FORMULA_STARTS):
                assert comment == "'" + said[0]  # shown as text by Excel and WPS
            else:
                assert comment == (said[0] if said else None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_flags_are_those_of_the_results(ctx, tmp_path: Path, fmt: str) -> None:
    """The flags and exclusions, against the results computed from the bundle."""
    campaign = make_export_campaign()
    results = snapshots.results_for(campaign)
    excluded = {e["id"]: set(e["flags"]) for e in results["explain"]["excluded"]}
    assert set(excluded) == {"s0", "s1", "d2"}  # the example is what it says
    _header, rows = read_back(fmt, _export(campaign, fmt, tmp_path))
    flags = ("duplicate", "straight_line", "speeder", "burst", "extreme_rater")
    for row in rows:
        raised = {f for f in flags if int(row[f"flag_{f}"]) == 1}
        assert int(row["excluded"]) == (row["ballot_id"] in excluded)
        if row["ballot_id"] in excluded:
            assert raised == excluded[row["ballot_id"]]
        assert int(row["blank"]) == (row["ballot_id"] == "d5")
    for f in flags:
        assert sum(int(r[f"flag_{f}"]) for r in rows) == results["explain"]["flags"][f]


@pytest.mark.parametrize("fmt", ("sav", "dta"))
def test_spss_and_stata_carry_value_and_variable_labels(ctx, tmp_path: Path, fmt: str) -> None:
    campaign = make_export_campaign()
    path = _export(campaign, fmt, tmp_path)
    reader = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    frame, meta = reader(str(path))
    assert len(frame) == len(export_bundle_doc()["ballots"]) and meta.number_rows in (None, len(frame))
    labels = meta.variable_value_labels
    assert labels["u1_i0_label"] == {1: "满意", 2: "基本满意", 3: "不满意", 4: "不了解"}
    assert labels["group_label"] == {1: "服务对象", 2: "专家学者"}
    assert labels["flag_speeder"] == {0: "否", 1: "是"}
    assert meta.column_names_to_labels["u2_i1_label"] == "市第2局 · 服务态度"
    assert meta.column_names_to_labels["submitted_at"] == "提交时间（北京时间）"
    shown, _meta = reader(str(path), apply_value_formats=True)
    first = shown.iloc[0]
    assert (first["u1_i0_label"], first["group_label"], first["channel_label"]) == ("基本满意", "服务对象", "电子邮件")


def test_parquet_is_written_in_row_groups_with_labels(ctx, tmp_path: Path) -> None:
    campaign = make_export_campaign()
    path = _export(campaign, "parquet", tmp_path)
    parquet = pq.ParquetFile(path)
    n = len(export_bundle_doc()["ballots"])
    assert parquet.metadata.num_rows == n
    assert parquet.metadata.num_row_groups == -(-n // ballot_export.CHUNK)  # one per chunk: streamed
    schema = parquet.schema_arrow
    assert schema.field("u3_i0_label").metadata[b"label"].decode() == "市第3局 · 总体评价"
    assert b'"pseudonyms": "per_export"' in schema.metadata[b"pingyi"]


def _strings(fmt: str, path: Path) -> list[str]:
    header, rows = read_back(fmt, path)
    return header + [str(v) for row in rows for v in row.values() if v is not None]


def test_markup_and_formulas_in_comments_come_out_inert(ctx, tmp_path: Path) -> None:
    campaign = make_export_campaign()
    csv_path = _export(campaign, "csv", tmp_path)
    for row in csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"))):
        assert not [cell for cell in row if cell.startswith(FORMULA_STARTS)]
    xlsx_path = _export(campaign, "xlsx", tmp_path)
    with zipfile.ZipFile(xlsx_path) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >]", book.read(name)), name
    cells = [c for sheet in load_workbook(xlsx_path).worksheets for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    planted = {c.value: c for c in cells if c.value in (FORMULA, SCRIPT)}
    assert set(planted) == {FORMULA, SCRIPT}  # as typed, as text
    assert planted[FORMULA].data_type == "s" and planted[FORMULA].quotePrefix
    for fmt in ("parquet", "sav", "dta"):  # no spreadsheet here: the text as typed
        strings = _strings(fmt, _export(campaign, fmt, tmp_path))
        assert FORMULA in strings and SCRIPT in strings


def test_planted_set_up_labels_are_text_in_the_spreadsheets(ctx, tmp_path: Path) -> None:
    doc = export_bundle_doc()
    doc["scale"][0]["label"] = "=HYPERLINK(\"http://x\",\"y\")"
    doc["groups"][0]["label"] = "-2+3 " + SCRIPT
    doc["units"][0]["code"] = "-u1"
    for b in doc["ballots"]:
        if "u1" in b["answers"]:
            b["answers"]["-u1"] = b["answers"].pop("u1")
    campaign = import_bundle(doc, status="closed")
    db.session.commit()
    path = tmp_path / "planted.csv"
    ballot_export.write(campaign, "csv", path)
    for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
        assert not [cell for cell in row if cell.startswith(FORMULA_STARTS)]
    header, rows = read_back("csv", path)
    assert "v_u1_i0" in header  # a name SPSS and Stata accept
    assert "'=HYPERLINK(\"http://x\",\"y\")" in [r["v_u1_i0_label"] for r in rows]
    xlsx = tmp_path / "planted.xlsx"
    ballot_export.write(campaign, "xlsx", xlsx)
    assert not [c for s in load_workbook(xlsx).worksheets for row in s.iter_rows() for c in row if c.data_type == "f"]


def test_variable_names_are_valid_and_unique() -> None:
    names = ballot_export.variable_names(["ballot_id", "9x", "a-b", "a_b", "A_B", "x" * 40, "x" * 40, "处_1"])
    assert names == ["ballot_id", "v9x", "a_b", "a_b_2", "A_B_3", "x" * 32, "x" * 30 + "_2", "v__1"]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,31}", n) for n in names)


@pytest.mark.parametrize("fmt", FORMATS)
def test_nothing_leads_to_an_invitation_a_token_or_a_person(app, client, tmp_path: Path, fmt: str) -> None:
    """A named campaign (its ballots keep their invitation and the evaluator's
    attributes): the export still holds none of it."""
    with app.app_context():
        campaign, tokens = make_campaign(anonymous=False, invitations=3, items=2)
        for k, evaluator in enumerate(db.session.scalars(select(Evaluator))):
            evaluator.phone = f"1380013800{k}"
        db.session.commit()
    for token in tokens[:2]:
        html = client.get(f"/b/{token}").get_data(as_text=True)
        fields = form_fields(html)
        fields[re.search(r'<textarea[^>]*name="(c_\d+)"', html).group(1)] = "窗口服务很好"
        assert client.post(f"/b/{token}", data=fields).status_code == 200
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        ballots = db.session.scalars(select(Ballot)).all()
        assert all(b.invitation_id is not None and b.attributes for b in ballots)  # named: kept in the database
        secrets = set(tokens)
        for inv in db.session.scalars(select(Invitation)):
            secrets |= {inv.token_hash.hex(), inv.evaluator.name, inv.evaluator.email, inv.evaluator.phone}
        secrets |= {b.receipt_hash.hex() for b in ballots} | {b.source for b in ballots} | {"东区", "district"}
        path = tmp_path / f"named.{fmt}"
        assert ballot_export.write(campaign, fmt, path) == 2
        header, rows = read_back(fmt, path)
        assert [r["ballot_id"] for r in rows] == [b.public_id for b in ballots]
        assert "窗口服务很好" in _strings(fmt, path)
    banned = re.compile(r"invitation|evaluator|token|receipt|email|e_mail|phone|attribute|district|name", re.I)
    assert not [h for h in header if banned.search(h)]
    strings = _strings(fmt, path)
    assert not [(s, v) for s in secrets for v in strings if s and s in v]
    assert "127.0.0.1" not in strings  # the test client's address, replaced by a pseudonym
    assert all(ipaddress.ip_address(r["source"]) in ipaddress.ip_network("10.0.0.0/8") for r in rows)


def test_the_ballots_attributes_stay_out(ctx, tmp_path: Path) -> None:
    """Raking attributes on ballots of an anonymous campaign (margin answers,
    roster values) are in the database and the bundle, never in an export."""
    doc = export_bundle_doc("a2026")
    for k, b in enumerate(doc["ballots"]):
        b["attributes"] = {"agegroup": f"年龄段甲{k % 2}", "district": "西城区乙"}
    campaign = import_bundle(doc, status="closed")
    db.session.commit()
    assert db.session.scalar(select(Ballot.attributes).where(Ballot.public_id == "0001")) == {
        "agegroup": "年龄段甲0", "district": "西城区乙"}
    for fmt in FORMATS:
        path = tmp_path / f"attributes.{fmt}"
        ballot_export.write(campaign, fmt, path)
        strings = _strings(fmt, path)
        assert not [v for v in strings if "年龄段甲" in v or "西城区乙" in v or "agegroup" in v or "district" in v]


def _sources(campaign: Campaign, tmp_path: Path, name: str) -> dict[str, str]:
    _header, rows = read_back("csv", _export(campaign, "csv", tmp_path, name))
    return {r["ballot_id"]: r["source"] for r in rows}


def test_sources_are_pseudonyms_made_per_export_before_finalization(ctx, tmp_path: Path) -> None:
    campaign = make_export_campaign()
    stored = dict(db.session.execute(select(Ballot.public_id, Ballot.source)).all())
    first, second = _sources(campaign, tmp_path, "a"), _sources(campaign, tmp_path, "b")
    for pseudonyms in (first, second):
        assert not set(pseudonyms.values()) & set(stored.values())
        assert pseudonyms["d1"] == pseudonyms["d2"] and pseudonyms["d1"] != pseudonyms["d3"]
        v4 = {k: ipaddress.ip_address(v) for k, v in pseudonyms.items() if k != "d4"}
        assert all(a in ipaddress.ip_network("10.0.0.0/8") for a in v4.values())
        net = {k: ipaddress.ip_network(f"{a}/24", strict=False) for k, a in v4.items()}
        assert net["d1"] == net["d3"] == net["d5"] and net["d1"] != net["0001"]
        assert net["0001"] == net["0012"] and len(set(pseudonyms.values())) == len(set(stored.values()))
        assert ipaddress.ip_address(pseudonyms["d4"]) in ipaddress.ip_network("fd00::/8")
    assert first != second  # drawn afresh: two exports cannot be joined on them
    # and the database keeps its addresses until 定稿
    assert dict(db.session.execute(select(Ballot.public_id, Ballot.source)).all()) == stored


def test_after_finalization_the_stored_pseudonyms_are_exported(ctx, tmp_path: Path) -> None:
    campaign = make_export_campaign()
    pseudonymise_sources(campaign)
    campaign.state.finalize()
    db.session.commit()
    stored = dict(db.session.execute(select(Ballot.public_id, Ballot.source)).all())
    assert _sources(campaign, tmp_path, "a") == stored == _sources(campaign, tmp_path, "b")
    path = _export(campaign, "parquet", tmp_path)
    assert b'"pseudonyms": "final"' in pq.ParquetFile(path).schema_arrow.metadata[b"pingyi"]


def test_a_campaign_without_ballots_exports_the_header(ctx, tmp_path: Path) -> None:
    campaign = import_bundle(bundle("e2026", units=2), status="open")
    db.session.commit()
    for fmt in FORMATS:
        path = tmp_path / f"empty.{fmt}"
        assert ballot_export.write(campaign, fmt, path) == 0
        header, rows = read_back(fmt, path)
        assert rows == [] and "u2_i0_label" in header


# --- the command line -------------------------------------------------------------------


def _empty(tmp_path: Path) -> Path:
    """A directory of its own (the app's instance is in tmp_path)."""
    out = tmp_path / "out"
    out.mkdir()
    return out


def test_the_command_line_writes_each_format(app, tmp_path: Path) -> None:
    tmp_path = _empty(tmp_path)
    with app.app_context():
        make_export_campaign()
    runner = app.test_cli_runner()
    for fmt in FORMATS:
        path = tmp_path / f"ballots.{fmt.upper() if fmt == 'csv' else fmt}"
        result = runner.invoke(args=["campaign", "ballots", "x2026", str(path)])
        assert result.exit_code == 0, result.output
        assert f"{len(export_bundle_doc()['ballots'])} 张评议票" in result.output
        _header, rows = read_back(fmt, path)
        assert len(rows) == len(export_bundle_doc()["ballots"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ballots.CSV", "ballots.xlsx", "ballots.sav", "ballots.dta", "ballots.parquet"])  # no temporary left


def test_the_command_line_refuses_bad_input_clearly(app, tmp_path: Path) -> None:
    tmp_path = _empty(tmp_path)
    with app.app_context():
        make_export_campaign()
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["campaign", "ballots", "x2026", str(tmp_path / "ballots.json")])
    assert bad.exit_code == 2 and "不支持的文件类型“.json”" in bad.output and ".parquet" in bad.output
    none = runner.invoke(args=["campaign", "ballots", "x2026", str(tmp_path / "ballots")])
    assert none.exit_code == 2 and "无扩展名" in none.output
    unknown = runner.invoke(args=["campaign", "ballots", "nope", str(tmp_path / "b.csv")])
    assert unknown.exit_code == 2 and "没有代码为 nope 的评议活动" in unknown.output
    missing = runner.invoke(args=["campaign", "ballots", "x2026", str(tmp_path / "no" / "b.csv")])
    assert missing.exit_code == 2 and "不存在" in missing.output
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_leaves_no_file(ctx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    campaign = make_export_campaign()
    tmp_path = _empty(tmp_path)
    target = tmp_path / "ballots.csv"
    target.write_text("the previous export\n", encoding="utf-8")

    def broken(*_args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ballot_export, "write_csv", broken)
    with pytest.raises(RuntimeError):
        ballot_export.write_file(campaign, "csv", target)
    assert [p.name for p in tmp_path.iterdir()] == ["ballots.csv"]
    assert target.read_text(encoding="utf-8") == "the previous export\n"


# --- the page -----------------------------------------------------------------------------


def test_the_committee_downloads_each_format_from_the_results_page(app, client, tmp_path: Path) -> None:
    with app.app_context():
        make_export_campaign()
        make_user("committee")
    login(client, "committee")
    page = client.get("/results/x2026").get_data(as_text=True)
    for fmt in FORMATS:
        assert f'href="/results/x2026/ballots.{fmt}"' in page
        response = client.get(f"/results/x2026/ballots.{fmt}")
        assert response.status_code == 200
        assert response.mimetype == ballot_export.FORMATS[fmt].media_type
        assert response.headers["Content-Disposition"] == f"attachment; filename=pingyi-ballots-x2026.{fmt}"
        path = tmp_path / f"download.{fmt}"
        path.write_bytes(response.data)
        response.close()
        _header, rows = read_back(fmt, path)
        assert len(rows) == len(export_bundle_doc()["ballots"])
    assert client.get("/results/x2026/ballots.json").status_code == 404
    assert client.get("/results/nope/ballots.csv").status_code == 404


def test_a_liaison_may_not_download_the_ballots(app, client) -> None:
    with app.app_context():
        make_export_campaign()
        make_user("liaison", unit_code="u1")
    login(client, "liaison")
    assert client.get("/results/x2026/ballots.csv").status_code == 403
    client.post("/logout")
    assert "/login" in client.get("/results/x2026/ballots.csv").headers["Location"]
