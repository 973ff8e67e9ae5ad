"""Monetisation: revenue over time, revenue by group, concentration, historic LTV, cross-sell and up-sell.

Transaction-level steps (:func:`revenue_over_time`, the cross-sell and up-sell functions) are Ibis
expressions; only per-period or per-group results come back as pandas. Functions on the customer
summary (:func:`revenue_by`, :func:`historic_ltv`) and on value arrays (:func:`gini`,
:func:`lorenz_curve`, :func:`top_share`) are pandas/numpy.

Money is in the run currency. **Net** revenue = purchases + returns (returns are negative rows);
**gross** revenue = purchases only. Returns are booked in the period in which the return row is
dated, not in the period of the original order. See ``docs/monetisation.md``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import ibis
import numpy as np
import pandas as pd

from clc_lib.cohorts import mark_complete_periods
from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import DAYS_PER_YEAR, Period, resolve_as_of
from clc_lib.summary import check_transactions, purchase_rows, ratio_or_nan, require_columns, to_datetime_ns

__all__ = [
    "TENURE_BANDS_DAYS",
    "revenue_over_time",
    "revenue_by",
    "lorenz_curve",
    "gini",
    "top_share",
    "concentration_summary",
    "historic_ltv",
    "historic_vs_predicted",
    "has_categories",
    "categories_per_customer",
    "multi_category_share",
    "category_co_occurrence",
    "aov_by_order_number",
    "aov_by_tenure",
]

#: Tenure bands for up-sell analysis: label -> (from day inclusive, to day exclusive; None = open).
TENURE_BANDS_DAYS: dict[str, tuple[int, int | None]] = {
    "0-89 days": (0, 90),
    "90-179 days": (90, 180),
    "180-364 days": (180, 365),
    "1-2 years": (365, 730),
    "2+ years": (730, None),
}
NEGATIVE_VALUE_RULES = ("raise", "clip")


# ---------------------------------------------------------------------------------- revenue over time

def revenue_over_time(transactions: ibis.Table, *, period: str = "M", as_of=None) -> pd.DataFrame:
    """Revenue, returns, orders, active customers, AOV and ARPU per period.

    Parameters
    ----------
    transactions
        Ibis table with ``customer_id``, ``order_id``, ``timestamp``, ``amount`` (run currency, net
        line value, negative for returns) and ``is_return``.
    period
        ``"M"`` (calendar month) or ``"W"`` (week starting Monday).
    as_of
        Cut-off date of the data (``run.as_of``); ``None`` = the date of the last transaction.

    Returns
    -------
    pandas.DataFrame
        One row per period from the first to the last period with data (empty periods are zero):
        ``period_start``; ``net_revenue`` (all rows); ``gross_revenue`` (purchases);
        ``returns`` (value of returns, >= 0); ``orders`` (distinct purchase order ids);
        ``active_customers`` (customers with a purchase in the period); ``aov`` = gross revenue /
        orders; ``arpu`` = net revenue / active customers; ``return_rate`` = returns / gross
        revenue. Ratios are NaN where the denominator is 0. ``is_complete`` is False for a last
        period that runs past ``as_of`` (:func:`clc_lib.cohorts.period_is_complete`): its totals
        cover only part of the period.
    """
    period = Period.parse(period)
    as_of = resolve_as_of(as_of, transactions)
    check_transactions(transactions)
    is_purchase = ~transactions.is_return
    with_period = transactions.mutate(period_start=transactions.timestamp.truncate(period.truncate_unit))
    money = with_period.group_by("period_start").aggregate(
        net_revenue=with_period.amount.sum(),
        gross_revenue=with_period.amount.sum(where=is_purchase),
        returns=(-with_period.amount).sum(where=~is_purchase),
    )
    # Distinct counts as a distinct projection counted per period: cheaper than COUNT(DISTINCT).
    bought = with_period.filter(is_purchase)

    def distinct_per_period(column: str, name: str) -> ibis.Table:
        pairs = bought.filter(bought[column].notnull()).select("period_start", column).distinct()
        counts = pairs.group_by("period_start").aggregate(**{name: pairs.count()})
        return counts.rename(**{f"{name}_period": "period_start"})

    orders = distinct_per_period("order_id", "orders")
    active = distinct_per_period("customer_id", "active_customers")
    frame = (money.left_join(orders, money.period_start.identical_to(orders.orders_period))
             .left_join(active, money.period_start.identical_to(active.active_customers_period))
             .select("period_start", "net_revenue", "gross_revenue", "returns", "orders", "active_customers")
             .execute())
    frame["period_start"] = to_datetime_ns(frame["period_start"])
    if not frame.empty:
        periods = period.starts(frame["period_start"].min(), frame["period_start"].max()).rename("period_start")
        frame = frame.set_index("period_start").reindex(periods).reset_index()
    money = ["net_revenue", "gross_revenue", "returns"]
    frame[money] = frame[money].astype("float64").fillna(0.0)
    frame[["orders", "active_customers"]] = frame[["orders", "active_customers"]].fillna(0).astype("int64")
    frame["aov"] = ratio_or_nan(frame["gross_revenue"], frame["orders"])
    frame["arpu"] = ratio_or_nan(frame["net_revenue"], frame["active_customers"])
    frame["return_rate"] = ratio_or_nan(frame["returns"], frame["gross_revenue"])
    return mark_complete_periods(frame.sort_values("period_start").reset_index(drop=True), period, as_of)


# ------------------------------------------------------------------------------------ revenue by group

def revenue_by(summary_with_labels: pd.DataFrame, by: str | Sequence[str], *,
               order: Sequence[str] | None = None) -> pd.DataFrame:
    """Customers, revenue and revenue share per group (lifecycle stage, RFM segment, channel, ...).

    Parameters
    ----------
    summary_with_labels
        Customer summary (``clc.customer_summary``) with the label column(s) joined: needs
        ``net_revenue``, ``orders`` and ``aov`` (gross purchase value / orders, run currency) and
        the ``by`` columns. Missing labels form their own group (NaN), they are not dropped.
    by
        Label column or columns.
    order
        Order of the groups of a single ``by`` column (e.g. ``clc.STAGES``); groups not listed
        follow. Default: ordered categoricals keep their order, others sort by net revenue,
        largest first.

    Returns
    -------
    pandas.DataFrame
        Columns ``by...``, ``customers``, ``orders``, ``net_revenue``, ``gross_revenue`` (run
        currency), ``revenue_share`` (share of total net revenue), ``customer_share``,
        ``revenue_per_customer`` (net), ``aov`` (gross / orders).
    """
    keys = [by] if isinstance(by, str) else list(by)
    require_columns(summary_with_labels, [*keys, "net_revenue", "orders", "aov"], source="customer summary")
    data = summary_with_labels[keys + ["net_revenue", "orders"]].copy()
    data["gross_revenue"] = (summary_with_labels["aov"] * summary_with_labels["orders"]).fillna(0.0)
    grouped = data.groupby(keys, dropna=False, observed=True, sort=False).agg(
        customers=("net_revenue", "size"), orders=("orders", "sum"),
        net_revenue=("net_revenue", "sum"), gross_revenue=("gross_revenue", "sum"),
    ).reset_index()
    total_revenue = grouped["net_revenue"].sum()
    grouped["revenue_share"] = grouped["net_revenue"] / total_revenue if total_revenue else np.nan
    grouped["customer_share"] = grouped["customers"] / grouped["customers"].sum()
    grouped["revenue_per_customer"] = grouped["net_revenue"] / grouped["customers"]
    grouped["aov"] = ratio_or_nan(grouped["gross_revenue"], grouped["orders"])

    first_key = grouped[keys[0]]
    if order is not None and len(keys) == 1:
        rank = {label: i for i, label in enumerate(order)}
        positions = first_key.astype(object).map(rank).astype("float64").fillna(len(rank))
        grouped = grouped.assign(_rank=positions).sort_values(
            ["_rank", "net_revenue"], ascending=[True, False]).drop(columns="_rank")
    elif isinstance(first_key.dtype, pd.CategoricalDtype) and first_key.dtype.ordered:
        grouped = grouped.sort_values(keys)
    else:
        grouped = grouped.sort_values("net_revenue", ascending=False)
    return grouped.reset_index(drop=True)


# ------------------------------------------------------------------------------------- concentration

def concentration_values(values, *, negative: str, what: str = "values") -> np.ndarray:
    """``values`` as a flat float array ready for concentration measures (Lorenz curve, Gini, top share).

    Parameters
    ----------
    values
        Per-customer values (e.g. net revenue, run currency), any array-like.
    negative
        ``"raise"``: negative values are an error; ``"clip"``: they count as 0, with one warning.
    what
        Name of the values in messages.

    Raises
    ------
    DataError
        When there are no values, some are missing (NaN), or some are negative with ``negative="raise"``.
    """
    if negative not in NEGATIVE_VALUE_RULES:
        raise ConfigError(f"negative is {negative!r}; use one of {NEGATIVE_VALUE_RULES}.")
    array = np.asarray(values, dtype="float64").ravel()
    if array.size == 0:
        raise DataError(f"No {what} to measure concentration on (0 rows).", source=what,
                        hint="Check the as_of date and the filters applied before this step.")
    missing = np.isnan(array)
    if missing.any():
        rows = np.flatnonzero(missing)[:5]
        raise DataError(f"{what} contain missing values.", source=what, n_rows=int(missing.sum()),
                        examples=[(int(i) + 1, "NaN") for i in rows],
                        hint="Fill them (e.g. 0 revenue) or filter those customers explicitly first.")
    below_zero = array < 0
    if below_zero.any():
        if negative == "raise":
            rows = np.flatnonzero(below_zero)[:5]
            raise DataError(f"{what} contain negative values; concentration needs values >= 0.", source=what,
                            n_rows=int(below_zero.sum()), examples=[(int(i) + 1, array[i]) for i in rows],
                            hint="Use gross revenue, or pass negative='clip' to count them as 0.")
        warnings.warn(f"{int(below_zero.sum()):,} negative {what} counted as 0 (negative='clip').", stacklevel=3)
        array = np.where(below_zero, 0.0, array)
    return array


def lorenz_curve(values, *, max_points: int | None = 1001, negative: str = "raise") -> pd.DataFrame:
    """The Lorenz curve of ``values`` (e.g. net revenue per customer): cumulative value share by population share.

    Customers are sorted from the smallest to the largest value; the curve runs from (0, 0) to
    (1, 1) and is piecewise linear between customers.

    Parameters
    ----------
    values
        Non-negative values, one per customer (run currency).
    max_points
        Evaluate the curve at this many evenly spaced population shares (exact, by linear
        interpolation between customers) instead of one point per customer; ``None`` keeps every
        customer.
    negative
        ``"raise"`` (default) or ``"clip"`` (count negative values as 0, with a warning).

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_share`` and ``value_share`` (0-1).
    """
    array = np.sort(concentration_values(values, negative=negative))
    total = array.sum()
    population = np.arange(array.size + 1) / array.size
    cumulative = np.concatenate([[0.0], np.cumsum(array)])
    share = cumulative / total if total > 0 else population.copy()
    if max_points is not None and max_points < population.size:
        grid = np.linspace(0.0, 1.0, max(int(max_points), 2))
        return pd.DataFrame({"customer_share": grid, "value_share": np.interp(grid, population, share)})
    return pd.DataFrame({"customer_share": population, "value_share": share})


def gini(values, *, negative: str = "raise") -> float:
    """Gini coefficient of ``values`` with the **population** formula.

    ``G = sum_i sum_j |x_i - x_j| / (2 n^2 mean(x))``, computed on sorted values as
    ``G = 2 sum_i i x_(i) / (n sum x) - (n + 1) / n``. It equals ``1 - 2 x`` (area under the
    Lorenz curve). 0 = everyone has the same value; ``(n - 1) / n`` = one customer has everything
    (0.75 for ``[0, 0, 0, 1]``). Multiply by ``n / (n - 1)`` for the sample version. NaN when all
    values are 0.

    Parameters
    ----------
    values
        Non-negative values, one per customer (run currency).
    negative
        ``"raise"`` (default) or ``"clip"`` (count negative values as 0, with a warning).
    """
    array = np.sort(concentration_values(values, negative=negative))
    total = array.sum()
    if total == 0:
        return float("nan")
    n = array.size
    ranks = np.arange(1, n + 1)
    return float(2.0 * np.dot(ranks, array) / (n * total) - (n + 1) / n)


def top_share(values, share: float = 0.2, *, negative: str = "raise") -> float:
    """Share of the total held by the top ``share`` of customers (e.g. 0.2 -> "top 20 % make X %").

    Read off the Lorenz curve as ``1 - L(1 - share)``, with linear interpolation between customers
    (a fraction of a customer counts pro rata), so it is exact for any ``share``.
    """
    if not 0 <= share <= 1:
        raise ConfigError(f"share is {share}; give a population share between 0 and 1 (0.2 = top 20 %).")
    curve = lorenz_curve(values, max_points=None, negative=negative)
    return float(1.0 - np.interp(1.0 - share, curve["customer_share"], curve["value_share"]))


def concentration_summary(values, shares: Sequence[float] = (0.01, 0.05, 0.1, 0.2, 0.5), *,
                          negative: str = "raise") -> pd.DataFrame:
    """Share of the total held by the top 1 %, 5 %, ... of customers, with the Gini of the same values.

    Returns
    -------
    pandas.DataFrame
        Columns ``top_customers`` (share of customers, 0-1), ``customers`` (how many that is,
        rounded up), ``value_share`` (0-1, :func:`top_share`) and ``gini`` (same on every row).
    """
    array = concentration_values(values, negative=negative)
    clean = np.where(array < 0, 0.0, array)  # already clipped (with a warning) or refused above
    coefficient = gini(clean)
    return pd.DataFrame({
        "top_customers": list(shares),
        "customers": [int(np.ceil(share * clean.size)) for share in shares],
        "value_share": [top_share(clean, share) for share in shares],
        "gini": coefficient,
    })


# ------------------------------------------------------------------------------------------ historic LTV

def historic_ltv(summary: pd.DataFrame, *, by: str | None = None, lifetime_years: float | None = None,
                 annual_churn_rate: float | None = None, min_tenure_days: float = 30.0,
                 net_of_returns: bool = False, margin_rate: float = 1.0) -> pd.DataFrame:
    """Historic LTV = average ticket x purchases per year x expected lifetime in years.

    Definitions (money in run currency, years of 365.25 days):

    * **average ticket** = ``aov`` (gross purchase value / orders); with ``net_of_returns=True``,
      ``net_revenue / orders``. Groups use the order-weighted ticket (total value / total orders).
    * **purchases per year** = ``orders / tenure years``, where tenure = ``tenure_days`` (first
      purchase to as_of) floored at ``min_tenure_days`` so that a customer acquired yesterday does
      not get hundreds of orders a year. Groups pool: total orders / total tenure years.
    * **expected lifetime** (years): ``1 / annual_churn_rate`` when given, else ``lifetime_years``
      when given, else the **mean observed tenure** (floored) of the group (of all customers for
      the per-customer table). With the observed-tenure default a group's LTV equals its average
      purchase value per customer to date: a historic figure that undercounts customers still
      buying. Give a churn rate for a forward-looking figure.

    The result is multiplied by ``margin_rate`` (default 1.0 = revenue; pass the gross margin for
    a profit LTV). Customers with no purchase (only returns, ``orders == 0``) have no ticket and are
    left out of the figures; the group table counts them in ``customers_without_orders``.

    Parameters
    ----------
    summary
        Customer summary (``clc.customer_summary``) with ``aov``, ``orders``, ``tenure_days``,
        ``net_revenue`` and the ``by`` column.
    by
        ``None`` for one row per customer, or a label column for one row per group.

    Returns
    -------
    pandas.DataFrame
        ``average_ticket``, ``purchases_per_year``, ``lifetime_years``, ``historic_ltv``; per
        customer (index ``customer_id``) or per group (plus ``customers`` and
        ``customers_without_orders``).
    """
    needed = ["aov", "orders", "tenure_days", "net_revenue"] + ([by] if by else [])
    require_columns(summary, needed, source="customer summary")
    if not 0 < margin_rate <= 1:
        raise ConfigError(f"margin_rate is {margin_rate}; give the gross margin as a share in (0, 1].")
    if annual_churn_rate is not None and not 0 < annual_churn_rate <= 1:
        raise ConfigError(f"annual_churn_rate is {annual_churn_rate}; give a share in (0, 1] (0.4 = 40 % a year).")
    if lifetime_years is not None and lifetime_years <= 0:
        raise ConfigError(f"lifetime_years is {lifetime_years}; give a positive number of years.")
    if annual_churn_rate is not None and lifetime_years is not None:
        raise ConfigError("Give either annual_churn_rate or lifetime_years, not both.")
    fixed_lifetime = 1.0 / annual_churn_rate if annual_churn_rate is not None else lifetime_years

    data = summary.copy()
    data["_has_orders"] = data["orders"] > 0
    data["_value"] = np.where(data["_has_orders"],
                              data["net_revenue"] if net_of_returns else data["aov"] * data["orders"], np.nan)
    data["_tenure_years"] = np.where(data["_has_orders"],
                                     np.maximum(data["tenure_days"], min_tenure_days) / DAYS_PER_YEAR, np.nan)
    buyers = data[data["_has_orders"]]

    if by is None:
        lifetime = fixed_lifetime if fixed_lifetime is not None else buyers["_tenure_years"].mean()
        result = pd.DataFrame(index=data.index)
        result["average_ticket"] = data["_value"] / data["orders"].where(data["_has_orders"])
        result["purchases_per_year"] = data["orders"].where(data["_has_orders"]) / data["_tenure_years"]
        result["lifetime_years"] = np.where(data["_has_orders"], lifetime, np.nan)
        result["historic_ltv"] = (result["average_ticket"] * result["purchases_per_year"]
                                  * result["lifetime_years"] * margin_rate)
        return result

    groups = data.groupby(by, dropna=False, observed=True, sort=True)
    result = pd.DataFrame({
        "customers": groups["_has_orders"].sum().astype("int64"),
        "customers_without_orders": groups["_has_orders"].apply(lambda s: int((~s).sum())),
        "_value": groups["_value"].sum(),
        "_orders": groups["orders"].sum(),
        "_tenure_years": groups["_tenure_years"].sum(),
    })
    result["average_ticket"] = ratio_or_nan(result["_value"], result["_orders"])
    result["purchases_per_year"] = ratio_or_nan(result["_orders"], result["_tenure_years"])
    result["lifetime_years"] = (fixed_lifetime if fixed_lifetime is not None
                                else ratio_or_nan(result["_tenure_years"], result["customers"]))
    result["historic_ltv"] = (result["average_ticket"] * result["purchases_per_year"]
                              * result["lifetime_years"] * margin_rate)
    return result.drop(columns=["_value", "_orders", "_tenure_years"]).reset_index()


# ----------------------------------------------------------------------------------------- cross-sell

def has_categories(transactions: ibis.Table) -> bool:
    """True when the transactions carry a ``category`` column (needed for cross-sell analysis)."""
    return "category" in tuple(transactions.columns)


def _customer_categories(transactions: ibis.Table) -> ibis.Table:
    check_transactions(transactions, needed=("category",),
                       hint="Cross-sell needs a product category: map 'category' in the run config.")
    purchases = purchase_rows(transactions)
    return (purchases.filter(purchases.category.notnull())
            .select("customer_id", "category").distinct())


def categories_per_customer(transactions: ibis.Table, *, max_categories: int = 5) -> pd.DataFrame:
    """How many distinct product categories customers buy (cross-sell breadth).

    Counts distinct non-missing ``category`` values over each customer's purchases (returns
    excluded). Customers whose purchases all lack a category count under 0 (not dropped).

    Returns
    -------
    pandas.DataFrame
        Columns ``categories`` (``"0"``, ``"1"``, ..., ``"<max>+"``), ``customers``, ``share`` of
        purchasing customers.
    """
    purchases = purchase_rows(transactions)
    check_transactions(transactions, needed=("category",),
                       hint="Cross-sell needs a product category: map 'category' in the run config.")
    # One pass: (customer, category) pairs including the missing category, so that every buyer has
    # a row; a missing customer id is one buyer without categories.
    pairs = purchases.group_by(["customer_id", "category"]).aggregate()
    breadth = pairs.group_by("customer_id").aggregate(n_categories=pairs.category.count())
    per_customer = breadth.mutate(n_categories=ibis.least(
        ibis.ifelse(breadth.customer_id.isnull(), 0, breadth.n_categories), max_categories))
    counts = per_customer.group_by("n_categories").aggregate(
        customers=per_customer.n_categories.count()).execute()
    counts = counts.set_index("n_categories").reindex(range(max_categories + 1), fill_value=0)
    labels = [str(n) for n in range(max_categories)] + [f"{max_categories}+"]
    frame = pd.DataFrame({"categories": labels, "customers": counts["customers"].astype("int64").to_numpy()})
    frame["share"] = frame["customers"] / frame["customers"].sum()
    return frame


def multi_category_share(transactions: ibis.Table) -> float:
    """Share of purchasing customers who bought in two or more product categories."""
    breadth = categories_per_customer(transactions, max_categories=2)
    return float(breadth.loc[breadth["categories"] == "2+", "share"].iloc[0])


def category_co_occurrence(transactions: ibis.Table, *, normalize: str | None = None) -> pd.DataFrame:
    """Customers who bought both category *i* and category *j* (customer-level co-occurrence).

    Parameters
    ----------
    transactions
        Ibis transactions with ``category``; purchases only, any time up to as_of.
    normalize
        ``None``: counts of customers (diagonal = customers who bought the category).
        ``"row"``: share of buyers of the row category who also bought the column category
        (``P(j | i)``; diagonal 1). ``"customers"``: share of all customers with a categorised purchase.

    Returns
    -------
    pandas.DataFrame
        Square frame, index and columns = categories sorted by number of buyers (largest first).
    """
    normalizers = {None, "row", "customers"}
    if normalize not in normalizers:
        raise ConfigError(f"normalize is {normalize!r}; use None, 'row' or 'customers'.")
    left = _customer_categories(transactions)
    right = left.rename(customer_id_b="customer_id", category_b="category")
    pairs = left.join(right, left.customer_id == right.customer_id_b)
    counts = pairs.group_by(["category", "category_b"]).aggregate(
        customers=pairs.customer_id.count()).execute()
    matrix = counts.pivot(index="category", columns="category_b", values="customers").fillna(0).astype("int64")
    order = pd.Series(np.diag(matrix.to_numpy()), index=matrix.index).sort_values(ascending=False).index
    matrix = matrix.reindex(index=order, columns=order).rename_axis(index="category", columns="also_bought")
    if normalize == "row":
        return matrix.div(np.diag(matrix.to_numpy()), axis=0)
    if normalize == "customers":
        return matrix / int(left.customer_id.nunique().execute())
    return matrix


# -------------------------------------------------------------------------------------------- up-sell

def _numbered_orders(transactions: ibis.Table, *, first_ts: bool = True) -> ibis.Table:
    """One row per customer and purchase order, numbered by time.

    Columns ``order_ts`` (first purchase line), ``order_value`` (gross), ``order_number`` (1, 2,
    ... by ``order_ts``, ties by ``order_id``) and, with ``first_ts``, the customer's first
    ``order_ts``.
    """
    purchases = purchase_rows(transactions)
    orders = purchases.group_by(["customer_id", "order_id"]).aggregate(
        order_ts=purchases.timestamp.min(), order_value=purchases.amount.sum())
    window = ibis.window(group_by=orders.customer_id, order_by=[orders.order_ts, orders.order_id])
    columns = {"order_number": ibis.row_number().over(window) + 1}
    if first_ts:
        columns["first_ts"] = orders.order_ts.min().over(ibis.window(group_by=orders.customer_id))
    return orders.mutate(**columns)


def aov_by_order_number(transactions: ibis.Table, *, max_order_number: int = 10) -> pd.DataFrame:
    """Average order value of customers' 1st, 2nd, 3rd, ... order (up-sell over the relationship).

    Orders are numbered per customer by time (ties by ``order_id``); an order's value is the sum
    of its purchase lines (gross, run currency). Orders from ``max_order_number`` on are pooled
    in the last row (label ``"<max>+"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``order_number`` (label), ``orders``, ``customers``, ``aov``, ``median_order_value``.
    """
    if max_order_number < 1:
        raise ConfigError(f"max_order_number is {max_order_number}; give at least 1.")
    orders = _numbered_orders(transactions, first_ts=False)
    orders = orders.mutate(bucket=ibis.least(orders.order_number, max_order_number))
    # A customer has one order of each number: the customers of a bucket are its orders numbered
    # exactly like the bucket (no distinct count needed).
    frame = orders.group_by("bucket").aggregate(
        orders=orders.order_value.count(),
        customers=orders.count(where=(orders.order_number == orders.bucket) & orders.customer_id.notnull()),
        aov=orders.order_value.mean(), median_order_value=orders.order_value.median(),
    ).execute().sort_values("bucket")
    frame["order_number"] = [str(b) if b < max_order_number else f"{max_order_number}+" for b in frame["bucket"]]
    frame["orders"] = frame["orders"].astype("int64")
    return frame[["order_number", "orders", "customers", "aov", "median_order_value"]].reset_index(drop=True)


def aov_by_tenure(transactions: ibis.Table, *,
                  bands: Mapping[str, tuple[int, int | None]] = TENURE_BANDS_DAYS) -> pd.DataFrame:
    """Average order value by the customer's tenure when the order was placed.

    Tenure at an order = calendar days from the customer's first purchase day to the order's day
    (first orders are in the first band). Bands are data: label -> (from day, to day exclusive;
    ``None`` = no upper limit); they must start at 0 and leave no gaps.

    Returns
    -------
    pandas.DataFrame
        Columns ``tenure_band`` (ordered categorical), ``orders``, ``customers``, ``aov`` (mean
        gross order value, run currency), ``median_order_value``.
    """
    _check_bands(bands)
    # The order numbers are not needed, but DuckDB computes the first order time faster next to
    # them (one sort serves both windows) than in a window of its own.
    orders = _numbered_orders(transactions)
    tenure = orders.order_ts.date().delta(orders.first_ts.date(), unit="day")
    cases = [((tenure >= low) & (tenure < high) if high is not None else tenure >= low, label)
             for label, (low, high) in bands.items()]
    orders = orders.mutate(tenure_band=ibis.cases(*cases))
    frame = orders.group_by("tenure_band").aggregate(
        orders=orders.order_value.count(), customers=orders.customer_id.nunique(),
        aov=orders.order_value.mean(), median_order_value=orders.order_value.median(),
    ).execute()
    labels = list(bands)
    frame = frame.set_index("tenure_band").reindex(labels).reset_index()
    frame[["orders", "customers"]] = frame[["orders", "customers"]].fillna(0).astype("int64")
    frame["tenure_band"] = pd.Categorical(frame["tenure_band"], categories=labels, ordered=True)
    return frame[["tenure_band", "orders", "customers", "aov", "median_order_value"]]


def _check_bands(bands: Mapping[str, tuple[int, int | None]]) -> None:
    edges = list(bands.values())
    if not edges:
        raise ConfigError("bands is empty; give label -> (from_day, to_day) pairs starting at 0.")
    expected_low = 0
    for label, (low, high) in bands.items():
        if low != expected_low or (high is not None and high <= low):
            raise ConfigError(f"Tenure band {label!r} = ({low}, {high}) does not continue the previous band "
                              f"(expected it to start at day {expected_low}); bands start at 0 without gaps.")
        expected_low = high
    if edges[-1][1] is not None:
        raise ConfigError("The last tenure band must be open-ended: (from_day, None).")


def historic_vs_predicted(summary_with_labels: pd.DataFrame, predicted_clv: pd.Series | pd.DataFrame, *,
                          by: str) -> pd.DataFrame:
    """Revenue to date next to predicted future value (CLV) per group (channel, segment, stage).

    Parameters
    ----------
    summary_with_labels
        Customer summary with ``net_revenue`` and the ``by`` column (index ``customer_id``).
    predicted_clv
        Per-customer predicted value (index ``customer_id``): a Series, or a frame with a ``clv``
        column such as ``clc.predict_customer_value`` output (its horizon, discounting and margin
        apply). Customers without a prediction are counted, not dropped.
    by
        Label column.

    Returns
    -------
    pandas.DataFrame
        Columns ``by``, ``customers``, ``net_revenue_per_customer`` (to date), ``predicted_clv_per_customer``
        (mean over customers with a prediction), ``predicted_clv_total`` and
        ``customers_without_prediction``; run currency.
    """
    require_columns(summary_with_labels, [by, "net_revenue"], source="customer summary")
    clv = predicted_clv["clv"] if isinstance(predicted_clv, pd.DataFrame) else pd.Series(predicted_clv)
    data = summary_with_labels[[by, "net_revenue"]].copy()
    data["_clv"] = clv.reindex(data.index)
    groups = data.groupby(by, dropna=False, observed=True)
    result = pd.DataFrame({
        "customers": groups.size(),
        "net_revenue_per_customer": groups["net_revenue"].mean(),
        "predicted_clv_per_customer": groups["_clv"].mean(),
        "predicted_clv_total": groups["_clv"].sum(),
        "customers_without_prediction": groups["_clv"].apply(lambda s: int(s.isna().sum())),
    })
    return result.sort_values("predicted_clv_total", ascending=False).reset_index()
