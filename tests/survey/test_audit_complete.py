"""The audit log, complete (issue #11): one entry per kind of action that
changes data, readable Chinese (never \\uXXXX), Beijing time, filters, CSV;
ballot-bearing work recorded as who, batch and day only."""
from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import select, text

from survey import audit
from survey.clock import from_beijing, today
from survey.extensions import db
from survey.models import AuditEntry, Campaign, CampaignGroup, Rectification, User
from tests.factories import login, make_user
from tests.survey.test_paper import key, paper_setup
from tests.survey.test_roster import HEADER, csv_bytes
from tests.survey.test_setup import RULES, build_from_scratch
from tests.survey.test_signoff_trust import _closed_by_organizer


def _actions() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(AuditEntry.action)))


def test_setup_distribution_and_accounts_each_leave_an_entry(ctx, client) -> None:
    make_user("organizer")
    make_user("admin")
    login(client, "organizer")
    build_from_scratch(client)  # campaign.create, setup.add
    base = "/campaigns/c2027/setup"
    campaign = db.session.scalar(select(Campaign).where(Campaign.code == "c2027"))
    group = db.session.scalar(select(CampaignGroup).where(CampaignGroup.campaign_id == campaign.id))
    option = campaign.scale[-1].id
    assert client.post(base, data={"name": "2027年度作风评议（修订）", "year": "2027", "anonymous": "y",
                                   "return_target": "90"}).status_code == 302
    assert client.post(f"{base}/groups/{group.id}", data={"label": "服务对象", "weight": "3",
                                                           "quota": "400"}).status_code == 302
    assert client.post(f"{base}/groups/{group.id}/units",
                       data={"units": [str(u.id) for u in campaign.units]}).status_code == 302
    assert client.post(f"{base}/options/{option}/delete").status_code == 302
    assert client.post(f"{base}/rules", data={**RULES, "objective_components": ""}).status_code == 302
    assert client.post(f"{base}/margins/k", data={"attribute_k": "6"}).status_code == 302
    roster = csv_bytes([HEADER, ["张三", "13800138000", "", "", "client", "", "", ""]])
    assert client.post("/campaigns/c2027/roster", data={"file": (io.BytesIO(roster), "名单.csv")},
                       content_type="multipart/form-data").status_code == 302
    assert client.post("/campaigns/c2027/status", data={"target": "open", "confirmed": "1"}).status_code == 302
    assert client.post("/distribution/c2027/batches", data={"group": group.id, "channel": "paper",
                                                            "count": "2", "code": "P"}).status_code == 302
    for name, data in (("printed", {"confirmed": "1"}), ("issued", {"issued": "2"})):
        assert client.post(f"/distribution/c2027/batches/P/{name}", data=data).status_code == 302
    assert client.post("/distribution/c2027/batches", data={"group": group.id, "channel": "public",
                                                            "code": "Q"}).status_code == 302
    assert client.post("/distribution/c2027/batches/Q/cap", data={"ip_cap": "5"}).status_code == 302
    client.post("/logout")
    login(client, "admin")
    client.post("/admin/users", data={"username": "li.hua", "display_name": "李华", "role": "clerk", "unit": "",
                                      "password": "评议办2026年度", "confirm": "评议办2026年度"})
    li = db.session.scalar(select(User.id).where(User.username == "li.hua"))
    client.post(f"/admin/users/{li}/active")
    client.post(f"/admin/users/{li}/password", data={"password": "另一个密码2026"})
    client.post(f"/admin/users/{li}/role", data={"role": "auditor", "unit": ""})
    client.post("/account/password", data={"current": "password", "password": "x" * 9, "confirm": "x" * 9})
    want = {"campaign.create", "setup.add", "campaign.basics", "setup.update", "setup.rated_units", "setup.remove",
            "setup.rules", "setup.attribute_k", "roster.import", "campaign.status", "batch.create",
            "batch.printed", "batch.issued", "batch.cap", "user.create", "user.active", "user.password_reset",
            "user.role"}
    assert want <= _actions(), want - _actions()
    assert _actions() <= set(audit.ACTION_LABELS), "every action has its Chinese name"
    # Readable Chinese as stored: the raw JSON text has no \\u escapes.
    stored = " ".join(str(v) for row in db.session.execute(text("SELECT before, after FROM audit_entry"))
                      for v in row if v is not None)
    assert "修订" in stored and "\\u" not in stored
    # The auditor reads it, in Chinese, and filters by person, action and campaign.
    make_user("auditor")
    client.post("/logout")
    login(client, "auditor")
    page = client.get("/audit").get_data(as_text=True)
    assert "\\u" not in page and "确认已印制" in page and "导入名册" in page and "时间（北京时间）" in page
    assert "名称：2027年度作风评议（修订）" in page and "渠道：纸质；份数：2" in page
    by_admin = client.get("/audit", query_string={"person": "admin"}).get_data(as_text=True)
    assert "重置密码" in by_admin and 'data-action="batch.create"' not in by_admin
    by_action = client.get("/audit", query_string={"action": "batch.create"}).get_data(as_text=True)
    assert by_action.count('data-action="') == by_action.count('data-action="batch.create"') == 2
    assert 'data-action="user.create"' not in client.get("/audit", query_string={"campaign": "c2027"}).text


