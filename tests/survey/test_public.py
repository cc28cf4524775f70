"""The open public channel (扫码评议): the form behind a QR poster (served by
the ballots blueprint), one ballot per device in a period, an optional cap
per address, and the `burst` and `duplicate` flags shown to the organizer."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from survey.distribution import services
from survey.extensions import db
from survey.models import Ballot, Campaign
from tests.factories import login, make_user
from tests.survey.test_distribution_support import setup_campaign


@pytest.fixture
def public_code(app) -> str:
    with app.test_request_context():
        campaign = setup_campaign(evaluators=0, units=2)
        batch = services.create_batch(campaign, campaign.groups[1], "qr", code="poster1")
        db.session.commit()
        return batch.public_code


def fields(html: str, pick: int = 0) -> dict[str, str]:
    """Hidden fields, and option number `pick` of every radio group."""
    out: dict[str, str] = {}
    radios: dict[str, list[str]] = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if not (name and value):
            continue
        if 'type="radio"' in tag:
            radios.setdefault(name.group(1), []).append(value.group(1))
        else:
            out[name.group(1)] = value.group(1)
    out.update({k: v[pick] for k, v in radios.items()})
    return out


def vote(app, code: str, address: str = "127.0.0.1", pick: int = 0):
    client = app.test_client()  # a new device: no cookie
    env = {"REMOTE_ADDR": address}
    form = client.get(f"/q/{code}", environ_base=env, follow_redirects=True)
    assert form.status_code == 200
    data = {**fields(form.get_data(as_text=True), pick), "action": "submit"}
    return client, client.post(form.request.path, data=data, environ_base=env)


def device_cookie(response) -> str:
    """The Set-Cookie header of the device cookie (there may be a session cookie too)."""
    return next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("pingyi_q"))


def ballots(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Ballot.id))) or 0


def test_one_ballot_per_device(app, public_code) -> None:
    client, done = vote(app, public_code)
    assert done.status_code == 200 and 'data-testid="receipt"' in done.get_data(as_text=True)
    assert "Max-Age=259200" in device_cookie(done)  # 72 hours by default
    again = client.get(f"/q/{public_code}", follow_redirects=True)
    assert again.status_code == 429 and "同一设备 72 小时内只能提交一次" in again.get_data(as_text=True)
    assert client.post(again.request.path, data={"action": "submit"}).status_code == 429
    # A forged cookie counts for nothing; another device may vote.
    forged = app.test_client()
    forged.set_cookie(device_cookie(done).split("=")[0], "forged.value")
    assert forged.get(f"/q/{public_code}", follow_redirects=True).status_code == 200
    vote(app, public_code)
    assert ballots(app) == 2
    with app.app_context():
        assert set(db.session.scalars(select(Ballot.source))) == {"127.0.0.1"}


def test_period_is_configurable(app, public_code) -> None:
    app.config["PINGYI_PUBLIC_DEVICE_HOURS"] = 24
    _, done = vote(app, public_code)
    assert "Max-Age=86400" in device_cookie(done)


def test_incomplete_form_is_refused(app, public_code) -> None:
    client = app.test_client()
    form = client.get(f"/q/{public_code}", follow_redirects=True)
    partial = {k: v for k, v in fields(form.get_data(as_text=True)).items() if not k.startswith("a_")}
    refused = client.post(form.request.path, data={**partial, "action": "submit"})
    assert refused.status_code == 422 and "pingyi_q" not in refused.headers.get("Set-Cookie", "")
    assert ballots(app) == 0
    # Not a ballot yet, so this device may still vote.
    assert client.get(form.request.path).status_code == 200


def test_address_cap_on_by_default_and_enforced_as_set(app, public_code) -> None:
    assert app.config["PINGYI_PUBLIC_IP_CAP"] == 200  # on by default
    for _ in range(3):
        assert vote(app, public_code, "10.1.1.1")[1].status_code == 200
    app.config["PINGYI_PUBLIC_IP_CAP"] = 4
    assert vote(app, public_code, "10.1.1.1")[1].status_code == 200
    _, refused = vote(app, public_code, "10.1.1.1")
    assert refused.status_code == 429 and "同一网络地址" in refused.get_data(as_text=True)
    assert vote(app, public_code, "10.1.1.2")[1].status_code == 200
    assert ballots(app) == 5


def test_closed_campaign_and_unknown_code(app, public_code) -> None:
    client = app.test_client()
    assert client.get("/q/nosuchcode").status_code == 404
    with app.app_context():
        db.session.scalar(select(Campaign)).status = "closed"
        db.session.commit()
    assert client.get(f"/q/{public_code}", follow_redirects=True).status_code == 410


def test_burst_and_duplicate_flags_shown_to_organizer(app, client, public_code) -> None:
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        campaign.rules = {**campaign.rules, "burst_limit": 3}
        db.session.commit()
        make_user("organizer")
    # Two identical ballots from one address: the second is a duplicate.
    vote(app, public_code, "192.0.2.7", pick=0)
    vote(app, public_code, "192.0.2.7", pick=0)
    # Four more from one /24, all different: with the two above, 6 > 3 in 600 s.
    for k, pick in enumerate((1, 2, 1, 2)):
        vote(app, public_code, f"192.0.2.{20 + k}", pick=pick)
    vote(app, public_code, "198.51.100.9", pick=2)  # elsewhere: no flag
    login(client, "organizer")
    page = client.get("/distribution/t2026/flags").get_data(as_text=True)
    assert re.search(r'data-testid="flag-duplicate">1<', page)
    assert re.search(r'data-testid="flag-burst">6<', page)
    assert "198.51.100.9" not in page and page.count("192.0.2.") == 6


def test_mounted_under_a_path_the_poster_address_carries_it_once(app, client, public_code) -> None:
    """PINGYI_PUBLIC_URL holds the path the app is mounted under; the poster's
    address is built like every personal link, not with the request's mount again."""
    app.config["PINGYI_PUBLIC_URL"] = "https://pingyi.test/pingyi"
    with app.app_context():
        make_user("organizer", username="org")
    login(client, "org")
    batch_code = "poster1"
    html = client.get(f"/distribution/t2026/batches/{batch_code}/poster",
                      base_url="http://localhost/pingyi").get_data(as_text=True)
    assert f"https://pingyi.test/pingyi/q/{public_code}" in html and "/pingyi/pingyi/" not in html
    with app.test_request_context():
        assert services.link_for("abc") == "https://pingyi.test/pingyi/b/abc"


def test_an_open_batch_has_its_own_address_cap_over_24_hours(app, client, public_code) -> None:
    from survey.distribution.public_limits import CAP_WINDOW, address_cap
    from survey.models import Batch
    from tests.factories import login, make_user

    assert CAP_WINDOW.total_seconds() == 24 * 3600
    with app.app_context():
        batch = db.session.scalar(db.select(Batch).where(Batch.public_code == public_code))
        assert address_cap(batch) == 200  # the setting's default
        make_user("organizer")
        code, bcode = batch.campaign.code, batch.code
    login(client, "organizer")
    page = client.post(f"/distribution/{code}/batches/{bcode}/cap", data={"ip_cap": "3"}, follow_redirects=True)
    assert "同一网络地址 24 小时内 3 份" in page.get_data(as_text=True)
    with app.app_context():
        batch = db.session.scalar(db.select(Batch).where(Batch.public_code == public_code))
        assert batch.ip_cap == 3 and address_cap(batch) == 3
    client.post(f"/distribution/{code}/batches/{bcode}/cap", data={"ip_cap": "0"})
    with app.app_context():
        assert address_cap(db.session.scalar(db.select(Batch).where(Batch.public_code == public_code))) == 0
