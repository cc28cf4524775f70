"""Who may use which endpoint: the one authorization table, enforced before
every request, and the table the authorization test walks.

Every endpoint of the app is declared here; one that is not is refused to
everybody (and the test fails). A rule names the roles that may use the
endpoint, whether an admin may read it (GET), the scope (a liaison's own
unit, checked by the view, which answers 404 outside it), and what a signed-in
user of another role gets (403, or 404 where even the existence of the
page is not to be confirmed). Anonymous visitors of a staff page are sent to
sign in (the JSON API answers 401). The admin manages accounts and may read
the staff pages; the committee's acts (approving, finalizing, publishing,
deciding appeals) are the committee's alone.

The versioned API (/api/v1/, survey/api/) is decided by the same table, but
a request there is authenticated by its API key alone (``Authorization:
Bearer KEY``): the key acts for the staff account it was issued to, with that
account's role and unit, and the session cookie is neither read nor written
there (so no CSRF either). Without a valid key it answers 401, to a role the
table refuses 403, both as pingyi-errors/1 JSON."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, abort, current_app, g, jsonify, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_login import current_user

from survey.errors import API_PREFIX, Problem, api_error, in_chinese
from survey.models.account import ROLES

#: Anyone, signed in or not: evaluators, the public.
ANYONE = "anyone"
#: Any signed-in staff member.
STAFF = "staff"
ADMIN, ORGANIZER, COMMITTEE, LIAISON, AUDITOR, CLERK, HANDLER, ASSESSOR = (
    "admin", "organizer", "committee", "liaison", "auditor", "clerk", "handler", "assessor")
# The roles themselves are defined once, in survey/models/account.py (ROLES): these names must be among them.
assert {ADMIN, ORGANIZER, COMMITTEE, LIAISON, AUDITOR, CLERK, HANDLER, ASSESSOR} <= set(ROLES)
READERS = frozenset({COMMITTEE, ORGANIZER, AUDITOR})


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    #: The admin may GET it (read), though not among `roles`.
    admin_reads: bool = True
    #: "own_unit": a liaison's own unit only (the view answers 404 for another).
    scope: str | None = None
    #: What a signed-in user of another role gets.
    others: int = 403

    def admits(self, role: str | None, method: str) -> bool:
        if ANYONE in self.roles:
            return True
        if role is None:
            return False
        if STAFF in self.roles or role in self.roles:
            return True
        return role == ADMIN and self.admin_reads and method in ("GET", "HEAD")


def _rule(*roles: str, **options: Any) -> Rule:
    return Rule(frozenset(roles), **options)


PUBLIC = _rule(ANYONE)
READ = _rule(*READERS)
ORGANIZE = _rule(ORGANIZER)
COMMIT = _rule(COMMITTEE)
LIAISE = _rule(LIAISON, admin_reads=False, scope="own_unit")
ACCOUNTS = _rule(ADMIN)
#: Any signed-in account, for its own account (the start page, the own password).
SELF = _rule(STAFF)
#: Paper entry (纸质表录入): the organizer and the data-entry clerk, whose only pages these are.
PAPER = _rule(ORGANIZER, CLERK)
#: The Word drafts of notices the office edits and signs (the committee's and the organizer's).
DRAFTS = _rule(COMMITTEE, ORGANIZER)
#: The API's reading of campaigns, units and a unit's result: the readers, and a
#: liaison for the own unit once the results are finalized (the view answers 404 otherwise).
API_SCOPED = _rule(*READERS, LIAISON, scope="own_unit")
#: The audit log: the auditor's (and the admin reads it).
AUDIT = _rule(AUDITOR)
#: The supervision register (督查登记): worked by the case handler, read by the
#: organizer, the committee and the auditor (the complainant: the handler's alone).
REGISTER_READ = _rule(HANDLER, *READERS)
HANDLE = _rule(HANDLER)
#: Opinions from outside the ballots (群众意见, survey/opinions/): entered and handled by the
#: handler and the organizer (only the handler sees who raised one).
OPINIONS = _rule(HANDLER, ORGANIZER)
#: Their API: as the pages, and a liaison's key for the own unit's opinions (no raiser).
API_OPINIONS = _rule(HANDLER, ORGANIZER, LIAISON, scope="own_unit")
#: Departmental scores (专项考核): the organizer and the assessing departments
#: (each its own component, checked by survey/results/inputs.py).
ASSESS = _rule(ORGANIZER, ASSESSOR)
#: Carrying out consequences (owner, deadline, proof): the committee's and the office's (the organizer).
CARRY = _rule(COMMITTEE, ORGANIZER)

#: Every endpoint of the app. Later endpoints declare themselves here.
POLICY: dict[str, Rule] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "accounts.login": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.home": SELF,
    "accounts.password": SELF,
    "accounts.paper_home": PAPER,
    # evaluators
    "ballots.ballot": PUBLIC,
    "ballots.draft": PUBLIC,
    "ballots.open_form": PUBLIC,
    "ballots.open_draft": PUBLIC,
    "ballots.qr": PUBLIC,
    "ballots.receipt": PUBLIC,
    "results.public_page": PUBLIC,
    # accounts
    "admin.users": ACCOUNTS,
    "admin.create_user": ACCOUNTS,
    "admin.toggle_user": ACCOUNTS,
    "admin.reset_password": ACCOUNTS,
    "admin.change_role": ACCOUNTS,
    # webhooks (survey/webhooks.py): the admin's
    **{f"webhooks.{name}": ACCOUNTS for name in ("index", "create", "endpoint", "toggle", "ping")},
    # campaign figures
    "campaigns.index": SELF,  # the list for readers; the other roles are sent to their start page
    "campaigns.overview": READ,
    "campaigns.returns": READ,
    "campaigns.returns_api": READ,
    "campaigns.returns_chart": READ,
    "campaigns.unanswered": READ,
    # setup, roster and distribution: the organizer
    **{f"setup.{name}": ORGANIZE for name in (
        "new_campaign", "basics", "change_status", "units", "groups", "questionnaire", "rules",
        "add_category", "add_unit", "add_group", "add_item", "add_option",
        "update_group", "update_item", "update_option", "rated_units",
        "remove_category", "remove_unit", "remove_group", "remove_item", "remove_option",
        "margins_page", "add_margin", "update_margin", "remove_margin", "attribute_k",
        "archive", "restore", "delete_campaign", "bulk_units", "move_item", "move_option")},
    **{f"roster.{name}": ORGANIZE for name in (
        "roster", "import_roster", "template_csv", "template_xlsx", "import_valid", "skipped_rows",
        "person", "update_person", "delete_person", "resend")},
    **{f"distribution.{name}": ORGANIZE for name in (
        "index", "batches", "batch", "cap", "flags", "issued", "job_progress",
        "poster", "print_forms", "printed", "remind", "retry", "send",
        "batch_status", "messages_page", "schedule", "unschedule", "period", "units")},
    # the form's preview and its test ballots (survey/ballots/preview.py)
    **{f"preview.{name}": ORGANIZE for name in ("page", "form", "draft")},
    # 现场测评 sessions: set up, opened and closed by the organizer; the projector
    # page, its live figures and the session's sub-bundle are read like the results
    **{f"sessions.{name}": ORGANIZE for name in ("index", "session_page", "open_session", "close_session",
                                                 "slips")},
    **{f"sessions.{name}": READ for name in ("projector", "live", "sub_bundle")},
    # paper entry: the organizer and the clerk
    **{f"distribution.{name}": PAPER for name in ("paper_entry", "paper_conflicts")},
    # results: read by the committee, the organizer and the auditor
    **{f"results.{name}": READ for name in (
        "index", "campaign_page", "unit_page", "chart", "quality", "inputs", "appeals", "consequences",
        "rectification", "rectification_review", "export_json", "export_pdf", "export_xlsx", "final_bundle",
        "final_record", "consequence_rules", "lookback_page", "honours_page")},
    # consequences carried out (survey/results/carrying.py)
    "results.assign_consequence": CARRY,
    "results.carry_out_consequence": CARRY,
    "results.draft_document": DRAFTS,
    # the anonymised ballots (raw data): whoever may have the XLSX export
    "results.export_ballots": READ,
    # the organizer's inputs to the results
    "results.add_objective_score": ORGANIZE,
    "results.add_veto": ORGANIZE,
    "results.delete_veto": ORGANIZE,
    # the committee's acts
    **{f"results.{name}": COMMIT for name in (
        "approve", "finalize", "publish", "override", "adopt_flags", "decide_appeal", "settings",
        "accept", "return_rectification", "set_due", "follow_up",
        # escalation rules, 回头看 findings, 先进 (survey/results/escalation.py, lookback.py, honours.py)
        "add_escalation", "remove_escalation", "save_owners", "follow_up_findings", "honour_rule", "decide_honour")},
    # a unit's liaison, for the own unit
    **{f"results.{name}": LIAISE for name in ("my_index", "my_unit", "answer", "file_appeal", "submit")},
    # the supervision register (survey/register/)
    "register.index": REGISTER_READ,
    "register.case_page": REGISTER_READ,
    "register.attachment": REGISTER_READ,
    "register.create": HANDLE,
    "register.step": HANDLE,
    "register.my_cases": LIAISE,
    "register.reply": LIAISE,
    "register.components": REGISTER_READ,
    **{f"register.{name}": ORGANIZE for name in ("set_period", "set_component", "set_rule", "delete_rule", "publish")},
    "register.publications": REGISTER_READ,
    # 平时考核 rounds (survey/rounds/): read like results; the organizer sets the annual
    # campaign's 平时 component and publishes a round's ranking — the one publication
    # outside the committee (a round has no committee sign-off: docs/rounds.md)
    **{f"rounds.{name}": READ for name in ("index", "ranking", "ranking_xlsx", "rollup")},
    "rounds.publish": ORGANIZE,
    "rounds.public_ranking": PUBLIC,  # a published round's ranking, online for everyone (404 before)
    "rounds.set_component": ORGANIZE,
    "register.public_month": PUBLIC,
    **{f"register.{name}": ASSESS for name in ("assess_index", "assess_page", "assess_score", "assess_import")},
    # opinions from outside the ballots (survey/opinions/): the public lookup by code
    **{f"opinions.{name}": OPINIONS for name in ("index", "create", "opinion_page", "step", "reissue")},
    **{f"opinions.{name}": LIAISE for name in ("my_opinions", "answer")},
    "opinions.lookup": PUBLIC,
    "results.audit_log": AUDIT,
    "results.audit_csv": AUDIT,
    # the JSON API (survey/api/): its description and docs need no key
    "api.openapi": PUBLIC,
    "api.docs": PUBLIC,
    "api.campaigns": API_SCOPED,
    "api.campaign": API_SCOPED,
    "api.units": API_SCOPED,
    "api.unit_result": API_SCOPED,
    "api.groups": READ,
    "api.batches": READ,
    "api.results": READ,
    "api.unit_items": API_SCOPED,
    "api.unit_comments": API_SCOPED,
    "api.consequences": API_SCOPED,
    "api.rectifications": API_SCOPED,
    "api.audit_entries": AUDIT,
    "api.objective_scores": READ,
    "api.ballots": READ,  # as the results page's raw ballot download
    # 现场测评 sessions, window posters and their tallies: read as the projector page
    "api.sessions": READ,
    "api.session": READ,
    "api.posters": READ,
    # the API's writes: as the pages that do the same (roster import, results inputs)
    "api.import_roster": ORGANIZE,
    "api.import_objective_scores": ASSESS,  # an assessing department: its own component (inputs.py)
    # the register through the API (the complainant: the handler's key only)
    "api.register_cases": REGISTER_READ,
    "api.register_case": REGISTER_READ,
    "api.register_components": REGISTER_READ,
    "api.register_publications": REGISTER_READ,
    "api.missing_components": READ,
    # opinions (survey/api/opinions.py): the raiser to the handler's keys only
    "api.opinions": API_OPINIONS,
    "api.opinion": API_OPINIONS,
    # 平时考核 rounds (survey/api/rounds.py): read like their pages
    "api.rounds": READ,
    "api.round_ranking": READ,
    "api.campaign_rollup": READ,
    "api.publish_round": ORGANIZE,  # as rounds.publish: the one publication outside the committee
    # what follows the results (survey/api/carrying.py): as the pages
    "api.assign_consequence": CARRY,
    "api.carry_out_consequence": CARRY,
    "api.consequence_rules": READ,
    "api.save_consequence_rules": COMMIT,
    "api.follow_ups": READ,
    "api.record_follow_up": COMMIT,
    "api.honours_list": READ,
    "api.save_honour_rule": COMMIT,
    "api.decide_honour": COMMIT,
}


def rule_for(endpoint: str | None) -> Rule | None:
    return POLICY.get(endpoint or "")


def undeclared(app: Flask) -> list[str]:
    """The app's endpoints that the table does not declare."""
    return sorted({r.endpoint for r in app.url_map.iter_rules()} - set(POLICY))


