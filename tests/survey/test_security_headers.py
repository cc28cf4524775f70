"""Headers and cookies: a CSP without inline script, no framing or sniffing,
no referrer from evaluator pages, SameSite cookies, Secure over https."""
from __future__ import annotations

from survey import create_app
from tests.factories import login, make_user


def test_every_page_carries_the_policy(client) -> None:
    for path in ("/login", "/healthz", "/no-such-page"):
        headers = client.get(path).headers
        script_src = next(d for d in headers["Content-Security-Policy"].split(";") if "script-src" in d)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"


def test_evaluator_pages_send_no_referrer(client) -> None:
    for path in ("/b/AbC-12_xyzAbC-12_xyzAbC1", "/p/c/b", "/q/nothing", "/receipt"):
        assert client.get(path).headers["Referrer-Policy"] == "no-referrer"


def test_session_cookies_are_samesite_lax(app, client) -> None:
    with app.app_context():
        make_user("organizer", username="org")
    response = login(client, "org")
    cookies = [v for k, v in response.headers.items() if k == "Set-Cookie"]
    assert cookies and all("SameSite=Lax" in c and "HttpOnly" in c for c in cookies)
    assert not any("Secure" in c for c in cookies)


def test_cookies_are_secure_when_served_over_https(tmp_path) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}", "TESTING": True,
                      "INSTANCE_PATH": str(tmp_path), "PINGYI_PUBLIC_URL": "https://pingyi.example.cn"})
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_a_request_over_the_size_limit_gets_413_with_a_message(app, client) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = client.post("/login", data={"username": "x", "password": "y" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert "超过 1 MB" in response.get_data(as_text=True)
