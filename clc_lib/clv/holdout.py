"""Calibration/holdout split of a transaction table by date, computed in the engine (Ibis).

The calibration summary is :func:`clc_lib.summary.customer_summary` as of ``calibration_end``.
Holdout purchases are counted the same way as in calibration: purchases (``is_return`` false) of
one customer on one calendar day form one purchase day, whatever the number of orders or rows.
Returns never count as purchases; a purchase day that returns cancel entirely (net value zero or
less, see :func:`clc_lib.summary.net_purchase_days`) is not counted, as in the calibration ``x``.

Customers whose first purchase falls in the holdout are not in the result (the models forecast
customers acquired by the end of calibration); their number is reported in ``attrs``.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd

from clc_lib.errors import ConfigError, ModelFitError
from clc_lib.i18n import N_, format_date, format_percent, gettext, sentence_space
from clc_lib.periods import TimeUnit, resolve_as_of
from clc_lib.summary import check_transactions, customer_summary, daily_purchase_values, fetch, net_purchase_days

__all__ = ["HOLDOUT_MAX_SHARE", "HoldoutPeriod", "ShortHistoryError", "calibration_holdout_split", "holdout_period",
           "purchase_days"]

#: The holdout is at most this share of the history, so calibration keeps at least the rest.
HOLDOUT_MAX_SHARE = 1 / 3
#: Columns of the transactions table that the holdout counts need.
HOLDOUT_TRANSACTION_COLUMNS = ("customer_id", "timestamp", "amount", "is_return")


class ShortHistoryError(ModelFitError):
    """The history is too short for what was asked; the message says how long it is and what is needed."""


@dataclass(frozen=True)
class HoldoutPeriod:
    """The calibration/holdout split that a history allows (see :func:`holdout_period`).

    Attributes
    ----------
    calibration_end, holdout_end
        Last days (included) of calibration and holdout.
    days, requested_days, history_days
        Holdout length used and asked for, and the history length (first purchase to ``holdout_end``), in days.
    time_unit
        The model time unit, for :meth:`describe`.
    """

    calibration_end: pd.Timestamp
    holdout_end: pd.Timestamp
    days: int
    requested_days: int
    history_days: int
    time_unit: str

    @property
    def shortened(self) -> bool:
        """True when the history was too short for the requested holdout."""
        return self.days < self.requested_days

    @property
    def length(self) -> float:
        """Holdout length in the model time unit."""
        return self.days / TimeUnit.parse(self.time_unit).days

    def describe(self) -> str:
        """One sentence for the report, in the active language: the holdout used and, when shortened, why."""
        length = gettext(_LENGTH_IN_UNITS[TimeUnit.parse(self.time_unit).code]).format(length=f"{self.length:.3g}")
        text = gettext("Holdout: the last {days} days ({length}), {start} to {end}; the models are fitted on "
                       "the {fitted_days} days before it.").format(
            days=self.days, length=length, start=format_date((self.calibration_end + pd.Timedelta(days=1)).date()),
            end=format_date(self.holdout_end.date()), fitted_days=self.history_days - self.days)
        if self.shortened:
            text += sentence_space() + gettext(
                "Shortened from the requested {requested_days} days to at most {share} of the "
                "{history_days}-day history.").format(
                requested_days=self.requested_days, share=format_percent(HOLDOUT_MAX_SHARE, 0),
                history_days=self.history_days)
        return text


#: A holdout's length in the model time unit (``{length}`` is the number, e.g. "26").
_LENGTH_IN_UNITS = {"D": N_("{length} days"), "W": N_("{length} weeks"), "M": N_("{length} months")}


def holdout_period(first_day: str | dt.date | pd.Timestamp, holdout_end: str | dt.date | pd.Timestamp, *,
                   requested_days: int, time_unit: str = "W",
                   max_share: float = HOLDOUT_MAX_SHARE) -> HoldoutPeriod:
    """The holdout a history allows: the requested length, at most ``max_share`` of the history.

    Parameters
    ----------
    first_day
        First purchase day in the data.
    holdout_end
        Last day of the holdout (the run's ``as_of``).
    requested_days
        Holdout length asked for, in days.
    time_unit
        Model time unit; the holdout must be at least one of them long.
    max_share
        Largest share of the history (first day to ``holdout_end``) given to the holdout.

    Raises
    ------
    ShortHistoryError
        When ``max_share`` of the history is shorter than one time unit.
    """
    start, end = resolve_as_of(first_day, what="first_day"), resolve_as_of(holdout_end, what="holdout_end")
    if requested_days < 1:
        raise ConfigError(f"The holdout must be at least one day long, got {requested_days} days.")
    if not 0 < max_share < 1:
        raise ConfigError(f"max_share must be between 0 and 1, got {max_share}.")
    history_days = (end - start).days
    unit_days = TimeUnit.parse(time_unit).days
    days = min(int(requested_days), math.floor(history_days * max_share))
    if days < unit_days:
        needed = math.ceil(unit_days / max_share)
        raise ShortHistoryError(
            f"the history is {history_days} days long ({start.date()} to {end.date()}); a holdout of at least one "
            f"time unit ({unit_days:g} days) at most {max_share:.0%} of the history needs {needed} days or more.")
    return HoldoutPeriod(calibration_end=end - pd.Timedelta(days=days), holdout_end=end, days=days,
                         requested_days=int(requested_days), history_days=history_days, time_unit=time_unit)

def purchase_days(transactions: ir.Table) -> ir.Table:
    """Ibis table of purchase days: ``customer_id``, ``day`` (date), ``day_value`` (sum of the day's purchases),
    ``first_day`` (the customer's first purchase day in ``transactions``).
    """
    days = _purchase_days(transactions)
    return days.mutate(first_day=days.day.min().over(ibis.window(group_by=days.customer_id)))


def _purchase_days(transactions: ir.Table) -> ir.Table:
    """:func:`purchase_days` without ``first_day``: ``customer_id``, ``day`` (date), ``day_value``."""
    check_transactions(transactions, needed=HOLDOUT_TRANSACTION_COLUMNS)
    return daily_purchase_values(transactions)


def _holdout_days(transactions: ir.Table, calibration_end: pd.Timestamp, holdout_end: pd.Timestamp) -> pd.DataFrame:
    """Counted purchase days (``x_holdout``) and their net value (``holdout_value``) per customer in the holdout.

    Index ``customer_id`` (sorted by the engine, which makes the join with the calibration summary
    cheap); only customers with a purchase in (calibration_end, holdout_end].
    """
    start = (calibration_end + pd.Timedelta(days=1)).to_pydatetime()
    stop = (holdout_end + pd.Timedelta(days=1)).to_pydatetime()
    check_transactions(transactions, needed=HOLDOUT_TRANSACTION_COLUMNS)
    days = net_purchase_days(transactions.filter(transactions.timestamp >= start, transactions.timestamp < stop))
    days = days.filter(days.counted)  # cancelled days do not count, as in the calibration x
    per_customer = days.group_by("customer_id").aggregate(x_holdout=days.count(),
                                                          holdout_value=days.net_value.sum())
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
            Purchase days in (calibration_end, holdout_end], cancelled days left out as in ``x``;
            0 for customers without any.
        ``holdout_value``
            Sum of the net values (purchases less the returns booked against them up to
            ``holdout_end``) of those days, run currency.
        ``duration_holdout``
            Length of the holdout in ``time_unit`` (the same for every customer).

        ``attrs`` holds ``calibration_end``, ``holdout_end``, ``time_unit``,
        ``n_first_seen_in_holdout`` (customers excluded because their first purchase is in the
        holdout) and ``n_without_purchase`` (customers with only returns in calibration, excluded).
    """
    check_transactions(transactions, needed=HOLDOUT_TRANSACTION_COLUMNS)
    start = resolve_as_of(calibration_end, what="calibration_end")
    end = resolve_as_of(holdout_end, what="holdout_end")
    if end <= start:
        raise ConfigError(f"holdout_end ({end.date()}) must be after calibration_end ({start.date()}).")
    unit_days = TimeUnit.parse(time_unit).days

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