def test_the_csv_export_is_beijing_time_and_never_a_formula(ctx, client) -> None:
    make_user("auditor")
    organizer = make_user("organizer").id
    entry = audit.record("campaign.basics", "=1+1", None, {"名称": "=HYPERLINK(\"http://x\")"})
    entry.user_id, entry.username = organizer, "organizer"
    entry.at = dt.datetime(2026, 11, 30, 16, 30)  # UTC: 1 December, 00:30 in Beijing
    db.session.commit()
    login(client, "auditor")
    answer = client.get("/audit.csv", query_string={"person": "organizer"})
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "时间（北京时间）"
    assert rows[1][:4] == ["2026-12-01 00:30:00", "organizer", "修改基本信息", "campaign.basics"]
    assert rows[1][4] == "'=1+1" and rows[1][6] == '名称：=HYPERLINK("http://x")'  # never a formula
    assert client.get("/audit.csv", query_string={"campaign": "nothing"}).get_data(as_text=True).count("\n") == 1


def test_paper_keying_is_recorded_as_who_batch_and_day_only(app, client) -> None:
    options, cells = paper_setup(app, 3)
    first = {c: options["S"] for c in cells}
    second = {**first, cells[0]: options["D"]}
    login(client, "clerk1")
    for serial in ("P-0001", "P-0002"):
        assert key(client, serial, first).status_code == 302
    client.post("/logout")
    login(client, "clerk2")
    key(client, "P-0001", first)
    key(client, "P-0002", second)  # a disagreement, resolved by the organizer
    u, i = cells[0]
    client.post("/distribution/t2026/paper/conflicts", data={"serial": "P-0002", f"r_{u}_{i}": options["S"]})
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.startswith("paper."))).all()
        # One entry per clerk, action, batch and day, however many forms they keyed.
        assert sorted((e.username, e.action) for e in entries) == [
            ("clerk1", "paper.key"), ("clerk2", "paper.key"), ("clerk2", "paper.resolve")]
        day_start = from_beijing(dt.datetime.combine(today(), dt.time()))
        for e in entries:
            assert e.at == day_start and e.before is None
            assert e.after == {"批次": "P", "日期": today().isoformat()}
            assert e.target == "campaign:t2026/batch:P"
            assert "P-000" not in str(e.after) and "P-000" not in e.target


def test_the_committee_s_acts_each_leave_an_entry(ctx, client) -> None:
    campaign = _closed_by_organizer("wang")
    login(client, "wang")
    client.post(f"/results/{campaign.code}/override",
                data={"unit": "u2", "new_class": "satisfied", "reason": "经核实，予以调整"})
    client.post(f"/results/{campaign.code}/approve")
    client.post(f"/results/{campaign.code}/finalize", data={"confirmed": "1"})
    today_ = dt.date.today()
    client.post(f"/results/{campaign.code}/publish", data={
        "public": "y", "public_from": today_.isoformat(), "public_until": (today_ + dt.timedelta(days=7)).isoformat(), "confirmed": "1"})
    rect = db.session.scalars(select(Rectification)).first()
    rect.plan = "整改方案"
    db.session.commit()
    client.post(f"/results/{campaign.code}/rectification/{rect.id}/return", data={"comment": "补充完成时限"})
    actions = _actions()
    assert {"class.override", "results.approve", "campaign.finalize", "campaign.publish",
            "rectification.return"} <= actions, actions
    assert actions <= set(audit.ACTION_LABELS)
