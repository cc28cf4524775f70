"""Pingyi's statistics engine: turns a campaign bundle into graded units exactly as SCORING.md says, with no web or database code."""

from .bundle import (
    DEFAULT_RULES,
    BundleError,
    BundleProblem,
    Campaign,
    effective_rules,
    from_document,
    loads_bundle,
    validate_bundle,
)
from .evaluate import Results, evaluate, evaluate_document
from .weighting import rake

__all__ = [
    "DEFAULT_RULES",
    "BundleError",
    "BundleProblem",
    "Campaign",
    "Results",
    "effective_rules",
    "evaluate",
    "evaluate_document",
    "from_document",
    "loads_bundle",
    "rake",
    "validate_bundle",
]