def _enforce() -> Any:
    if request.endpoint is None:  # no route: the 404 handler answers
        return None
    rule = rule_for(request.endpoint)
    if rule is None:
        current_app.logger.error("endpoint %s is not declared in survey/policy.py", request.endpoint)
        abort(403)
    if ANYONE in rule.roles:
        return None  # evaluator pages: no session or user to look up on the hot path
    if request.path.startswith(API_PREFIX):
        return _enforce_key(rule)
    role = current_user.role if current_user.is_authenticated else None
    if rule.admits(role, request.method):
        return None
    if role is None:
        if request.path.startswith("/api/"):
            return jsonify(error="unauthorized", message=_("请先登录")), 401
        from survey.accounts.auth import login_manager

        return login_manager.unauthorized()
    abort(rule.others)


def _enforce_key(rule: Rule) -> Any:
    """An API request: the account of its key is the request's user (whatever
    cookies came with it), and the table decides as for a page."""
    from survey.accounts.auth import login_manager
    from survey.api.keys import bearer, user_for_key

    key = bearer(request.headers.get("Authorization"))
    user = user_for_key(key) if key else None
    # Flask-Login's current_user is g._login_user once set: the key's account, or nobody.
    g._login_user = user if user is not None else login_manager.anonymous_user()
    if user is None:
        with in_chinese():
            if key:
                problem = Problem("header.Authorization", _("API 密钥无效、已吊销，或其账号已停用"),
                                  "the API key is unknown or revoked, or its account is deactivated")
            else:
                problem = Problem("header.Authorization", _("需要有效的 API 密钥（Authorization: Bearer …）"),
                                  "a valid API key is required (Authorization: Bearer …)")
        return api_error(401, [problem],
                         {"WWW-Authenticate": 'Bearer realm="pingyi"' + (', error="invalid_token"' if key else "")})
    if rule.admits(user.role, request.method):
        return None
    abort(rule.others)


class _KeyOnlyOnApi(SecureCookieSessionInterface):
    """Sessions as Flask keeps them, except under /api/v1/: there the session
    cookie is neither read nor written (the API authenticates by key alone)."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(API_PREFIX):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if request.path.startswith(API_PREFIX):
            return
        super().save_session(app, session, response)


def may(endpoint: str, method: str = "GET") -> bool:
    """Whether the current user may use `endpoint` (templates show links and
    buttons by it, so a page offers nothing the table would refuse)."""
    rule = rule_for(endpoint)
    role = current_user.role if current_user.is_authenticated else None
    return rule is not None and rule.admits(role, method)


def init_app(app: Flask) -> None:
    app.session_interface = _KeyOnlyOnApi()
    app.before_request(_enforce)
    app.jinja_env.globals["may"] = may
