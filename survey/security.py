"""Response headers and cookie settings that every page carries: a Content
Security Policy with no inline script (scripts are static files), no framing,
no MIME sniffing, no referrer leaving an evaluator's page (its URL holds the
token), and SameSite cookies, Secure when the app is served over https."""
from __future__ import annotations

from flask import Flask, Response, request

#: Scripts only from our own static files; styles may be inline (style
#: attributes carry no code); images may be data: URIs (QR codes, charts).
CSP = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
#: Evaluator pages: their URL is the evaluator's key (/b/<token>), a channel's (/p/…, /q/…),
#: or the receipt check (whose page may show a receipt code).
EVALUATOR_PREFIXES = ("/b/", "/p/", "/q/", "/receipt")


#: The organizer's preview frames the real ballot form: that page alone may be framed, by this site only.
FRAMABLE_CSP = CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'")


def allow_same_origin_frame(response: Response) -> None:
    """Let this site's own pages frame the response (the form's preview)."""
    response.headers["Content-Security-Policy"] = FRAMABLE_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"


def _headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Staff pages keep the referrer within the site (a refused action goes back to
    # the page it came from); an evaluator's page never sends its URL anywhere.
    private = request.path.startswith(EVALUATOR_PREFIXES)
    headers["Referrer-Policy"] = "no-referrer" if private else "same-origin"
    return response


def init_app(app: Flask) -> None:
    """Cookie settings (a value configured already wins, except that https makes
    cookies Secure) and the headers of every response."""
    config = app.config
    if config.get("SESSION_COOKIE_SAMESITE") is None:  # Flask's default: no attribute
        config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    if str(config["PINGYI_PUBLIC_URL"]).startswith("https://"):
        config["SESSION_COOKIE_SECURE"] = config["REMEMBER_COOKIE_SECURE"] = True
    app.after_request(_headers)
