"""Charts of retention and recovery: cohorts, churn, survival, hazard ratios, reactivation, uplift, surveys.

Each function takes the output of the matching analysis function as ``data=``, draws on ``ax=``
(a new figure when None) and returns the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns

from clc_lib.errors import DataError
from clc_lib.periods import PERIODS
from clc_lib.plots._theme import format_count_axis, format_percent_axis, get_ax, label_axes
from clc_lib.survival import format_p_value

__all__ = [
    "plot_cohort_heatmap",
    "plot_retention_curve",
    "plot_churn_rate",
    "plot_survival_curves",
    "plot_hazard_ratios",
    "plot_lapsed_counts",
    "plot_reactivation_rate",
    "plot_campaign_uplift",
    "plot_survey_scores",
]

_MAX_ANNOTATED_CELLS = 400


def _require(data: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"The data for {what} lacks columns.", source="data", column=", ".join(missing),
                        hint=f"Pass the output of the matching clc function (it has {', '.join(columns)}).")


def _period_word(data: pd.DataFrame, period: str | None) -> str:
    code = period or data.attrs.get("period", "")
    return PERIODS[code].plural if code in PERIODS else "periods"


def _format_p(p_value: float) -> str:
    text = format_p_value(p_value)
    return text if text.startswith("<") else f"= {text}"


def _cohort_label(cohort: pd.Timestamp, period: str | None) -> str:
    return cohort.strftime("%Y-%m") if period == "M" else cohort.strftime("%Y-%m-%d")


def plot_cohort_heatmap(data: pd.DataFrame, ax: plt.Axes | None = None, *, period: str | None = None,
                        title: str | None = None) -> plt.Axes:
    """Cohort triangle: rows = acquisition cohorts, columns = periods since first purchase.

    ``data`` is :func:`clc_lib.cohorts.cohort_matrix` output; masked (NaN) cells -- periods that had
    not fully elapsed -- are left blank. Shares are printed as percentages, counts with separators.
    """
    period = period or data.attrs.get("period")
    is_share = data.attrs.get("values", "share") == "share"
    values = data.astype(float)
    annotate = values.size <= _MAX_ANNOTATED_CELLS
    height = min(max(3.0, 0.35 * len(values) + 1.5), 14.0)
    ax = get_ax(ax, figsize=(max(9.0, 0.5 * values.shape[1] + 3), height))
    later = values.iloc[:, 1:].to_numpy()
    # Period 0 is 100 % by definition; scale the colours to the later periods so they stay readable.
    vmax = float(np.nanmax(later)) if later.size and np.isfinite(later).any() else None
    sns.heatmap(
        values, ax=ax, mask=values.isna(), cmap="Blues", vmin=0, vmax=vmax or None,
        annot=annotate, fmt=".0%" if is_share else ",.0f", annot_kws={"fontsize": 8},
        cbar_kws={"label": "Share of cohort" if is_share else "Customers",
                  "format": "{x:.0%}" if is_share else "{x:,.0f}"},
        yticklabels=[_cohort_label(pd.Timestamp(c), period) for c in values.index],
    )
    word = _period_word(data, period)
    kind = data.attrs.get("kind", "on")
    default_title = ("Share of each cohort purchasing again" if kind == "on"
                     else "Share of each cohort purchasing then or later")
    label_axes(ax, title or default_title, f"{word.capitalize()} since first purchase",
               "Cohort (first purchase period)")
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
    _require(data, ["periods_since_first", "retention"], "the retention curve")
    ax = get_ax(ax)
    if matrix is not None:
        for _, row in matrix.iterrows():  # one line per cohort: tens of rows, not customers
            ax.plot(row.index.to_numpy(dtype=float), row.to_numpy(dtype=float), color="grey", alpha=0.25,
                    linewidth=0.8)
    sns.lineplot(data=data, x="periods_since_first", y="retention", hue=hue, marker="o", ax=ax)
    format_percent_axis(ax)
    ax.set_ylim(0, 1.02)
    word = _period_word(data, period)
    default = ("Retention by age of the customer (grey: each cohort; line: weighted average)" if matrix is not None
               else "Retention by age of the customer")
    label_axes(ax, title or default, f"{word.capitalize()} since first purchase",
               "Customers purchasing (% of cohort)")
    return ax


def plot_churn_rate(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Churn rate per period (:func:`clc_lib.cohorts.churn_rate_over_time` output)."""
    _require(data, ["period_start", "churn_rate"], "the churn rate chart")
    ax = get_ax(ax)
    ax.plot(pd.to_datetime(data["period_start"]), data["churn_rate"], marker="o")
    format_percent_axis(ax)
    ax.set_ylim(bottom=0)
    days = data.attrs.get("inactivity_days")
    default = (f"Churn rate per period (no purchase for more than {days} days)" if days
               else "Churn rate per period (bought last period, not this one)")
    label_axes(ax, title or default, "Period", "Churned customers (% of those at risk)")
    return ax


