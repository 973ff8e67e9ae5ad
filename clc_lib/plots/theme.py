"""One look for every chart: the seaborn theme, axis formatters, the ``ax=`` convention and input checks.

Every chart module draws with these, so that all charts share colours, tick labels, period labels,
the marking of incomplete periods and the wording of errors about wrong input.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence

import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.errors import DataError
from clc_lib.i18n import N_, _, current_language, format_date

PALETTE = "colorblind"
FIGSIZE = (9.0, 4.8)
#: At most this many labelled ticks on a time axis; longer series get a tick every few periods.
MAX_PERIOD_TICKS = 14
#: Pixel density of the charts in the reports: 2 pixels per CSS pixel (sharp on high-density screens).
PIXEL_DENSITY = 2
#: The font of the charts' Latin text.
THEME_FONT = "DejaVu Sans"
#: The font that draws the Chinese characters of each language (Debian ``fonts-noto-cjk``); the
#: simplified one also serves English charts whose data hold Chinese names.
CJK_FONTS: Mapping[str, str] = {"en": "Noto Sans CJK SC", "zh-Hans": "Noto Sans CJK SC", "zh-Hant": "Noto Sans CJK TC"}

#: The eight colours of Okabe and Ito (2008), "Color Universal Design", chosen to stay apart for
#: readers with the common colour-vision deficiencies.
OKABE_ITO: Mapping[str, str] = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "bluish_green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish_purple": "#CC79A7",
}

#: One colour per lifecycle stage in every chart: prospects in greys, the growing and healthy
#: stages in blues and green, decline from yellow over orange to vermillion, and reactivation purple.
#: Nine stages share seven Okabe-Ito hues and two greys; every chart that draws stages also names
#: them (legend, axis labels or text on the shape) and keeps their lifecycle order, so a stage is
#: never told by its colour alone.
STAGE_COLORS: Mapping[str, str] = {
    "aware": "#E0E0E0",
    "engaged": "#666666",
    "new": OKABE_ITO["sky_blue"],
    "active": OKABE_ITO["blue"],
    "loyal": OKABE_ITO["bluish_green"],
    "at_risk": OKABE_ITO["yellow"],
    "dormant": OKABE_ITO["orange"],
    "churned": OKABE_ITO["vermillion"],
    "reactivated": OKABE_ITO["reddish_purple"],
}
#: Colour of the active, lapsed and churned groups of customers (``clc_lib.definitions``): lapsed
#: customers are the at-risk and dormant stages, drawn in the at-risk colour.
CUSTOMER_STATUS_COLORS: Mapping[str, str] = {
    "active": STAGE_COLORS["active"], "lapsed": STAGE_COLORS["at_risk"], "churned": STAGE_COLORS["churned"],
}

#: RFM segments grouped by how the customer stands, best first. The presets of
#: ``clc_lib/rfm_segments.yaml`` have up to twelve segments, more than a reader tells apart by colour,
#: so a segment's colour says its group and the segment's name is always written beside it.
SEGMENT_GROUPS: Mapping[str, tuple[str, ...]] = {
    N_("best"): ("Champions", "Loyalists"),
    N_("growing"): ("Potential Loyalist", "Potential Loyalists", "First-Time Buyers", "Promising"),
    N_("needs attention"): ("Need Attention", "About To Sleep"),
    N_("slipping"): ("Slipping Regulars", "Can't Lose Them", "Can't Lose"),
    N_("gone quiet"): ("Hibernating", "Lost"),
}
SEGMENT_GROUP_COLORS: Mapping[str, str] = {
    "best": OKABE_ITO["blue"], "growing": OKABE_ITO["sky_blue"], "needs attention": OKABE_ITO["yellow"],
    "slipping": OKABE_ITO["orange"], "gone quiet": OKABE_ITO["vermillion"],
}
#: Colour of segments outside :data:`SEGMENT_GROUPS` (``Other`` and segments of a custom map).
OTHER_SEGMENT_COLOR = "#999999"
#: One colour per RFM segment of the presets, the same in every chart.
SEGMENT_COLORS: Mapping[str, str] = {
    segment: SEGMENT_GROUP_COLORS[group] for group, segments in SEGMENT_GROUPS.items() for segment in segments
}
#: Colour of people seen for the first time (no earlier stage), e.g. in the stage flows.
FIRST_SEEN_COLOR = "#D9D9D9"


def term_label(key: str, **values) -> str:
    """The label of the term ``key`` (:data:`clc_lib.definitions.TERMS`) in the active language, its
    braces filled from ``values`` (``term_label("repeat_within_window", window_days=90)``)."""
    from clc_lib.definitions import TERMS

    label = _(TERMS[key].label)
    return label.format(**values) if values else label


def stage_color(stage: str) -> str:
    """Colour of ``stage`` (a name of ``clc_lib.stages.STAGES``); a light grey for anything else."""
    return STAGE_COLORS.get(str(stage), FIRST_SEEN_COLOR)


def segment_color(segment: str) -> str:
    """Colour of an RFM segment: its group's colour (:data:`SEGMENT_GROUPS`), grey for other segments."""
    return SEGMENT_COLORS.get(str(segment), OTHER_SEGMENT_COLOR)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def chart_fonts(language: str | None = None) -> list[str]:
    """The font families of the charts, in fallback order: :data:`THEME_FONT`, then the CJK font of
    ``language`` (default the active one, :func:`clc_lib.i18n.current_language`)."""
    from clc_lib.i18n import current_language, parse_language

    tag = current_language() if language is None else parse_language(language)
    return [THEME_FONT, CJK_FONTS[tag]]


