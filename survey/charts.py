"""The committee's charts as matplotlib Figures (never pyplot: pages are served
from threads), rendered to PNG, SVG or PDF bytes with a real CJK font."""
from __future__ import annotations

import datetime as dt
import io
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Patch

#: The CJK family Debian's fonts-noto-cjk installs.
CJK_FAMILY = "Noto Sans CJK SC"
#: Colours of the classes, as on the pages.
CLASS_COLOURS = {"satisfied": "#1e7a46", "basically_satisfied": "#c98a00", "dissatisfied": "#b3261e",
                 "insufficient": "#9aa5b1"}
OPTION_COLOURS = ["#1e7a46", "#c98a00", "#b3261e", "#52606d", "#9aa5b1"]


@lru_cache(maxsize=1)
def cjk_font_path() -> str:
    """The file of the installed Noto Sans CJK font; refuses to fall back to a
    font without Chinese glyphs (charts would show boxes, 豆腐块)."""
    path = font_manager.findfont(font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False)
    if "NotoSansCJK" not in path.replace("-", "").replace("_", ""):
        raise RuntimeError(f"未找到中文字体 {CJK_FAMILY}（请安装 fonts-noto-cjk），找到的是 {path}")
    return path


#: matplotlib's rcParams are one per process: charts built or drawn in
#: concurrent requests take turns, so that one request's settings never end
#: while another draws (its Chinese text would fall back to DejaVu: tofu).
_RC_LOCK = threading.RLock()


@contextmanager
def cjk_fonts() -> Iterator[None]:
    """Text drawn inside uses the CJK font (it has Latin letters, digits and the
    symbols we draw too; a fallback list would double the cost of every text).

    Every text is literal: the names drawn are the organizer's data (a unit
    called ``市$\\frac$局`` would make mathtext raise, and ``$…$`` or a TeX
    command would not be shown as written). Every chart, and the PDF's pages,
    are built and drawn inside this context, so each Text, tick label and
    legend entry is made with ``parse_math=False`` (the rcParam is read when a
    Text is created; ticks made while drawing are made inside too)."""
    cjk_font_path()
    with _RC_LOCK, matplotlib.rc_context({"font.family": "sans-serif",
                                "font.sans-serif": [CJK_FAMILY],
                                "axes.unicode_minus": False,
                                "text.parse_math": False,
                                "text.usetex": False,
                                "svg.fonttype": "path",
                                "pdf.fonttype": 42}):
        yield


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


#: The SVG whose words stay text (svg.fonttype 'none'), for a document that
#: embeds the font itself (the PDF report): its words can be found and copied.
SVG_TEXT = "svg-text"


def render(fig: Figure, fmt: str) -> bytes:
    """PNG, SVG (text as outlines), SVG_TEXT or PDF bytes of a figure."""
    if fmt not in ("png", "svg", SVG_TEXT, "pdf"):
        raise ValueError(f"不支持的图表格式 {fmt!r}")
    buf = io.BytesIO()
    with cjk_fonts(), matplotlib.rc_context({"svg.fonttype": "none"} if fmt == SVG_TEXT else {}):
        fig.savefig(buf, format="svg" if fmt == SVG_TEXT else fmt)
    return buf.getvalue()


def _height(n: int) -> float:
    return max(2.5, 0.8 + 0.32 * n)


def _fit_labels(fig: Figure, labels: Sequence[str], *, top: float = 0.6) -> None:
    """Room on the left for the unit names, computed (no layout engine: it
    would draw the figure twice). ``top``: inches above the axes."""
    width, height = fig.get_size_inches()
    longest = max((len(label) for label in labels), default=4)
    left = min(0.5, (0.35 + 0.15 * longest) / width)  # ~0.14 in per CJK character at 10 pt
    fig.subplots_adjust(left=left, right=0.97, top=1 - top / height, bottom=0.55 / height)


