"""The results of a campaign, by job:

- ``snapshots``: compute, fingerprint, store and cache the results snapshot;
- ``queries``: read it (rankings, a unit's result and final class, labels, categories, settings);
- ``inputs``: the organizer's objective scores and vetoes, the data-quality exclude flags;
- ``signoff``: approvals, quorum, class overrides, finalization;
- ``publication``: publication, the public page's state, appeals;
- ``comments``: a unit's comments, what its liaison may see, their answers;
- ``rectification``: consequences, rectification, follow-up checks;
- ``carrying``, ``escalation``, ``lookback``, ``honours``: consequences carried out (owner, deadline,
  proof, red), escalation rules, 回头看 findings, the best units (先进); their pages in ``carrying_routes``;
- ``history``: a unit's results across years;
- ``artifacts``, ``tables``, ``exports``: what is drawn from a snapshot (charts, HTML, XLSX, PDF);
- ``routes``: the pages (committee, organizer, liaison, public, auditor)."""
from __future__ import annotations

from survey.errors import UserError


class ResultsError(UserError):
    """A committee action that cannot be done; the message says why, in Chinese."""
