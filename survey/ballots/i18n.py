"""The language switch: Chinese by default, English on request, remembered in a cookie."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask, Response, has_request_context, request
from flask_babel import get_locale

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
LANG_COOKIE = "pingyi_lang"
#: ?lang= value -> Babel locale.
LOCALES = {"zh": "zh_Hans_CN", "en": "en"}

log = logging.getLogger(__name__)


def select_locale() -> str:
    """?lang=en (or zh) when the switch was used, else the cookie, else Chinese.

    Outside a request (the CLI, background jobs) it is the default, Chinese.
    """
    if not has_request_context():
        return LOCALES["zh"]
    wanted = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    return LOCALES.get(wanted or "", LOCALES["zh"])


def remember_choice(response: Response) -> Response:
    wanted = request.args.get("lang")
    if wanted in LOCALES and request.cookies.get(LANG_COOKIE) != wanted:
        response.set_cookie(LANG_COOKIE, wanted, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True)
    return response


def english() -> bool:
    """Whether this request is in English (outside a request: Chinese)."""
    return has_request_context() and str(get_locale()).startswith("en")


def html_lang() -> str:
    return "en" if english() else "zh-CN"


def label_of(thing: Any) -> str:
    """What an evaluator reads for a category, unit, item or scale option
    (a row or its questionnaire copy): its English label (``label_en``,
    a unit's ``name_en``) in English where it has one, else its own.

    Organizer data is printed as data: never looked up in the catalogue
    (a msgid), never marked safe, so a template escapes it like any text.
    """
    own = "name" if hasattr(thing, "name") and not hasattr(thing, "label") else "label"
    if english():
        translated = getattr(thing, f"{own}_en", None)
        if translated:
            return str(translated)
    return str(getattr(thing, own))


def help_of(item: Any) -> str:
    """An item's help text as the evaluator reads it (English where there is one), or ""; data, escaped like a label."""
    if english() and getattr(item, "help_en", None):
        return str(item.help_en)
    return str(getattr(item, "help", None) or "")


def compile_catalogues(directory: Path = TRANSLATIONS) -> None:
    """Compile each messages.po whose messages.mo is missing or older.

    `make` compiles them at install time; this covers a checkout run
    directly (tests, a developer's `flask run`). A read-only install keeps
    what it was installed with.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in directory.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as source:
                catalogue = read_po(source)
            tmp = mo.with_suffix(".mo.tmp")
            with tmp.open("wb") as target:
                write_mo(target, catalogue)
            tmp.replace(mo)
        except OSError as exc:
            log.warning("cannot compile %s: %s", po, exc)


def init_app(app: Flask) -> None:
    compile_catalogues()
    app.extensions["babel"].locale_selector = select_locale
    app.after_request(remember_choice)
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["label_of"] = label_of
    app.jinja_env.globals["help_of"] = help_of
