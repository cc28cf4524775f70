"""The domain model: every table of Pingyi, one module per aggregate."""
from survey.models.account import ROLES, User
from survey.models.ballot import Answer, Ballot, Comment
from survey.models.campaign import (
    CAMPAIGN_STATUSES,
    Campaign,
    CampaignCategory,
    CampaignGroup,
    CampaignUnit,
    Category,
    EvaluatorGroup,
    Item,
    MarginTarget,
    ObjectiveScore,
    ScaleOption,
    Unit,
    Veto,
)
from survey.models.distribution import CHANNELS, Batch, Evaluator, Invitation

__all__ = [
    "ROLES", "User",
    "Answer", "Ballot", "Comment", "CAMPAIGN_STATUSES", "Campaign",
    "CampaignCategory", "CampaignGroup", "CampaignUnit", "Category",
    "EvaluatorGroup", "Item", "MarginTarget", "ObjectiveScore", "ScaleOption",
    "Unit", "Veto", "CHANNELS", "Batch", "Evaluator", "Invitation",
]
