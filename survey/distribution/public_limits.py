"""The open public channel's limits (扫码评议): one ballot per device in a period
(a signed cookie) and an optional cap of ballots per address.

They wrap the open form itself (/p/<campaign_code>/<batch_code>, a view of
survey/ballots, which is decorated with `limited`): checked before the view
runs, remembering the device after it took a ballot."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, make_response, render_template, request
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer

from survey.ballots import eligibility
from survey.clock import utcnow
from survey.distribution import services
from survey.models import Batch

View = TypeVar("View", bound=Callable[..., Any])


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="public-device")


def _device_cookie(batch: Batch) -> str:
    return f"pingyi_q{batch.id}"


def _period() -> dt.timedelta:
    return dt.timedelta(hours=float(current_app.config["PINGYI_PUBLIC_DEVICE_HOURS"]))


def _is_submission() -> bool:
    return request.method == "POST" and (request.form.get("action") or "submit") == "submit"


def device_has_voted(batch: Batch) -> bool:
    cookie = request.cookies.get(_device_cookie(batch))
    if not cookie:
        return False
    try:
        return bool(_device_serializer().loads(cookie, max_age=int(_period().total_seconds())) == batch.id)
    except BadSignature:
        return False


#: The window of the per-address cap.
CAP_WINDOW = dt.timedelta(hours=24)


def address_cap(batch: Batch) -> int:
    """Ballots one address may cast in this batch per CAP_WINDOW: the batch's own
    cap where set, else PINGYI_PUBLIC_IP_CAP; 0 (or unset) for none."""
    cap = batch.ip_cap if batch.ip_cap is not None else current_app.config.get("PINGYI_PUBLIC_IP_CAP")
    return int(cap or 0)


def refusal(batch: Batch) -> ResponseReturnValue | None:
    """The page refusing this request to the open form (429), or None where it may go on."""
    if not batch.campaign.state.is_open:
        return None
    hours = int(_period().total_seconds() // 3600)
    if device_has_voted(batch):
        return render_template("distribution/public_refused.html", campaign=batch.campaign,
                               reason="device", hours=hours), 429
    cap = address_cap(batch)
    source = request.remote_addr
    if _is_submission() and cap and source and \
            services.ballots_from_address(batch, source, utcnow() - CAP_WINDOW) >= cap:
        return render_template("distribution/public_refused.html", campaign=batch.campaign,
                               reason="address", hours=int(CAP_WINDOW.total_seconds() // 3600)), 429
    return None


def remember_device(batch: Batch, response: Response) -> Response:
    """After a ballot was taken: this device has voted in this batch, for the period."""
    if response.status_code == 200 and _is_submission():
        response.set_cookie(_device_cookie(batch), _device_serializer().dumps(batch.id),
                            max_age=int(_period().total_seconds()), httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response


def limited(view: View) -> View:
    """The open form's view (arguments campaign_code, batch_code) under the channel's limits."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        batch = eligibility.find_open_batch(kwargs.get("campaign_code", ""), kwargs.get("batch_code", ""))
        if batch is None:
            return view(*args, **kwargs)  # type: ignore[no-any-return]
        refused = refusal(batch)
        if refused is not None:
            return refused
        return remember_device(batch, make_response(view(*args, **kwargs)))

    return wrapped  # type: ignore[return-value]
