"""The supervision register through the API: its cases (the complainant only
to the case handler's key), a campaign's derived components with the cases
behind each unit's value, the monthly 公示, and the objective components a
campaign still lacks before 定稿. Each view calls the service its page
calls (survey/register/services.py, survey/results/inputs.py)."""
from __future__ import annotations

from flask import abort
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from survey.api.paging import PageQuery, page_of, page_of_select
from survey.api.registry import CAMPAIGN_PARAM, PathParam
from survey.api.schemas import (
    CaseDeduction,
    CaseOut,
    CasePage,
    ComplainantOut,
    DeductionRuleOut,
    DerivedUnitValue,
    MissingComponent,
    MissingComponentPage,
    PublicationOut,
    PublicationPage,
    PublicationRow,
    RegisterComponentOut,
    RegisterComponentPage,
)
from survey.api.scope import campaign_in_scope, iso
from survey.api.v1 import api
from survey.extensions import db
from survey.models import SupervisionCase
from survey.models.register import CASE_KINDS, CASE_STATUSES
from survey.register import services
from survey.results import inputs
from survey.results.queries import units_of

CASE_PARAM = PathParam("case_code", "案件编号", "DC2026-00001")


def _case(case: SupervisionCase) -> CaseOut:
    person = services.complainant_of(case) if current_user.role == "handler" else None
    return CaseOut(
        id=case.id, code=case.code, kind=case.kind, kind_label=_(CASE_KINDS[case.kind]),  # type: ignore[arg-type]
        source=case.source, date=case.occurred_on, unit=case.unit.code, summary=case.summary, place=case.place,
        points=case.points, status=case.step, status_label=_(CASE_STATUSES[case.step]),  # type: ignore[arg-type]
        due_on=case.due_on, red=case.is_red, cleared=case.was_cleared,
        verdict=case.verdict,  # type: ignore[arg-type]
        campaign=case.campaign.code if case.campaign is not None else None,
        complainant=None if person is None else ComplainantOut(name=person.name, phone=person.phone,
                                                               contact=person.contact))


@api.get("/register/cases", response=CasePage, query=PageQuery, tag="register", summary="督查登记的案件")
def register_cases(query: PageQuery) -> CasePage:
    """The register's cases, the newest first (as the register page lists them).
    The complainant is answered to the case handler's key only; every other
    role gets null there."""
    items, cursor = page_of_select(services.cases_query(), query)
    return CasePage(items=[_case(c) for c in items], limit=query.limit, next_cursor=cursor)


@api.get("/register/cases/<case_code>", CASE_PARAM, response=CaseOut, tag="register", summary="一个督查案件")
def register_case(case_code: str) -> CaseOut:
    """One case of the register by its number (the complainant: as in the list)."""
    case = db.session.scalar(select(SupervisionCase).where(SupervisionCase.code == case_code)
                             .order_by(SupervisionCase.id).limit(1))
    if case is None:
        abort(404)
    return _case(case)


@api.get("/campaigns/<code>/register-components", CAMPAIGN_PARAM, response=RegisterComponentPage,
         query=PageQuery, tag="register", summary="由督查登记生成的考核项目")
def register_components(code: str, query: PageQuery) -> RegisterComponentPage:
    """The campaign's derived components: base, deduction rules, and each
    unit's value, max(0, base − Σ deductions) / base × 100, with the cases behind it."""
    campaign = campaign_in_scope(code)
    values = services.derived_values(campaign, units_of(campaign))
    items, cursor = page_of(services.components_of(campaign), query)
    return RegisterComponentPage(items=[RegisterComponentOut(
        code=c.code, label=c.label, base=c.base,
        rules=[DeductionRuleOut(kind=r.kind, verdict=r.verdict, points=r.points) for r in c.rules],
        units=[DerivedUnitValue(unit=v.unit.code, deducted=v.deducted, raw=v.raw, score=v.value,
                                cases=[CaseDeduction(case=k.code, points=p) for k, p in v.cases])
               for v in values.get(c.code, [])]) for c in items], limit=query.limit, next_cursor=cursor)


@api.get("/register/publications", response=PublicationPage, query=PageQuery, tag="register",
         summary="督查案件每月公示")
def register_publications(query: PageQuery) -> PublicationPage:
    """The published months, the latest first: counts by unit and verdict (no complainant)."""
    items, cursor = page_of(services.publications(), query)
    return PublicationPage(items=[PublicationOut(month=p.month, published_at=iso(p.published_at) or "",
                                                 counts=[PublicationRow.model_validate(r) for r in p.counts])
                                  for p in items], limit=query.limit, next_cursor=cursor)


@api.get("/campaigns/<code>/missing-components", CAMPAIGN_PARAM, response=MissingComponentPage, query=PageQuery,
         tag="register", summary="尚未齐全的客观考核分项")
def missing_components(code: str, query: PageQuery) -> MissingComponentPage:
    """The rules' objective components some units still lack, as the committee sees them before 定稿."""
    campaign = campaign_in_scope(code)
    items, cursor = page_of(inputs.missing_components(campaign), query)
    return MissingComponentPage(items=[MissingComponent(component=c, units=[u.code for u in lacking])
                                       for c, lacking in items], limit=query.limit, next_cursor=cursor)
