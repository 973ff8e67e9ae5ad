"""Unit economics of acquisition: what an acquired customer is worth over time against what it cost.

Revenue (or gross margin) per acquired customer by months since acquisition, the customer value
it gives at a horizon, LTV:CAC per channel and the payback period. Conventions (see
``docs/acquisition.md``):

* A **month** since acquisition is 30.4375 days (365.25 / 12, :data:`clc_lib.periods.DAYS_PER_MONTH`),
  counted from the first purchase day; the first purchase falls in month 0.
* Values are **net revenue** (purchases plus returns) in the run currency, or **gross margin** when
  the run config has a ``margin:`` section (:func:`apply_margin`); every result says which in
  ``attrs["value_basis"]`` (:func:`margin_basis`), and the pages state it.
* Young customers are **censored**: a month's value averages only customers observed for the
  whole month.
* Acquisition, channel and CAC follow :mod:`clc_lib.acquisition`.
"""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import numpy as np
import pandas as pd

from clc_lib.acquisition import NO_CHANNEL_INFO, acquired_customers
from clc_lib.errors import ConfigError, DataError, ModelFitError
from clc_lib.i18n import format_percent, gettext
from clc_lib.periods import DAYS_PER_MONTH, resolve_as_of
from clc_lib.settings import margin_settings
from clc_lib.summary import fetch, ratio_or_nan, require_columns, to_datetime_ns

__all__ = [
    "margin_basis",
    "apply_margin",
    "cumulative_revenue_per_customer",
    "ltv_from_revenue_curve",
    "ltv_cac",
    "payback_period",
]


def margin_basis(options: Mapping | None) -> str:
    """One line saying what customer value is measured in, for the page (in the active language): margin
    rates or revenue."""
    options = margin_settings(options)
    if options["by"] is not None:
        listed = gettext(", ").join(f"{key} {format_percent(value, 0)}"
                                    for key, value in sorted(options["rates"].items()))
        if options["rate"] is not None:
            listed += gettext("; other {column} values {rate}").format(column=options["by"],
                                                                       rate=format_percent(options["rate"], 0))
        return gettext("gross margin by {column} ({rates}) of net revenue").format(column=options["by"], rates=listed)
    if options["rate"] is not None:
        return gettext("gross margin at {rate} of net revenue").format(rate=format_percent(options["rate"], 0))
    return gettext("net revenue (no gross margin configured: set margin: {{rate: ...}} in the run config)").format()


def _margin_rate(transactions: ibis.Table, options: Mapping):
    """The gross margin rate of each line as an Ibis expression (checked options; null = no rate)."""
    if options["by"] is None:
        return ibis.literal(options["rate"], type="float64")
    values = transactions[options["by"]].cast("string")
    return values.cases(*options["rates"].items(), else_=ibis.literal(options["rate"], type="float64"))


def apply_margin(transactions: ibis.Table, options: Mapping | None) -> ibis.Table:
    """``transactions`` with ``amount`` replaced by its gross margin (``amount x rate``).

    Parameters
    ----------
    transactions
        Ibis transactions table (data contract); with ``by`` it needs that column.
    options
        The ``margin:`` section (see :func:`clc_lib.settings.margin_settings`). Without a rate the table is returned
        unchanged (values stay revenue).

    Raises
    ------
    DataError
        When ``by`` names a column the transactions lack, or some lines have a value of it (or
        none) without a rate and no default ``rate`` is set: the message gives the number of
        lines and examples.
    """
    options = margin_settings(options)
    if options["by"] is None:
        if options["rate"] is None:
            return transactions
        return transactions.mutate(amount=transactions.amount * _margin_rate(transactions, options))
    column = options["by"]
    if column not in transactions.columns:
        raise DataError(f"margin.by is {column!r} but the transactions have no {column} column.",
                        source="transactions", column=column,
                        hint=f"Map the {column} column in the run config (transactions: columns: ...) "
                             "or give one margin: {rate: ...} for all revenue.")
    rate = _margin_rate(transactions, options)
    if options["rate"] is None:
        unpriced = transactions.filter(rate.isnull())
        counts = (unpriced.group_by(value=unpriced[column].cast("string"))
                  .aggregate(lines=unpriced.count()).order_by(ibis.desc("lines")).execute())
        if not counts.empty:
            raise DataError(
                f"{int(counts['lines'].sum()):,} transaction lines have a {column} without a gross margin rate.",
                source="transactions", column=column, n_rows=int(counts["lines"].sum()),
                examples=[(value, int(lines)) for value, lines in counts.head(5).itertuples(index=False)],
                hint=f"Add these values to margin.rates, or set margin.rate for every {column} not listed.")
    return transactions.mutate(amount=transactions.amount * rate)