def _hbars(ax: Any, ys: Sequence[float], widths: Sequence[float], lefts: Sequence[float] | None,
           colours: str | Sequence[str], height: float = 0.6) -> None:
    """Horizontal bars as one collection (what ``barh`` draws, without one
    Rectangle artist and transform per bar)."""
    lefts = [0.0] * len(ys) if lefts is None else lefts
    h = height / 2
    verts = [[(x0, y - h), (x0 + w, y - h), (x0 + w, y + h), (x0, y + h)]
             for y, w, x0 in zip(ys, widths, lefts, strict=True)]
    ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors="none", linewidths=0))
    ax.autoscale_view()


def ranking_chart(units: Sequence[dict[str, Any]], thresholds: dict[str, float], title: str,
                  class_labels: dict[str, str], xlabel: str = "综合得分") -> Figure:
    """Horizontal bars of the units' scores (best on top), coloured by class,
    with the 95% interval as whiskers and the class thresholds as lines.

    ``units``: dicts with ``name``, ``score`` (or None), ``ci95`` (or None), ``class``.
    """
    with cjk_fonts():
        rows = [u for u in units if u.get("score") is not None]
        rows.sort(key=lambda u: u["score"])
        fig = new_figure(7.5, _height(len(rows)))
        ax = fig.add_subplot()
        ys = range(len(rows))
        scores = [u["score"] for u in rows]
        colours = [CLASS_COLOURS.get(u["class"], "#52606d") for u in rows]
        _hbars(ax, list(ys), scores, None, colours)
        whiskers = [(y, u["ci95"]) for y, u in zip(ys, rows, strict=True) if u.get("ci95")]
        if whiskers:  # one collection for all the intervals: cheaper to draw than errorbar's artists
            ax.hlines([y for y, _ci in whiskers], [ci[0] for _y, ci in whiskers], [ci[1] for _y, ci in whiskers],
                      color="#1f2933", linewidth=1)
        ax.set_yticks(list(ys), [u["name"] for u in rows])
        _fit_labels(fig, [u["name"] for u in rows])
        for key, style, label in (("satisfied", "--", class_labels["satisfied"]),
                                  ("basic", ":", class_labels["basically_satisfied"])):
            if key in thresholds:
                x = float(thresholds[key])
                ax.axvline(x, color="#1f2933", linestyle=style, linewidth=1)
                ax.text(x, 1.0, f" {label} ≥ {x:g}", transform=ax.get_xaxis_transform(), fontsize=8, va="bottom")
        ax.set_xlim(0, 100)
        ax.set_xlabel(xlabel)
        ax.set_title(title, pad=14)
    return fig


def shares_chart(units: Sequence[dict[str, Any]], options: Sequence[tuple[str, str]], title: str) -> Figure:
    """Stacked option shares (满意率 …) per unit. ``options``: (code, label)."""
    with cjk_fonts():
        rows = [u for u in units if u.get("shares")]
        fig = new_figure(7.5, _height(len(rows)))
        ax = fig.add_subplot()
        ys = list(range(len(rows)))[::-1]
        left = [0.0] * len(rows)
        handles = []
        for k, (code, label) in enumerate(options):
            values = [100 * (u["shares"].get(code) or 0.0) for u in rows]
            colour = OPTION_COLOURS[k % len(OPTION_COLOURS)]
            _hbars(ax, ys, values, left, colour)
            handles.append(Patch(facecolor=colour, label=label))
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_yticks(ys, [u["name"] for u in rows])
        _fit_labels(fig, [u["name"] for u in rows], top=0.9)
        ax.set_xlim(0, 100)
        ax.set_xlabel("占比（%）")
        ax.set_title(title, pad=22)
        if rows:
            ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), fontsize=8, ncols=len(options),
                      frameon=False)
    return fig


