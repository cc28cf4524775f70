"""A campaign from its sections and an iterable of ballot records (the application's columnar path).

The database side (``survey.bundles``) hands the bundle's small sections as a
document without ``ballots`` and its ballots one at a time, read from the
database in chunks: each is checked by the per-record validator
(:func:`analysis._validate.validate_ballot`) and appended to the arrays
(:class:`analysis._campaign.BallotColumns`) before the next is read, so no
document of every ballot is ever held. For the same records the
:class:`Campaign` is the one :func:`from_document` gives for the whole
document, array for array.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import _limits, _validate
from ._campaign import BallotColumns, Campaign, _index, from_columns
from ._errors import BundleError, BundleProblem
from ._rules import effective_rules

__all__ = ["from_records"]


def from_records(sections: Mapping[str, Any], ballots: Iterable[Mapping[str, Any]],
                 override: Mapping[str, Any] | None = None) -> Campaign:
    """The :class:`Campaign` of a bundle given as its sections and its ballots.

    Parameters
    ----------
    sections : dict
        The pingyi-campaign/1 document without ``ballots`` (any such key is not read).
    ballots : iterable of dict
        The ballots in document order; read once, to the end (also where one
        is refused, so that every problem is reported).
    override : dict, optional
        Rules replacing the bundle's; always checked.

    Returns
    -------
    Campaign
        Equal, array for array, to ``from_document({**sections, "ballots": list(ballots)}, override)``.

    Raises
    ------
    BundleError
        With the problems :func:`analysis.validate_bundle` finds in the
        document (ballot paths ``ballots[i]`` as there), or the override's.
    """
    doc = dict(sections)
    doc.pop("ballots", None)
    problems: list[BundleProblem] = list(_validate.validate_header(doc))
    ctx = _validate.BundleContext()
    problems += _validate.sections_before_ballots(doc, ctx)
    if problems:
        raise BundleError(problems)
    cols = BallotColumns(doc)
    validate, add = _validate.validate_ballot, cols.add
    for r, ballot in enumerate(ballots):
        found = list(validate(ballot, r, ctx))
        if found:
            problems += found
        elif not problems:
            add(ballot)
    problems += _validate.sections_after_ballots(doc, ctx)
    if problems:
        raise BundleError(problems)
    rules = effective_rules(doc.get("rules"), override, _index(doc["items"]))
    overflow = _limits.finite_problems(doc, rules, n_ballots=len(cols))
    if overflow:
        raise BundleError(overflow)
    return from_columns(doc, cols, rules)
