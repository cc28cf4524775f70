"""Optional English labels of categories, units, items and options: entered in
set-up, carried in the bundle's extensions.labels_en, shown on the ballot in
English (the Chinese label where there is none)."""
from __future__ import annotations

import pytest

from analysis import BundleError
from survey.bundles import export_bundle, import_bundle
from survey.campaigns import setup
from survey.extensions import db
from tests.factories import PASSWORD, bundle, login, make_campaign, make_user


def test_the_bundle_carries_english_labels_and_comes_back_the_same(ctx) -> None:
    doc = bundle("en2026")
    doc["extensions"]["labels_en"]["units"] = {"u1": "Bureau One"}
    campaign = import_bundle(doc)
    assert campaign.units[0].name_en == "Bureau One" and campaign.units[1].name_en is None
    assert campaign.items[0].label_en == "Overall" and campaign.scale[3].label_en == "Don't know"
    assert export_bundle(campaign) == doc


def test_a_bundle_without_english_labels_exports_none(ctx) -> None:
    doc = bundle("plain")
    del doc["extensions"]
    assert "extensions" not in export_bundle(import_bundle(doc))


@pytest.mark.parametrize("labels, path", [
    ({"units": {"nope": "X"}}, "extensions.labels_en.units.nope"),
    ({"items": {"i0": ""}}, "extensions.labels_en.items.i0"),
    ({"items": {"i0": 3}}, "extensions.labels_en.items.i0"),
    ({"scale": {"S": "x" * 101}}, "extensions.labels_en.scale.S"),
    ({"colours": {}}, "extensions.labels_en.colours"),
    ({"units": ["u1"]}, "extensions.labels_en.units"),
])
def test_bad_english_labels_are_refused(ctx, labels, path) -> None:
    with pytest.raises(BundleError) as refused:
        import_bundle(bundle(extensions={"labels_en": labels}))
    assert path in {p.path for p in refused.value.problems}


def test_setup_english_labels_reach_the_english_ballot(app, client) -> None:
    with app.app_context():
        campaign, tokens = make_campaign(status="draft", extensions={})
        setup.add_option(campaign, code="X", label="弃权", points=None, label_en="Abstain")
        setup.update_item(campaign, campaign.items[0], label="总体评价", weight=1.0, label_en="Overall verdict")
        setup.add_category(campaign, code="new", label="新类别", label_en="New kind")
        setup.add_unit(campaign, category=campaign.categories[-1], code="u9", name="市新设局", name_en="New Bureau")
        setup.change_status(campaign, "open")
        db.session.commit()
        make_user("organizer")
    english = client.get(f"/b/{tokens[0]}?lang=en").get_data(as_text=True)
    assert "Overall verdict" in english and "Abstain" in english and "New kind" in english
    assert "New Bureau" in english and "市第1局" in english  # no English name: the Chinese one
    assert "满意" in english  # the options without an English label keep theirs
    chinese = client.get(f"/b/{tokens[0]}?lang=zh").get_data(as_text=True)
    assert "Overall verdict" not in chinese and "市新设局" in chinese and "弃权" in chinese
    login(client, "organizer", PASSWORD)
    page = client.get("/campaigns/t2026/setup/questionnaire").get_data(as_text=True)
    assert "Overall verdict" in page and 'name="label_en"' in page
