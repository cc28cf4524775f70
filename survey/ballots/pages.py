"""The evaluator's form page, rendered once per what it shows and filled in
per request (issue #15, "the evaluator's first page").

Rendering the questionnaire through WTForms and Jinja costs tens of
milliseconds (a widget per option of every unit and item), yet two
evaluators of a group see the same markup but for a few places: the CSRF
token, the receipt and its signature, the signed start, the autosave
address (it holds the link's token), the progress count, and their draft
(options checked, comment text). ``Skeleton.cut`` takes a page the full
template rendered with *markers* in those places and nothing checked, and
cuts it there; ``Skeleton.fill`` puts one request's values in, escaped.

The full template stays the reference: a skeleton is only ever made from
its output (``form_page``), and a test compares a filled skeleton with
the full render of the same request. Skeletons are kept per process in a
``caches.Cache`` keyed by everything the markup was rendered from (the
questionnaire as read from the database on this request, the units on the
form, their categories, the campaign's wording and rules, the language),
so an edit on any node is seen by the next request on every node.
"""
from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from flask import current_app, render_template, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from survey.ballots.drafts import Draft, draft_answers
from survey.ballots.eligibility import UnitCategories, form_sections
from survey.ballots.forms import QuestionnaireBase, questionnaire_class
from survey.ballots.questionnaire import (
    AnswerMap,
    Problem,
    Questionnaire,
    Rules,
    UnitRow,
    answer_field,
    comment_field,
    count_answered,
    dissatisfied_cap,
    dissatisfied_option,
    margin_field,
    overall_item,
    unit_of_field,
)
from survey.caches import Cache

log = logging.getLogger(__name__)

#: What a slot holds: a value (escaped), "checked " where the option is chosen, a comment's text (escaped).
VALUE, CHECK, TEXT = 0, 1, 2

_ATTR = re.compile(r'(?:^|\s)(name|value|type)="([^"]*)"')
#: A radio option or a textarea as WTForms writes them (markup in any text is escaped: "<" only starts a tag).
_FIELD = re.compile(r"<input (?P<input>[^>]*)>|<textarea (?P<textarea>[^>]*)>\r?\n")
_CHECKED = re.compile(r"(?:^|\s)checked(?:\s|=|$)")


class Markers:
    """Marker strings for a skeleton's values: private-use characters around
    a random word of this build, so that no organizer's text planted in a
    unit's name can pass for one."""

    def __init__(self) -> None:
        self.word = secrets.token_hex(8)

    def __getitem__(self, name: str) -> str:
        return f"\ue000{self.word}:{name}\ue001"

    def pattern(self) -> str:
        return f"\ue000{self.word}:(?P<marker>[a-z_]+)\ue001"


class NotCuttable(ValueError):
    """The rendered page is not what a skeleton can be cut from (an unknown
    marker, a marker where no value goes, an option checked)."""