def return_rate_chart(groups: Sequence[dict[str, Any]], target: float | None, title: str) -> Figure:
    """Return rate per evaluator group, with the target. ``groups``: ``label``,
    ``return_rate`` (over the personal channels; None: none to show), optionally
    ``quota`` (the rate is against the group's quota) and ``open_returned``
    (the open channels' ballots, written beside the rate)."""
    with cjk_fonts():
        fig = new_figure(7.5, 3.6)
        ax = fig.add_subplot()
        labels = [g["label"] for g in groups]
        rates = [100 * g["return_rate"] if g.get("return_rate") is not None else 0.0 for g in groups]
        ax.bar(range(len(groups)), rates, color="#3e6b9a")
        for k, g in enumerate(groups):
            text = "开放渠道" if g.get("return_rate") is None else f"{rates[k]:.1f}%"
            if g.get("return_rate") is not None and g.get("quota"):
                text += "（对名额）"
            if g.get("open_returned"):
                text += f"\n另开放渠道 {g['open_returned']} 份"
            ax.text(k, rates[k] + 1.5, text, ha="center", fontsize=8)
        if target is not None:
            ax.axhline(100 * target, color="#b3261e", linestyle="--", linewidth=1, label=f"目标 {100 * target:.0f}%")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xticks(range(len(groups)), labels, rotation=15)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.22)
        ax.set_ylim(0, 110)
        ax.set_ylabel("回收率（%）")
        ax.set_title(title)
    return fig


def history_chart(points: Sequence[dict[str, Any]], thresholds: dict[str, float], title: str) -> Figure:
    """A unit's score over the years. ``points``: dicts with ``year``, ``score``, ``class``."""
    with cjk_fonts():
        fig = new_figure(6.0, 3.4)
        ax = fig.add_subplot()
        pts = [p for p in points if p.get("score") is not None and not math.isnan(p["score"])]
        years = [p["year"] for p in pts]
        ax.plot(years, [p["score"] for p in pts], color="#1f2933", marker="o", linewidth=1.5)
        for p in pts:
            ax.scatter([p["year"]], [p["score"]], color=CLASS_COLOURS.get(p["class"], "#52606d"), zorder=3, s=50)
        for key, style in (("satisfied", "--"), ("basic", ":")):
            if key in thresholds:
                ax.axhline(float(thresholds[key]), color="#52606d", linestyle=style, linewidth=1)
        ax.set_xticks(years, [f"{y}年" for y in years])
        fig.subplots_adjust(left=0.12, right=0.96, top=0.88, bottom=0.14)
        ax.set_ylim(0, 100)
        ax.set_ylabel("综合得分")
        ax.set_title(title)
    return fig


def returns_over_time_chart(series: dict[str, Sequence[tuple[dt.date, int]]], title: str, ylabel: str,
                            empty: str) -> Figure:
    """Cumulative returns per group by day, as step lines. ``series``: label →
    (day, running total) in day order; ``empty``: the text where there is none."""
    from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
    from matplotlib.ticker import Formatter, Locator, MaxNLocator

    # matplotlib.dates' classes are not annotated: these say what they make.
    date_locator: Callable[..., Locator] = AutoDateLocator
    date_formatter: Callable[[str], Formatter] = DateFormatter
    date_numbers: Callable[[list[dt.date]], Any] = date2num  # an array of floats
    one_day = dt.timedelta(days=1)
    with cjk_fonts():
        fig = new_figure(7.0, 3.6)
        ax = fig.add_subplot()
        days = sorted({d for points in series.values() for d, _n in points})
        for label, points in series.items():
            # Each line starts at 0 the day before the first return and runs to the last day.
            xs = [days[0] - one_day] + [d for d, _n in points] + [days[-1] + one_day]
            ys = [0] + [n for _d, n in points] + [points[-1][1]]
            ax.step(date_numbers(xs), ys, where="post", label=label)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(date_locator(minticks=2, maxticks=10))
        ax.xaxis.set_major_formatter(date_formatter("%m-%d"))
        if series:
            start, end = date_numbers([days[0] - one_day, days[-1] + one_day])
            ax.set_xlim(float(start), float(end))
            ax.legend(loc="upper left")
        else:
            ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes)
        ax.grid(alpha=0.3)
        fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.12)
    return fig
