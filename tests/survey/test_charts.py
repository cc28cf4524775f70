"""Charts: real CJK glyphs (not tofu boxes) from the installed Noto Sans CJK,
served as PNG and SVG."""
from __future__ import annotations

import datetime as dt
import io

import numpy as np
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from PIL import Image

from survey import charts
from tests.factories import login, make_user
from tests.survey.test_results_support import make_committee_campaign

LABEL = "满意度评议"


def _render(text: str, family: str) -> np.ndarray:
    fig = charts.new_figure(3, 1)
    fig.text(0.05, 0.3, text, fontsize=28, family=family)
    png = charts.render(fig, "png")
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"))


def test_the_configured_font_is_noto_sans_cjk():
    path = charts.cjk_font_path()
    assert "NotoSansCJK" in path
    font = FT2Font(path)
    assert font.family_name.startswith("Noto Sans CJK")
    assert all(font.get_char_index(ord(ch)) for ch in LABEL)  # the font has these glyphs


def test_chinese_text_renders_as_glyphs_not_tofu():
    assert "DejaVuSans.ttf" in str(font_manager.findfont("DejaVu Sans"))
    dejavu = FT2Font(font_manager.findfont("DejaVu Sans"))
    assert not any(dejavu.get_char_index(ord(ch)) for ch in LABEL)  # DejaVu lacks them: tofu
    # With DejaVu every missing character is drawn as the same box …
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # matplotlib warns about the missing glyphs: that is the point
        tofu_a, tofu_b = _render("满", "DejaVu Sans"), _render("议", "DejaVu Sans")
        tofu_label = _render(LABEL, "DejaVu Sans")
    assert np.array_equal(tofu_a, tofu_b)
    # … while the CJK font draws different characters differently,
    cjk_a, cjk_b = _render("满", charts.CJK_FAMILY), _render("议", charts.CJK_FAMILY)
    assert not np.array_equal(cjk_a, cjk_b)
    # and the label as a whole is not the row of boxes.
    cjk_label = _render(LABEL, charts.CJK_FAMILY)
    assert cjk_label.shape == tofu_label.shape and not np.array_equal(cjk_label, tofu_label)
    ink = (cjk_label < 128).sum()
    assert ink > 200  # something was drawn


def test_chart_labels_use_the_cjk_font():
    fig = charts.ranking_chart([{"name": "市公安局", "score": 80.0, "ci95": [75.0, 85.0], "class": "basically_satisfied"}],
                               {"satisfied": 85, "basic": 60}, "行政执法类", {"satisfied": "满意",
                                                                          "basically_satisfied": "基本满意"})
    charts.render(fig, "png")
    ax = fig.axes[0]
    tick = ax.get_yticklabels()[0]
    with charts.cjk_fonts():
        used = font_manager.findfont(tick.get_fontproperties())
    assert tick.get_text() == "市公安局" and "NotoSansCJK" in used


def test_charts_are_served_as_png_and_svg(client, ctx):
    campaign = make_committee_campaign()
    make_user("committee")
    login(client, "committee")
    for name in ("ranking-law", "shares-svc", "returns", "history-u1"):
        png = client.get(f"/results/{campaign.code}/charts/{name}.png")
        assert png.status_code == 200 and png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"
        svg = client.get(f"/results/{campaign.code}/charts/{name}.svg")
        assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get(f"/results/{campaign.code}/charts/ranking-nope.png").status_code == 404
    assert client.get(f"/results/{campaign.code}/charts/returns.gif").status_code == 404
    page = client.get(f"/results/{campaign.code}").get_data(as_text=True)
    assert f"/results/{campaign.code}/charts/ranking-law.svg" in page


def test_the_return_board_chart_uses_the_cjk_font_too():
    fig = charts.returns_over_time_chart({"服务对象": [(dt.date(2026, 11, 2), 3), (dt.date(2026, 11, 3), 5)]},
                                         "回收情况", "累计回收（份）", "尚无回收")
    charts.render(fig, "png")
    ax = fig.axes[0]
    with charts.cjk_fonts():
        used = {font_manager.findfont(t.get_fontproperties()) for t in (ax.title, ax.yaxis.label,
                                                                        *ax.get_legend().get_texts())}
    assert ax.get_legend().get_texts()[0].get_text() == "服务对象"
    assert all("NotoSansCJK" in path for path in used), used
