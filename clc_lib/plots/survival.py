"""Charts of survival analysis: Kaplan-Meier curves and Cox hazard ratios.

Each function takes the output of the matching :mod:`clc_lib.survival` function as ``data=``, draws
on ``ax=`` (a new figure when None) and returns the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.plots.theme import format_percent_axis, get_ax, label_axes, legend_outside, require_columns
from clc_lib.i18n import N_, _
from clc_lib.survival import format_p_value

__all__ = ["plot_survival_curves", "plot_hazard_ratios"]


def _format_p(p_value: float) -> str:
    text = format_p_value(p_value)
    return text if text.startswith("<") else f"= {text}"


def plot_survival_curves(data: pd.DataFrame, ax: plt.Axes | None = None, *, logrank_p: float | None = None,
                         title: str | None = None, xlabel: str = N_("Days since first purchase"),
                         ylabel: str = N_("Customers without the event (%)")) -> plt.Axes:
    """Kaplan-Meier curves with shaded confidence bands, one per group.

    ``data`` is :func:`clc_lib.survival.kaplan_meier` output. When ``logrank_p`` is given the title
    reports it (from :func:`clc_lib.survival.logrank_test`). The axis labels are looked up in the
    active language (text without a translation is drawn as given).
    """
    require_columns(data, ["group", "time", "survival", "lower", "upper"], "the survival chart")
    ax = get_ax(ax)
    palette = sns.color_palette(n_colors=max(1, data["group"].nunique()))
    for color, (group, curve) in zip(palette, data.groupby("group", sort=False), strict=False):
        ax.step(curve["time"], curve["survival"], where="post", color=color, label=str(group))
        ax.fill_between(curve["time"], curve["lower"], curve["upper"], step="post", color=color, alpha=0.2,
                        linewidth=0)
    format_percent_axis(ax)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    base = title or _("Kaplan-Meier survival (shaded: 95% confidence interval)")
    if logrank_p is not None:
        base += "\n" + _("log-rank p {p_value}").format(p_value=_format_p(logrank_p))
    label_axes(ax, base, _(xlabel), _(ylabel))
    if data["group"].nunique() > 1:
        legend_outside(ax)
    return ax


# Ticks a log axis of ratios may carry, from coarse to fine: a finer set is used when a coarser one
# leaves fewer than four labelled ticks in the plotted range.
_RATIO_TICK_SETS = (
    (1.0, 2.0, 5.0),
    (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
    (1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.7, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0),
)


def ratio_ticks(low: float, high: float, *, min_ticks: int = 4) -> list[float]:
    """Ticks for a log axis of ratios from ``low`` to ``high``: 1 and round ratios on both sides of it.

    Ticks come from a 1-2-5 sequence (0.1, 0.2, 0.5, 1, 2, 5, 10, ...), made finer (1, 1.5, 2, 3,
    5, 7, ... in every decade) until at least ``min_ticks`` fall in the range, so that the labels
    cover the whole axis on both sides of 1 (which is a tick whenever it is in range).
    """
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        raise ValueError(f"ratio_ticks needs 0 < low < high, got {low!r} and {high!r}.")
    decades = range(int(np.floor(np.log10(low))) - 1, int(np.ceil(np.log10(high))) + 1)
    ticks: list[float] = []
    for mantissas in _RATIO_TICK_SETS:
        candidates = sorted({round(m * 10.0 ** d, 10) for d in decades for m in mantissas})
        ticks = [t for t in candidates if low <= t <= high]
        if len(ticks) >= min_ticks:
            break
    return ticks


def plot_hazard_ratios(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None,
                       units: dict[str, float] | None = None) -> plt.Axes:
    """Forest plot of hazard ratios with confidence intervals (:func:`clc_lib.churn_drivers.cox_drivers`).

    ``units`` gives, for numeric covariates, how many of their units one step is (e.g.
    ``CustomerAttributes.scales``); the label then reads "income (per 10000)".
    """
    require_columns(data, ["covariate", "level", "reference", "hazard_ratio", "lower", "upper"],
                    "the hazard-ratio chart")
    units = units or {}
    labels = [
        (_("{covariate} (per {step})").format(covariate=row.covariate, step=f"{units[row.covariate]:g}")
         if row.covariate in units else _("{covariate} (per unit)").format(covariate=row.covariate))
        if row.level is None or pd.isna(row.level)
        else _("{covariate}: {level} vs {reference}").format(covariate=row.covariate, level=row.level,
                                                             reference=row.reference)
        for row in data.itertuples()
    ]
    ax = get_ax(ax, figsize=(9.0, max(3.0, 0.5 * len(data) + 2.0)))
    positions = np.arange(len(data))[::-1]
    ratio = data["hazard_ratio"].to_numpy(dtype=float)
    errors = np.vstack([ratio - data["lower"].to_numpy(dtype=float), data["upper"].to_numpy(dtype=float) - ratio])
    ax.errorbar(ratio, positions, xerr=errors, fmt="o", capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    finite = np.concatenate([ratio, data["lower"].to_numpy(dtype=float), data["upper"].to_numpy(dtype=float),
                             [1.0]])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    # a little room beyond the widest interval, the same on both sides of the log axis
    low, high = float(finite.min()) / 1.15, float(finite.max()) * 1.15
    ax.set_xlim(low, high)
    ax.xaxis.set_major_locator(mticker.FixedLocator(ratio_ticks(low, high)))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.set_yticks(positions, labels)
    label_axes(ax, title or _("Drivers of the event: hazard ratios (95% CI)"),
               _("Hazard ratio (log scale; > 1 = event sooner)"), None)
    return ax
