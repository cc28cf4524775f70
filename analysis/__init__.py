"""Pingyi's statistics engine: turns a campaign bundle into graded units exactly as SCORING.md says, with no web or database code.

Module map (the private modules hold one family of functions each; import
from the package itself):

``_errors``      BundleProblem, BundleError (the pingyi-errors/1 refusal)
``_checks``      the fixed vocabularies (FLAGS, channels) and the value checks
``_parse``       loads_bundle: JSON reading with repeated keys reported
``_validate``    validate_bundle and its per-record validators
``_rules``       DEFAULT_RULES, effective_rules and the rule checks
``_campaign``    Campaign, Margin, from_document, network_of
``flags``        ballot-unit scores, the five flags, flag_ballots
``weighting``    nonresponse weights, raking, trimming
``scores``       cell sums, trimmed means, composite scores
``uncertainty``  bootstrap, Wilson intervals, Krippendorff's alpha
``classify``     classes and ranks
``evaluate``     the whole pipeline: evaluate, evaluate_document
"""

from ._campaign import Campaign, Margin, from_document, network_of
from ._checks import FLAGS, parse_instant_us
from ._errors import BundleError, BundleProblem
from ._parse import loads_bundle
from ._rules import DEFAULT_RULES, effective_rules
from ._validate import validate_bundle
from .evaluate import Results, evaluate, evaluate_document
from .flags import FlagResult, flag_ballots
from .weighting import rake

__all__ = [
    "DEFAULT_RULES",
    "FLAGS",
    "BundleError",
    "BundleProblem",
    "Campaign",
    "FlagResult",
    "Margin",
    "Results",
    "effective_rules",
    "evaluate",
    "evaluate_document",
    "flag_ballots",
    "from_document",
    "loads_bundle",
    "network_of",
    "parse_instant_us",
    "rake",
    "validate_bundle",
]
