"""A campaign's lifecycle: its statuses, what each allows, and the transitions
between them. The one place where a campaign's status is compared; views,
services, queries and templates ask `campaign.state` (or the SQL conditions
below), never the status string.

    草稿 draft ──open()──▶ 进行中 open ──close()──▶ 已截止 closed ──finalize()──▶ 已定稿 finalized ──publish()──▶ 已公示 published
                              ▲                       │
                              └──────reopen()─────────┘

The organizer opens, closes and reopens; the committee finalizes and
publishes.

A 平时考核 round (``Campaign.kind == "round"``, docs/rounds.md) has a lifecycle
of its own, all of it the organizer's (no committee sign-off: the one
publication outside the committee):

    草稿 draft ──open()──▶ 进行中 open ──close()──▶ 已截止 closed ──publish()──▶ 已公示 published
                              ▲                       │
                              └──────reopen()─────────┘
 A transition's side effects (readiness checks, the final snapshot,
drawing charts) belong to the services that call it."""
from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _

from survey.clock import utcnow
from survey.errors import Conflict

if TYPE_CHECKING:
    from survey.models.campaign import Campaign


class Status(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    FINALIZED = "finalized"
    PUBLISHED = "published"


#: How each status reads in the interface (passed through the translation function).
STATUS_LABELS: dict[str, str] = {Status.DRAFT: "草稿", Status.OPEN: "进行中", Status.CLOSED: "已截止",
                                 Status.FINALIZED: "已定稿", Status.PUBLISHED: "已公示"}
#: The database's CHECK on campaign.status.
STATUS_CHECK = "status IN (" + ", ".join(f"'{s.value}'" for s in Status) + ")"

_FROZEN = frozenset({Status.FINALIZED, Status.PUBLISHED})
#: Results exist for the committee once ballots stop coming in.
_RESULTS_READY = frozenset({Status.CLOSED, *_FROZEN})
#: Transitions by hand (the deadline also closes an open campaign).
_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.OPEN}),
    Status.OPEN: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN, Status.FINALIZED}),
    Status.FINALIZED: frozenset({Status.PUBLISHED}),
    Status.PUBLISHED: frozenset(),
}
#: A round's transitions: no 定稿, the organizer publishes the closed round.
_ROUND_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.OPEN}),
    Status.OPEN: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset({Status.OPEN, Status.PUBLISHED}),
    Status.FINALIZED: frozenset(),
    Status.PUBLISHED: frozenset(),
}
#: The transitions the organizer makes on the setup page; finalizing and
#: publishing are the committee's, on the results pages.
ORGANIZER_TARGETS = frozenset({Status.OPEN, Status.CLOSED})
#: Campaign.kind of a 平时考核 round (models/campaign.py KIND_ROUND).
_ROUND = "round"


def label(status: str) -> str:
    """A status as the interface shows it, translated."""
    return str(_(STATUS_LABELS[status]))