def plot_survival_curves(data: pd.DataFrame, ax: plt.Axes | None = None, *, logrank_p: float | None = None,
                         title: str | None = None, xlabel: str = "Days since first purchase",
                         ylabel: str = "Customers without the event (%)") -> plt.Axes:
    """Kaplan-Meier curves with shaded confidence bands, one per group.

    ``data`` is :func:`clc_lib.survival.kaplan_meier` output. When ``logrank_p`` is given the title
    reports it (from :func:`clc_lib.survival.logrank_test`).
    """
    _require(data, ["group", "time", "survival", "lower", "upper"], "the survival chart")
    ax = get_ax(ax)
    palette = sns.color_palette(n_colors=max(1, data["group"].nunique()))
    for color, (group, curve) in zip(palette, data.groupby("group", sort=False), strict=False):
        ax.step(curve["time"], curve["survival"], where="post", color=color, label=str(group))
        ax.fill_between(curve["time"], curve["lower"], curve["upper"], step="post", color=color, alpha=0.2,
                        linewidth=0)
    format_percent_axis(ax)
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    base = title or "Kaplan-Meier survival (shaded: 95% confidence interval)"
    if logrank_p is not None:
        base = f"{base}\nlog-rank p {_format_p(logrank_p)}"
    label_axes(ax, base, xlabel, ylabel)
    if data["group"].nunique() > 1:
        ax.legend(title=None)
    return ax


