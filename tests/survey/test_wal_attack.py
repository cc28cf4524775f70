"""Trust #7, tested by attack: what a copy of the database's files (a file
copy of instance/, a VM snapshot) or of the PostgreSQL server's WAL tells
about who cast which ballot (docs/anonymity.md says the same in words).

SQLite: the evaluators save drafts and submit through the real HTTP path;
then, without a checkpoint, the raw bytes of the database, -wal and -shm
files hold no draft text, and replaying the -wal file commit by commit, no
commit writes both an invitation's page and a ballot's. PostgreSQL:
pg_waldump shows the claim and the ballot in one transaction, and the rows'
xmin pairs them: documented, not hidden.
"""
from __future__ import annotations

import re
import shutil
import sqlite3
import struct
import subprocess
from collections.abc import Iterator
from glob import glob
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from survey.ballots import submission
from survey.extensions import db
from survey.models import Ballot, Invitation, PaperEntry
from tests.factories import make_campaign
from tests.survey.test_ballots import form_fields

#: Distinctive draft texts: none may reach the files, in any encoding SQLite uses.
DRAFT_TEXTS = [f"草稿机密{n}号 draft-secret-{n}" for n in range(5)]
BALLOT_TEXT = "最终意见"

#: The tables whose pages tie a commit to an invitation, and to a ballot.
INVITATION_TABLES = {"invitation"}
BALLOT_TABLES = {"ballot", "answer", "comment"}


def _sqlite_path(app: Flask) -> Path:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if not uri.startswith("sqlite:///"):
        pytest.skip("reads SQLite's files (the PostgreSQL pass has its own test below)")
    return Path(uri[len("sqlite:///"):])


def _comment_field(html: str) -> str:
    found = re.search(r'<textarea[^>]*name="(c_\d+)"', html)
    assert found is not None
    return found.group(1)


def _vote_with_drafts(client: FlaskClient, tokens: list[str]) -> None:
    """Each evaluator opens the form, autosaves a draft with a comment, saves
    it again (the draft's row is updated), and submits a different comment."""
    for n, token in enumerate(tokens):
        html = client.get(f"/b/{token}").get_data(as_text=True)
        fields = form_fields(html)
        comment = _comment_field(html)
        draft = {**fields, comment: DRAFT_TEXTS[n]}
        assert client.post(f"/b/{token}/draft", data=draft).get_json()["saved"] is True
        assert client.post(f"/b/{token}", data={**draft, "action": "save"}).status_code == 303
        assert "已恢复" in client.get(f"/b/{token}").get_data(as_text=True)
        done = client.post(f"/b/{token}", data={**fields, comment: BALLOT_TEXT})
        assert done.status_code == 200 and 'data-testid="receipt"' in done.get_data(as_text=True)


def _encodings(needle: str) -> list[bytes]:
    return [needle.encode("utf-8"), needle.encode("utf-16-le"), needle.encode("utf-16-be")]


# --- the -wal file, as an attacker reads it ---


def wal_commits(wal: bytes) -> list[set[int]]:
    """The pages each commit of the -wal file wrote, in commit order.

    WAL header: 32 bytes (magic, version, page size, checkpoint sequence,
    salt-1, salt-2, checksums). Each frame: a 24-byte header (page number,
    database size in pages after a commit frame or 0, salt-1, salt-2,
    checksums) and the page's image. Frames of the current generation carry
    the header's salts; a commit ends at the frame whose size field is set.
    """
    if len(wal) < 32:
        return []
    magic, _version, page_size, _seq, salt1, salt2 = struct.unpack(">IIIIII", wal[:24])
    assert magic in (0x377F0682, 0x377F0683)
    commits: list[set[int]] = []
    pages: set[int] = set()
    offset = 32
    while offset + 24 + page_size <= len(wal):
        page_no, commit_size, s1, s2 = struct.unpack(">IIII", wal[offset:offset + 16])
        if (s1, s2) != (salt1, salt2):
            break  # a frame left over from an earlier generation of the file
        pages.add(page_no)
        if commit_size:
            commits.append(pages)
            pages = set()
        offset += 24 + page_size
    return commits


def page_owners(database: Path, tmp: Path) -> dict[int, str]:
    """Each page of a copy of the files: the table its b-tree (table or index) belongs to."""
    copy = tmp / "copy.sqlite"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{database}{suffix}").exists():
            shutil.copyfile(f"{database}{suffix}", f"{copy}{suffix}")
    conn = sqlite3.connect(copy)
    try:
        tables = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        return {page: tables.get(name, name) for name, page in conn.execute("SELECT name, pageno FROM dbstat")}
    finally:
        conn.close()


