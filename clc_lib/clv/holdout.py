"""Calibration/holdout split of a transaction table by date, computed in the engine (Ibis).

The calibration summary is :func:`clc_lib.summary.customer_summary` as of ``calibration_end``.
Holdout purchases are counted the same way as in calibration: purchases (``is_return`` false) of
one customer on one calendar day form one purchase day, whatever the number of orders or rows.
Returns never count as purchases; they do not remove purchase days.

Customers whose first purchase falls in the holdout are not in the result (the models forecast
customers acquired by the end of calibration); their number is reported in ``attrs``.
"""

from __future__ import annotations

import datetime as dt
import warnings

import ibis
import ibis.expr.types as ir
import pandas as pd

from clc_lib.clv._base import time_unit_days
from clc_lib.errors import ConfigError, DataError
from clc_lib.summary import customer_summary, daily_purchase_values, fetch

__all__ = ["calibration_holdout_split", "purchase_days"]

_NEEDED = ("customer_id", "timestamp", "amount", "is_return")


def _check(transactions: ir.Table) -> None:
    if not isinstance(transactions, ir.Table):
        raise DataError(f"transactions must be an Ibis table, got {type(transactions).__name__}.",
                        source="transactions", hint="Wrap a DataFrame with ibis.memtable(df).")
    missing = [c for c in _NEEDED if c not in transactions.columns]
    if missing:
        raise DataError(f"The transactions table lacks the column(s) {', '.join(missing)}.",
                        source="transactions", column=missing[0])


def _date(value: str | dt.date | pd.Timestamp, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} {value!r} is not a date; write it as YYYY-MM-DD.") from None
    if pd.isna(stamp):
        raise ConfigError(f"{name} is missing; give a date as YYYY-MM-DD.")
    return stamp.normalize()


def purchase_days(transactions: ir.Table) -> ir.Table:
    """Ibis table of purchase days: ``customer_id``, ``day`` (date), ``day_value`` (sum of the day's purchases),
    ``first_day`` (the customer's first purchase day in ``transactions``).
    """
    days = _purchase_days(transactions)
    return days.mutate(first_day=days.day.min().over(ibis.window(group_by=days.customer_id)))


def _purchase_days(transactions: ir.Table) -> ir.Table:
    """:func:`purchase_days` without ``first_day``: ``customer_id``, ``day`` (date), ``day_value``."""
    _check(transactions)
    return daily_purchase_values(transactions)


def _holdout_days(transactions: ir.Table, calibration_end: pd.Timestamp, holdout_end: pd.Timestamp) -> pd.DataFrame:
    """Purchase days (``x_holdout``) and their value (``holdout_value``) per customer in the holdout.

    Index ``customer_id`` (sorted by the engine, which makes the join with the calibration summary
    cheap); only customers with a purchase in (calibration_end, holdout_end].
    """
    start = (calibration_end + pd.Timedelta(days=1)).to_pydatetime()
    stop = (holdout_end + pd.Timedelta(days=1)).to_pydatetime()
    days = _purchase_days(transactions.filter(transactions.timestamp >= start, transactions.timestamp < stop))
    per_customer = days.group_by("customer_id").aggregate(x_holdout=days.count(),
                                                          holdout_value=days.day_value.sum())
    return fetch(per_customer.order_by("customer_id")).set_index("customer_id")


def calibration_holdout_split(
    transactions: ir.Table,
    calibration_end: str | dt.date | pd.Timestamp,
    holdout_end: str | dt.date | pd.Timestamp,
    *,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Calibration summary per customer plus what each customer did in the holdout period.

    Parameters
    ----------
    transactions
        Contract transactions (``customer_id``, ``order_id``, ``timestamp``, ``amount``, ``is_return``).
    calibration_end, holdout_end
        Last days (included) of the calibration and of the holdout period.
    time_unit
        Unit of ``t_x``, ``T`` and ``duration_holdout``: "D", "W" (7 days) or "M" (30.4375 days).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``: the columns of :func:`clc_lib.summary.customer_summary` at
        ``calibration_end`` (``x``, ``t_x``, ``T``, ``zbar``, ``first_purchase``, ...) and

        ``x_holdout``
            Purchase days in (calibration_end, holdout_end]; 0 for customers without any.
        ``holdout_value``
            Sum of their purchase values (returns excluded), run currency.
        ``duration_holdout``
            Length of the holdout in ``time_unit`` (the same for every customer).

        ``attrs`` holds ``calibration_end``, ``holdout_end``, ``time_unit``,
        ``n_first_seen_in_holdout`` (customers excluded because their first purchase is in the
        holdout) and ``n_without_purchase`` (customers with only returns in calibration, excluded).
    """
    _check(transactions)
    start, end = _date(calibration_end, "calibration_end"), _date(holdout_end, "holdout_end")
    if end <= start:
        raise ConfigError(f"holdout_end ({end.date()}) must be after calibration_end ({start.date()}).")
    unit_days = time_unit_days(time_unit)

    calibration = customer_summary(transactions, start, time_unit=time_unit)
    no_purchase = calibration["first_purchase"].isna()
    n_without_purchase = int(no_purchase.sum())
    if n_without_purchase:
        warnings.warn(f"{n_without_purchase:,} customers have only returns up to {start.date()} and no purchase; "
                      "they are left out of the calibration/holdout split (no model applies to them).",
                      stacklevel=2)
        calibration = calibration[~no_purchase]

    holdout = _holdout_days(transactions, start, end)
    out = calibration.join(holdout, how="left")
    # Holdout buyers missing from the calibration summary made no purchase up to calibration_end:
    # their first purchase is in the holdout.
    n_first_seen_later = len(holdout) - int(out["x_holdout"].notna().sum())
    out["x_holdout"] = out["x_holdout"].fillna(0).astype("int64")
    out["holdout_value"] = out["holdout_value"].astype("float64").fillna(0.0)
    out["duration_holdout"] = (end - start).days / unit_days
    out.attrs.update({
        "calibration_end": start, "holdout_end": end, "time_unit": time_unit,
        "n_first_seen_in_holdout": n_first_seen_later, "n_without_purchase": n_without_purchase,
    })
    return out