def plot_hazard_ratios(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None,
                       units: dict[str, float] | None = None) -> plt.Axes:
    """Forest plot of hazard ratios with confidence intervals (:func:`clc_lib.survival.cox_drivers`).

    ``units`` gives, for numeric covariates, how many of their units one step is (e.g.
    ``CustomerAttributes.scales``); the label then reads "income (per 10000)".
    """
    _require(data, ["covariate", "level", "reference", "hazard_ratio", "lower", "upper"], "the hazard-ratio chart")
    units = units or {}
    labels = [
        (f"{row.covariate} (per {units[row.covariate]:g})" if row.covariate in units else f"{row.covariate} (per unit)")
        if row.level is None or pd.isna(row.level)
        else f"{row.covariate}: {row.level} vs {row.reference}"
        for row in data.itertuples()
    ]
    ax = get_ax(ax, figsize=(9.0, max(3.0, 0.5 * len(data) + 2.0)))
    positions = np.arange(len(data))[::-1]
    ratio = data["hazard_ratio"].to_numpy(dtype=float)
    errors = np.vstack([ratio - data["lower"].to_numpy(dtype=float), data["upper"].to_numpy(dtype=float) - ratio])
    ax.errorbar(ratio, positions, xerr=errors, fmt="o", capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    plain = mticker.FuncFormatter(lambda value, _pos: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_yticks(positions, labels)
    label_axes(ax, title or "Drivers of the event: hazard ratios (95% CI)",
               "Hazard ratio (log scale; > 1 = event sooner)", None)
    return ax


def plot_lapsed_counts(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Active, lapsed and churned customers at each period end (:func:`lapsed_counts_over_time`)."""
    _require(data, ["period_end", "active", "lapsed", "churned"], "the lapsed-customers chart")
    ax = get_ax(ax)
    dates = pd.to_datetime(data["period_end"])
    ax.stackplot(dates, data["active"], data["lapsed"], data["churned"], labels=["active", "lapsed", "churned"],
                 alpha=0.85)
    format_count_axis(ax)
    lapse, churn = data.attrs.get("lapse_days"), data.attrs.get("churn_days")
    detail = f"\n(lapsed: > {lapse} days without purchase, churned: > {churn} days)" if lapse and churn else ""
    label_axes(ax, title or f"Customers by days since last purchase{detail}", "Period end", "Customers")
    ax.legend(loc="upper left")
    return ax


def plot_reactivation_rate(data: pd.DataFrame, ax: plt.Axes | None = None, *,
                           title: str | None = None) -> plt.Axes:
    """Share of lapsed customers who bought again, per period (``reactivation(...).rates``)."""
    _require(data, ["period_start", "reactivation_rate"], "the reactivation chart")
    ax = get_ax(ax)
    ax.plot(pd.to_datetime(data["period_start"]), data["reactivation_rate"], marker="o")
    format_percent_axis(ax, decimals=1)
    ax.set_ylim(bottom=0)
    lapse = data.attrs.get("lapse_days")
    detail = f"\n(lapsed: > {lapse} days without purchase)" if lapse else ""
    label_axes(ax, title or f"Reactivation rate of lapsed customers{detail}", "Period",
               "Lapsed customers buying again (%)")
    return ax


def plot_campaign_uplift(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Conversion rate of treatment and control per campaign with 95% intervals (``campaign_uplift``)."""
    needed = [f"rate_{g}{s}" for g in ("treatment", "control") for s in ("", "_lower", "_upper")]
    _require(data, ["campaign_id", *needed], "the uplift chart")
    ax = get_ax(ax, figsize=(9.0, max(3.5, 0.9 * len(data) + 2.5)))
    positions = np.arange(len(data))[::-1]
    palette = sns.color_palette(n_colors=2)
    for offset, color, group in ((0.15, palette[0], "treatment"), (-0.15, palette[1], "control")):
        rate = data[f"rate_{group}"].to_numpy(dtype=float)
        # A Wilson bound at a rate of 0 or 1 can sit a rounding error on the wrong side of the rate.
        errors = np.clip(np.vstack([rate - data[f"rate_{group}_lower"].to_numpy(dtype=float),
                                    data[f"rate_{group}_upper"].to_numpy(dtype=float) - rate]), 0, None)
        ax.errorbar(rate, positions + offset, xerr=errors, fmt="o", capsize=3, color=color, label=group)
    labels = [str(c) for c in data["campaign_id"]]
    if "uplift" in data.columns:
        labels = [f"{c}\nuplift {100 * u:+.1f} pts" if pd.notna(u) else c
                  for c, u in zip(labels, data["uplift"], strict=True)]
    ax.set_yticks(positions, labels)
    format_percent_axis(ax, axis="x")
    ax.set_xlim(left=0)
    window = data.attrs.get("window_days")
    detail = f" within {window} days" if window else ""
    level = round(100 * (1 - data.attrs.get("alpha", 0.05)))
    label_axes(ax, title or f"Customers buying{detail} of the send: treatment vs control ({level}% CI)",
               "Conversion rate (% of group)", None)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def plot_survey_scores(data: pd.DataFrame, ax: plt.Axes | None = None, *, title: str | None = None) -> plt.Axes:
    """Distribution of 0-10 survey scores of churned vs retained respondents (``survey_summary(...).responses``)."""
    _require(data, ["score", "status"], "the survey chart")
    scored = data.assign(score=np.floor(data["score"]).astype(int))
    shares = (scored.groupby("status")["score"].value_counts(normalize=True)
              .rename("share").reset_index())
    order = [s for s in ("churned", "retained", "unknown") if s in set(shares["status"])]
    ax = get_ax(ax)
    sns.barplot(data=shares, x="score", y="share", hue="status", hue_order=order, order=list(range(11)), ax=ax)
    format_percent_axis(ax)
    for edge in (6.5, 8.5):  # detractors 0-6 | passives 7-8 | promoters 9-10
        ax.axvline(edge, color="grey", linestyle=":", linewidth=1)
    label_axes(ax, title or "Survey scores of churned vs retained customers",
               "Likelihood to recommend (0-10; detractors 0-6, passives 7-8, promoters 9-10)",
               "Respondents (% of group)")
    return ax
