"""The refusal of a bundle: one :class:`BundleProblem` per reason, gathered in a :class:`BundleError`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ERRORS_FORMAT", "BundleProblem", "BundleError"]

ERRORS_FORMAT = "pingyi-errors/1"


@dataclass(frozen=True)
class BundleProblem:
    """One reason a bundle is refused.

    Attributes
    ----------
    path : str
        Where in the document, e.g. ``ballots[3].answers.u99`` (``$`` for the
        document as a whole).
    reason : str
        The reason in Chinese, for the organiser.
    reason_en : str
        The same reason in English.
    """

    path: str
    reason: str
    reason_en: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason, "reason_en": self.reason_en}


class BundleError(ValueError):
    """A bundle refused whole, carrying every problem found.

    Attributes
    ----------
    problems : list of BundleProblem
        All problems, in document order as far as the checks allow.
    """

    def __init__(self, problems: Iterable[BundleProblem]):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else None
        summary = f"{first.path}: {first.reason_en}" if first else "invalid bundle"
        more = len(self.problems) - 1
        if more > 0:
            summary += f" (and {more} more problem{'s' if more > 1 else ''})"
        super().__init__(summary)

    def to_json(self) -> dict[str, Any]:
        """The refusal as a pingyi-errors/1 document."""
        return {"format": ERRORS_FORMAT, "errors": [p.to_json() for p in self.problems]}
