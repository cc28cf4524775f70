"""SMS batches through the pluggable gateway: the log backend by default,
any class named by PINGYI_SMS_BACKEND, failures recorded per message."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from survey import jobs, sms
from survey.distribution import services
from survey.extensions import db
from survey.models import Invitation
from tests.survey.test_distribution_support import setup_campaign


class FlakyGateway:
    """A provider that refuses one number (a real one would call its HTTP API here)."""

    def __init__(self, refused: str) -> None:
        self.refused = refused
        self.sent: list[tuple[str, str]] = []

    @classmethod
    def from_config(cls, config) -> FlakyGateway:
        return cls(config["TEST_SMS_REFUSED"])

    def send(self, phone: str, text: str) -> str:
        if phone == self.refused:
            raise RuntimeError("号码不可用 (provider code 15)")
        self.sent.append((phone, text))
        return f"p-{len(self.sent)}"


def sms_batch():
    campaign = setup_campaign(evaluators=3)
    group = campaign.groups[0]
    ids = [e.id for e in services.eligible_evaluators(campaign, group, "sms")]
    batch = services.create_batch(campaign, group, "sms", evaluators=ids)
    services.start_sending(batch)
    db.session.commit()
    return batch


def test_log_gateway_sends_short_links_that_work(app, client, caplog) -> None:
    app.config["PINGYI_PUBLIC_URL"] = "http://pingyi.test"
    caplog.set_level("INFO", logger="pingyi.sms")
    with app.test_request_context():
        sms_batch()
        jobs.run_pending()
        gateway = app.extensions["pingyi_sms"]
        assert isinstance(gateway, sms.LogGateway)
        assert sorted(m.phone for m in gateway.sent) == ["13900000000", "13900000001", "13900000002"]
        ids = db.session.scalars(select(Invitation.message_id).order_by(Invitation.id)).all()
        assert sorted(ids) == sorted(m.message_id for m in gateway.sent)
        assert db.session.scalar(select(Invitation.pending_token).where(Invitation.pending_token.is_not(None))) is None
    text = gateway.sent[0].text
    assert "评议邀请" in text and len(text) < 120
    token = re.search(r"http://pingyi\.test/b/([A-Za-z0-9_-]+)", text).group(1)
    assert client.get(f"/b/{token}").status_code == 200
    assert "13900000000" in caplog.text


def test_backend_from_config_and_failures_recorded(app) -> None:
    app.config.update(PINGYI_SMS_BACKEND="tests.survey.test_sms:FlakyGateway", TEST_SMS_REFUSED="13900000001")
    with app.test_request_context():
        sms_batch()
        jobs.run_pending()
        gateway = app.extensions["pingyi_sms"]
        assert type(gateway).__name__ == "FlakyGateway" and len(gateway.sent) == 2
        failed = db.session.scalar(select(Invitation).where(Invitation.delivery == "failed"))
        assert failed.evaluator.phone == "13900000001" and "号码不可用" in failed.last_error


def test_bad_backend_names_are_refused() -> None:
    with pytest.raises(ValueError, match="模块:类名"):
        sms.load_gateway({"PINGYI_SMS_BACKEND": "survey.sms.LogGateway"})
    with pytest.raises(TypeError, match="send"):
        sms.load_gateway({"PINGYI_SMS_BACKEND": "survey.mail:SmtpSettings"})
    assert isinstance(sms.load_gateway({}), sms.LogGateway)