@dataclass(frozen=True)
class Skeleton:
    """A rendered page cut at its per-request places: ``chunks[0]``, then
    (slot, chunk) pairs."""

    chunks: tuple[str, ...]
    #: (kind, name, value): (VALUE, name, ""), (CHECK, field, option value), (TEXT, field, "").
    slots: tuple[tuple[int, str, str], ...]

    @classmethod
    def cut(cls, html: str, markers: Markers, values: Collection[str]) -> Skeleton:
        """Cut a page rendered with ``markers[name]`` where each of ``values``
        goes, every radio option unchecked and every textarea empty."""
        cuts: list[tuple[int, int, tuple[int, str, str]]] = []
        for match in re.finditer(markers.pattern(), html):
            marker = match.group("marker")
            if marker not in values:
                raise NotCuttable(f"marker {marker!r} unexpected")
            cuts.append((match.start(), match.end(), (VALUE, marker, "")))
        for match in _FIELD.finditer(html):
            tag, area = match.group("input"), match.group("textarea")
            if tag is not None:
                attrs = dict(_ATTR.findall(tag))
                if attrs.get("type") == "radio":
                    if _CHECKED.search(tag):
                        raise NotCuttable("an option is checked")
                    at = match.start() + len("<input ")  # WTForms writes its attributes sorted: checked first
                    cuts.append((at, at, (CHECK, attrs.get("name", ""), attrs.get("value", ""))))
            else:
                name = dict(_ATTR.findall(area)).get("name", "")
                cuts.append((match.end(), match.end(), (TEXT, name, "")))
        cuts.sort()
        chunks: list[str] = []
        slots: list[tuple[int, str, str]] = []
        at = 0
        for start, end, slot in cuts:
            chunks.append(html[at:start])
            slots.append(slot)
            at = end
        chunks.append(html[at:])
        if any(markers.word in chunk for chunk in chunks):
            raise NotCuttable("a marker in a place no slot is cut")
        return cls(tuple(chunks), tuple(slots))

    def fill(self, values: Mapping[str, str], checked: Collection[tuple[str, str]],
             texts: Mapping[str, str]) -> str:
        """The page with these values (escaped), these (field, value) options
        checked and these fields' texts (escaped)."""
        out = [self.chunks[0]]
        append = out.append
        for (kind, name, value), chunk in zip(self.slots, self.chunks[1:], strict=True):
            if kind == CHECK:
                if (name, value) in checked:
                    append("checked ")
            elif kind == VALUE:
                append(str(escape(values[name])))
            else:
                text = texts.get(name)
                if text:
                    append(str(escape(text)))
            append(chunk)
        return "".join(out)

    def weight(self) -> int:
        """Its size in characters (what the cache counts)."""
        return sum(len(c) for c in self.chunks)


# --- the form page ---


@dataclass(frozen=True)
class FormShown:
    """What a form page shows besides its fields' values, as read on this
    request: the same for the full and the fast path, and (but for the
    autosave address) the key of the page's skeleton."""

    name: str
    anonymous: bool
    rules: Rules
    questionnaire: Questionnaire
    own_unit_id: int | None
    #: The units on the form (``Questionnaire.on_form``, the one list every path uses).
    units: tuple[UnitRow, ...]
    categories: UnitCategories
    open_channel: bool
    #: The autosave address (a personal link's holds its token): not part of the key.
    draft_url: str = field(default="", compare=False)

    def form_class(self) -> type[QuestionnaireBase]:
        return questionnaire_class(self.questionnaire, self.own_unit_id, open_channel=self.open_channel)


@dataclass(frozen=True)
class Fresh:
    """What a form shown afresh (a GET) holds for this request: its receipt,
    the receipt's signature for the link, the signed start, and the draft."""

    receipt: str
    receipt_mac: str
    started: str
    answers: AnswerMap = field(default_factory=dict)
    comments: dict[int, str] = field(default_factory=dict)
    margins: dict[int, int] = field(default_factory=dict)
    #: A draft was restored (the page says so).
    resumed: bool = False

    @classmethod
    def of(cls, receipt: str, receipt_mac: str, started: str, draft: Draft | None) -> Fresh:
        answers, comments = draft_answers(draft)
        return cls(receipt, receipt_mac, started, answers, comments, dict(draft.margins) if draft else {},
                   draft is not None)


def render_form(form: QuestionnaireBase, shown: FormShown, answers: AnswerMap, *,
                problems: Sequence[Problem] = (), resumed: bool = False,
                answered: int | str | None = None) -> str:
    """The full template of the form page, with this form's fields and the
    problems to show (a GET's page, or a POST's sent back)."""
    units = shown.units
    unit_problems: dict[int, list[str]] = {}
    question_problems: dict[int, list[str]] = {}
    margin_ids = {margin_field(q.id): q.id for q in shown.questionnaire.margins}
    # Field errors (a comment too long, a value not on the scale) belong to their unit or question.
    field_problems = [Problem(e, unit_of_field(n) if n else None, margin_ids.get(n or ""))
                      for n, errs in form.errors.items() for e in errs]
    for p in [*problems, *field_problems]:
        if p.unit_id is not None:
            unit_problems.setdefault(p.unit_id, []).append(p.message)
        if p.question_id is not None:
            question_problems.setdefault(p.question_id, []).append(p.message)
    q, rules = shown.questionnaire, shown.rules
    worst = dissatisfied_option(q)
    return render_template(
        "ballots/form.html", form=form, page=shown, sections=form_sections(units, shown.categories),
        items=list(q.items), answer_field=answer_field, comment_field=comment_field,
        problems=list(problems) + field_problems, unit_problems=unit_problems, resumed=resumed,
        margins=list(q.margins), margin_field=margin_field, question_problems=question_problems,
        answered=count_answered(units, q.items, answers) if answered is None else answered, total=len(units),
        dissatisfied_id=worst.id if worst else None,
        dissatisfied_cap=dissatisfied_cap(rules, len(units)),
        overall_item_id=overall_item(q, rules).id,
    )


