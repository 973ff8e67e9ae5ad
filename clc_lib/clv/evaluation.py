"""Checks of fitted purchase models against what customers did: holdout, tracking, matrices, comparison.

All functions take a fitted continuous-time purchase model (:class:`~clc_lib.clv.BetaGeoModel`,
:class:`~clc_lib.clv.ModifiedBetaGeoModel`, :class:`~clc_lib.clv.ParetoNBDModel`) whose time
unit is the one of the data (weeks in the CDNOW reference). "Purchases" are repeat purchase days
throughout (same-day purchases merged, first purchase not counted, returns excluded).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from clc_lib.clv._base import PurchaseModel, dot
from clc_lib.clv.holdout import HOLDOUT_TRANSACTION_COLUMNS
from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import TimeUnit, resolve_as_of
from clc_lib.summary import check_transactions

__all__ = [
    "holdout_by_frequency",
    "cumulative_tracking",
    "frequency_recency_matrix",
    "compare_models",
    "holdout_errors",
]


def _need(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"The {what} lacks the column(s) {', '.join(missing)}.", source=what, column=missing[0],
                        hint="Build it with clc_lib.clv.calibration_holdout_split(...).")


def _holdout_predictions(model: PurchaseModel, split: pd.DataFrame) -> pd.Series:
    """E[purchases in the holdout | calibration history] per customer (one call per holdout length)."""
    _need(split, ("x", "t_x", "T", "x_holdout", "duration_holdout"), "calibration/holdout frame")
    predicted = pd.Series(np.nan, index=split.index, name="predicted")
    for duration, group in split.groupby("duration_holdout"):
        predicted.loc[group.index] = model.expected_purchases(float(duration), group).to_numpy()
    return predicted


def holdout_errors(model: PurchaseModel, split: pd.DataFrame) -> dict[str, float]:
    """Per-customer MAE and RMSE of holdout purchases, and the totals predicted and observed."""
    predicted = _holdout_predictions(model, split)
    actual = split["x_holdout"].astype(float)
    error = predicted - actual
    return {
        "holdout_mae": float(error.abs().mean()),
        "holdout_rmse": float(np.sqrt((error**2).mean())),
        "holdout_predicted_total": float(predicted.sum()),
        "holdout_actual_total": float(actual.sum()),
        "holdout_total_error_pct": float(100 * (predicted.sum() - actual.sum()) / actual.sum())
        if actual.sum() > 0 else float("nan"),
    }


def holdout_by_frequency(model: PurchaseModel, split: pd.DataFrame, *, max_x: int = 7) -> pd.DataFrame:
    """Mean holdout purchases per calibration frequency group, observed and predicted.

    Parameters
    ----------
    split
        Output of :func:`clc_lib.clv.calibration_holdout_split` (``x``, ``t_x``, ``T``,
        ``x_holdout``, ``duration_holdout``).
    max_x
        The last group collects every customer with ``x >= max_x`` (labelled e.g. "7+").

    Returns
    -------
    pandas.DataFrame
        Index ``x_group`` (ordered labels "0", "1", ..., "7+"), columns ``customers``, ``actual``
        and ``predicted`` (mean repeat purchase days per customer in the holdout) and
        ``actual_total``, ``predicted_total``.
    """
    predicted = _holdout_predictions(model, split)
    labels = [str(k) for k in range(max_x)] + [f"{max_x}+"]
    group = pd.Categorical.from_codes(np.minimum(split["x"].to_numpy().astype(int), max_x), categories=labels,
                                      ordered=True)
    frame = pd.DataFrame({"x_group": group, "actual": split["x_holdout"].astype(float).to_numpy(),
                          "predicted": predicted.to_numpy()})
    grouped = frame.groupby("x_group", observed=False)
    out = pd.DataFrame({
        "customers": grouped.size(),
        "actual": grouped["actual"].mean(),
        "predicted": grouped["predicted"].mean(),
        "actual_total": grouped["actual"].sum(),
        "predicted_total": grouped["predicted"].sum(),
    })
    out.attrs.update({"duration_holdout": float(split["duration_holdout"].iloc[0]),
                      "time_unit": split.attrs.get("time_unit")})
    return out


def _cohort_days(transactions: ir.Table, calibration_end: pd.Timestamp, holdout_end: pd.Timestamp) -> pd.DataFrame:
    """First purchase days (``customers``) and repeat purchase days (``purchases``) per ``day`` up to
    ``holdout_end``, of the customers whose first purchase is on or before ``calibration_end``.

    One window over the purchase rows, in date order per customer: a row without a previous row is
    the customer's first purchase, a row after an earlier day starts a repeat purchase day (the
    other rows of a day add nothing), so the rows need not be made distinct per day first.
    """
    rows = transactions.filter(transactions.timestamp < (holdout_end + pd.Timedelta(days=1)).to_pydatetime())
    purchases = rows.filter(~rows.is_return.fill_null(False))
    days = purchases.select(customer_id=purchases.customer_id, day=purchases.timestamp.date())
    window = ibis.window(group_by="customer_id", order_by="day")
    days = days.mutate(previous_day=days.day.lag().over(window), first_day=days.day.min().over(window))
    cohort = days.filter(days.first_day <= calibration_end.date())
    per_day = cohort.group_by("day").aggregate(customers=cohort.count(where=cohort.previous_day.isnull()),
                                               purchases=cohort.count(where=cohort.previous_day < cohort.day))
    return per_day.order_by("day").execute()


def cumulative_tracking(
    model: PurchaseModel,
    transactions: ir.Table,
    *,
    calibration_end: str | dt.date | pd.Timestamp,
    holdout_end: str | dt.date | pd.Timestamp,
    time_unit: str = "W",
) -> pd.DataFrame:
    """Expected and actual cumulative repeat purchase days over calendar time (the FHL tracking plot).

    The cohort is every customer whose first purchase is on or before ``calibration_end``. At each
    grid date ``d`` the expectation is ``sum_i E[X(d - first_i)]``, the model's *unconditional*
    expectation for a customer ``d - first_i`` time units after their first purchase (so the
    holdout part is a genuine forecast from the first purchase dates alone). Grid dates are
    ``calibration_end + k * time_unit`` (whole days for D and W), from before the first purchase
    through ``holdout_end``; the actual count at ``d`` includes purchases on ``d`` itself.

    Returns
    -------
    pandas.DataFrame
        One row per grid date: ``date``, ``period`` (time units since the first grid date),
        ``in_holdout``, ``actual_cumulative``, ``expected_cumulative``, ``actual`` and ``expected``
        (increments since the previous grid date).
    """
    check_transactions(transactions, needed=HOLDOUT_TRANSACTION_COLUMNS)
    start = resolve_as_of(calibration_end, what="calibration_end")
    end = resolve_as_of(holdout_end, what="holdout_end")
    if end <= start:
        raise ConfigError(f"holdout_end ({end.date()}) must be after calibration_end ({start.date()}).")
    unit_days = TimeUnit.parse(time_unit).days
    per_day = _cohort_days(transactions, start, end)
    firsts = per_day.loc[per_day["customers"] > 0, ["day", "customers"]]
    repeats = per_day.loc[per_day["purchases"] > 0, ["day", "purchases"]]
    if firsts.empty:
        raise DataError(f"No customer has a first purchase on or before {start.date()}.", source="transactions")
    first_dates = pd.to_datetime(firsts["day"]).to_numpy()
    cohort_sizes = firsts["customers"].to_numpy(dtype=float)

    k_first = int(np.floor((pd.Timestamp(first_dates.min()) - start).days / unit_days))
    k_last = int(np.ceil((end - start).days / unit_days))
    offsets = np.arange(k_first, k_last + 1) * unit_days
    grid = pd.DatetimeIndex(start + pd.to_timedelta(np.round(offsets), unit="D"))
    grid = grid[grid <= end]
    if grid[-1] != end:
        grid = grid.append(pd.DatetimeIndex([end]))

    ages = (grid.to_numpy()[None, :] - first_dates[:, None]) / np.timedelta64(1, "D") / unit_days
    expected_each = model.expected_purchases_new_customer(np.clip(ages, 0, None))
    expected_each = np.where(ages > 0, expected_each, 0.0)
    expected_cumulative = dot(cohort_sizes, expected_each)

    repeat_dates = pd.to_datetime(repeats["day"]).to_numpy()
    order = np.argsort(repeat_dates)
    cumulative = np.cumsum(repeats["purchases"].to_numpy(dtype=float)[order])
    position = np.searchsorted(repeat_dates[order], grid.to_numpy(), side="right")
    actual_cumulative = np.where(position > 0, cumulative[np.maximum(position - 1, 0)], 0.0)

    out = pd.DataFrame({
        "date": grid,
        "period": (grid - grid[0]).days / unit_days,
        "in_holdout": grid > start,
        "actual_cumulative": actual_cumulative,
        "expected_cumulative": expected_cumulative,
    })
    out["actual"] = out["actual_cumulative"].diff().fillna(out["actual_cumulative"])
    out["expected"] = out["expected_cumulative"].diff().fillna(out["expected_cumulative"])
    out.attrs.update({"calibration_end": start, "holdout_end": end, "time_unit": time_unit,
                      "customers": int(cohort_sizes.sum())})
    return out


#: Quantities :func:`frequency_recency_matrix` can tabulate.
MATRIX_QUANTITIES = ("p_alive", "expected_purchases")


def frequency_recency_matrix(
    model: PurchaseModel,
    quantity: str = "p_alive",
    *,
    T: float,
    t: float | None = None,
    max_x: int = 20,
    n_recency: int = 20,
) -> pd.DataFrame:
    """P(alive) or expected purchases for a grid of frequency ``x`` and recency ``t_x`` at a given ``T``.

    Parameters
    ----------
    quantity
        "p_alive" or "expected_purchases" (then ``t``, the horizon in model time units, is required).
    T
        Customer age (time since the first purchase) in model time units, stated explicitly: the
        matrix depends on it. Use e.g. the median ``T`` of the customers you look at.
    max_x, n_recency
        Rows ``x = 0..max_x``; columns ``n_recency + 1`` evenly spaced ``t_x`` values in [0, T].

    Returns
    -------
    pandas.DataFrame
        Index ``x``, columns ``t_x`` (time units since the first purchase at the last purchase);
        cells with ``x = 0`` and ``t_x > 0`` (impossible histories) are NaN.
    """
    if quantity not in MATRIX_QUANTITIES:
        raise ConfigError(f"quantity must be one of {', '.join(MATRIX_QUANTITIES)}, got {quantity!r}.")
    if quantity == "expected_purchases" and t is None:
        raise ConfigError("frequency_recency_matrix(quantity='expected_purchases') needs the horizon t.")
    if not T > 0:
        raise ConfigError(f"T must be positive (model time units), got {T!r}.")
    xs = np.arange(max_x + 1, dtype=float)
    recencies = np.linspace(0.0, T, n_recency + 1)
    grid_x, grid_tx = np.meshgrid(xs, recencies, indexing="ij")
    valid = ~((grid_x == 0) & (grid_tx > 0))
    flat = dict(x=grid_x[valid], t_x=grid_tx[valid], T=np.full(valid.sum(), float(T)))
    if quantity == "p_alive":
        values = model.probability_alive(**flat)
    else:
        values = model.expected_purchases(float(t), **flat)
    matrix = np.full(grid_x.shape, np.nan)
    matrix[valid] = values
    out = pd.DataFrame(matrix, index=pd.Index(xs.astype(int), name="x"),
                       columns=pd.Index(np.round(recencies, 4), name="t_x"))
    out.attrs.update({"quantity": quantity, "T": float(T), "t": t})
    return out


def compare_models(models: Mapping[str, PurchaseModel], split: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per fitted model: log-likelihood, parameters, AIC, BIC and, with ``split``, holdout errors.

    The models must be fitted on the same customers (the calibration part of ``split``) for the
    likelihood columns to be comparable. Holdout errors compare per-customer expected and actual
    holdout purchase days (MAE, RMSE) and their totals.
    """
    rows = {}
    for name, model in models.items():
        model._check_fitted()
        if not hasattr(model, "log_likelihood_"):
            raise ConfigError(f"Model {name!r} has given parameters, not fitted ones; fit it before comparing.")
        row = {"log_likelihood": model.log_likelihood_, "n_params": model.n_params, "aic": model.aic,
               "bic": model.bic, "n_customers": model.n_customers_}
        if split is not None:
            row.update(holdout_errors(model, split))
        rows[name] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    return out