def use_chart_fonts(language: str | None = None) -> None:
    """Draw the charts from here on with :func:`chart_fonts` of ``language`` (the rest of the theme stays)."""
    plt.rcParams["font.family"] = chart_fonts(language)


def set_theme(language: str | None = None) -> None:
    """Apply the project's seaborn theme (white grid, colour-blind palette, readable sizes, 2x images).

    Characters the theme's font lacks (Chinese titles, labels and data values) are drawn with the
    Noto CJK font of ``language`` (default the active language), see :func:`chart_fonts`.

    Text is drawn literally: labels come from the data (categories, channels, campaign names), and
    matplotlib would otherwise read text between two ``$`` as mathtext, so that ``Save $5 - $10``
    shows as "Save 5 − 10" and ``Gifts $x^$`` stops the chart with a parse error.

    Inside IPython (the notebooks of the reports) inline charts are PNGs at :data:`PIXEL_DENSITY`
    times the pixels of their display size, with the display size stored beside them, so that the
    HTML shows them at the same size but sharp on high-density screens. Saved files use the same
    density (``savefig.dpi``).
    """
    sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook",
                  rc={"figure.figsize": FIGSIZE, "axes.titleweight": "bold", "axes.titlesize": 13,
                      "figure.dpi": 100, "savefig.dpi": 100 * PIXEL_DENSITY, "savefig.bbox": "tight",
                      "text.parse_math": False, "font.family": chart_fonts(language)})
    if _in_ipython():
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")


def get_ax(ax: plt.Axes | None = None, figsize: tuple[float, float] | None = None) -> plt.Axes:
    """Return ``ax``, or the axes of a new figure when ``ax`` is None."""
    if ax is not None:
        return ax
    _figure, new_ax = plt.subplots(figsize=figsize or FIGSIZE)
    return new_ax


#: Longest title line and axis label line (characters) before the text wraps onto another line.
TITLE_WIDTH = 80
AXIS_LABEL_WIDTH = 55


def _display_width(text: str) -> int:
    """Width of ``text`` in Latin character widths: East Asian wide characters count twice."""
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _wrap_wide(line: str, width: int) -> list[str]:
    """Break a line of Chinese text at ``width`` Latin character widths, keeping closing punctuation
    and words of Latin letters or digits (units, data values) whole where they fit."""
    pieces = re.findall(r"[A-Za-z0-9_.,:%+\-]+|\s+|.", line)
    lines, current = [], ""
    for piece in pieces:
        closing = piece in "，。、；：）」』》！？)"
        if current and _display_width(current + piece) > width and not closing:
            lines.append(current.rstrip())
            current = piece.lstrip()
        else:
            current += piece
    return [*lines, current] if current else lines


def _wrap(text: str, width: int) -> str:
    wrapped = []
    for line in text.split("\n"):
        if _display_width(line) <= width:
            wrapped.append(line)
        elif _display_width(line) > len(line):
            wrapped.extend(_wrap_wide(line, width))
        else:
            wrapped.append(textwrap.fill(line, width))
    return "\n".join(wrapped)


