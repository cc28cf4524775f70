"""The anonymised ballots through the API, page by page: the rows of the
raw ballot export (survey/results/ballot_export.py ``BallotTable``: the
same columns, flags, pseudonyms and nothing that leads to a person) as JSON
objects, for the committee, the organizer and the auditor (as the results
page's download)."""
from __future__ import annotations

from collections.abc import Generator
from contextlib import closing
from typing import Any, cast

from pydantic import Field

from survey.api.paging import CURSOR_PATTERN, PageQuery
from survey.api.registry import CAMPAIGN_PARAM
from survey.api.schemas import BallotColumn, BallotPage
from survey.api.scope import campaign_in_scope
from survey.api.v1 import api
from survey.clock import BEIJING
from survey.results import ballot_export, queries

#: Ballots per page at most: each page reads the campaign's ballots once (the
#: flags compare ballots with each other), so pages are larger than other lists'.
MAX_BALLOTS = 1000


class BallotQuery(PageQuery):
    limit: int = Field(200, ge=1, le=MAX_BALLOTS, description=f"每页最多票数（1–{MAX_BALLOTS}）")
    cursor: str | None = Field(None, pattern=CURSOR_PATTERN,
                               description="上一页答复中的 next_cursor（原样传回）；省略时从第一张票开始")


def rows(table: ballot_export.BallotTable, start: int, stop: int) -> list[dict[str, Any]]:
    """Ballots ``start`` to ``stop`` of the export's rows, each keyed by the column names:
    codes and labels as text, flags 0/1, times in ISO 8601 (Beijing)."""
    names = [c.name for c in table.columns]
    out: list[dict[str, Any]] = []
    first = 0
    # Left early, the generator is closed at once (and with it the comments' query).
    with closing(cast(Generator[dict[str, Any], None, None], table.chunks())) as chunks:
        for chunk in chunks:
            size = len(chunk["ballot_id"])
            a, b = max(start - first, 0), min(stop - first, size)
            if a < b:
                part = {name: values[a:b] for name, values in chunk.items()}
                out += [dict(zip(names, row, strict=True)) for row in ballot_export.cell_rows(
                    table, part, lambda t: t.replace(tzinfo=BEIJING).isoformat())]
            first += size
            if first >= stop:
                break
    return out


@api.get("/campaigns/<code>/ballots", CAMPAIGN_PARAM, response=BallotPage, query=BallotQuery, tag="results",
         summary="匿名评议票（原始数据）", errors=(409,))
def ballots(code: str, query: BallotQuery) -> BallotPage:
    """The campaign's ballots, one object per ballot, as the raw ballot
    export (CSV, XLSX, SPSS, Stata, Parquet) writes them: the ballot's random
    id, batch, group, channel, submission time (Beijing, to the second),
    duration, source as a pseudonym, the data-quality flags, every answer
    (option code and label per unit × item) and each comment. `columns` says
    what each key is. Before 定稿 the source pseudonyms are drawn afresh for
    each request (compare them within one page only); once finalized they
    are the final bundle's."""
    campaign = campaign_in_scope(code)
    queries.require_unsealed(campaign)  # sealed until 截止, as the results
    table = ballot_export.BallotTable(campaign)
    start = int(query.cursor[1:]) if query.cursor else 0
    stop = start + query.limit
    return BallotPage(items=rows(table, start, stop), limit=query.limit,
                      next_cursor=f"o{stop}" if stop < table.n else None, ballots=table.n,
                      pseudonyms="final" if table.stable_pseudonyms else "per_request",
                      interim=queries.interim(campaign),
                      columns=[BallotColumn.model_validate({"name": c.name, "label": c.label, "kind": c.kind,
                                                            "categories": list(c.categories)})
                               for c in table.columns])
