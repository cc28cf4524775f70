"""The campaign lifecycle (survey/models/lifecycle.py): its transitions, what
each status allows, and that it is the one place where a status is compared."""
from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from survey.errors import Conflict, UserError
from survey.extensions import db
from survey.models import Campaign
from survey.models.lifecycle import (
    STATUS_LABELS,
    CampaignState,
    Status,
    where_frozen,
    where_open,
    where_results_ready,
)

ROOT = Path(__file__).resolve().parents[2]
LIFECYCLE = ROOT / "survey" / "models" / "lifecycle.py"


def _campaign(status: str, closes_at: dt.datetime | None = None) -> Campaign:
    return Campaign(code="c", name="n", year=2026, status=status, closes_at=closes_at)


@pytest.mark.parametrize(("start", "target"), [
    ("draft", "open"), ("open", "closed"), ("closed", "open"), ("closed", "finalized"), ("finalized", "published")])
def test_each_transition_of_the_lifecycle(start: str, target: str) -> None:
    campaign = _campaign(start)
    campaign.state.move_to(target)
    assert campaign.status == target


@pytest.mark.parametrize(("start", "target"), [
    ("draft", "closed"), ("draft", "finalized"), ("open", "finalized"), ("open", "draft"), ("closed", "published"),
    ("finalized", "closed"), ("finalized", "open"), ("published", "finalized"), ("published", "open")])
def test_transitions_the_lifecycle_lacks_are_refused_in_chinese(app, start: str, target: str) -> None:
    campaign = _campaign(start)
    with app.test_request_context(), pytest.raises(Conflict) as refused:
        campaign.state.move_to(target)
    assert campaign.status == start
    assert isinstance(refused.value, UserError) and refused.value.status_code == 409
    assert _label(start) in refused.value.message and "不能从" in refused.value.message


def _label(status: str) -> str:
    return STATUS_LABELS[status]


def test_what_each_status_allows() -> None:
    expect = {  # allows_setup, allows_ballot_changes, allows_distribution, takes_paper_entries, frozen, results_ready
        "draft": (True, True, True, False, False, False),
        "open": (True, False, True, True, False, False),
        "closed": (True, False, False, True, False, True),
        "finalized": (False, False, False, False, True, True),
        "published": (False, False, False, False, True, True),
    }
    for status, flags in expect.items():
        s = _campaign(status).state
        assert (s.allows_setup, s.allows_ballot_changes, s.allows_distribution, s.takes_paper_entries,
                s.is_frozen, s.results_ready) == flags, status


def test_an_open_campaign_past_its_deadline_is_closed_to_evaluators() -> None:
    deadline = dt.datetime(2026, 12, 1, 8, 0)
    state = _campaign("open", closes_at=deadline).state
    assert state.accepting_ballots(deadline - dt.timedelta(seconds=1))
    assert not state.accepting_ballots(deadline)
    assert state.effective(deadline) is Status.CLOSED and state.effective(deadline - dt.timedelta(1)) is Status.OPEN
    assert not _campaign("closed").state.accepting_ballots(deadline - dt.timedelta(days=1))


def test_the_organizer_opens_closes_and_reopens_only(app) -> None:
    with app.test_request_context():
        assert [t for t, _words in _campaign("draft").state.organizer_actions()] == [Status.OPEN]
        assert [t for t, _words in _campaign("open").state.organizer_actions()] == [Status.CLOSED]
        assert [t for t, _words in _campaign("closed").state.organizer_actions()] == [Status.OPEN]
        assert _campaign("finalized").state.organizer_actions() == []


def test_sql_conditions_match_the_states(app) -> None:
    with app.app_context():
        for k, status in enumerate(Status):
            db.session.add(Campaign(code=f"c{k}", name=status.value, year=2026, status=status.value))
        db.session.commit()

        def names(condition: object) -> set[str]:
            return set(db.session.scalars(select(Campaign.name).where(condition)))  # type: ignore[arg-type]

        assert names(where_open(Campaign.status)) == {"open"}
        assert names(where_frozen(Campaign.status)) == {"finalized", "published"}
        assert names(where_results_ready(Campaign.status)) == {"closed", "finalized", "published"}
        for campaign in db.session.scalars(select(Campaign)):
            assert isinstance(campaign.state, CampaignState)


def _status_comparisons(tree: ast.AST) -> list[int]:
    def mentions_status(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Attribute) and n.attr == "status" for n in ast.walk(node))

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and mentions_status(node):
            lines.append(node.lineno)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("in_", "not_in")
                and mentions_status(node.func.value)):
            lines.append(node.lineno)
    return lines


def test_no_status_is_compared_outside_the_lifecycle() -> None:
    found = []
    for path in sorted((ROOT / "survey").rglob("*.py")):
        if path == LIFECYCLE or "migrations" in path.parts:
            continue
        found += [f"{path.relative_to(ROOT)}:{line}" for line in _status_comparisons(ast.parse(path.read_text()))]
    template_compare = re.compile(r"\.status\b\s*(==|!=|not\s+in\b|in\b)|status_labels")
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if template_compare.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}")
    assert found == [], "ask campaign.state (survey/models/lifecycle.py) instead: " + ", ".join(found)


def test_the_scan_finds_a_comparison() -> None:
    """The scan above would see the comparisons it forbids."""
    assert _status_comparisons(ast.parse("if campaign.status == 'open':\n    pass\n")) == [1]
    assert _status_comparisons(ast.parse("q = select(C).where(C.status.in_(('a', 'b')))\n")) == [1]
    assert _status_comparisons(ast.parse("ok = campaign.state.is_open\n")) == []
