"""Charts of cohorts: the cohort triangle, the retention curve, and the churn or buyer drop-off rate per period.

Each function takes the output of the matching :mod:`clc_lib.cohorts` function as ``data=``, draws on
``ax=`` (a new figure when None) and returns the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.i18n import N_, _, current_language, format_date, format_period, ngettext
from clc_lib.plots.theme import (
    format_percent_axis,
    get_ax,
    label_axes,
    legend_outside,
    plot_rate_per_period,
    require_columns,
    term_label,
)

__all__ = ["plot_cohort_heatmap", "plot_retention_curve", "plot_churn_rate"]

_MAX_ANNOTATED_CELLS = 400
#: Most cohorts (rows) the cohort triangle shows; longer histories show the latest ones.
MAX_COHORT_ROWS = 36


#: The age axis of the cohort charts by reporting period (``clc_lib.periods.PERIODS``).
_AGE_LABELS: dict[str, str] = {"M": N_("Months since first purchase"), "W": N_("Weeks since first purchase")}
_OTHER_AGE_LABEL = N_("Periods since first purchase")


def _age_label(data: pd.DataFrame, period: str | None) -> str:
    code = period or data.attrs.get("period", "")
    return _(_AGE_LABELS.get(code, _OTHER_AGE_LABEL))


def _cohort_label(cohort: pd.Timestamp, period: str | None) -> str:
    """A cohort by its first period: ``2024-01`` (month) or its start date; in Chinese ``2024年1月``,
    ``2024年第1周``."""
    if period in ("M", "W"):
        return format_period(cohort, period)
    return cohort.strftime("%Y-%m-%d") if current_language() == "en" else format_date(cohort)


def plot_cohort_heatmap(data: pd.DataFrame, ax: plt.Axes | None = None, *, period: str | None = None,
                        title: str | None = None) -> plt.Axes:
    """Cohort triangle: rows = acquisition cohorts, columns = periods since first purchase.

    ``data`` is :func:`clc_lib.cohorts.cohort_matrix` output; masked (NaN) cells -- periods that had
    not fully elapsed -- are left blank. Shares are printed as percentages, counts with separators.
    With more than :data:`MAX_COHORT_ROWS` cohorts (e.g. three years of weekly cohorts) only the
    latest :data:`MAX_COHORT_ROWS` are drawn, with the periods they reached, and the title says so.
    """
    period = period or data.attrs.get("period")
    is_share = data.attrs.get("values", "share") == "share"
    values = data.astype(float)
    total_cohorts = len(values)
    if total_cohorts > MAX_COHORT_ROWS:
        values = values.iloc[-MAX_COHORT_ROWS:]
        values = values.loc[:, values.notna().any(axis=0)]
    annotate = values.size <= _MAX_ANNOTATED_CELLS
    height = min(max(3.0, 0.35 * len(values) + 1.5), 14.0)
    ax = get_ax(ax, figsize=(max(9.0, 0.5 * values.shape[1] + 3), height))
    later = values.iloc[:, 1:].to_numpy()
    # Period 0 is 100 % by definition; scale the colours to the later periods so they stay readable.
    vmax = float(np.nanmax(later)) if later.size and np.isfinite(later).any() else None
    sns.heatmap(
        values, ax=ax, mask=values.isna(), cmap="Blues", vmin=0, vmax=vmax or None,
        annot=annotate, fmt=".0%" if is_share else ",.0f", annot_kws={"fontsize": 8},
        cbar_kws={"label": _("Share of cohort") if is_share else _("Customers"),
                  "format": "{x:.0%}" if is_share else "{x:,.0f}"},
        yticklabels=[_cohort_label(pd.Timestamp(c), period) for c in values.index],
    )
    kind = data.attrs.get("kind", "on")
    default_title = (_("Share of each cohort purchasing again") if kind == "on"
                     else _("Share of each cohort purchasing then or later"))
    shown_title = title or default_title
    if len(values) < total_cohorts:
        shown_title += "\n" + ngettext("(the latest {shown} of {total} cohort)",
                                       "(the latest {shown} of {total} cohorts)",
                                       total_cohorts).format(shown=len(values), total=total_cohorts)
    label_axes(ax, shown_title, _age_label(data, period), _("Cohort (first purchase period)"))
    ax.tick_params(axis="y", rotation=0)
    ax.grid(False)
    return ax


def plot_retention_curve(data: pd.DataFrame, ax: plt.Axes | None = None, *, hue: str | None = None,
                         matrix: pd.DataFrame | None = None, period: str | None = None,
                         title: str | None = None) -> plt.Axes:
    """Retention by periods since first purchase (:func:`clc_lib.cohorts.retention_curve` output).

    With ``hue`` (a column of a stacked frame, e.g. acquisition channel) one line per group. With
    ``matrix`` (the :func:`clc_lib.cohorts.cohort_matrix` of shares the curve came from) every
    cohort is drawn as a thin grey line behind the weighted average.
    """
    require_columns(data, ["periods_since_first", "retention"], "the retention curve")
    ax = get_ax(ax)
    if matrix is not None:
        for _cohort, row in matrix.iterrows():  # one line per cohort: tens of rows, not customers
            ax.plot(row.index.to_numpy(dtype=float), row.to_numpy(dtype=float), color="grey", alpha=0.25,
                    linewidth=0.8)
    sns.lineplot(data=data, x="periods_since_first", y="retention", hue=hue, marker="o", ax=ax)
    if hue is not None:
        legend_outside(ax, title=_(_HUE_TITLES[hue]) if hue in _HUE_TITLES else hue.replace("_", " ").capitalize())
    format_percent_axis(ax)
    ax.set_ylim(0, 1.02)
    default = (_("Retention by age of the customer (grey: each cohort; line: weighted average)") if matrix is not None
               else _("Retention by age of the customer"))
    label_axes(ax, title or default, _age_label(data, period), _("Customers purchasing (% of cohort)"))
    return ax


#: Legend titles of the columns a retention curve is split by; other columns read as their words.
_HUE_TITLES: dict[str, str] = {"channel": N_("Channel"), "acquisition_channel": N_("Acquisition channel"),
                               "cohort": N_("Cohort"), "segment": N_("Segment"), "stage": N_("Stage")}


def plot_churn_rate(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Churn rate or buyer drop-off rate per period (:func:`clc_lib.cohorts.churn_rate_over_time` output).

    With ``attrs["inactivity_days"]`` the rate is the churn rate of :mod:`clc_lib.definitions`
    (customers passing that many days without a purchase, as a share of those not yet churned);
    without it, the buyer drop-off rate (last period's buyers who did not buy in this one). The
    title and axis name the one drawn with its label from :data:`~clc_lib.definitions.TERMS`.
    """
    require_columns(data, ["period_start", "churn_rate"], "the churn rate chart")
    ax = plot_rate_per_period(get_ax(ax), data["period_start"], data["churn_rate"])
    days = data.attrs.get("inactivity_days")
    if days:
        label = term_label("churn_rate")
        default = _("{rate} per period: customers passing {days} days without a purchase").format(rate=label, days=days)
        ylabel = _("{rate} (% of customers not yet churned)").format(rate=label)
    else:
        label = term_label("buyer_dropoff_rate")
        default = _("{rate} per period: bought in the previous period, not in this one").format(rate=label)
        ylabel = _("{rate} (% of the previous period's buyers)").format(rate=label)
    label_axes(ax, title or default, _("Period"), ylabel)
    return ax