class CampaignState:
    """What a campaign's status allows, and the only way to change it."""

    def __init__(self, campaign: Campaign) -> None:
        self.campaign = campaign

    @property
    def status(self) -> Status:
        return Status(self.campaign.status)

    @property
    def label(self) -> str:
        return label(self.campaign.status)

    # --- where the campaign is ---

    @property
    def is_round(self) -> bool:
        """A 平时考核 round: its own lifecycle, left out of every annual query."""
        return self.campaign.kind == _ROUND

    @property
    def is_draft(self) -> bool:
        return self.status is Status.DRAFT

    @property
    def is_open(self) -> bool:
        return self.status is Status.OPEN

    @property
    def is_closed(self) -> bool:
        """Closed and not yet finalized: the committee reviews and approves."""
        return self.status is Status.CLOSED

    @property
    def is_finalized(self) -> bool:
        """Finalized and not yet published."""
        return self.status is Status.FINALIZED

    @property
    def is_published(self) -> bool:
        return self.status is Status.PUBLISHED

    @property
    def is_frozen(self) -> bool:
        """Finalized or published: nothing that the results read may change."""
        return self.status in _FROZEN

    @property
    def results_ready(self) -> bool:
        """Closed, finalized or published: ballots no longer come in."""
        return self.status in _RESULTS_READY

    # --- what it allows ---

    @property
    def allows_setup(self) -> bool:
        """Setup edits that leave the meaning of ballots alone (names, dates, weights)."""
        return not self.is_frozen

    @property
    def allows_ballot_changes(self) -> bool:
        """Edits that change the form or the meaning of ballots (removing a unit,
        an item or an option, changing points): only before any ballot can exist."""
        return self.is_draft

    @property
    def is_archived(self) -> bool:
        """A test campaign put away (hidden from the campaign list)."""
        return self.campaign.archived_at is not None

    @property
    def allows_discarding(self) -> bool:
        """A test campaign (测试活动) may be archived or deleted before it opens:
        no ballot, no sent message can exist yet. A real campaign never."""
        return self.is_draft and bool(self.campaign.is_test)

    @property
    def allows_distribution(self) -> bool:
        """New batches, printing and sending: while the campaign is set up or open."""
        return self.status in (Status.DRAFT, Status.OPEN)

    @property
    def allows_sending(self) -> bool:
        """Invitations and reminders go out by e-mail and SMS only once the campaign
        is open: a link sent before 开始评议 would only say “尚未开始”."""
        return self.is_open

    @property
    def allows_test_ballots(self) -> bool:
        """Test ballots through the form's preview: only before 开始评议, which
        purges them (survey.ballots.test_ballots)."""
        return self.is_draft

    @property
    def takes_paper_entries(self) -> bool:
        """Paper forms are keyed while the campaign is open and after its deadline,
        until the committee finalizes (forms come back by post)."""
        return self.status in (Status.OPEN, Status.CLOSED)

    @property
    def allows_carrying_out(self) -> bool:
        """Consequences exist once the results are final: from then on they are
        carried out (owner, deadline, proof), 回头看 recorded and 先进 decided."""
        return self.is_frozen

    def accepting_ballots(self, now: dt.datetime | None = None) -> bool:
        """Open and before its deadline (UTC)."""
        if not self.is_open:
            return False
        deadline = self.campaign.closes_at
        return deadline is None or (now or utcnow()) < deadline

    def effective(self, now: dt.datetime | None = None) -> Status:
        """The status as evaluators meet it: an open campaign past its deadline is closed."""
        if self.is_open and not self.accepting_ballots(now):
            return Status.CLOSED
        return self.status

    def takes_register_inputs(self, today: dt.date) -> bool:
        """Register verdicts and 平时 inputs still count for this campaign: it has
        not reached 截止 (its deadline included) nor its own cut-off day
        (``inputs_cutoff``, Beijing time); what comes later goes to the next campaign."""
        if self.effective() not in (Status.DRAFT, Status.OPEN):
            return False
        cutoff = self.campaign.inputs_cutoff
        return cutoff is None or today <= cutoff

    @property
    def past_deadline(self) -> bool:
        """Open, but its deadline has passed: links refuse ballots until it is closed or reopened."""
        return self.is_open and not self.accepting_ballots()

    @property
    def effective_label(self) -> str:
        return label(self.effective())

    def can(self, target: str) -> bool:
        """The lifecycle has this transition from here (an archived test campaign has none until restored)."""
        transitions = _ROUND_TRANSITIONS if self.is_round else _TRANSITIONS
        return not self.is_archived and Status(target) in transitions[self.status]

    def organizer_actions(self) -> list[tuple[Status, str]]:
        """Where the organizer may move the campaign from here, in lifecycle order,
        each with its button's words."""
        words = {Status.OPEN: _("开始评议") if self.is_draft else _("重新开放"), Status.CLOSED: _("截止评议")}
        return [(s, words[s]) for s in Status if s in ORGANIZER_TARGETS and self.can(s)]

    def require_round(self) -> None:
        self.require(self.is_round, _("这不是平时考核轮次。"))

    def require_annual(self) -> None:
        self.require(not self.is_round, _("平时考核轮次不能这样操作：只有年度评议可以。"))

    # --- transitions ---

    def move_to(self, target: str) -> None:
        """Change the status, refusing a transition the lifecycle does not have."""
        self.require_not_archived()
        if not self.can(target):
            raise Conflict(_("不能从“%(a)s”改为“%(b)s”。", a=self.label,
                             b=label(target) if target in STATUS_LABELS else target))
        self.campaign.status = Status(target).value

    def open(self) -> None:
        self.move_to(Status.OPEN)

    def close(self) -> None:
        self.move_to(Status.CLOSED)

    def finalize(self) -> None:
        self.move_to(Status.FINALIZED)

    def publish(self) -> None:
        self.move_to(Status.PUBLISHED)

    def publish_round(self) -> None:
        """The organizer publishes a closed round's ranking (no 定稿, no committee)."""
        self.require_round()
        self.move_to(Status.PUBLISHED)

    def require_not_archived(self) -> None:
        self.require(not self.is_archived, _("这个测试活动已归档：请先恢复，再改变状态。"))

    def require_discardable(self) -> None:
        self.require(self.allows_discarding, _("只有尚未开始评议的测试活动可以归档或删除；正式活动和已开始的活动都要保留。"))

    def archive(self, now: dt.datetime | None = None) -> None:
        """Put a test campaign away before it opens (it keeps its status: 草稿)."""
        self.require_discardable()
        if self.campaign.archived_at is None:
            self.campaign.archived_at = now or utcnow()

    def restore(self) -> None:
        """Bring an archived test campaign back to the list."""
        self.campaign.archived_at = None

    # --- refusals ---

    def require(self, allowed: bool, message: str) -> None:
        """Refuse with `message` (in the user's language) unless `allowed`."""
        if not allowed:
            raise Conflict(message)


# --- the same conditions in SQL, for queries over many campaigns -------------


def where_status(column: Any, *statuses: Status) -> Any:
    return column.in_([s.value for s in statuses])


def where_open(column: Any) -> Any:
    return where_status(column, Status.OPEN)


def where_frozen(column: Any) -> Any:
    return where_status(column, *_FROZEN)


def where_results_ready(column: Any) -> Any:
    return where_status(column, *_RESULTS_READY)


def where_annual(kind_column: Any) -> Any:
    """Annual campaigns only: every query over years (last year's campaign,
    history, escalation, the copy sources) leaves 平时考核 rounds out."""
    return kind_column != _ROUND


def where_round(kind_column: Any) -> Any:
    return kind_column == _ROUND


def is_frozen_status(status: str | None) -> bool:
    """For code that has only the stored status (the flush guard reads it before loading a campaign)."""
    return status in _FROZEN