def label_axes(ax: plt.Axes, title: str, xlabel: str | None = None, ylabel: str | None = None) -> plt.Axes:
    """Set the title and axis labels (units belong in the labels, e.g. "Revenue (EUR)").

    Lines longer than :data:`TITLE_WIDTH` (title) or :data:`AXIS_LABEL_WIDTH` (axis labels)
    characters wrap (a Chinese character counts as two), so that a long label neither shrinks the
    image nor runs past the chart.
    """
    ax.set_title(_wrap(title, TITLE_WIDTH))
    if xlabel is not None:
        ax.set_xlabel(_wrap(xlabel, TITLE_WIDTH))
    if ylabel is not None:
        ax.set_ylabel(_wrap(ylabel, AXIS_LABEL_WIDTH))
    return ax


def rate_axis_from_zero(ax: plt.Axes, values, axis: str = "y") -> None:
    """Start a rate axis at zero with a little room above the highest value (so no point is cut)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    top = float(finite.max()) * 1.08 if finite.size and finite.max() > 0 else 1.0
    (ax.set_ylim if axis == "y" else ax.set_xlim)(0, top)


def plot_rate_per_period(ax: plt.Axes, dates, rates) -> plt.Axes:
    """Draw a rate per period as a line with markers: period ticks, a percent axis from zero.

    ``dates`` are the periods' start dates, ``rates`` the shares (1 = 100%) in the same order.
    """
    dates = pd.to_datetime(dates)
    ax.plot(dates, rates, marker="o")
    set_period_ticks(ax, dates)
    format_percent_axis(ax)
    rate_axis_from_zero(ax, rates)
    return ax


def _axis(ax: plt.Axes, axis: str):
    return ax.yaxis if axis == "y" else ax.xaxis


#: Chinese amounts from 10,000 are written in 万 (10^4) and 亿 (10^8), as Chinese readers count money.
_CHINESE_MAGNITUDES: Mapping[str, tuple[tuple[float, str], ...]] = {
    "zh-Hans": ((1e8, "亿"), (1e4, "万")),
    "zh-Hant": ((1e8, "億"), (1e4, "萬")),
}


def _chinese_amount(value: float, language: str) -> str:
    """``value`` for a Chinese tick label: ``25,000`` -> ``2.5万``, ``300,000,000`` -> ``3亿``."""
    for size, word in _CHINESE_MAGNITUDES[language]:
        if abs(value) >= size:
            return f"{value / size:,.1f}".removesuffix(".0") + word
    whole = abs(value) >= 100 or float(value).is_integer()
    return f"{value:,.0f}" if whole else f"{value:,.2f}"


def format_currency_axis(ax: plt.Axes, currency: str = "", axis: str = "y") -> plt.Axes:
    """Tick labels as money with thousands separators, e.g. ``12,500 EUR`` (k/M for large values).

    In Chinese (the active language when called) the currency code comes first and amounts from
    10,000 are counted in 万/萬 and 亿/億: ``EUR 2.5万``.
    """
    suffix = f" {currency}" if currency else ""
    language = current_language()

    def fmt(value: float, _pos: int) -> str:
        if language in _CHINESE_MAGNITUDES:
            amount = _chinese_amount(value, language)
            return f"{currency} {amount}" if currency else amount
        magnitude = abs(value)
        if magnitude >= 1e6:
            return f"{value / 1e6:,.1f}M{suffix}"
        if magnitude >= 1e4:
            return f"{value / 1e3:,.0f}k{suffix}"
        whole = magnitude >= 100 or float(value).is_integer()
        return f"{value:,.0f}{suffix}" if whole else f"{value:,.2f}{suffix}"

    _axis(ax, axis).set_major_formatter(mticker.FuncFormatter(fmt))
    if axis == "x" and currency:
        # labels with a currency are wide: fewer of them so that they never touch
        ax.xaxis.set_major_locator(mticker.MaxNLocator(nbins=5))
    return ax


class ShareFormatter(mticker.Formatter):
    """Tick labels as percentages of shares (0.25 -> "25%") with as many decimals as the ticks need.

    The decimals are the fewest (at most :attr:`max_decimals`) that write every tick exactly and
    tell all ticks apart: ticks 0.29, 0.295, 0.30 read "29.0%, 29.5%, 30.0%", never "29%, 30%, 30%".
    ``decimals`` fixes them instead.
    """

    max_decimals = 3

    def __init__(self, decimals: int | None = None) -> None:
        self.decimals = decimals
        self._chosen = 0 if decimals is None else decimals

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        if self.decimals is None:
            self._chosen = self.decimals_for(locs)

    @classmethod
    def decimals_for(cls, locs) -> int:
        """Fewest decimals that write each of ``locs`` (shares) exactly as a percentage and keep them distinct."""
        percents = 100 * np.asarray([loc for loc in locs if np.isfinite(loc)], dtype=float)
        for decimals in range(cls.max_decimals + 1):
            rounded = np.round(percents, decimals)
            exact = np.allclose(rounded, percents, rtol=0, atol=1e-9 * max(1.0, float(np.abs(percents).max(initial=0))))
            if exact and len(set(rounded)) == len(percents):
                return decimals
        return cls.max_decimals

    def __call__(self, value: float, pos=None) -> str:
        text = f"{100 * value:.{self._chosen}f}%"
        return "0%" if text.lstrip("-").rstrip("%").strip("0.") == "" else text


def format_percent_axis(ax: plt.Axes, axis: str = "y", decimals: int | None = None) -> plt.Axes:
    """Tick labels as percentages for values stored as shares (0.25 -> 25%), decimals as the ticks need.

    See :class:`ShareFormatter`; ``decimals`` fixes the number of decimals instead.
    """
    _axis(ax, axis).set_major_formatter(ShareFormatter(decimals))
    return ax


def format_count_axis(ax: plt.Axes, axis: str = "y") -> plt.Axes:
    """Tick labels as whole numbers with thousands separators."""
    _axis(ax, axis).set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    return ax


def palette_colors(n: int) -> list:
    """Return ``n`` colours of the project palette (at least one)."""
    return sns.color_palette(PALETTE, n_colors=max(n, 1))


def money_label(label: str, currency: str) -> str:
    """Return ``label`` with the currency in brackets, e.g. "Net revenue (EUR)"; unchanged without one.

    Chinese labels take full-width brackets: ``净收入（EUR）``.
    """
    if not currency:
        return label
    return f"{label} ({currency})" if current_language() == "en" else f"{label}（{currency}）"


def infer_period(dates: pd.Series | pd.Index) -> str | None:
    """``"M"`` for dates a month apart, ``"W"`` for dates a week apart, else None (irregular or one date)."""
    dates = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(dates).dropna())).sort_values()
    if len(dates) < 2:
        return "M" if len(dates) == 1 and (dates.day == 1).all() else None
    gaps = np.diff(dates.asi8) / 86_400e9
    if np.all(gaps % 7 == 0) and np.median(gaps) == 7:
        return "W"
    if np.all((gaps >= 28) & (gaps <= 31)) or (dates.day == 1).all() and np.median(gaps) <= 31:
        return "M"
    return None


#: The short label of an ISO week on a Chinese time axis (the year is written under the first week of a year).
_ISO_WEEK_TICKS: Mapping[str, str] = {"zh-Hans": "第{week}周", "zh-Hant": "第{week}週"}

# Steps (in periods) a time axis may take, and the alignment of the ticks: months on the first of a
# quarter, half-year or year; ISO weeks on week 1, 14, 27, 40 for the quarterly step.
_MONTH_STEPS = (1, 2, 3, 6, 12, 24, 60)
_WEEK_STEPS = (1, 2, 4, 13, 26, 52, 104)


def period_ticks(dates: pd.Series | pd.Index, period: str | None = None,
                 max_ticks: int = MAX_PERIOD_TICKS) -> tuple[np.ndarray, list[str]]:
    """Choose which periods of ``dates`` get a tick on a time axis, and their labels.

    Monthly data get short month names ("Jan", "Feb", ...), weekly data ISO weeks ("W01", "W14",
    ...); the year is written under the first tick and under the first tick of every later year.
    In Chinese (the active language) months read ``2月`` and weeks ``第14周`` / ``第14週``, with
    ``2024年`` under the first tick of a year.
    Long series get a tick every 2, 3, 6, 12, ... months (every 2, 4, 13, 26, ... weeks), aligned
    on the calendar, so that at most ``max_ticks`` labels show.

    Parameters
    ----------
    dates
        The period starts (or ends) on the axis, in the order of the chart (one per bar or point).
    period
        ``"M"`` or ``"W"``; inferred from the spacing of ``dates`` when None. Irregular dates get
        day labels ("08 Jan 2024") thinned to ``max_ticks``.
    max_ticks
        Most labels on the axis.

    Returns
    -------
    tuple
        Positions in ``dates`` (integers) that get a tick, and their labels.
    """
    index = pd.DatetimeIndex(dates)
    if len(index) == 0:
        return np.array([], dtype=int), []
    period = period or infer_period(index)
    if period not in ("M", "W"):
        step = max(1, int(np.ceil(len(index) / max_ticks)))
        chosen = np.arange(0, len(index), step)
        return chosen, [_day_label(index[i]) for i in chosen]
    iso = index.isocalendar()
    week, iso_year = iso["week"].to_numpy(dtype=int), iso["year"].to_numpy(dtype=int)
    span = len(pd.unique(index))
    steps = _MONTH_STEPS if period == "M" else _WEEK_STEPS
    step = next((s for s in steps if span / s + 1 <= max_ticks), steps[-1])
    if period == "M":
        aligned = (index.year.to_numpy() * 12 + index.month.to_numpy() - 1) % step == 0
    elif step >= 52:
        aligned = (week == 1) & (iso_year % (step // 52) == 0)
    else:
        # week 53 sits next to the following week 1: with a step it gets no tick of its own
        aligned = ((week - 1) % step == 0) & ((week < 53) | (step == 1))
    chosen = np.flatnonzero(aligned)
    if len(chosen) > 1:
        # one tick per period even where several rows share a period (e.g. lines of several groups)
        _periods, first = np.unique(index[chosen], return_index=True)
        chosen = np.sort(chosen[first])
    if len(chosen) < 2 and len(index) > 1:
        chosen = np.unique([0, len(index) - 1]) if step > 1 else chosen
    labels, last_year = [], None
    for i in chosen:
        when = index[i]
        year = int(iso_year[i]) if period == "W" else when.year
        labels.append(_period_tick_label(when, period, int(week[i]), with_year=year != last_year))
        last_year = year
    return chosen, labels


def _period_tick_label(when: pd.Timestamp, period: str, week: int, *, with_year: bool) -> str:
    """A tick label of a month or ISO week: ``Jan`` / ``W01``, with the year on a second line; in
    Chinese ``1月`` / ``第1周`` (``第1週``) and ``2024年`` on the second line, so that the labels that
    carry a year stay as narrow as their neighbours."""
    language = current_language()
    year = when.isocalendar().year if period == "W" else when.year
    if language == "en":
        short = f"W{week:02d}" if period == "W" else f"{when:%b}"
    else:
        short = (_ISO_WEEK_TICKS[language] if period == "W" else "{month}月").format(week=week, month=when.month)
    if not with_year:
        return short
    return f"{short}\n{year}" if language == "en" else f"{short}\n{year}年"


def _day_label(when: pd.Timestamp) -> str:
    """A day as the charts write it: ``08 Jan 2024`` in English, ``2024年1月8日`` in Chinese."""
    return f"{when:%d %b %Y}" if current_language() == "en" else format_date(when)


def set_period_ticks(ax: plt.Axes, dates: pd.Series | pd.Index, positions: Sequence | None = None,
                     period: str | None = None) -> None:
    """Put period ticks (:func:`period_ticks`) on the x axis of a time chart.

    Parameters
    ----------
    ax
        Axes whose x ticks are set.
    dates
        Period of every bar or point, in chart order.
    positions
        x position of every entry of ``dates`` for bar charts (e.g. ``0, 1, ...``); None when the x
        axis is the dates themselves (line charts).
    period
        ``"M"`` or ``"W"``; inferred from ``dates`` when None.
    """
    index = pd.DatetimeIndex(dates)
    order = np.argsort(index.asi8, kind="stable")
    sorted_index = index[order]
    chosen, labels = period_ticks(sorted_index, period)
    if positions is None:
        ticks = list(sorted_index[chosen])
    else:
        ticks = list(np.asarray(positions)[order][chosen])
    ax.set_xticks(ticks, labels, rotation=0, ha="center")
    ax.xaxis.set_minor_locator(mticker.NullLocator())


def legend_outside(ax: plt.Axes, title: str | None = None, *, handles: list | None = None, reverse: bool = False,
                   **kwargs) -> None:
    """Draw the legend to the right of the plotting area, so that it never covers data.

    Parameters
    ----------
    ax
        Axes whose legend is drawn; nothing is drawn when it has no labelled artist.
    title
        Legend title.
    handles
        Artists to list (with their labels); default the labelled artists of ``ax``.
    reverse
        List the entries bottom-up, e.g. so that a stacked area's legend reads in the order of its bands.
    **kwargs
        Passed on to :meth:`matplotlib.axes.Axes.legend` (e.g. ``fontsize``).
    """
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    else:
        labels = [handle.get_label() for handle in handles]
    if not handles:
        return
    if reverse:
        handles, labels = handles[::-1], labels[::-1]
    ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              borderaxespad=0.0, **kwargs)


def segment_group_legend(ax: plt.Axes, segments: Sequence[str]) -> None:
    """Legend beside the chart naming the colour of each group of :data:`SEGMENT_GROUPS` among ``segments``."""
    from matplotlib.patches import Patch

    present = set(map(str, segments))
    handles = [Patch(color=SEGMENT_GROUP_COLORS[group], label=_(group))
               for group, members in SEGMENT_GROUPS.items() if present.intersection(members)]
    if present - set(SEGMENT_COLORS):
        handles.append(Patch(color=OTHER_SEGMENT_COLOR, label=_("other segments")))
    legend_outside(ax, title=_("Segment group"), handles=handles, fontsize="small")


def _relative_luminance(color) -> float:
    red, green, blue = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in mcolors.to_rgb(color))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _text_color_on(background, light_text: str = "white") -> str:
    """``light_text`` or black, whichever contrasts more with ``background`` (WCAG contrast ratio)."""
    luminance = _relative_luminance(background)
    on_light = (_relative_luminance(light_text) + 0.05) / (luminance + 0.05)
    return light_text if on_light >= (luminance + 0.05) / 0.05 else "black"


def _place_bar_label(text, bar, renderer, horizontal: bool, inside_color: str) -> bool:
    """Put ``text`` inside the end of ``bar`` when it fits there (returns True), else just beyond the end."""
    if horizontal:
        text.xyann = (3, 0)
        text.set_ha("left")
    else:
        text.xyann = (0, 3)
        text.set_va("bottom")
    text.set_color("0.15")
    text.set_bbox({"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 0.5})
    box, bar_box = text.get_window_extent(renderer), bar.get_window_extent(renderer)
    fits = (box.width + 8 < bar_box.width) if horizontal else (box.height + 6 < bar_box.height
                                                               and box.width + 2 < bar_box.width)
    if fits:
        if horizontal:
            text.xyann = (-3, 0)
            text.set_ha("right")
        else:
            text.xyann = (0, -3)
            text.set_va("top")
        text.set_color(_text_color_on(bar.get_facecolor(), inside_color))
        text.set_bbox(None)
    return fits


def _room_for_labels(ax: plt.Axes, outside: list, renderer, horizontal: bool) -> None:
    """Widen the value axis (away from zero) so that labels beyond the bar ends stay inside the Axes."""
    axes_box = ax.get_window_extent(renderer)
    low, high = ax.get_xlim() if horizontal else ax.get_ylim()
    length = axes_box.width if horizontal else axes_box.height
    needed = high
    for text in outside:
        box = text.get_window_extent(renderer)
        end = text.xy[0] if horizontal else text.xy[1]
        extent = (box.width if horizontal else box.height) + 6
        if extent < length and end > 0:
            # the label's end sits at (end - low) / (new_high - low) * length + extent <= length
            needed = max(needed, low + (end - low) * length / (length - extent))
    if needed > high:
        (ax.set_xlim if horizontal else ax.set_ylim)(low, needed)


def label_bars(ax: plt.Axes, bars, labels: Sequence[str], *, fontsize: str | float = "small",
               inside_color: str = "white") -> list:
    """Write ``labels`` at the end of ``bars`` without letting two labels overlap.

    A label goes inside the bar, in ``inside_color`` or black (whichever contrasts more), when the bar
    is long enough to hold it, else just beyond its end; the value axis is widened so that labels
    beyond the bars stay inside the plotting area. Labels that would still overlap an earlier one
    are left out (the axis keeps the value readable). Set the axis limits before calling: the
    placement is measured at the limits of the call.

    Parameters
    ----------
    ax
        Axes holding ``bars``.
    bars
        The container returned by ``ax.bar`` or ``ax.barh`` (positive bars).
    labels
        One text per bar ("" for none).
    fontsize
        Size of the labels.
    inside_color
        Colour of labels inside dark bars.

    Returns
    -------
    list
        The text artists kept.
    """
    ax.get_xlim(), ax.get_ylim()  # settle pending autoscaling: the boxes below depend on the limits
    renderer = ax.figure.canvas.get_renderer()
    horizontal = getattr(bars, "orientation", "vertical") == "horizontal"
    placed = []
    for bar, label in zip(bars.patches, labels, strict=True):
        if not label:
            continue
        x, y, width, height = bar.get_x(), bar.get_y(), bar.get_width(), bar.get_height()
        anchor = (x + width, y + height / 2) if horizontal else (x + width / 2, y + height)
        text = ax.annotate(label, anchor, xytext=(0, 0), textcoords="offset points", fontsize=fontsize,
                           va="center" if horizontal else "bottom", ha="left" if horizontal else "center")
        inside = _place_bar_label(text, bar, renderer, horizontal, inside_color)
        placed.append((text, bar, inside))
    _room_for_labels(ax, [text for text, _bar, inside in placed if not inside], renderer, horizontal)
    kept, boxes = [], []
    for text, bar, _inside in placed:
        _place_bar_label(text, bar, renderer, horizontal, inside_color)  # bars are shorter on a wider axis
        box = text.get_window_extent(renderer)
        if any(box.overlaps(other) for other in boxes):
            text.remove()
            continue
        boxes.append(box)
        kept.append(text)
    return kept


def incomplete_period_label(data: pd.DataFrame) -> str:
    """Legend text for an unfinished period, with the ``as_of`` date of ``data.attrs`` when it has one."""
    as_of = data.attrs.get("as_of")
    if as_of is None:
        return _("incomplete period")
    return _("incomplete period (data to {date})").format(date=_day_label(pd.Timestamp(as_of)))


def incomplete_periods(data: pd.DataFrame, periods: pd.Index) -> np.ndarray:
    """Booleans per period of ``periods``: True where ``data.is_complete`` marks it unfinished.

    Parameters
    ----------
    data
        Frame with ``period_start`` and, optionally, ``is_complete`` (False for a period that runs
        past ``as_of``). Without ``is_complete`` every period counts as complete.
    periods
        Period starts to answer for, in the order of the chart.

    Returns
    -------
    numpy.ndarray
        One boolean per entry of ``periods``; periods absent from ``data`` count as complete.
    """
    if "is_complete" not in data.columns:
        return np.zeros(len(periods), dtype=bool)
    complete = data.groupby("period_start")["is_complete"].all()
    return ~complete.reindex(periods, fill_value=True).to_numpy(dtype=bool)


def require_columns_and_rows(data: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise :class:`~clc_lib.errors.DataError` when ``data`` lacks one of ``columns`` or has no rows.

    Parameters
    ----------
    data
        Frame passed to a chart.
    columns
        Columns the chart reads.
    what
        Name of the chart, used as the error's source (e.g. ``"plot_funnel"``).
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"The data for {what} has no column {missing[0]!r}.", source=what, column=missing[0],
                        hint=f"Pass the frame returned by the matching clc analysis; it has: {list(data.columns)}.")
    if data.empty:
        raise DataError(f"The data for {what} has no rows: nothing to plot.", source=what, n_rows=0,
                        hint="Check the as_of date and whether the input table has rows in the period.")


def require_columns(data: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise :class:`~clc_lib.errors.DataError` naming every one of ``columns`` that ``data`` lacks.

    Parameters
    ----------
    data
        Frame passed to a chart (an empty frame is accepted).
    columns
        Columns the chart reads.
    what
        Description of the chart for the message, e.g. ``"the churn rate chart"``.
    """
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"The data for {what} lacks columns.", source="data", column=", ".join(missing),
                        hint=f"Pass the output of the matching clc function (it has {', '.join(columns)}).")
