"""Pingyi's statistics engine: turns a campaign bundle into graded units exactly as SCORING.md says, with no web or database code.

Module map (the private modules hold one family of functions each; import
from the package itself):

``_errors``      BundleProblem, BundleError (the pingyi-errors/1 refusal)
``_checks``      the fixed vocabularies (FLAGS, channels) and the value checks
``_parse``       loads_bundle: JSON reading with repeated keys reported
``_validate``    validate_bundle and its per-record validators
``_rules``       DEFAULT_RULES, effective_rules and the rule checks
``_campaign``    Campaign, Margin, Attribute, attribute_key, from_document, network_of
``_records``     from_records: the sections and the ballots one at a time (the application's columnar path)
``flags``        ballot-unit scores, the five flags, flag_ballots
``weighting``    nonresponse weights, raking, trimming
``scores``       cell sums, trimmed means, composite scores
``uncertainty``  bootstrap, Wilson intervals, Krippendorff's alpha
``classify``     classes and ranks
``breakdowns``   section 5a: per-item figures, breakdowns by subsets of ballots
``evaluate``     the whole pipeline: evaluate, evaluate_document, breakdown

Section 5a (per-item figures and breakdowns) is part of the results:
``evaluate`` adds ``items``, ``by_batch``, ``by_channel`` and
``by_attribute`` to every unit (``details=False`` leaves them out; every
other figure is the same either way, to the last bit). The subset
computation behind ``by_batch`` is also a function for any set of batches
the application names, such as the batches of a 现场测评 session::

    results = evaluate(campaign)
    session = breakdown(campaign, ["b3", "b4"], results=results)
    session.units["u01"].score      # S(u) on those batches' valid ballots
    session.to_json()               # {unit: {"n", "score", "shares"}}

Without ``results`` it computes the flags and weights itself (sections
2-4, no bootstrap). The ballots keep the flags and weights of the whole
campaign.
"""

# ruff: noqa: E402  (the package's imports follow the OpenBLAS setting below)
import os as _os
import sys as _sys


def _is_command_line(orig_argv: list[str]) -> bool:
    """Whether this process is ``python [options] -m analysis ...`` (from its original command line)."""
    return "-m" in orig_argv and orig_argv[orig_argv.index("-m") + 1:][:1] == ["analysis"]


if _is_command_line(_sys.orig_argv):
    # The command line keeps the second core for its helper processes:
    # OpenBLAS's idle threads go to sleep at once instead of spinning for
    # about 2**28 cycles after every product (2 s of CPU at 200,000 ballots).
    # OpenBLAS reads this when numpy loads it, so before anything below
    # imports numpy; other processes that import the package are left as
    # they are. It changes no figure (only how idle threads wait).
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from ._campaign import Attribute, Campaign, Margin, attribute_key, from_document, network_of
from ._checks import FLAGS, parse_instant_us
from ._errors import BundleError, BundleProblem
from ._parse import loads_bundle
from ._records import from_records
from ._rules import DEFAULT_RULES, effective_rules
from ._validate import validate_bundle
from .breakdowns import Breakdown, Breakdowns, ItemScores, SubsetFigures, SubsetScores
from .evaluate import Results, breakdown, evaluate, evaluate_document
from .flags import FlagResult, flag_ballots
from .weighting import rake

__all__ = [
    "DEFAULT_RULES",
    "FLAGS",
    "Attribute",
    "Breakdown",
    "Breakdowns",
    "BundleError",
    "BundleProblem",
    "Campaign",
    "FlagResult",
    "ItemScores",
    "Margin",
    "Results",
    "SubsetFigures",
    "SubsetScores",
    "attribute_key",
    "breakdown",
    "effective_rules",
    "evaluate",
    "evaluate_document",
    "flag_ballots",
    "from_document",
    "from_records",
    "loads_bundle",
    "network_of",
    "parse_instant_us",
    "rake",
    "validate_bundle",
]