def full_form_page(shown: FormShown, fresh: Fresh, *, csrf_token: str | None = None,
                   answered: str | None = None) -> str:
    """The form page shown afresh, through the WTForms form and the full
    template: the reference form_page's skeletons are cut from (given
    ``csrf_token`` and ``answered``: the markers put in their places)."""
    data: dict[str, object] = {
        answer_field(u, i): str(o) for u, by_item in fresh.answers.items() for i, o in by_item.items()}
    data.update({comment_field(u): t for u, t in fresh.comments.items()})
    data.update({margin_field(q): str(o) for q, o in fresh.margins.items()})
    data.update(receipt=fresh.receipt, receipt_mac=fresh.receipt_mac, started=fresh.started)
    form = shown.form_class()(data=data)
    if csrf_token is not None and "csrf_token" in form:
        form.csrf_token.current_token = csrf_token
    return render_form(form, shown, fresh.answers, resumed=fresh.resumed, answered=answered)


#: The form page's skeletons by everything their markup is rendered from.
_SKELETONS: Cache[tuple[object, ...], Skeleton] = Cache("ballots.form_pages", 32 * 1024 * 1024,
                                                        weigh=Skeleton.weight)
_FILLED = ("csrf_token", "receipt", "receipt_mac", "started", "draft_url", "answered")
#: The pages that could not be cut (logged once each, then rendered in full on every request).
_UNCUTTABLE: Cache[tuple[object, ...], bool] = Cache("ballots.uncuttable_form_pages", 256)


def form_page(shown: FormShown, fresh: Fresh) -> str:
    """The form page as full_form_page renders it, from a skeleton rendered
    once per what it shows (``shown``: the questionnaire and categories as
    read on this request, the units on the form, the campaign's wording and
    rules), language, mount point and whether a draft was restored, filled
    with this request's values and draft. A page with messages to show
    (flashed before) is rendered in full, as are all while templates reload."""
    if session.get("_flashes") or current_app.jinja_env.auto_reload:
        return full_form_page(shown, fresh)
    csrf_on = bool(current_app.config.get("WTF_CSRF_ENABLED", True))
    key = (str(get_locale()), request.script_root, csrf_on, fresh.resumed, shown)
    skeleton = _SKELETONS.get(key)
    if skeleton is None:
        if _UNCUTTABLE.get(key):
            return full_form_page(shown, fresh)
        try:
            skeleton = _SKELETONS.put(key, _skeleton(shown, fresh.resumed))
        except NotCuttable:
            log.exception("the form page cannot be cut into a skeleton; rendered in full from now on")
            _UNCUTTABLE.put(key, True)
            return full_form_page(shown, fresh)
    values = {"receipt": fresh.receipt, "receipt_mac": fresh.receipt_mac, "started": fresh.started,
              "draft_url": shown.draft_url,
              "answered": str(count_answered(shown.units, shown.questionnaire.items, fresh.answers))}
    if csrf_on:
        values["csrf_token"] = generate_csrf()
    checked = {(answer_field(u, i), str(o)) for u, by_item in fresh.answers.items() for i, o in by_item.items()}
    checked.update((margin_field(q), str(o)) for q, o in fresh.margins.items())
    return skeleton.fill(values, checked, {comment_field(u): t for u, t in fresh.comments.items()})


def _skeleton(shown: FormShown, resumed: bool) -> Skeleton:
    markers = Markers()
    blank = Fresh(markers["receipt"], markers["receipt_mac"], markers["started"], resumed=resumed)
    html = full_form_page(replace(shown, draft_url=markers["draft_url"]), blank,
                          csrf_token=markers["csrf_token"], answered=markers["answered"])
    return Skeleton.cut(html, markers, _FILLED)
