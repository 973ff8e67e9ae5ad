"""Survival analysis of customers: time to churn, time to second purchase, Kaplan-Meier, log-rank.

What drives churn (a Cox model on customer attributes) is :mod:`clc_lib.churn_drivers`.

Customers of a non-contractual business never announce that they have left, so "churn" is an
operational event defined from purchases (here, as in :mod:`clc_lib.definitions`, a customer
churns when their days without a purchase pass the churn threshold), and customers whose story is
still open at ``as_of`` are *right-censored*: we know only that the event had not happened by
then. The estimators here (wrapping :mod:`statsmodels.duration`) use the censored customers
correctly instead of dropping them.

Time is measured in **days** throughout. Purchases are non-return rows; several purchases on one
calendar day form one purchase day. ``as_of`` is the cut-off date and the whole day is included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from clc_lib.cohorts import spell_edges
from clc_lib.errors import ConfigError, DataError
from clc_lib.i18n import format_count, format_percent, gettext
from clc_lib.periods import resolve_as_of
from clc_lib.summary import check_transactions, fetch, net_purchase_days, rows_up_to

__all__ = [
    "customer_lifetimes",
    "with_customer_attributes",
    "ATTRIBUTE_RULES",
    "CustomerAttributes",
    "customer_attributes",
    "format_p_value",
    "time_to_second_purchase",
    "kaplan_meier",
    "median_survival",
    "restricted_mean_survival_time",
    "logrank_test",
    "SurvivalComparison",
    "compare_survival",
]

ALL_CUSTOMERS = "all customers"

#: How customer attributes are prepared for grouping and models (:func:`customer_attributes`).
ATTRIBUTE_RULES: dict[str, float] = {
    "min_known_share": 0.5,  # attributes known for fewer of the customers are left out
    "min_level_customers": 30,  # rarer levels are pooled into OTHER_LEVEL
    "min_level_share": 0.01,  # ... and so are levels below this share of the customers
    "min_level_events": 5,  # with an event column: levels with fewer events are pooled (their hazard is unestimable)
    "max_levels": 12,  # beyond this, the smallest levels are pooled
    "max_distinct_share": 0.5,  # a text column with more distinct values than this share is an id or free text
    "numeric_bands": 4,  # numeric attributes are grouped into this many quantile bands for curves
}
OTHER_LEVEL = "other"
UNKNOWN_LEVEL = "unknown"
#: Contract columns of the customers table that are not attributes.
NON_ATTRIBUTE_COLUMNS = ("customer_id", "first_seen")


# --------------------------------------------------------------------------------------------------
# Building durations
# --------------------------------------------------------------------------------------------------

def customer_lifetimes(data: ir.Table | pd.DataFrame, as_of=None, churn_days: int = 180) -> pd.DataFrame:
    """Time from first purchase to churn, per customer, with honest right-censoring.

    A customer *churns* on the first day on which more than ``churn_days`` days have passed since
    their last purchase day (recency > ``churn_days``, the rule of the ``churned`` lifecycle stage
    and of the churned customers of :mod:`clc_lib.definitions`), that is on last purchase day +
    ``churn_days`` + 1 when no purchase comes first. That day is the event time: the first day on
    which the churn can be observed. Customers whose churn day is after ``as_of`` (recency at
    ``as_of`` <= ``churn_days``) are censored at ``as_of - first purchase``. Nobody can churn
    within ``churn_days`` of the first purchase, so survival is 1 until then. (Customers who are
    lapsed at ``as_of``, in the at-risk or dormant stage, have not churned and are censored.)

    Parameters
    ----------
    data
        Either the contract's transactions table (Ibis) -- the event is then the customer's **first**
        churn, the end of their first spell, even if they came back later -- or a customer summary
        (pandas, index or column ``customer_id``, datetime columns ``first_purchase`` and
        ``last_purchase``, as from ``clc.customer_summary``). A summary knows only the last
        purchase, so the event is being churned at ``as_of``: a customer who churned and came back
        counts as not churned. Customers with returns only (no purchase, ``orders`` = 0) have no
        lifetime and are not in the result.
    as_of
        Cut-off date (the whole day is included); ``None`` = the last transaction date (transactions)
        or the latest ``last_purchase`` (summary).
    churn_days
        Days without a purchase after which a customer has churned (the churn threshold).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``; columns ``first_purchase``, ``last_purchase`` (last purchase day of the
        first spell, or the last purchase for a summary), ``churn_day`` (NaT when censored),
        ``duration_days`` (float, days) and ``churned`` (bool, True = event observed, False = censored).
    """
    churn_days = _positive_days(churn_days, "churn_days")
    if isinstance(data, pd.DataFrame):
        spans = _spans_from_summary(data)
        as_of = resolve_as_of(as_of) if as_of is not None else spans["last_purchase"].max().normalize()
    else:
        as_of = resolve_as_of(as_of, data)
        # The first spell ends on the customer's first purchase day that ends a spell.
        edges = spell_edges(data, as_of, churn_days)
        spans = _per_customer_days(edges.group_by("customer_id").aggregate(
            first_purchase=edges.day.min(), last_purchase=edges.day.min(where=edges.ends_spell)))
    spans = spans.sort_index()
    churn_day = spans["last_purchase"].dt.normalize() + pd.Timedelta(days=churn_days + 1)
    churned = churn_day <= as_of
    end = churn_day.where(churned, as_of)
    result = pd.DataFrame({
        "first_purchase": spans["first_purchase"],
        "last_purchase": spans["last_purchase"],
        "churn_day": churn_day.where(churned),
        "duration_days": (end - spans["first_purchase"].dt.normalize()).dt.days.astype(float),
        "churned": churned.to_numpy(dtype=bool),
    })
    result.index.name = "customer_id"
    result.attrs.update(as_of=as_of, churn_days=churn_days)
    return result


def with_customer_attributes(frame: pd.DataFrame, customers: pd.DataFrame | None,
                             columns: Sequence[str] = ("acquisition_channel",), *,
                             missing_label: str = "unknown") -> pd.DataFrame:
    """Add customer attributes (e.g. acquisition channel) to a per-customer frame such as lifetimes.

    Every row of ``frame`` is kept: customers absent from ``customers`` or with an empty attribute
    get ``missing_label`` (text attributes) so that they stay visible as their own group. Columns
    not in ``customers`` are skipped; with ``customers=None`` the frame is returned unchanged.

    Parameters
    ----------
    frame
        Index ``customer_id`` (e.g. :func:`customer_lifetimes` output).
    customers
        The contract's customers table (pandas): ``customer_id`` and attribute columns.
    columns
        Attributes to add.
    """
    if customers is None:
        return frame
    table = _customers_by_id(customers)
    present = [c for c in columns if c in table.columns]
    joined = frame.join(table[present], how="left")
    for column in present:
        if not pd.api.types.is_numeric_dtype(joined[column]):
            joined[column] = joined[column].astype("object").where(joined[column].notna(), missing_label)
    return joined


@dataclass
class CustomerAttributes:
    """Customer attributes prepared for survival curves by group and for models.

    Attributes
    ----------
    frame : pandas.DataFrame
        The input frame with one column per usable attribute: categorical attributes as text with
        missing values as ``"unknown"`` and rare levels pooled into ``"other"``; numeric attributes
        as floats (divided by ``scales[name]``). Numeric attributes also get a ``"<name> band"``
        column of quantile bands for grouping.
    categorical, numeric : list of str
        The usable attributes by kind (columns of ``frame``).
    groups : dict
        Attribute -> the column of ``frame`` that groups customers by it (for :func:`compare_survival`).
    scales : dict
        Numeric attribute -> the unit its values were divided by (a hazard ratio is per that many).
    notes : list of str
        One line per attribute: how it is used, or why it was left out.
    """

    frame: pd.DataFrame
    categorical: list[str]
    numeric: list[str]
    groups: dict[str, str]
    scales: dict[str, float]
    notes: list[str]

    @property
    def covariates(self) -> list[str]:
        """All usable attributes, for :func:`cox_drivers`."""
        return [*self.categorical, *self.numeric]


def _customers_by_id(customers: pd.DataFrame) -> pd.DataFrame:
    table = customers.set_index("customer_id") if "customer_id" in customers.columns else customers
    if table.index.duplicated().any():
        duplicated = table.index[table.index.duplicated()]
        raise DataError("The customers table has several rows for some customers.", source="customers",
                        column="customer_id", n_rows=len(duplicated),
                        examples=list(enumerate(duplicated[:5], 1)),
                        hint="Keep one row per customer in the customers source.")
    table = table.copy()
    table.index = table.index.astype(str)
    return table


def _as_numbers(values: pd.Series) -> pd.Series | None:
    """The values as floats when every known value is a number (text with leading zeros is a code)."""
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    known = values.dropna().astype(str).str.strip()
    if known.empty or known.str.match(r"^[+-]?0\d").any():
        return None
    numbers = pd.to_numeric(known, errors="coerce")
    if numbers.isna().any():
        return None
    text = values.astype("object").where(values.notna())
    return pd.to_numeric(text.map(lambda v: v.strip() if isinstance(v, str) else v), errors="coerce").astype(float)


def _pooled_levels(labels: pd.Series, events: pd.Series | None, rules: Mapping[str, float]) -> pd.Series:
    """Levels too rare (customers, share or events) for their own estimate pooled into OTHER_LEVEL."""
    counts = labels.value_counts()
    rare = (counts < rules["min_level_customers"]) | (counts < rules["min_level_share"] * len(labels))
    if events is not None:
        event_counts = events.groupby(labels).sum().reindex(counts.index, fill_value=0)
        rare |= event_counts < rules["min_level_events"]
    kept = counts[~rare].sort_values(ascending=False, kind="mergesort")
    kept = kept.iloc[: int(rules["max_levels"]) - (1 if rare.any() or len(kept) > rules["max_levels"] else 0)]
    return labels.where(labels.isin(kept.index), OTHER_LEVEL)


def _round_unit(values: pd.Series) -> float:
    """A power of ten near the spread of the values, so a hazard ratio per unit is readable."""
    spread = float(values.std())
    if not np.isfinite(spread) or spread <= 0:
        return 1.0
    return float(10 ** np.floor(np.log10(spread)))


def _band_labels(values: pd.Series, n_bands: int) -> pd.Series:
    """Quantile bands of a numeric attribute as text ("Q1 10-20"); few distinct values stay themselves."""
    distinct = np.sort(values.dropna().unique())
    if len(distinct) <= n_bands:
        labels = values.map(lambda v: f"{v:g}")
    else:
        bands = pd.qcut(values, n_bands, duplicates="drop")
        # "Q1 10-20": the quantile number keeps the bands in order where labels are sorted as text.
        names = {interval: f"Q{number} {interval.left:g}-{interval.right:g}"
                 for number, interval in enumerate(bands.cat.categories, 1)}
        labels = bands.astype("object").map(names)
    return labels.where(values.notna(), UNKNOWN_LEVEL)


def customer_attributes(frame: pd.DataFrame, customers: pd.DataFrame | None, *,
                        columns: Sequence[str] | None = None, event_col: str | None = None,
                        rules: Mapping[str, float] | None = None) -> CustomerAttributes:
    """Find and prepare the customer attributes that can group customers or enter a model.

    Every column of the customers table other than ``customer_id`` and ``first_seen`` is a
    candidate (or only ``columns``). For the customers of ``frame``:

    * an attribute known for fewer than ``min_known_share`` of them, with a single value, or a
      text column with more distinct values than ``max_distinct_share`` of them (an id, a name,
      free text) is left out, with a note;
    * a column whose known values are all numbers is **numeric**: it enters models divided by a
      power of ten near its standard deviation (hazard ratio per that unit) and is grouped into
      ``numeric_bands`` quantile bands. Missing numbers make it categorical (its bands, with an
      ``"unknown"`` band), since a model cannot use a missing number;
    * any other column is **categorical**: missing values form the level ``"unknown"``, and levels
      with fewer than ``min_level_customers`` customers, below ``min_level_share`` of them, beyond
      the ``max_levels`` largest, or (with ``event_col``) with fewer than ``min_level_events``
      events are pooled into ``"other"``. An attribute with one level left is left out.

    Parameters
    ----------
    frame
        One row per customer, index ``customer_id`` (e.g. :func:`customer_lifetimes` output).
    customers
        The contract's customers table (pandas) or None.
    columns
        Attributes to consider; ``None`` = every attribute of the table.
    event_col
        Boolean column of ``frame`` counting as the event (e.g. ``"churned"``) for pooling levels.
    rules
        Overrides of :data:`ATTRIBUTE_RULES`.

    Returns
    -------
    CustomerAttributes
        Empty ``covariates`` (and the frame unchanged) when there is no customers table or no
        usable attribute; ``notes`` says why (in the active language, see :mod:`clc_lib.i18n`).
    """
    settings = {**ATTRIBUTE_RULES, **(rules or {})}
    unknown = set(settings) - set(ATTRIBUTE_RULES)
    if unknown:
        raise ConfigError(f"Unknown attribute rule(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(ATTRIBUTE_RULES)}.")
    result = CustomerAttributes(frame=frame.copy(), categorical=[], numeric=[], groups={}, scales={}, notes=[])
    if customers is None:
        result.notes.append(gettext("No customers table is configured, so there are no customer attributes."))
        return result
    table = _customers_by_id(customers)
    candidates = list(columns) if columns is not None else [
        c for c in table.columns if c not in NON_ATTRIBUTE_COLUMNS and not str(c).startswith("__")]
    events = frame[event_col].astype(bool) if event_col is not None else None
    n_customers = len(frame)
    for name in candidates:
        if name not in table.columns:
            result.notes.append(gettext("{attribute}: not in the customers table.").format(attribute=name))
            continue
        if pd.api.types.is_datetime64_any_dtype(table[name]):
            result.notes.append(gettext("{attribute}: a date, not used as an attribute.").format(attribute=name))
            continue
        values = pd.Series(frame.index.astype(str).map(table[name]), index=frame.index)
        if not pd.api.types.is_numeric_dtype(values):
            values = values.astype("object").where(values.notna())
            values = values.where(values.astype(str).str.strip() != "")
        known = values.notna()
        if n_customers == 0 or known.mean() < settings["min_known_share"]:
            result.notes.append(
                gettext("{attribute}: left out, known for {known_share} of the customers (needs {needed_share}).")
                .format(attribute=name, known_share=format_percent(known.mean(), 0),
                        needed_share=format_percent(settings["min_known_share"], 0)) if n_customers else
                gettext("{attribute}: left out, no customers.").format(attribute=name))
            continue
        numbers = _as_numbers(values)
        if numbers is not None and numbers[known].nunique() < 2:
            result.notes.append(gettext("{attribute}: left out, a single value.").format(attribute=name))
            continue
        if numbers is not None and known.all():
            unit = _round_unit(numbers)
            result.frame[name] = numbers / unit
            result.frame[f"{name} band"] = _band_labels(numbers, int(settings["numeric_bands"]))
            result.numeric.append(name)
            result.scales[name] = unit
            result.groups[name] = f"{name} band"
            result.notes.append(gettext("{attribute}: numeric, hazard ratio per {unit}.")
                                .format(attribute=name, unit=f"{unit:g}"))
            continue
        if numbers is not None:
            labels = _band_labels(numbers, int(settings["numeric_bands"]))
            how = gettext("numeric with missing values, used as quantile bands")
        else:
            text = values.astype(str).str.strip()
            distinct = text[known].nunique()
            if distinct > settings["max_levels"] and distinct > settings["max_distinct_share"] * known.sum():
                result.notes.append(
                    gettext("{attribute}: left out, {distinct} distinct values for {customers} customers "
                            "(an identifier or free text).")
                    .format(attribute=name, distinct=format_count(distinct), customers=format_count(known.sum())))
                continue
            labels = text.where(known, UNKNOWN_LEVEL)
            how = gettext("categorical")
        pooled = _pooled_levels(labels, events, settings)
        n_pooled = labels[pooled == OTHER_LEVEL].nunique()
        if pooled.nunique() < 2:
            result.notes.append(gettext("{attribute}: left out, one level after pooling rare ones.")
                                .format(attribute=name))
            continue
        result.frame[name] = pooled
        result.categorical.append(name)
        result.groups[name] = name
        if n_pooled:
            line = gettext("{attribute}: {how}, {levels} levels, {pooled} rare level(s) pooled into '{other}'.")
        else:
            line = gettext("{attribute}: {how}, {levels} levels.")
        result.notes.append(line.format(attribute=name, how=how, levels=pooled.nunique(), pooled=n_pooled,
                                        other=OTHER_LEVEL))
    return result


def format_p_value(p_value: float | None) -> str:
    """A p-value as text: ``"< 1e-16"`` below double precision, scientific below 0.001, else 3 digits.

    ``format_p_value(3e-77) == "< 1e-16"``, ``format_p_value(2.5e-5) == "2.5e-05"``,
    ``format_p_value(0.0312) == "0.0312"``; a missing value is ``"n/a"``.
    """
    if p_value is None or not np.isfinite(p_value):
        return "n/a"
    if p_value < 1e-16:
        return "< 1e-16"
    if p_value < 0.001:
        return f"{p_value:.1e}"
    return f"{p_value:.3g}"


def _per_customer_days(expr: ir.Table) -> pd.DataFrame:
    """Run a per-customer query of purchase days: index ``customer_id``, day columns as ``datetime64[us]``.

    The engine sorts the rows by customer, so a later ``sort_index`` finds them in order (a
    database collation that is not code-point order still gets sorted there).
    """
    frame = fetch(expr.order_by("customer_id"))
    days = [c for c in frame.columns if c != "customer_id"]
    return frame.astype(dict.fromkeys(days, "datetime64[us]")).set_index("customer_id")


def _spans_from_summary(summary: pd.DataFrame) -> pd.DataFrame:
    frame = summary.set_index("customer_id") if "customer_id" in summary.columns else summary
    missing = [c for c in ("first_purchase", "last_purchase") if c not in frame.columns]
    if missing:
        raise DataError("The customer summary lacks the columns needed for lifetimes.", source="customer summary",
                        column=", ".join(missing), hint="Pass the output of clc.customer_summary or the transactions.")
    spans = frame[["first_purchase", "last_purchase"]].apply(pd.to_datetime)
    # Customers with returns only have no first purchase; they never started a lifetime.
    no_purchase = spans["first_purchase"].isna() | spans["last_purchase"].isna()
    if "orders" in frame.columns:
        unexplained = no_purchase & (frame["orders"] > 0)
    else:
        unexplained = no_purchase
    if unexplained.any():
        raise DataError("Some customers have no first or last purchase date.", source="customer summary",
                        column="first_purchase / last_purchase", n_rows=int(unexplained.sum()),
                        examples=list(enumerate(spans.index[unexplained][:5], 1)),
                        hint="Rebuild the summary with clc.customer_summary; customers without purchases "
                             "need orders = 0.")
    return spans[~no_purchase]


def time_to_second_purchase(transactions: ir.Table, as_of=None) -> pd.DataFrame:
    """Days from the first purchase day to the second, censored at ``as_of`` for one-time buyers.

    Purchases on the same calendar day form one purchase day, so a second basket on the day of the
    first purchase is not a second purchase. Returns are not purchases, and a later purchase day
    that its returns cancel (:func:`clc_lib.summary.net_purchase_days`) is no second purchase: the
    second purchase is the first repeat purchase day of the customer summary (its ``x > 0`` makes a
    repeat customer), the one :func:`clc_lib.acquisition.repeat_rate` counts.

    Parameters
    ----------
    transactions
        The contract's transactions table (Ibis).
    as_of
        Cut-off date (the whole day is included); ``None`` = the date of the last transaction.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``; columns ``first_purchase``, ``second_purchase`` (NaT when none),
        ``duration_days`` (float, days; ``as_of - first_purchase`` when censored) and
        ``second_purchase_made`` (bool, the event indicator).
    """
    check_transactions(transactions)
    as_of = resolve_as_of(as_of, transactions)
    days = net_purchase_days(rows_up_to(transactions, as_of))
    firsts = days.group_by("customer_id").aggregate(first_day=days.day.min())
    days = days.join(firsts, days.customer_id == firsts.customer_id)
    per_customer = _per_customer_days(days.group_by("customer_id").aggregate(
        first_purchase=days.first_day.min(),
        second_purchase=days.day.min(where=days.counted & (days.day > days.first_day)))).sort_index()
    second = per_customer["second_purchase"]
    made = second.notna().to_numpy()
    end = second.where(made, as_of)
    result = pd.DataFrame({
        "first_purchase": per_customer["first_purchase"],
        "second_purchase": second,
        "duration_days": (end - per_customer["first_purchase"]).dt.days.astype(float),
        "second_purchase_made": made,
    })
    result.index.name = "customer_id"
    result.attrs.update(as_of=as_of)
    return result


# --------------------------------------------------------------------------------------------------
# Kaplan-Meier, median, RMST, log-rank
# --------------------------------------------------------------------------------------------------

def validated_durations(durations, events, groups=None) -> pd.DataFrame:
    """Durations (days, finite, not negative), events (0/1) and optional groups as one frame.

    Raises a :class:`~clc_lib.errors.DataError` naming the values that are missing, negative or not
    numbers, so that every estimator here and the Cox model check their inputs the same way.
    """
    duration_values = pd.Series(np.asarray(durations))
    event_values = pd.Series(np.asarray(events))
    if len(event_values) != len(duration_values):
        raise DataError(f"events has {len(event_values)} values but durations has {len(duration_values)}.",
                        source="events", hint="Pass one event flag per customer.")
    frame = pd.DataFrame({"duration": duration_values, "event": event_values})
    if groups is not None:
        group_values = pd.Series(np.asarray(groups, dtype=object))
        if len(group_values) != len(frame):
            raise DataError(f"groups has {len(group_values)} values but durations has {len(frame)}.",
                            source="groups", hint="Pass one group label per customer.")
        frame["group"] = group_values
    duration = pd.to_numeric(frame["duration"], errors="coerce")
    bad = duration.isna() | (duration < 0) | ~np.isfinite(duration.fillna(0))
    if bad.any():
        raise DataError("Durations must be finite numbers of days, zero or more.", source="durations",
                        n_rows=int(bad.sum()),
                        examples=[(i + 1, frame["duration"].iloc[i]) for i in np.flatnonzero(bad)[:5]],
                        hint="Build durations with clc.customer_lifetimes or clc.time_to_second_purchase.")
    event = frame["event"]
    ok = event.isin([0, 1, True, False]) & event.notna()
    if not ok.all():
        raise DataError("Event flags must be True/False (or 1/0).", source="events", n_rows=int((~ok).sum()),
                        examples=[(i + 1, event.iloc[i]) for i in np.flatnonzero(~ok)[:5]],
                        hint="Use True for an observed event and False for a censored customer.")
    if groups is not None and frame["group"].isna().any():
        missing = frame["group"].isna()
        raise DataError("Some customers have no group.", source="groups", n_rows=int(missing.sum()),
                        examples=[(i + 1, None) for i in np.flatnonzero(missing)[:5]],
                        hint="Fill missing groups with an explicit label such as 'unknown'.")
    frame["duration"] = duration.astype(float)
    frame["event"] = event.astype(int)
    if groups is None:
        frame["group"] = ALL_CUSTOMERS
    return frame


def _grouped(frame: pd.DataFrame):
    for group, part in frame.groupby("group", sort=True, observed=True):
        yield group, part


def kaplan_meier(durations, events, groups=None, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier survival curves with pointwise confidence intervals, one per group.

    Parameters
    ----------
    durations
        Time to the event or to censoring, in days (>= 0).
    events
        True (1) when the event was observed, False (0) when censored.
    groups
        Optional group label per customer (e.g. acquisition channel); ``None`` = one curve.
    alpha
        1 - confidence level of the intervals (0.05 -> 95 %).

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per group and time: ``group``, ``time`` (days; a first row at 0 with survival 1,
        then each event time, then the last censoring time when later), ``survival``, ``lower``,
        ``upper``, ``at_risk`` (customers still under observation just before ``time``), ``events``.
        The survival estimate and its Greenwood standard error come from statsmodels
        ``SurvfuncRight``; the interval is computed on the log(-log) scale, which keeps it inside
        [0, 1] (Kalbfleisch & Prentice, 2002).
    """
    frame = validated_durations(durations, events, groups)
    z = stats.norm.ppf(1 - alpha / 2)
    parts = []
    for group, part in _grouped(frame):
        fit = SurvfuncRight(part["duration"].to_numpy(), part["event"].to_numpy())
        survival = np.asarray(fit.surv_prob, dtype=float)
        se = np.asarray(fit.surv_prob_se, dtype=float)
        lower, upper = _loglog_interval(survival, se, z)
        rows = pd.DataFrame({
            "time": np.r_[0.0, fit.surv_times],
            "survival": np.r_[1.0, survival],
            "lower": np.r_[1.0, lower],
            "upper": np.r_[1.0, upper],
            "at_risk": np.r_[len(part), fit.n_risk].astype(int),
            "events": np.r_[0, fit.n_events].astype(int),
        })
        last_time = part["duration"].max()
        if last_time > rows["time"].iloc[-1]:
            tail = rows.iloc[[-1]].assign(time=last_time, events=0,
                                          at_risk=int((part["duration"] >= last_time).sum()))
            rows = pd.concat([rows, tail], ignore_index=True)
        rows.insert(0, "group", group)
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def _loglog_interval(survival: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        theta = np.log(-log_s)
        se_theta = se / (survival * np.abs(log_s))
        lower = np.exp(-np.exp(theta + z * se_theta))
        upper = np.exp(-np.exp(theta - z * se_theta))
    degenerate = (survival <= 0) | (survival >= 1) | ~np.isfinite(se_theta)
    lower = np.where(degenerate, survival, lower)
    upper = np.where(degenerate, survival, upper)
    return lower, upper


def median_survival(durations, events, groups=None, *, alpha: float = 0.05) -> pd.DataFrame:
    """Median survival time (days) per group with its confidence interval.

    Uses statsmodels ``SurvfuncRight.quantile`` and ``quantile_ci`` (complementary log-log method).
    The median is NaN when the curve never falls to 50 % (fewer than half the customers had the event
    by the end of follow-up); an infinite or NaN bound means the data cannot bound it (e.g. when
    the curve drops past 50 % in a single step).

    Returns
    -------
    pandas.DataFrame
        ``group``, ``customers``, ``events``, ``median_days``, ``lower``, ``upper``.
    """
    frame = validated_durations(durations, events, groups)
    rows = []
    for group, part in _grouped(frame):
        fit = SurvfuncRight(part["duration"].to_numpy(), part["event"].to_numpy())
        if part["event"].sum() == 0:
            median, lower, upper = np.nan, np.nan, np.nan
        else:
            median = float(fit.quantile(0.5))
            with np.errstate(divide="ignore", invalid="ignore"):  # S = 1 or 0 at some times: bound is NaN/inf
                lower, upper = (float(v) for v in fit.quantile_ci(0.5, alpha=alpha, method="cloglog"))
        rows.append({"group": group, "customers": len(part), "events": int(part["event"].sum()),
                     "median_days": median, "lower": lower, "upper": upper})
    return pd.DataFrame(rows)


def restricted_mean_survival_time(durations, events, tau: float, groups=None, *,
                                  alpha: float = 0.05) -> pd.DataFrame:
    """Restricted mean survival time: expected days without the event within the first ``tau`` days.

    RMST(tau) is the area under the Kaplan-Meier curve from 0 to ``tau``. Unlike the median it
    exists even when most customers have not had the event. Its variance is
    ``sum_i A_i**2 d_i / (n_i (n_i - d_i))`` over event times ``t_i <= tau``, where ``A_i`` is the
    area under the curve from ``t_i`` to ``tau`` (Klein & Moeschberger, 2003, section 4.5); event
    times at which everyone at risk has the event add nothing (the term is undefined).

    Parameters
    ----------
    tau
        Horizon in days; choose one that most groups are followed up to.

    Returns
    -------
    pandas.DataFrame
        ``group``, ``tau_days``, ``rmst_days``, ``se``, ``lower``, ``upper`` (normal interval).
    """
    if not np.isfinite(tau) or tau <= 0:
        raise ConfigError(f"tau is {tau}; use a positive horizon in days.")
    z = stats.norm.ppf(1 - alpha / 2)
    frame = validated_durations(durations, events, groups)
    rows = []
    for group, part in _grouped(frame):
        fit = SurvfuncRight(part["duration"].to_numpy(), part["event"].to_numpy())
        times = np.asarray(fit.surv_times, dtype=float)
        inside = times <= tau
        times, survival = times[inside], np.asarray(fit.surv_prob)[inside]
        n_risk, n_events = np.asarray(fit.n_risk)[inside], np.asarray(fit.n_events)[inside]
        knots = np.r_[0.0, times, tau]
        levels = np.r_[1.0, survival]
        pieces = levels * np.diff(knots)
        rmst = float(pieces.sum())
        area_after = np.cumsum(pieces[::-1])[::-1][1:]  # area from each event time to tau
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = area_after**2 * n_events / (n_risk * (n_risk - n_events))
        variance = float(np.nansum(np.where(n_risk > n_events, terms, 0.0)))
        se = np.sqrt(variance)
        rows.append({"group": group, "tau_days": float(tau), "rmst_days": rmst, "se": se,
                     "lower": rmst - z * se, "upper": rmst + z * se})
    return pd.DataFrame(rows)


def logrank_test(durations, events, groups, *, weight_type: str | None = None) -> pd.Series:
    """Log-rank test that the survival curves of all groups are equal (statsmodels ``survdiff``).

    Parameters
    ----------
    weight_type
        ``None`` for the log-rank test; ``"gb"`` (Gehan-Breslow), ``"tw"`` (Tarone-Ware) or ``"fh"``
        (Fleming-Harrington) weight early differences more.

    Returns
    -------
    pandas.Series
        ``statistic`` (chi-square), ``df`` (groups - 1), ``p_value`` (upper tail of the chi-square
        distribution, accurate far below 1e-16), ``groups``.
    """
    frame = validated_durations(durations, events, groups)
    n_groups = frame["group"].nunique()
    if n_groups < 2:
        raise ConfigError("The log-rank test compares groups, but all customers are in one group.")
    statistic, _ = survdiff(frame["duration"].to_numpy(), frame["event"].to_numpy(),
                            frame["group"].astype(str).to_numpy(), weight_type=weight_type)
    # survdiff returns 1 - cdf, which is 0.0 once the tail is below double precision near 1 (about
    # 1e-16); the survival function keeps small tails such as 3e-77.
    p_value = stats.chi2.sf(float(statistic), n_groups - 1)
    return pd.Series({"statistic": float(statistic), "df": n_groups - 1, "p_value": float(p_value),
                      "groups": n_groups})


@dataclass
class SurvivalComparison:
    """Kaplan-Meier curves of groups with their medians, RMST and a log-rank test.

    Attributes
    ----------
    curves : pandas.DataFrame
        :func:`kaplan_meier` output.
    summary : pandas.DataFrame
        One row per group: ``group``, ``customers``, ``events``, ``median_days`` with
        ``median_lower``/``median_upper``, and ``rmst_days`` (mean days without the event within
        the first ``tau_days``).
    logrank_p : float or None
        p-value of the log-rank test; None with a single group.
    tau_days : float
    """

    curves: pd.DataFrame
    summary: pd.DataFrame
    logrank_p: float | None
    tau_days: float


def compare_survival(frame: pd.DataFrame, *, duration_col: str = "duration_days", event_col: str = "churned",
                     by: str | None = None, tau_days: float = 365.0, alpha: float = 0.05) -> SurvivalComparison:
    """Compare time to an event across groups of customers (one call for a report section).

    Parameters
    ----------
    frame
        One row per customer (or episode), e.g. :func:`customer_lifetimes` output, with durations in
        days and an event flag.
    by
        Column with the group of each row; ``None``, or a column the frame does not have, gives
        one curve for everybody and no test.
    tau_days
        Horizon of the restricted mean survival time, in days.
    """
    groups = frame[by] if by is not None and by in frame.columns else None
    durations, events = frame[duration_col], frame[event_col]
    curves = kaplan_meier(durations, events, groups, alpha=alpha)
    medians = median_survival(durations, events, groups, alpha=alpha).rename(
        columns={"lower": "median_lower", "upper": "median_upper"})
    rmst = restricted_mean_survival_time(durations, events, tau_days, groups, alpha=alpha)
    summary = medians.merge(rmst[["group", "rmst_days"]], on="group")
    logrank_p = None
    if groups is not None and pd.Series(groups).nunique() > 1:
        logrank_p = float(logrank_test(durations, events, groups)["p_value"])
    return SurvivalComparison(curves=curves, summary=summary, logrank_p=logrank_p, tau_days=float(tau_days))


def _positive_days(value, name: str) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} is {value!r}; use a whole number of days.") from None
    if days <= 0:
        raise ConfigError(f"{name} is {value}; use a positive number of days.")
    return days
