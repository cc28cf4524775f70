"""Every setting of Pingyi, with its default and what it does: the one place
where a `PINGYI_*` name is declared.

An app setting is read, in this order (later wins): the default here,
`instance/config.py`, then the environment variable of the same name
(parsed to the setting's type). Server settings are read by gunicorn's
configuration (survey/serving.py) or before the app exists, from the
environment only. docs/deployment.md lists them all (a test keeps it so)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_TRUE = {"1", "true", "yes", "on"}


def _bool(text: str) -> bool:
    return text.strip().lower() in _TRUE


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any]
    doc: str
    #: "app": in the Flask config; "server": read from the environment by the server or the factory.
    scope: str = "app"


SETTINGS: tuple[Setting, ...] = (
    Setting("PINGYI_ENV", "development", str,
            "'production' refuses to start without a configured SECRET_KEY of at least 32 bytes; "
            "otherwise a key is made once in instance/secret_key (mode 0600)."),
    Setting("PINGYI_MAX_UPLOAD_MB", 25, int,
            "The largest request body accepted (uploaded rosters, scores), in MiB; larger ones get 413."),
    Setting("PINGYI_SQLITE_SYNCHRONOUS", "FULL", str,
            "SQLite's synchronous pragma: FULL (a receipted ballot survives power loss) or NORMAL "
            "(faster; the last commits may be lost on power loss)."),
    Setting("PINGYI_MAX_BATCH_FORMS", 100_000, int,
            "The most paper forms one batch may print when its evaluator group has no quota (with one: the quota)."),
    Setting("PINGYI_USED_FLUSH_SIZE", 32, int,
            "SQLite: taken ballots' invitations are marked used this many at once, in a commit of their own "
            "(docs/anonymity.md: the -wal file's order pairs a ballot with no fewer invitations)."),
    Setting("PINGYI_WAL_TRUNCATE", True, _bool,
            "SQLite: after marking invitations used (and after a paper ballot), checkpoint and truncate the "
            "-wal file so that it no longer holds the commits' order."),
    Setting("PINGYI_PUBLIC_URL", "http://127.0.0.1:5000", str,
            "The address evaluators reach, used in printed and sent links and on QR posters."),
    Setting("PINGYI_PROXY_HOPS", 0, int,
            "How many reverse proxies in front set X-Forwarded-For/-Proto (0: none; the header is then ignored)."),
    Setting("PINGYI_PUBLIC_DEVICE_HOURS", 72.0, float,
            "The open channel's period: one ballot per device (cookie) per this many hours."),
    Setting("PINGYI_PUBLIC_IP_CAP", 200, int,
            "The open channel's cap of ballots from one address per batch in 24 hours, for batches "
            "without a cap of their own (batch.ip_cap); 0: no cap."),
    Setting("PINGYI_JOBS_THREAD", None, _bool,
            "Run background jobs in a thread of each app process (unset: on, except under tests)."),
    Setting("PINGYI_JOBS_STALE_S", 60.0, float,
            "Seconds after which a running job whose worker stopped reporting is taken up again."),
    Setting("PINGYI_WEBHOOK_ATTEMPTS", 8, int,
            "The most attempts to deliver one webhook event to an endpoint before it is given up (failed)."),
    Setting("PINGYI_WEBHOOK_BACKOFF_S", 30.0, float,
            "Seconds before a webhook delivery's second attempt; each further attempt waits twice as long "
            "as the one before (30 s, 1 min, 2 min, …), at most PINGYI_WEBHOOK_BACKOFF_MAX_S."),
    Setting("PINGYI_WEBHOOK_BACKOFF_MAX_S", 3600.0, float,
            "The longest wait between two attempts of a webhook delivery, in seconds."),
    Setting("PINGYI_WEBHOOK_TIMEOUT_S", 10.0, float,
            "Seconds to wait for a webhook endpoint's answer; longer is a failed attempt."),
    Setting("PINGYI_SMS_BACKEND", None, str,
            "The SMS gateway: 'http' (the generic HTTP gateway of the PINGYI_SMS_* settings below), a provider's "
            "class as 'module:Class', or 'log' (development only: writes messages to the app log, sends nothing). "
            "Unset: 'http' when PINGYI_SMS_URL is set, else none, and SMS batches are not sent."),
    Setting("PINGYI_SMS_URL", None, str,
            "The HTTP gateway's address; {phone} and {text} in it are replaced (URL-encoded), e.g. for a GET."),
    Setting("PINGYI_SMS_METHOD", "POST", str, "The HTTP gateway's method (POST, PUT or GET)."),
    Setting("PINGYI_SMS_BODY", '{"phone": "{phone}", "text": "{text}"}', str,
            "The HTTP gateway's request body, {phone} and {text} replaced as text escaped for "
            "PINGYI_SMS_CONTENT_TYPE (JSON string contents, or URL-encoded for a form); empty: no body."),
    Setting("PINGYI_SMS_CONTENT_TYPE", "application/json", str,
            "The body's type: application/json or application/x-www-form-urlencoded."),
    Setting("PINGYI_SMS_AUTH_HEADER", None, str,
            "One header sent with every request, as 'Name: value', e.g. 'Authorization: Bearer …' (unset: none)."),
    Setting("PINGYI_SMS_ID_PATH", None, str,
            "Where the provider's message id is in its JSON answer, as a dotted path (e.g. data.msg_id); "
            "a 2xx answer without it counts as failed. Unset: any 2xx answer is success."),
    Setting("PINGYI_SMS_TIMEOUT", 10.0, float, "Seconds to wait for the HTTP gateway."),
    Setting("PINGYI_SMTP_HOST", None, str,
            "SMTP server for invitations and reminders (unset: e-mail batches are not sent)."),
    Setting("PINGYI_SMTP_PORT", 25, int, "SMTP port."),
    Setting("PINGYI_SMTP_STARTTLS", False, _bool, "Upgrade the SMTP connection with STARTTLS."),
    Setting("PINGYI_SMTP_SSL", False, _bool, "Connect to SMTP over TLS (SMTPS); not with STARTTLS."),
    Setting("PINGYI_SMTP_USER", None, str, "SMTP user name (unset: no login)."),
    Setting("PINGYI_SMTP_PASSWORD", None, str, "SMTP password."),
    Setting("PINGYI_SMTP_SENDER", "pingyi@localhost", str, "The From address of sent mail."),
    Setting("PINGYI_SMTP_SENDER_NAME", None, str, "The From display name, e.g. 市评议办."),
    Setting("PINGYI_SMTP_TIMEOUT", 30.0, float, "Seconds to wait for the SMTP server."),
    Setting("PINGYI_OFFICE_NAME", "民主评议工作领导小组办公室", str,
            "The evaluation office named on the results report's cover, in the Word drafts it signs and, "
            "unless the committee names another, as the issuer of the public page (公示)."),
    Setting("PINGYI_INSTANCE_PATH", None, str,
            "The instance folder (database, config.py, demo links); default instance/ beside the code.",
            scope="server"),
    Setting("PINGYI_BIND", "127.0.0.1:5000", str, "gunicorn's listening address.", scope="server"),
    Setting("PINGYI_WORKERS", 2, int, "gunicorn's worker processes.", scope="server"),
    Setting("PINGYI_THREADS", 4, int, "Threads per gunicorn worker.", scope="server"),
)

BY_NAME = {s.name: s for s in SETTINGS}


def app_defaults() -> dict[str, Any]:
    """The app settings' defaults, for `app.config.from_mapping`."""
    return {s.name: s.default for s in SETTINGS if s.scope == "app"}


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The app settings the environment sets, parsed; an unparsable value is refused
    with the setting's name."""
    found = {}
    for s in SETTINGS:
        if s.scope == "app" and environ.get(s.name, "") != "":
            try:
                found[s.name] = s.parse(environ[s.name])
            except ValueError as exc:
                raise ValueError(f"{s.name}={environ[s.name]!r}: {exc}") from exc
    return found


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    return f"`{value}`" if isinstance(value, str) else str(value)


def markdown_table() -> str:
    """The rows of docs/deployment.md's table of settings (a test compares them). Regenerate with
    `.venv/bin/python -c 'from survey.settings import markdown_table; print(markdown_table())'`."""
    return "\n".join(
        f"| `{s.name}` | {s.doc} | {_shown(s.default)} | {'app' if s.scope == 'app' else 'server (environment only)'} |"
        for s in SETTINGS)


def server_setting(name: str, environ: Mapping[str, str]) -> Any:
    """A server setting from the environment, or its default."""
    s = BY_NAME[name]
    value = environ.get(name, "")
    return s.parse(value) if value != "" else s.default
