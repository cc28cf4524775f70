"""The domain model: every table of Pingyi, one module per aggregate."""
from survey.models.account import ROLES, User
from survey.models.api_key import ApiKey
from survey.models.audit import AuditEntry
from survey.models.ballot import Answer, Ballot, BallotClaim, BallotDraft, Comment, TestBallot
from survey.models.campaign import (
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Category,
    EvaluatorGroup,
    GroupUnit,
    Item,
    MarginTarget,
    MarginVariable,
    ObjectiveScore,
    ScaleOption,
    Unit,
    Veto,
)
from survey.models.distribution import (
    CHANNELS,
    Batch,
    Evaluator,
    Invitation,
    MessageTemplate,
    PaperEntry,
    ReminderSchedule,
    ReplacedLink,
    RosterUpload,
)
from survey.models.job import Job
from survey.models.opinion import Opinion, OpinionRaiser
from survey.models.outcome import (
    Appeal,
    Approval,
    BundleChunk,
    ClassOverride,
    CommentAnswer,
    Consequence,
    FollowUp,
    Honour,
    OutcomeSettings,
    Rectification,
    ResultArtifact,
    ResultSnapshot,
)
from survey.models.register import (
    CaseAttachment,
    Complainant,
    DeductionRule,
    RegisterComponent,
    RegisterPublication,
    SupervisionCase,
)
from survey.models.rounds import RoundComponent, RoundScore
from survey.models.session import BatchUnit, FieldSession, SessionBatch, SessionUnit
from survey.models.signin import SignInFailure
from survey.models.webhook import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ROLES", "User", "ApiKey",
    "Answer", "Ballot", "BallotClaim", "BallotDraft", "Comment", "Campaign",
    "CampaignCategory", "CampaignGroup", "CampaignUnit", "Category",
    "EvaluatorGroup", "Item", "MarginTarget", "MarginVariable", "ObjectiveScore", "ScaleOption",
    "Unit", "Veto", "CHANNELS", "Batch", "Evaluator", "Invitation", "GroupUnit",
    "PaperEntry", "Job", "MessageTemplate", "ReminderSchedule", "ReplacedLink", "RosterUpload",
    "AuditEntry", "Appeal", "Approval", "ClassOverride", "CommentAnswer", "Consequence",
    "BundleChunk", "FollowUp", "Honour", "OutcomeSettings", "Rectification", "ResultArtifact", "ResultSnapshot",
    "SignInFailure", "TestBallot", "WebhookDelivery", "WebhookEndpoint",
    "CaseAttachment", "Complainant", "DeductionRule", "RegisterComponent", "RegisterPublication", "SupervisionCase",
    "BatchUnit", "FieldSession", "SessionBatch", "SessionUnit", "Opinion", "OpinionRaiser",
    "RoundComponent", "RoundScore",
]
