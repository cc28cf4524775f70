"""SMS batches: the generic HTTP gateway against a real local HTTP server
(tests/smsgateway.py), a provider's own class, the development log backend
only when chosen by name, and no link lost to a missing, refusing or
unreachable gateway."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import func, select

from survey import jobs, sms
from survey.distribution import services
from survey.extensions import db
from survey.models import Invitation, Job
from tests.factories import login, make_user
from tests.survey.test_distribution_support import setup_campaign

LINK = re.compile(r"http://pingyi\.test/b/([A-Za-z0-9_-]+)")


def sms_batch(evaluators: int = 3, *, start: bool = True):
    campaign = setup_campaign(evaluators=evaluators)
    group = campaign.groups[0]
    ids = [e.id for e in services.eligible_evaluators(campaign, group, "sms")]
    batch = services.create_batch(campaign, group, "sms", evaluators=ids)
    if start:
        services.start_sending(batch)
    db.session.commit()
    return batch


def pending() -> int:
    return db.session.scalar(select(func.count()).where(Invitation.pending_token.is_not(None))) or 0


def deliveries() -> list[str]:
    return list(db.session.scalars(select(Invitation.delivery).order_by(Invitation.id)))


def test_http_gateway_posts_json_and_records_the_providers_ids(app, client, sms_gateway) -> None:
    app.config.update(sms_gateway.config(), PINGYI_PUBLIC_URL="http://pingyi.test")
    with app.test_request_context():
        campaign = setup_campaign(evaluators=3)
        db.session.execute(db.update(type(campaign)).values(name='“引号”与\\反斜杠\n评议'))  # JSON-hostile text
        db.session.commit()
        group = campaign.groups[0]
        batch = services.create_batch(campaign, group, "sms",
                                      evaluators=[e.id for e in services.eligible_evaluators(campaign, group, "sms")])
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        assert deliveries() == ["sent"] * 3 and pending() == 0
        assert sorted(db.session.scalars(select(Invitation.message_id))) == ["gw-1", "gw-2", "gw-3"]
    assert [r.method for r in sms_gateway.requests] == ["POST"] * 3
    first = sms_gateway.requests[0]
    assert first.path == "/send" and first.headers["Authorization"] == "Bearer test-key"
    assert first.headers["Content-Type"].startswith("application/json")
    body = first.json()
    assert body["phone"] == "13900000000" and "代表0" in body["text"] and '“引号”与\\反斜杠' in body["text"]
    token = LINK.search(body["text"]).group(1)
    assert client.get(f"/b/{token}").status_code == 200


def test_form_body_and_get_url_are_escaped_for_where_they_go(app, sms_gateway) -> None:
    app.config.update(sms_gateway.config(
        PINGYI_SMS_CONTENT_TYPE="application/x-www-form-urlencoded", PINGYI_SMS_BODY="to={phone}&msg={text}",
        PINGYI_SMS_ID_PATH=None))
    with app.test_request_context():
        sms_batch(1)
        jobs.run_pending()
        assert deliveries() == ["sent"]
    form = urllib.parse.parse_qs(sms_gateway.requests[0].body.decode())
    assert form["to"] == ["13900000000"] and "代表0" in form["msg"][0]

    gateway = sms.HttpGateway(f"{sms_gateway.url}/get?to={{phone}}&msg={{text}}", method="GET", body="ignored")
    assert gateway.send("+86 139", "a&b=c 评议") == "http-200"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(sms_gateway.requests[-1].path).query)
    assert query == {"to": ["+86 139"], "msg": ["a&b=c 评议"]} and sms_gateway.requests[-1].body == b""


def test_refusals_keep_the_link_and_a_retry_delivers_it(app, sms_gateway) -> None:
    app.config.update(sms_gateway.config())

    def refuse_one(request, n):
        if request.json()["phone"] == "13900000001":
            return 400, json.dumps({"code": 15, "msg": "号码不可用"}, ensure_ascii=False).encode()
        return 200, json.dumps({"data": {"msg_id": f"ok-{n}"}}).encode()

    sms_gateway.answer = refuse_one
    with app.test_request_context():
        batch = sms_batch(3)
        jobs.run_pending()
        failed = db.session.scalar(select(Invitation).where(Invitation.delivery == "failed"))
        assert failed.evaluator.phone == "13900000001" and failed.pending_token is not None
        reason = services.batch_figures(batch).failed[0][2]
        assert reason.startswith("服务器拒收") and "HTTP 400" in reason and "号码不可用" in reason
        job = services.job_view(db.session.scalar(select(Job)))
        assert (job.state, job.tone, job.errors) == ("done", "warn", 1) and "1 条发送失败" in job.label
        sms_gateway.answer = lambda request, n: (200, json.dumps({"data": {"msg_id": "again"}}).encode())
        services.retry_failed(batch)
        db.session.commit()
        jobs.run_pending()
        db.session.refresh(failed)
        assert (failed.delivery, failed.message_id, failed.pending_token) == ("sent", "again", None)


@pytest.mark.parametrize("answer", [
    (200, b'{"code": 7, "msg": "quota exceeded"}'),  # 2xx, but no message id where one is expected
    (200, b"not json"),
    (302, b""),  # a redirect is not a success
    (503, b"busy"),
])
def test_answers_that_are_not_a_success_are_failures(app, sms_gateway, answer) -> None:
    app.config.update(sms_gateway.config())
    sms_gateway.answer = lambda request, n: answer
    with app.test_request_context():
        batch = sms_batch(1)
        jobs.run_pending()
        assert deliveries() == ["failed"] and pending() == 1
        assert services.batch_figures(batch).failed[0][2].startswith("服务器拒收")
        assert services.job_view(db.session.scalar(select(Job))).tone == "bad"  # all failed: red


def test_an_unreachable_gateway_stops_the_job_and_loses_nothing(app, sms_gateway) -> None:
    app.config.update(sms_gateway.config(PINGYI_SMS_URL="http://127.0.0.1:9/send"))  # nothing listens there
    with app.test_request_context():
        batch = sms_batch(3)
        jobs.run_pending()
        job = db.session.scalar(select(Job))
        assert job.state == "failed" and deliveries() == ["queued"] * 3 and pending() == 3
        view = services.job_view(job)
        assert view.tone == "bad" and view.reason.startswith("无法连接短信网关") and "127.0.0.1:9" in view.reason
        assert db.session.scalar(select(func.sum(Invitation.send_attempts))) == 0
        # The gateway is back: the same messages go out, once each.
        app.extensions.pop("pingyi_sms")
        app.config.update(sms_gateway.config())
        services.start_sending(batch)
        db.session.commit()
        jobs.run_pending()
        assert deliveries() == ["sent"] * 3 and pending() == 0
    assert len(sms_gateway.requests) == 3


def test_without_a_gateway_nothing_is_sent_and_the_page_says_so(app, client) -> None:
    with app.test_request_context():
        batch = sms_batch(2, start=False)
        with pytest.raises(services.DistributionError, match="尚未配置短信网关"):
            services.start_sending(batch)
        make_user("organizer")
    login(client, "organizer")
    page = client.get("/distribution/t2026/batches/sms1").text
    assert "尚未配置短信网关" in page and 'data-testid="preflight"' in page and "disabled" in page
    answer = client.post("/distribution/t2026/batches/sms1/send", data={"confirmed": "1"}, follow_redirects=True)
    assert "尚未配置短信网关" in answer.text
    with app.test_request_context():
        assert db.session.scalar(select(func.count(Job.id))) == 0 and pending() == 2
        assert deliveries() == ["queued", "queued"]


def test_a_job_queued_before_the_gateway_went_away_fails_with_the_reason(app, sms_gateway) -> None:
    app.config.update(sms_gateway.config())
    with app.test_request_context():
        sms_batch(2)  # queued while a gateway was configured
        app.config["PINGYI_SMS_URL"] = None
        jobs.run_pending()
        job = db.session.scalar(select(Job))
        assert job.state == "failed" and deliveries() == ["queued", "queued"] and pending() == 2
        assert services.job_view(job).reason.startswith("尚未配置短信网关")
    assert sms_gateway.requests == []


def test_the_log_backend_only_when_chosen_by_name(app, client, caplog) -> None:
    app.config.update(PINGYI_SMS_BACKEND="log", PINGYI_PUBLIC_URL="http://pingyi.test")
    caplog.set_level("WARNING", logger="pingyi.sms")
    with app.test_request_context():
        sms_batch(3)
        jobs.run_pending()
        gateway = app.extensions["pingyi_sms"]
        assert isinstance(gateway, sms.LogGateway)
        assert sorted(m.phone for m in gateway.sent) == ["13900000000", "13900000001", "13900000002"]
        make_user("organizer")
    text = gateway.sent[0].text
    assert "评议邀请" in text and len(text) < 120
    token = LINK.search(text).group(1)
    assert client.get(f"/b/{token}").status_code == 200
    assert "13900000000" in caplog.text and "not sent" in caplog.text
    login(client, "organizer")
    assert "开发用日志网关" in client.get("/distribution/t2026/batches/sms1").text


class SignedGateway(sms.HttpGateway):
    """A provider that signs each request (a real one would follow its own documentation)."""

    def sign(self, request: urllib.request.Request) -> urllib.request.Request:
        request.add_header("X-Signature", hmac.new(b"secret", request.data or b"", hashlib.sha256).hexdigest())
        return request


def test_a_provider_class_that_signs_its_requests(app, sms_gateway) -> None:
    app.config.update(sms_gateway.config(PINGYI_SMS_BACKEND="tests.survey.test_sms:SignedGateway"))
    with app.test_request_context():
        sms_batch(1)
        jobs.run_pending()
        assert deliveries() == ["sent"]
        assert type(app.extensions["pingyi_sms"]).__name__ == "SignedGateway"
    request = sms_gateway.requests[0]
    assert request.headers["X-Signature"] == hmac.new(b"secret", request.body, hashlib.sha256).hexdigest()


def test_what_the_page_says_about_each_gateway(app) -> None:
    assert sms.describe({}) == sms.GatewayInfo("none")
    assert sms.describe({"PINGYI_SMS_URL": "https://sms.example.cn/api"}) == sms.GatewayInfo("http", "sms.example.cn")
    assert sms.describe({"PINGYI_SMS_BACKEND": "http"}) == sms.GatewayInfo("none")  # http without its URL
    assert sms.describe({"PINGYI_SMS_BACKEND": "log"}).kind == "log"
    assert sms.describe({"PINGYI_SMS_BACKEND": "mysms:Provider"}) == sms.GatewayInfo("custom", "mysms:Provider")


def test_bad_backends_and_settings_are_refused() -> None:
    with pytest.raises(sms.NotConfigured):
        sms.load_gateway({})
    with pytest.raises(ValueError, match="模块:类名"):
        sms.load_gateway({"PINGYI_SMS_BACKEND": "survey.sms.LogGateway"})
    with pytest.raises(TypeError, match="send"):
        sms.load_gateway({"PINGYI_SMS_BACKEND": "survey.mail:SmtpSettings"})
    with pytest.raises(ValueError, match="http"):
        sms.load_gateway({"PINGYI_SMS_URL": "ftp://x"})
    with pytest.raises(ValueError, match="名称: 值"):
        sms.load_gateway({"PINGYI_SMS_URL": "http://x", "PINGYI_SMS_AUTH_HEADER": "no colon"})
    assert isinstance(sms.load_gateway({"PINGYI_SMS_BACKEND": "log"}), sms.LogGateway)


def test_a_provider_that_echoes_the_request_leaves_no_link_or_number_in_the_reason(app, sms_gateway) -> None:
    """The reason is stored (invitation.last_error) and shown to the organizer: a link there is the
    evaluator's credential, so whatever the provider quotes back is blanked first."""
    app.config.update(sms_gateway.config(), PINGYI_PUBLIC_URL="http://pingyi.test")

    def echo(request, n):
        body = request.json()
        token = LINK.search(body["text"]).group(1)
        quoted = urllib.parse.quote(body["text"], safe="")
        return 400, json.dumps({"msg": "bad content", "echo": body, "q": quoted, "t": token},
                               ensure_ascii=False).encode()

    sms_gateway.answer = echo
    with app.test_request_context():
        sms_batch(1)
        jobs.run_pending()
        failed = db.session.scalar(select(Invitation).where(Invitation.delivery == "failed"))
        assert failed.pending_token is not None
        reason = failed.last_error
        assert "bad content" in reason and "[链接]" in reason
        assert "pingyi.test/b/" not in reason and "pingyi.test%2Fb%2F" not in reason
        assert failed.evaluator.phone not in reason
        token = failed.pending_token
        assert all(token[i:i + 12] not in reason for i in range(0, max(1, len(token) - 12)))
