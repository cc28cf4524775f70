"""The HTML the results pages embed that is drawn from a snapshot (the ballot
counts and ranking tables, a unit's result, the data-quality panel, the
select of sixty units): rendered once and kept beside the snapshot
(``artifacts``), so that a process that has not rendered it yet reads it
instead. ``keep_all`` renders all of it right after a computation."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from survey.models import Campaign, CampaignUnit, ClassOverride, ResultSnapshot
from survey.models.distribution import CHANNEL_LABELS
from survey.results import artifacts, forms, queries
from survey.results.queries import CategoryLine, UnitLine
from survey.results.snapshots import effective_rules, parsed


def cached_markup(snap: ResultSnapshot, key: Any, make: Callable[[], Any]) -> Markup:
    """HTML drawn from a snapshot, made once and kept beside it
    (``artifacts.fetch``): the caller puts in ``key`` everything the HTML
    shows that is not read from the request, without parsing the results
    (``make`` does that, where the HTML is not kept yet); the language and the
    URL root are added here."""
    digest = artifacts.digest(["html", str(get_locale()), request.script_root, key])
    return Markup(artifacts.fetch(snap, digest, "text/html",
                                  lambda: str(make()).encode("utf-8")).decode("utf-8"))


def fragment(snap: ResultSnapshot, template: str, key: Any, context: Callable[[], dict[str, Any]]) -> Markup:
    """A template rendered once for the same ``key`` (see ``cached_markup``);
    ``context()`` gives its variables where it has to be rendered."""
    return cached_markup(snap, [template, key], lambda: render_template(template, **context()))


def unit_choices(campaign: Campaign, units: list[UnitLine] | None = None) -> list[SelectChoice]:
    """The choices of a select of the campaign's units."""
    units = queries.unit_list(campaign) if units is None else units
    return [SelectChoice(cu.code, f"{cu.name}（{cu.code}）") for cu in units]


def unit_select(snap: ResultSnapshot, field: Any) -> Markup:
    """A select of the campaign's units (sixty options on every ranking page),
    made once for the same choices and selection."""
    return cached_markup(snap, ["unit-select", field.id, field.name, field.data,
                                [(c.value, c.label) for c in field.choices]], field)


def ranking_tables(campaign: Campaign, snap: ResultSnapshot, units: list[UnitLine],
                   categories: list[CategoryLine], overrides: list[ClassOverride]) -> Markup:
    """The ballot counts and the ranking tables: the snapshot's results (by
    hash) with the campaign's units, categories and overrides as they are now."""
    key = [campaign.code, snap.results_sha256, [list(u) for u in units], [[c.code, c.label] for c in categories],
           [[o.campaign_unit_id, o.new_class, o.reason] for o in overrides]]

    def context() -> dict[str, Any]:
        results = parsed(snap)
        return {"campaign": campaign, "ballots": results["ballots"],
                "views": queries.ranking(campaign, results, units, overrides, categories)}

    return fragment(snap, "results/_ranking.html", key, context)


def unit_result_html(campaign: Campaign, snap: ResultSnapshot, cu: CampaignUnit, groups: dict[str, str]) -> Markup:
    """A unit's result, the grounds of its class and its group scores."""
    labels, rules, override = queries.labels_of(campaign), effective_rules(campaign), queries.override_of(cu)
    options = labels.options
    from survey.sessions import services as sessions

    field_sessions = sessions.unit_sessions(campaign, cu.code)
    key = [snap.results_sha256, cu.code, groups, options, labels.items, rules,
           None if override is None else [override.new_class, override.reason], field_sessions]

    def context() -> dict[str, Any]:
        result = queries.unit_result(parsed(snap), cu.code)
        by_session = sessions.unit_session_figures(campaign, cu.code, field_sessions)
        channels = {code: _(label) for code, label in CHANNEL_LABELS.items()}
        return {"r": result, "final_class": queries.final_class(result, override), "groups": groups,
                "options": options, "rules": rules, "override": override,
                "items": queries.item_rows(result, labels.items),
                "by_batch": queries.subset_rows(result.get("by_batch"), {}),
                "by_channel": queries.subset_rows(result.get("by_channel"), channels),
                "by_session": queries.subset_rows({code: f for code, f in by_session.items() if f},
                                                  {code: name for code, name, _batches in field_sessions}),
                "by_attribute": {name: queries.subset_rows(values, {})
                                 for name, values in (result.get("by_attribute") or {}).items()},
                "campaign_code": campaign.code}

    return fragment(snap, "results/_unit_result.html", key, context)


def quality_panel(snap: ResultSnapshot, template: str = "results/_quality.html") -> Markup:
    """Ballot counts and flag counts; with ``results/_excluded.html``, the
    excluded ballots by id, with their reasons."""
    return fragment(snap, template, [snap.results_sha256], lambda: {"dq": queries.data_quality(parsed(snap))})


def excluded_list(snap: ResultSnapshot) -> Markup:
    """The excluded ballots by id, with their reasons."""
    return quality_panel(snap, "results/_excluded.html")


def keep_all(campaign: Campaign, snap: ResultSnapshot) -> None:
    """Render every table the pages show for a snapshot, in the office's
    language and under the public URL's root, and keep it (in a job: the
    caller commits)."""
    with current_app.test_request_context("/", base_url=current_app.config["PINGYI_PUBLIC_URL"]), \
            artifacts.keeping():
        units = queries.unit_list(campaign)
        ranking_tables(campaign, snap, units, queries.categories_of(campaign), queries.overrides_of(campaign))
        select = forms.OverrideForm(meta={"csrf": False}).unit
        select.choices = unit_choices(campaign, units)
        unit_select(snap, select)
        quality_panel(snap)
        excluded_list(snap)
        groups = queries.group_labels(campaign)
        for cu in queries.units_of(campaign):
            unit_result_html(campaign, snap, cu, groups)