@pytest.fixture
def sqlite_app(app: Flask) -> Iterator[Flask]:
    _sqlite_path(app)
    # Mark invitations used three at a time, and keep the -wal file (no
    # truncating checkpoint) so that the attack reads every commit.
    app.config.update(PINGYI_USED_FLUSH_SIZE=3, PINGYI_WAL_TRUNCATE=False)
    yield app


def test_files_hold_no_draft_text_and_no_commit_pairs_invitation_and_ballot(sqlite_app: Flask, client,
                                                                            tmp_path: Path) -> None:
    app = sqlite_app
    path = _sqlite_path(app)
    with app.app_context():
        tokens = make_campaign(invitations=6)[1]
    _vote_with_drafts(client, tokens[:5])
    # The files as a copy of instance/ would find them now: no checkpoint, the
    # app's connections still open.
    files = {suffix: Path(f"{path}{suffix}").read_bytes() for suffix in ("", "-wal", "-shm")
             if Path(f"{path}{suffix}").exists()}
    assert len(files.get("-wal", b"")) > 32, "the attack needs the -wal file"
    # (a) No draft text, in UTF-8 or UTF-16, in the database, -wal or -shm file.
    for suffix, raw in files.items():
        for needle in DRAFT_TEXTS:
            for encoded in _encodings(needle):
                assert encoded not in raw, (suffix, needle)
    # ...while the ballots' own comment is there: the search does find text.
    assert BALLOT_TEXT.encode() in files[""] + files["-wal"]

    # (b) Replay the -wal file commit by commit.
    owners = page_owners(path, tmp_path)
    commits = [{owners.get(page, "?") for page in pages} for pages in wal_commits(files["-wal"])]
    ballot_commits = [c for c in commits if c & BALLOT_TABLES]
    first_ballot = commits.index(ballot_commits[0])
    # (Before the first ballot, the campaign's setup wrote the invitations.)
    marking_commits = [c for c in commits[first_ballot:] if c & INVITATION_TABLES]
    assert len(ballot_commits) == 5
    # Five ballots, flushed by three: one commit marks three invitations used.
    assert len(marking_commits) == 1 and "ballot_claim" in marking_commits[0]
    for tables in commits:
        assert not (tables & INVITATION_TABLES and tables & BALLOT_TABLES), tables
        # A draft's commit never writes an invitation's page either.
        assert not (tables & INVITATION_TABLES and "ballot_draft" in tables), tables
    # Each ballot's commit: the claim, the draft's deletion, the ballot.
    assert all({"ballot_claim", "ballot_draft"} <= c for c in ballot_commits)
    # The marking commit pairs the invitations with the ballots since the
    # last one as a set, never one with one: it follows three ballots.
    index = commits.index(marking_commits[0])
    assert sum(1 for c in commits[:index] if c & BALLOT_TABLES) == 3

    with app.app_context():
        assert db.session.scalar(select(func.count(Invitation.id)).where(Invitation.used.is_(True))) == 3
        assert len(submission.pending_invitations()) == 2
    # The two not yet marked are taken all the same: their links say so.
    for token in tokens[3:5]:
        page = client.get(f"/b/{token}")
        assert page.status_code == 200 and 'name="receipt"' not in page.get_data(as_text=True)


def test_a_flush_truncates_the_wal_file(app: Flask, client) -> None:
    path = _sqlite_path(app)
    app.config.update(PINGYI_USED_FLUSH_SIZE=3)
    with app.app_context():
        tokens = make_campaign(invitations=3)[1]
    _vote_with_drafts(client, tokens[:2])
    assert Path(f"{path}-wal").stat().st_size > 0
    _vote_with_drafts(client, tokens[2:3])
    # The third ballot's request marked the three used and wiped the -wal file:
    # a copy made now holds no order of commits at all.
    assert Path(f"{path}-wal").stat().st_size == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Invitation.id)).where(Invitation.used.is_(True))) == 3
        assert submission.pending_invitations() == set()
    raw = path.read_bytes()
    for needle in DRAFT_TEXTS[:3]:
        assert not any(e in raw for e in _encodings(needle))


def test_a_claimed_link_is_taken_before_it_is_marked(sqlite_app: Flask, client) -> None:
    """Between the ballot and the marking commit, the link still admits no
    second ballot and keeps no draft; reminders skip it."""
    app = sqlite_app
    with app.app_context():
        tokens = make_campaign(invitations=2)[1]
    _vote_with_drafts(client, tokens[:1])
    with app.app_context():
        assert db.session.scalar(select(func.count(Invitation.id)).where(Invitation.used.is_(True))) == 0
        assert len(submission.pending_invitations()) == 1
    page = client.get(f"/b/{tokens[0]}")
    assert page.status_code == 200 and 'name="receipt"' not in page.get_data(as_text=True)
    html = client.get(f"/b/{tokens[1]}").get_data(as_text=True)
    fields = form_fields(html)
    assert client.post(f"/b/{tokens[0]}", data={**fields, "action": "save"}).status_code == 409
    again = client.post(f"/b/{tokens[0]}", data=fields)
    assert again.status_code == 409
    with app.app_context():
        assert db.session.scalar(select(func.count(Ballot.id))) == 1
        assert submission.flush_used() == 1
        assert db.session.scalar(select(func.count(Invitation.id)).where(Invitation.used.is_(True))) == 1


