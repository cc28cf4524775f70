"""Small model factories for the tests."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from survey.bundles import import_bundle
from survey.extensions import db
from survey.models import Campaign, Evaluator, Invitation, Unit, User
from survey.tokens import hash_token, new_token


def bundle(code: str = "t2026", *, anonymous: bool = True, units: int = 3, items: int = 1,
           **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "pingyi-campaign/1",
        "campaign": {"code": code, "name": f"{code} 测试评议", "anonymous": anonymous},
        "scale": [{"code": "S", "label": "满意", "points": 100},
                  {"code": "B", "label": "基本满意", "points": 70},
                  {"code": "D", "label": "不满意", "points": 0},
                  {"code": "U", "label": "不了解", "points": None}],
        "items": [{"code": f"i{k}", "label": ["总体评价", "服务态度", "办事效率"][k % 3], "weight": 1.0}
                  for k in range(items)],
        "categories": [{"code": "law", "label": "行政执法类"}, {"code": "svc", "label": "社会服务类"}],
        "units": [{"code": f"u{k + 1}", "name": f"市第{k + 1}局", "category": "law" if k % 2 == 0 else "svc"}
                  for k in range(units)],
        "groups": [{"code": "client", "label": "服务对象", "weight": 0.6},
                   {"code": "expert", "label": "专家学者", "weight": 0.4}],
        "batches": [{"code": "e1", "group": "client", "channel": "email", "issued": 20},
                    {"code": "p1", "group": "expert", "channel": "public"}],
        "ballots": [],
    }
    doc.update(extra)
    if "extensions" not in extra:
        english = {key: {r["code"]: ENGLISH[r["label"]] for r in doc[key] if r.get("label") in ENGLISH}
                   for key in ("scale", "items", "categories")}
        english = {key: labels for key, labels in english.items() if labels}
        if english:
            doc["extensions"] = {"labels_en": english}
    return doc


#: The English labels of the usual scale, items and categories (extensions.labels_en).
ENGLISH = {"满意": "Satisfied", "基本满意": "Basically satisfied", "不满意": "Dissatisfied", "不了解": "Don't know",
           "总体评价": "Overall", "服务态度": "Service attitude", "办事效率": "Efficiency",
           "行政执法类": "Administrative law enforcement", "社会服务类": "Public services"}


def make_campaign(*, status: str = "open", anonymous: bool = True, invitations: int = 3,
                  own_unit: str | None = None, **kwargs: Any) -> tuple[Campaign, list[str]]:
    """A campaign with `invitations` personal links in batch e1; returns the tokens."""
    campaign = import_bundle(bundle(anonymous=anonymous, **kwargs), status=status)
    batch = campaign.batches[0]
    tokens = []
    for k in range(invitations):
        token = new_token()
        own = next((cu.unit_id for cu in campaign.units if cu.code == own_unit), None)
        evaluator = Evaluator(group=batch.group.group, name=f"评议员{k}", email=f"e{k}@example.cn",
                              attributes={"district": "东区"}, own_unit_id=own)
        db.session.add(Invitation(campaign_id=campaign.id, batch=batch, evaluator=evaluator,
                                  token_hash=hash_token(token)))
        tokens.append(token)
    db.session.commit()
    return campaign, tokens


PASSWORD = "correct horse 评议"


def make_user(role: str, *, username: str | None = None, unit_code: str | None = None,
              component: str | None = None) -> User:
    """A staff account (password PASSWORD); a liaison needs unit_code; an
    assessing department scores `component` (default "safety")."""
    unit = db.session.scalar(select(Unit).where(Unit.code == unit_code)) if unit_code else None
    if role == "assessor":
        component = component or "safety"
    user = User(username=username or role, display_name=f"{role} 测试", role=role, unit=unit, component=component)
    user.set_password(PASSWORD)
    db.session.add(user)
    db.session.commit()
    return user


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the real form (tests run with CSRF off for the test client)."""
    return client.post("/login", data={"username": username, "password": password})


def browser_login(page: Any, base_url: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real page in Chromium."""
    page.goto(f"{base_url}/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def confirm_in_dialog(page: Any, button: str) -> None:
    """Answer the confirmation dialog of an action that cannot be undone
    (static/staff.js) by pressing its `button`."""
    dialog = page.locator("dialog.confirm")
    dialog.wait_for()
    dialog.get_by_role("button", name=button, exact=True).click()