def cumulative_revenue_per_customer(transactions: ibis.Table, customers: pd.DataFrame | None = None, *,
                                    as_of, by: str | None = "channel", max_months: int = 24,
                                    margin: Mapping | None = None, min_months: int = 1) -> pd.DataFrame:
    """Average cumulative net revenue (and gross margin) per acquired customer by months since acquisition.

    Month ``m`` (0, 1, ...) covers days ``[m, m + 1) x 30.4375`` after the first purchase day; the
    first purchase is in month 0. Revenue is net (purchases plus returns, in the month the row
    happened; a return dated before the first purchase is put in month 0). **Censoring:** the
    value at month ``m`` averages only customers observed for the whole of month ``m``
    (``(first purchase day to as_of, inclusive) >= (m + 1) x 30.4375`` days), so young customers
    do not pull the curve down.

    Parameters
    ----------
    transactions
        Ibis transactions table (data contract).
    customers
        Optional customers frame (the acquisition channel, as in :mod:`clc_lib.acquisition`).
    as_of
        Cut-off date of the data (``run.as_of``).
    by
        ``"channel"`` (acquisition channel) or ``None`` (one curve, ``channel = "all"``).
    max_months
        Number of months to compute.
    margin
        The run config's ``margin:`` section (:func:`clc_lib.settings.margin_settings`). With a rate the curve also
        has ``cumulative_margin_per_customer`` (each line's net amount times its rate), which
        :func:`ltv_from_revenue_curve`, :func:`payback_period` and the payback chart then use.
    min_months
        The fewest observed months the curve must reach (2 for a curve that is a line, not a point).

    Returns
    -------
    pandas.DataFrame
        Columns ``channel``, ``months_since_acquisition``, ``customers_observed``,
        ``cumulative_revenue_per_customer`` (run currency) and, with a margin,
        ``cumulative_margin_per_customer``. Months no customer of the channel has completed are
        absent. ``attrs["value_basis"]`` says what the value is measured in
        (:func:`margin_basis`).

    Raises
    ------
    ModelFitError
        When no customer has been observed for ``min_months`` full months since the first
        purchase (:func:`clc_lib.display.run_or_skip` shows it as a one-line skip).
    """
    as_of = resolve_as_of(as_of)
    if by not in ("channel", None):
        raise ConfigError(f"by is {by!r}; use 'channel' or None.")
    if max_months < 1:
        raise ConfigError(f"max_months is {max_months}; give at least 1.")
    if not 1 <= min_months <= max_months:
        raise ConfigError(f"min_months is {min_months}; give 1 to max_months ({max_months}).")
    margin = margin_settings(margin)
    with_margin = margin["rate"] is not None or margin["by"] is not None
    if with_margin:
        valued = apply_margin(transactions.mutate(__revenue=transactions.amount), margin)
        rows = valued.select("customer_id", "timestamp", amount="__revenue", margin="amount")
    else:
        rows = transactions.select("customer_id", "timestamp", "amount", margin="amount")
    acquired, _ = acquired_customers(transactions, customers)
    acquired = acquired.mutate(channel=acquired.channel if by else ibis.literal(NO_CHANNEL_INFO))
    acquired = acquired.select("customer_id", "first_purchase_day", "channel")

    joined = rows.join(acquired, "customer_id")
    elapsed_days = joined.timestamp.date().delta(joined.first_purchase_day, unit="day")
    month = ibis.greatest((elapsed_days / DAYS_PER_MONTH).floor(), 0).cast("int64")
    keys = ["first_purchase_day", "channel", "month"]
    revenue = (joined.mutate(month=month).filter(lambda t: t.month < max_months)
               .group_by(keys)
               .aggregate(revenue=lambda t: t.amount.sum(), margin=lambda t: t.margin.sum(),
                          customers=ibis.literal(0, type="int64")))
    # The cohort sizes ride in the same query (as month -1): DuckDB and PostgreSQL then compute the
    # acquisition table once for both parts.
    sizes = (acquired.group_by(["first_purchase_day", "channel"])
             .aggregate(month=ibis.literal(-1, type="int64"), revenue=ibis.literal(0.0, type="float64"),
                        margin=ibis.literal(0.0, type="float64"), customers=lambda t: t.customer_id.count()))
    both = fetch(revenue.union(sizes.select(*keys, "revenue", "margin", "customers")))
    both["first_purchase_day"] = to_datetime_ns(both["first_purchase_day"])
    is_size = both["month"].to_numpy() == -1
    values = {"revenue": "cumulative_revenue_per_customer"}
    if with_margin:
        values["margin"] = "cumulative_margin_per_customer"
    revenue = both.loc[~is_size, [*keys, *values]]
    sizes = both.loc[is_size, ["first_purchase_day", "channel", "customers"]]
    if sizes.empty:
        if min_months > 1:
            raise ModelFitError("no customer has a purchase, so there is no value per acquired customer to follow.")
        empty = pd.DataFrame(columns=["channel", "months_since_acquisition", "customers_observed", *values.values()])
        empty.attrs["value_basis"] = margin_basis(margin)
        return empty

    months = np.arange(max_months)
    sizes = sizes.set_index(["first_purchase_day", "channel"])
    days_observed = (as_of - sizes.index.get_level_values("first_purchase_day")).days.to_numpy() + 1
    months_complete = np.floor(days_observed / DAYS_PER_MONTH)
    if months_complete.max() < min_months:
        earliest = sizes.index.get_level_values("first_purchase_day").min()
        raise ModelFitError(
            f"the earliest customers (first purchase on {earliest:%Y-%m-%d}, data to {as_of:%Y-%m-%d}) have been "
            f"observed for {int(months_complete.max())} full month(s); the curve needs customers acquired at least "
            f"{min_months} months ({int(np.ceil(min_months * DAYS_PER_MONTH))} days) before the cut-off date.")
    observed = months[np.newaxis, :] < months_complete[:, np.newaxis]  # (acquisition day, channel) x month
    channels = sizes.index.get_level_values("channel")
    customer_counts = sizes["customers"].to_numpy()[:, np.newaxis] * observed
    counts = pd.DataFrame(customer_counts, columns=months).groupby(channels).sum()
    curve = pd.DataFrame({"customers_observed": counts.stack()})
    for value, column in values.items():
        cumulative = (revenue.pivot_table(index=["first_purchase_day", "channel"], columns="month",
                                          values=value, aggfunc="sum")
                      .reindex(columns=months).fillna(0.0).cumsum(axis=1))
        cumulative = cumulative.reindex(sizes.index).fillna(0.0)
        totals = pd.DataFrame(cumulative.to_numpy() * observed, columns=months).groupby(channels).sum()
        curve[column] = totals.stack()
    curve.index.names = ["channel", "months_since_acquisition"]
    curve = curve[curve["customers_observed"] > 0].reset_index()
    curve["customers_observed"] = curve["customers_observed"].astype("int64")
    for column in values.values():
        curve[column] = curve[column] / curve["customers_observed"]
    curve = curve.sort_values(["channel", "months_since_acquisition"]).reset_index(drop=True)
    curve.attrs["value_basis"] = margin_basis(margin)
    return curve


