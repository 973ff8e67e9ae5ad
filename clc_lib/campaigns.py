"""Win-back campaigns: uplift against a control group, the response of customers sent a campaign
when there is none, and the size of a holdout that can detect a given uplift.

The conventions are those of :mod:`clc_lib.recovery` (purchase days, lapse and churn thresholds in
days, ``as_of`` included whole). Response is measured in a window of ``window_days`` after sending.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    power_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    proportions_ztest,
)

from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import resolve_as_of
from clc_lib.recovery import RECOVERY_DEFAULTS, check_thresholds
from clc_lib.summary import check_transactions

__all__ = ["campaign_uplift", "campaign_response", "has_control_groups", "holdout_size"]

CAMPAIGN_GROUPS = ("treatment", "control")


def has_control_groups(campaigns: pd.DataFrame | None) -> bool:
    """True when the campaigns table says who was held out (a ``group`` column with a control)."""
    return (campaigns is not None and "group" in campaigns.columns
            and bool((campaigns["group"].astype("string").str.lower() == "control").any()))


def _validated_campaigns(campaigns: pd.DataFrame, *, with_group: bool = True) -> pd.DataFrame:
    needed = ["customer_id", "campaign_id", "sent_at"] + (["group"] if with_group else [])
    missing = [c for c in needed if c not in campaigns.columns]
    if missing:
        hint = "Map them in the run config (campaigns: columns: ...)."
        if missing == ["group"]:
            hint = ("Without a control group there is no uplift to estimate; use clc.campaign_response for the "
                    "observational comparison, and hold out a control group in the next send.")
        raise DataError("The campaigns table lacks contract columns.", source="campaigns", column=", ".join(missing),
                        hint=hint)
    frame = campaigns.reset_index(drop=True)
    bad_group = ~frame["group"].isin(CAMPAIGN_GROUPS) if with_group else pd.Series(False, index=frame.index)
    if bad_group.any():
        raise DataError("Campaign groups must be 'treatment' or 'control'.", source="campaigns", column="group",
                        n_rows=int(bad_group.sum()),
                        examples=[(i + 1, frame.loc[i, "group"]) for i in np.flatnonzero(bad_group)[:5]],
                        hint="Recode the group column of the campaigns source.")
    sent = pd.to_datetime(frame["sent_at"], errors="coerce")
    null = frame[["customer_id", "campaign_id"]].isna().any(axis=1) | sent.isna()
    if null.any():
        raise DataError("Some campaign rows lack a customer, campaign or send time.", source="campaigns",
                        column="customer_id / campaign_id / sent_at", n_rows=int(null.sum()),
                        examples=[(i + 1, frame.loc[i, "customer_id"]) for i in np.flatnonzero(null)[:5]],
                        hint="Fix or remove them in the source.")
    duplicated = frame.duplicated(["campaign_id", "customer_id"], keep=False)
    if duplicated.any():
        raise DataError("Some customers appear more than once in one campaign.", source="campaigns",
                        column="campaign_id, customer_id", n_rows=int(duplicated.sum()),
                        examples=[(i + 1, f"{frame.loc[i, 'campaign_id']}/{frame.loc[i, 'customer_id']}")
                                  for i in np.flatnonzero(duplicated)[:5]],
                        hint="Keep one row per customer and campaign (the first send).")
    columns = {"campaign_id": frame["campaign_id"].astype(str), "customer_id": frame["customer_id"].astype(str),
               "sent_at": sent.astype("datetime64[us]")}
    if with_group:
        columns["group"] = frame["group"].astype(str)
    if "campaign_type" in frame.columns:
        columns["campaign_type"] = frame["campaign_type"].astype("string")
    return pd.DataFrame(columns)


def campaign_uplift(
    campaigns: pd.DataFrame,
    transactions: ir.Table,
    *,
    window_days: int = RECOVERY_DEFAULTS["window_days"],
    alpha: float = 0.05,
    as_of=None,
    assumed_uplift: float | None = None,
    ci_method: str = "newcomb",
) -> pd.DataFrame:
    """Incremental effect of each campaign: treatment vs randomised control, with uncertainty.

    For every customer in a campaign, the outcome window runs from ``sent_at`` (exclusive) to
    ``sent_at + window_days`` (inclusive). A customer **converts** with at least one purchase
    (non-return row) in the window; their **revenue** is the net amount of all their rows in the
    window (returns subtract; customers without rows have 0).

    Statistics per campaign (treatment minus control):

    * ``uplift`` (difference of conversion rates) with a ``1 - alpha`` interval from statsmodels
      ``confint_proportions_2indep`` (``ci_method``, Newcombe's hybrid score by default);
    * ``z`` and ``p_value`` of the two-sided pooled two-proportion z-test (``proportions_ztest``);
    * ``power``: probability of detecting ``assumed_uplift`` (or, when not given, the observed
      uplift -- "observed power", which only restates the p-value) at level ``alpha``, from
      ``power_proportions_2indep``; ``mde``: smallest uplift detectable with 80 % power at these
      group sizes and control rate (``NormalIndPower`` on Cohen's h);
    * ``revenue_uplift`` per customer with a Welch t interval (revenue is skewed and zero-inflated:
      the interval relies on the central limit theorem, so read it with care for small groups);
    * ``incremental_customers`` = uplift x treated customers and ``incremental_revenue`` =
      revenue_uplift x treated customers, with interval bounds scaled the same way.

    Parameters
    ----------
    campaigns
        Contract campaigns table (pandas): ``customer_id``, ``campaign_id``, ``sent_at``, ``group``
        ('treatment' or 'control'), optional ``campaign_type``.
    transactions
        The contract's transactions table (Ibis).
    window_days
        Outcome window in days.
    alpha
        1 - confidence level of the intervals, and the test level for power.
    as_of
        Cut-off date; when given, ``window_complete`` says whether every customer's window had
        ended by then. A campaign whose last window ends after ``as_of`` is ``running``: its
        rates, uplift and other outcome statistics are NaN until the window has ended (outcomes so
        far would understate the effect).
    assumed_uplift
        Uplift (difference of rates) to compute the power for; ``None`` = the observed uplift.
    ci_method
        Method of ``confint_proportions_2indep`` for the uplift interval (e.g. ``"newcomb"``,
        ``"wald"``, ``"agresti-caffo"``).

    Returns
    -------
    pandas.DataFrame
        One row per campaign: ``campaign_id``, ``campaign_type``, ``first_sent``, ``last_sent``,
        ``window_end``, ``window_complete``, ``status`` (``running`` or ``complete``); for each
        group ``n_*``, ``converted_*``, ``rate_*`` with a Wilson interval
        ``rate_*_lower``/``rate_*_upper`` and ``revenue_per_customer_*``; then ``uplift``,
        ``uplift_lower``, ``uplift_upper``, ``z``, ``p_value``, ``power``, ``mde``,
        ``revenue_uplift``, ``revenue_uplift_lower``, ``revenue_uplift_upper``,
        ``revenue_p_value``, ``incremental_customers`` (+ ``_lower``/``_upper``),
        ``incremental_revenue`` (+ ``_lower``/``_upper``). Comparative statistics are NaN for a
        campaign without both groups.
    """
    if int(window_days) <= 0:
        raise ConfigError(f"window_days is {window_days}; use a positive number of days.")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha is {alpha}; use a level between 0 and 1, e.g. 0.05.")
    check_transactions(transactions, needed=("customer_id", "timestamp", "amount", "is_return"))
    sends = _validated_campaigns(campaigns)
    groups = _group_outcomes(sends, transactions, int(window_days))
    rows = []
    for campaign_id, meta in sends.groupby("campaign_id", sort=True):
        row = {
            "campaign_id": campaign_id,
            "campaign_type": (meta["campaign_type"].mode().iloc[0]
                              if "campaign_type" in meta and meta["campaign_type"].notna().any() else None),
            "first_sent": meta["sent_at"].min(),
            "last_sent": meta["sent_at"].max(),
        }
        row.update(_window_state(row["last_sent"], int(window_days), as_of))
        outcome = groups[groups["campaign_id"] == campaign_id].set_index("group")
        statistics = _uplift_statistics(outcome, alpha=alpha, assumed_uplift=assumed_uplift, ci_method=ci_method)
        if row["status"] == "running":  # outcomes so far understate the effect: report none yet
            statistics = {k: (v if k.startswith("n_") else np.nan) for k, v in statistics.items()}
        row.update(statistics)
        rows.append(row)
    result = pd.DataFrame(rows)
    result.attrs.update(window_days=int(window_days), alpha=alpha, ci_method=ci_method)
    return result


def _window_state(last_sent: pd.Timestamp, window_days: int, as_of) -> dict:
    """``window_end``, ``window_complete`` and ``status`` (running until the last window has ended)."""
    window_end = last_sent + pd.Timedelta(days=window_days)
    if as_of is None:
        return {"window_end": window_end, "window_complete": None, "status": "complete"}
    complete = bool(window_end <= resolve_as_of(as_of) + pd.Timedelta(days=1))
    return {"window_end": window_end, "window_complete": complete, "status": "complete" if complete else "running"}


def _group_outcomes(sends: pd.DataFrame, transactions: ir.Table, window_days: int) -> pd.DataFrame:
    """Per campaign and group: customers, converters, revenue mean and sample variance (in the engine)."""
    targeted = ibis.memtable(sends[["campaign_id", "customer_id", "group", "sent_at"]])
    rows = transactions.select(
        tx_customer=transactions.customer_id, timestamp=transactions.timestamp, amount=transactions.amount,
        purchase=(~transactions.is_return.fill_null(False)).cast("int64"),
    )
    joined = targeted.left_join(
        rows,
        (targeted.customer_id == rows.tx_customer)
        & (rows.timestamp > targeted.sent_at)
        & (rows.timestamp <= targeted.sent_at + ibis.interval(days=window_days)),
    )
    per_customer = joined.group_by(["campaign_id", "group", "customer_id"]).aggregate(
        converted=joined.purchase.max().fill_null(0),
        revenue=joined.amount.sum().fill_null(0.0),
    )
    per_group = per_customer.group_by(["campaign_id", "group"]).aggregate(
        n=per_customer.customer_id.count(),
        converted=per_customer.converted.sum(),
        revenue_mean=per_customer.revenue.mean(),
        revenue_var=per_customer.revenue.var(how="sample"),
    )
    return per_group.execute()


def _uplift_statistics(outcome: pd.DataFrame, *, alpha: float, assumed_uplift: float | None,
                       ci_method: str) -> dict:
    stats_row: dict = {}
    for group in CAMPAIGN_GROUPS:
        n = int(outcome.loc[group, "n"]) if group in outcome.index else 0
        converted = int(outcome.loc[group, "converted"]) if group in outcome.index else 0
        rate = converted / n if n else np.nan
        lower, upper = proportion_confint(converted, n, alpha=alpha, method="wilson") if n else (np.nan, np.nan)
        stats_row.update({
            f"n_{group}": n, f"converted_{group}": converted, f"rate_{group}": rate,
            f"rate_{group}_lower": lower, f"rate_{group}_upper": upper,
            f"revenue_per_customer_{group}": float(outcome.loc[group, "revenue_mean"]) if n else np.nan,
        })
    comparative = ["uplift", "uplift_lower", "uplift_upper", "z", "p_value", "power", "mde", "revenue_uplift",
                   "revenue_uplift_lower", "revenue_uplift_upper", "revenue_p_value", "incremental_customers",
                   "incremental_customers_lower", "incremental_customers_upper", "incremental_revenue",
                   "incremental_revenue_lower", "incremental_revenue_upper"]
    stats_row.update(dict.fromkeys(comparative, np.nan))
    n_t, n_c = stats_row["n_treatment"], stats_row["n_control"]
    if n_t < 2 or n_c < 2:
        return stats_row
    x_t, x_c = stats_row["converted_treatment"], stats_row["converted_control"]
    p_t, p_c = stats_row["rate_treatment"], stats_row["rate_control"]
    uplift = p_t - p_c
    lower, upper = confint_proportions_2indep(x_t, n_t, x_c, n_c, method=ci_method, compare="diff", alpha=alpha)
    pooled = (x_t + x_c) / (n_t + n_c)
    if 0 < pooled < 1:
        z, p_value = proportions_ztest([x_t, x_c], [n_t, n_c], alternative="two-sided")
    else:
        z, p_value = np.nan, np.nan  # nobody (or everybody) converted: no variation to test
    effect = uplift if assumed_uplift is None else float(assumed_uplift)
    power = np.nan
    if 0 < p_c < 1 and 0 < p_c + effect < 1 and effect != 0:
        power = float(power_proportions_2indep(effect, p_c, n_t, ratio=n_c / n_t, alpha=alpha).power)
    mde = _minimum_detectable_uplift(p_c, n_t, n_c, alpha)
    revenue = _welch_difference(outcome, alpha)
    stats_row.update({
        "uplift": uplift, "uplift_lower": float(lower), "uplift_upper": float(upper),
        "z": float(z), "p_value": float(p_value), "power": power, "mde": mde,
        **revenue,
        "incremental_customers": uplift * n_t,
        "incremental_customers_lower": float(lower) * n_t,
        "incremental_customers_upper": float(upper) * n_t,
        "incremental_revenue": revenue["revenue_uplift"] * n_t,
        "incremental_revenue_lower": revenue["revenue_uplift_lower"] * n_t,
        "incremental_revenue_upper": revenue["revenue_uplift_upper"] * n_t,
    })
    return stats_row


def _minimum_detectable_uplift(p_control: float, n_t: int, n_c: int, alpha: float, power: float = 0.8) -> float:
    """Smallest increase over ``p_control`` detectable with ``power`` (two-sided test on Cohen's h)."""
    if not 0 <= p_control < 1:
        return np.nan
    h = NormalIndPower().solve_power(effect_size=None, nobs1=n_t, alpha=alpha, power=power, ratio=n_c / n_t)
    angle = np.arcsin(np.sqrt(p_control)) + h / 2
    if angle >= np.pi / 2:
        return np.nan
    return float(np.sin(angle) ** 2 - p_control)


def _welch_difference(outcome: pd.DataFrame, alpha: float) -> dict:
    mean_t, mean_c = outcome.loc["treatment", "revenue_mean"], outcome.loc["control", "revenue_mean"]
    var_t = outcome.loc["treatment", "revenue_var"]
    var_c = outcome.loc["control", "revenue_var"]
    n_t, n_c = outcome.loc["treatment", "n"], outcome.loc["control", "n"]
    difference = float(mean_t - mean_c)
    se2_t, se2_c = var_t / n_t, var_c / n_c
    se = np.sqrt(se2_t + se2_c)
    if not np.isfinite(se) or se == 0:
        return {"revenue_uplift": difference, "revenue_uplift_lower": np.nan, "revenue_uplift_upper": np.nan,
                "revenue_p_value": np.nan}
    df = (se2_t + se2_c) ** 2 / (se2_t**2 / (n_t - 1) + se2_c**2 / (n_c - 1))
    t_crit = stats.t.ppf(1 - alpha / 2, df)
    p_value = 2 * stats.t.sf(abs(difference) / se, df)
    return {"revenue_uplift": difference, "revenue_uplift_lower": difference - t_crit * se,
            "revenue_uplift_upper": difference + t_crit * se, "revenue_p_value": float(p_value)}


def holdout_size(baseline_rate: float, uplift: float = RECOVERY_DEFAULTS["holdout_uplift"], *,
                 alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per group (treatment and control, equal sizes) to detect ``uplift`` over ``baseline_rate``.

    Two-sided test at level ``alpha`` on Cohen's h (``NormalIndPower``), the calculation behind
    ``mde`` of :func:`campaign_uplift`. Returns 0 when the rates are not both inside (0, 1).
    """
    if not (0 < baseline_rate < 1 and 0 < baseline_rate + uplift < 1) or uplift == 0:
        return 0
    effect = proportion_effectsize(baseline_rate + uplift, baseline_rate)
    n = NormalIndPower().solve_power(effect_size=abs(effect), nobs1=None, alpha=alpha, power=power, ratio=1.0)
    return int(np.ceil(n))


def campaign_response(
    campaigns: pd.DataFrame,
    transactions: ir.Table,
    *,
    as_of=None,
    window_days: int = RECOVERY_DEFAULTS["window_days"],
    lapse_days: int = RECOVERY_DEFAULTS["lapse_days"],
    churn_days: int = RECOVERY_DEFAULTS["churn_days"],
    holdout_uplift: float = RECOVERY_DEFAULTS["holdout_uplift"],
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """Response of contacted customers beside comparable uncontacted ones, for campaigns without a control group.

    **Observational**: who was contacted was chosen, not randomised, so the difference between the
    two rates mixes the campaign's effect with how the contacted customers were selected. It is no
    uplift and gets no confidence interval; only a randomised holdout measures the effect, and
    ``holdout_per_group`` says how large it must be.

    Customers are compared within their recency band at the send (days since the last purchase
    day before it): ``active`` (<= ``lapse_days``), ``lapsed`` (<= ``churn_days``), ``churned``
    (longer), or ``no purchase`` (contacted before any purchase). A contacted customer is measured
    from their own ``sent_at``; the uncontacted customers of a campaign (everyone with a purchase
    before its first send who is not in it) from its first ``sent_at``. A customer **responds**
    with a purchase (non-return row) in (send, send + ``window_days``].

    Parameters
    ----------
    campaigns
        Contract campaigns table (pandas): ``customer_id``, ``campaign_id``, ``sent_at`` and optional
        ``campaign_type``; a ``group`` column is ignored.
    transactions
        The contract's transactions table (Ibis).
    as_of
        Cut-off date; a campaign whose window ends after it is ``running`` (rates NaN).
    window_days, lapse_days, churn_days
        Response window and recency bands, in days.
    holdout_uplift, alpha, power
        The holdout is sized to detect this uplift over the uncontacted rate, or over the contacted
        rate when no comparable customer was left uncontacted (:func:`holdout_size`).

    Returns
    -------
    pandas.DataFrame
        One row per campaign and recency band at the send: ``campaign_id``, ``campaign_type``,
        ``first_sent``, ``window_end``, ``status``, ``stage_at_send``, ``n_contacted``,
        ``responded_contacted``, ``rate_contacted``, ``n_uncontacted``, ``responded_uncontacted``,
        ``rate_uncontacted``, ``difference`` (contacted minus uncontacted, observational),
        ``holdout_baseline`` (the response rate the holdout is sized for) and
        ``holdout_per_group``. ``attrs['basis']`` is ``"observational"``.
    """
    if int(window_days) <= 0:
        raise ConfigError(f"window_days is {window_days}; use a positive number of days.")
    check_thresholds(lapse_days, churn_days)
    check_transactions(transactions, needed=("customer_id", "timestamp", "is_return"))
    sends = _validated_campaigns(campaigns, with_group=False)
    as_of = resolve_as_of(as_of, transactions)
    first_send = sends.groupby("campaign_id")["sent_at"].min().rename("sent_at").reset_index()
    purchases = transactions.filter(~transactions.is_return.fill_null(False))
    purchases = purchases.select(buyer=purchases.customer_id, bought_at=purchases.timestamp)
    contacted = ibis.memtable(sends[["campaign_id", "customer_id", "sent_at"]]).mutate(contacted=ibis.literal(True))
    firsts = ibis.memtable(first_send)
    buyers = purchases.select(customer_id=purchases.buyer, bought_at=purchases.bought_at)
    earlier = buyers.join(firsts, buyers.bought_at <= firsts.sent_at)
    uncontacted = earlier.select("campaign_id", "customer_id", "sent_at").distinct().anti_join(
        contacted, ["campaign_id", "customer_id"]).mutate(contacted=ibis.literal(False))
    exposed = ibis.union(contacted, uncontacted)
    joined = exposed.left_join(purchases, exposed.customer_id == purchases.buyer)
    window_end = joined.sent_at + ibis.interval(days=int(window_days))
    per_customer = joined.group_by(["campaign_id", "customer_id", "sent_at", "contacted"]).aggregate(
        last_before=joined.bought_at.max(where=joined.bought_at <= joined.sent_at),
        responded=(joined.bought_at.notnull() & (joined.bought_at > joined.sent_at)
                   & (joined.bought_at <= window_end)).any(),
    ).execute()
    recency = (pd.to_datetime(per_customer["sent_at"]).dt.normalize()
               - pd.to_datetime(per_customer["last_before"]).dt.normalize()).dt.days
    per_customer["stage_at_send"] = np.select(
        [recency.isna(), recency <= int(lapse_days), recency <= int(churn_days)],
        ["no purchase", "active", "lapsed"], "churned")
    per_customer["responded"] = per_customer["responded"].fillna(False).astype(bool)
    counts = per_customer.groupby(["campaign_id", "stage_at_send", "contacted"])["responded"].agg(["size", "sum"])
    rows = []
    for campaign_id, meta in sends.groupby("campaign_id", sort=True):
        state = _window_state(meta["sent_at"].max(), int(window_days), as_of)
        campaign_type = (meta["campaign_type"].mode().iloc[0]
                         if "campaign_type" in meta and meta["campaign_type"].notna().any() else None)
        for band in ("active", "lapsed", "churned", "no purchase"):
            row = {"campaign_id": campaign_id, "campaign_type": campaign_type, "first_sent": meta["sent_at"].min(),
                   "window_end": state["window_end"], "status": state["status"], "stage_at_send": band}
            for contacted_flag, label in ((True, "contacted"), (False, "uncontacted")):
                key = (campaign_id, band, contacted_flag)
                n = int(counts.loc[key, "size"]) if key in counts.index else 0
                responded = int(counts.loc[key, "sum"]) if key in counts.index else 0
                running = state["status"] == "running"
                row.update({f"n_{label}": n, f"responded_{label}": np.nan if running else responded,
                            f"rate_{label}": responded / n if n and not running else np.nan})
            if row["n_contacted"] == 0:
                continue
            row["difference"] = row["rate_contacted"] - row["rate_uncontacted"]
            # Without comparable uncontacted customers, the contacted rate stands in for the control rate.
            baseline = row["rate_uncontacted"] if pd.notna(row["rate_uncontacted"]) else row["rate_contacted"]
            row["holdout_baseline"] = baseline
            row["holdout_per_group"] = (holdout_size(baseline, holdout_uplift, alpha=alpha, power=power)
                                        if pd.notna(baseline) else np.nan)
            rows.append(row)
    columns = ["campaign_id", "campaign_type", "first_sent", "window_end", "status", "stage_at_send", "n_contacted",
               "responded_contacted", "rate_contacted", "n_uncontacted", "responded_uncontacted", "rate_uncontacted",
               "difference", "holdout_baseline", "holdout_per_group"]
    result = pd.DataFrame(rows, columns=columns)
    result.attrs.update(basis="observational", window_days=int(window_days), lapse_days=int(lapse_days),
                        churn_days=int(churn_days), holdout_uplift=float(holdout_uplift), alpha=alpha, power=power,
                        as_of=as_of)
    return result
