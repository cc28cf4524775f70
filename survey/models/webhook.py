"""Webhooks: the endpoints an admin registers to be told of events (a
campaign opened, closed, finalized, published; an appeal filed; a
rectification overdue), and each delivery of an event to an endpoint with
its attempts. survey/webhooks.py makes and sends them."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from survey.clock import utcnow
from survey.models.base import Model

#: A delivery's states: waiting for its (next) attempt, received (2xx), given up.
DELIVERY_STATES = ("pending", "delivered", "failed")


class WebhookEndpoint(Model):
    """A URL that receives events, the secret its deliveries are signed with
    (HMAC-SHA256), and the events it wants. The secret is kept as it is: the
    app needs it to sign every delivery (the receiver holds the same)."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (
        CheckConstraint("url LIKE 'http://%' OR url LIKE 'https://%'", name="url_scheme"),
        CheckConstraint("length(url) <= 2000", name="url_length"),
        CheckConstraint("length(secret) BETWEEN 16 AND 200", name="secret_length"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    #: The event names it receives (survey/webhooks.py ``EVENTS``).
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: What it is (the receiving system), shown in the listing.
    description: Mapped[str] = mapped_column(String(200), default="")
    #: A disabled endpoint gets no new deliveries; pending ones give up at their next attempt.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    def wants(self, event: str) -> bool:
        return self.active and event in (self.events or [])


class WebhookDelivery(Model):
    """One event sent to one endpoint: the exact body (the same on every
    attempt, with the delivery's id in it), and how the attempts went."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The delivery's id for the receiver (``Pingyi-Delivery`` and the body's ``id``): a
    #: receiver that keeps the ids it has handled handles a delivery sent twice once.
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    #: The JSON body, exactly as sent (and signed).
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The HTTP status of the last attempt (null: no answer, e.g. a refused connection).
    response_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    #: When the next attempt is due (pending deliveries after a failed attempt).
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    endpoint: Mapped[WebhookEndpoint] = relationship()

    def to_json(self) -> dict[str, Any]:
        return {"id": self.delivery_id, "event": self.event, "state": self.state, "attempts": self.attempts,
                "response_code": self.response_code, "last_error": self.last_error}