def ltv_from_revenue_curve(revenue_curve: pd.DataFrame, *, months: int = 12, horizon_weeks: float | None = None,
                           margin_rate: float = 1.0) -> pd.Series:
    """Cohort LTV per channel: cumulative margin per acquired customer after ``months`` months.

    The curve's cumulative gross margin per customer at month index ``months - 1`` when it has
    one (``cumulative_margin_per_customer``, from the ``margin=`` of
    :func:`cumulative_revenue_per_customer`), else ``margin_rate`` x its cumulative net revenue
    (the default 1.0 means LTV in revenue, which overstates value). ``horizon_weeks``, when
    given, replaces ``months`` by the nearest whole number of 30.4375-day months (52 weeks -> 12).
    Channels observed for fewer months get NaN.

    Returns
    -------
    pandas.Series
        Index ``channel``, values in run currency per customer, name ``ltv``; ``attrs["value_basis"]``
        as the curve's.
    """
    value_column = _curve_value_column(revenue_curve, margin_rate)
    if horizon_weeks is not None:
        months = max(1, round(horizon_weeks * 7 / DAYS_PER_MONTH))
    at_horizon = revenue_curve[revenue_curve["months_since_acquisition"] == months - 1]
    values = at_horizon.set_index("channel")[value_column] * margin_rate
    ltv = values.reindex(pd.Index(revenue_curve["channel"].unique(), name="channel")).rename("ltv")
    ltv.attrs["value_basis"] = _value_basis(revenue_curve, margin_rate)
    return ltv


def _check_margin(margin_rate: float) -> None:
    if not 0 < margin_rate <= 1:
        raise ConfigError(f"margin_rate is {margin_rate}; give the gross margin as a share in (0, 1] "
                          "(1.0 = revenue).")


def _curve_value_column(revenue_curve: pd.DataFrame, margin_rate: float) -> str:
    """The curve column that LTV and payback read: the margin one when present (then no second rate)."""
    _check_margin(margin_rate)
    require_columns(revenue_curve, ["channel", "months_since_acquisition", "cumulative_revenue_per_customer"],
                     source="revenue_curve", hint="Pass the output of clc.cumulative_revenue_per_customer(...).")
    if "cumulative_margin_per_customer" not in revenue_curve.columns:
        return "cumulative_revenue_per_customer"
    if margin_rate != 1.0:
        raise ConfigError("The revenue curve is already on gross margin (it was built with margin=); "
                          "leave margin_rate at 1.0 so that the margin is not applied twice.")
    return "cumulative_margin_per_customer"