# --- (c) paper: the clerks' keyed entries go with the ballot's transaction ---


def test_paper_entries_are_deleted_in_the_ballots_transaction(app: Flask, client, monkeypatch) -> None:
    from tests.survey.test_paper import as_clerk, key, login, paper_setup

    options, cells = paper_setup(app)
    values = {c: options["S"] for c in cells}
    seen: list[tuple[int, int]] = []
    real_write = submission.write_ballot

    def write_and_look(connection, ballot):  # type: ignore[no-untyped-def]
        # Inside the ballot's transaction: the entries are gone there, and
        # still there for everyone else until it commits.
        inside = connection.execute(select(func.count(PaperEntry.id))).scalar_one()
        with db.engine.connect() as other:
            outside = other.execute(select(func.count(PaperEntry.id))).scalar_one()
        seen.append((inside, outside))
        return real_write(connection, ballot)

    monkeypatch.setattr(submission, "write_ballot", write_and_look)
    login(client, "clerk1")
    key(client, "P-0001", values)
    as_clerk(client, "clerk2")
    key(client, "P-0001", values)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # One statement claims, deletes the entries and inserts the ballot.
            assert seen == []
        else:
            assert seen == [(0, 2)]
        assert db.session.scalar(select(func.count(Ballot.id))) == 1
        assert db.session.scalar(select(func.count(PaperEntry.id))) == 0


# --- PostgreSQL: what the server's files show, documented ---


def _pg_waldump() -> str | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_waldump"))
    return found[-1] if found else shutil.which("pg_waldump")


def test_postgresql_wal_and_xmin_pair_claim_and_ballot(app: Flask, client) -> None:
    """docs/anonymity.md, PostgreSQL: until finalization (and VACUUM, and the
    WAL's recycling), the server's files pair each ballot with the invitation
    claimed in its transaction. This test shows it, as the document says."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only (the SQLite tests above read SQLite's files)")
        waldump = _pg_waldump()
        data_dir = db.session.scalar(text("SHOW data_directory"))
        if waldump is None or not Path(data_dir, "pg_wal").is_dir():
            pytest.skip("needs pg_waldump and a local server's pg_wal")
        tokens = make_campaign(invitations=3)[1]
        db.session.commit()
        start = db.session.scalar(text("SELECT pg_current_wal_lsn()::text"))
        db.session.commit()
    for token in tokens[:2]:
        fields = form_fields(client.get(f"/b/{token}").get_data(as_text=True))
        assert client.post(f"/b/{token}", data=fields).status_code == 200
    with app.app_context():
        end = db.session.scalar(text("SELECT pg_current_wal_lsn()::text"))
        nodes = dict(db.session.execute(text(
            "SELECT relname, relfilenode::text FROM pg_class WHERE relname IN ('invitation', 'ballot')")).all())
        # xmin: the ballot's row and its invitation's row share a transaction id.
        ballot_xmins = list(db.session.scalars(text("SELECT xmin::text FROM ballot ORDER BY id")))
        used_xmins = set(db.session.scalars(text("SELECT xmin::text FROM invitation WHERE used")))
        assert len(ballot_xmins) == 2 and set(ballot_xmins) == used_xmins
        # Physical order: the ballots' ctids follow submission order.
        ctids = list(db.session.scalars(text("SELECT ctid::text FROM ballot ORDER BY id")))
        assert ctids == sorted(ctids, key=lambda c: tuple(int(x) for x in c.strip("()").split(",")))
        db.session.commit()
    dump = subprocess.run([waldump, "-p", str(Path(data_dir, "pg_wal")), "-s", start, "-e", end],
                          capture_output=True, text=True, check=False).stdout
    by_xid: dict[str, set[str]] = {}
    for line in dump.splitlines():
        xid = re.search(r"tx:\s+(\d+)", line)
        if xid is None or "rmgr: Heap" not in line:
            continue
        for name, node in nodes.items():
            if re.search(rf"rel \d+/\d+/{node}\b", line):
                kind = "update" if "UPDATE" in line else "insert" if "INSERT" in line else "other"
                by_xid.setdefault(xid.group(1), set()).add(f"{name} {kind}")
    # The WAL: each submission is one transaction that updates an invitation
    # and inserts a ballot; its xid is the rows' xmin.
    pairing = {x for x, acts in by_xid.items() if {"invitation update", "ballot insert"} <= acts}
    assert pairing == set(ballot_xmins), (by_xid, ballot_xmins)