def _value_basis(revenue_curve: pd.DataFrame, margin_rate: float) -> str:
    if margin_rate != 1.0:
        return gettext("gross margin at {rate} of net revenue").format(rate=format_percent(margin_rate, 0))
    return revenue_curve.attrs.get("value_basis", margin_basis(None))


def _cac_series(cac: pd.DataFrame | pd.Series | Mapping[str, float]) -> pd.Series:
    if isinstance(cac, pd.DataFrame):
        if "period_start" in cac.columns:
            raise ConfigError("Pass CAC totals per channel: clc.cac_by_channel(spend, new, by_period=False).")
        require_columns(cac, ["channel", "cac"], source="cac_by_channel")
        return cac.set_index("channel")["cac"].astype("float64")
    return pd.Series(cac, dtype="float64").rename_axis("channel")


def ltv_cac(ltv_by_channel: pd.Series | Mapping[str, float], cac_by_channel: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """LTV, CAC and their ratio per channel (3:1 is a common rule of thumb; read it with the payback).

    Parameters
    ----------
    ltv_by_channel
        Series (or mapping) channel -> LTV per customer in run currency, e.g. from
        :func:`ltv_from_revenue_curve` or a CLV model; state its horizon and margin.
    cac_by_channel
        Output of :func:`cac_by_channel` with ``by_period=False``, or a Series channel -> CAC.

    Returns
    -------
    pandas.DataFrame
        Columns ``channel``, ``ltv``, ``cac``, ``ltv_cac_ratio`` for every channel in either input
        (NaN where one side is missing, e.g. organic channels have no CAC).
    """
    ltv = pd.Series(ltv_by_channel, dtype="float64").rename_axis("channel").rename("ltv")
    cac = _cac_series(cac_by_channel).rename("cac")
    table = pd.concat([ltv, cac], axis=1).rename_axis("channel").reset_index()
    table["ltv_cac_ratio"] = ratio_or_nan(table["ltv"], table["cac"])
    return table


def payback_period(revenue_curve: pd.DataFrame, cac_by_channel: pd.DataFrame | pd.Series, *,
                   margin_rate: float = 1.0) -> pd.DataFrame:
    """Months until cumulative gross margin per acquired customer covers the CAC, per channel.

    ``payback_months`` is ``m + 1`` for the first month index ``m`` at which the cumulative
    margin per acquired customer is at least the CAC (so 1 = within the first 30.4375 days,
    first order included). The margin is the curve's ``cumulative_margin_per_customer`` when it
    was built with a ``margin=``, else ``margin_rate x cumulative_revenue_per_customer``. On
    revenue (no margin, ``margin_rate = 1.0``) the first order alone often covers the CAC, so the
    payback looks like one month: configure the gross margin.

    Parameters
    ----------
    revenue_curve
        Output of :func:`cumulative_revenue_per_customer` (censored cohort curve).
    cac_by_channel
        Output of :func:`cac_by_channel` with ``by_period=False``, or a Series channel -> CAC.
    margin_rate
        Gross margin as a share of net revenue, in (0, 1].

    Returns
    -------
    pandas.DataFrame
        One row per channel present in both inputs with a CAC: ``cac``, ``payback_months``
        (NaN when not reached), ``reached`` (bool), ``observed_months`` (months of curve
        available) and ``margin_at_last_month`` (cumulative margin per customer at the last observed
        month, run currency).
    """
    value_column = _curve_value_column(revenue_curve, margin_rate)
    cac = _cac_series(cac_by_channel).dropna()
    curve = revenue_curve[revenue_curve["channel"].isin(cac.index)].copy()
    if curve.empty:
        raise DataError("No channel of the revenue curve has a CAC.", source="cac_by_channel", column="channel",
                        hint=f"Curve channels: {sorted(revenue_curve['channel'].unique())}; CAC channels: "
                             f"{sorted(cac.index)}. Channel names must match.")
    curve["margin"] = curve[value_column] * margin_rate
    curve["cac"] = curve["channel"].map(cac)
    curve = curve.sort_values(["channel", "months_since_acquisition"])
    paid_back = curve[curve["margin"] >= curve["cac"]].groupby("channel")["months_since_acquisition"].min()
    last = curve.groupby("channel").last()
    result = pd.DataFrame({
        "cac": last["cac"],
        "payback_months": (paid_back + 1).reindex(last.index).astype("float64"),
        "observed_months": last["months_since_acquisition"] + 1,
        "margin_at_last_month": last["margin"],
    })
    result.insert(2, "reached", result["payback_months"].notna())
    result = result.rename_axis("channel").reset_index()
    result.attrs["value_basis"] = _value_basis(revenue_curve, margin_rate)
    return result
