"""Business terms used by more than one report, each defined once.

Every term has a label (how reports name it), a unit, a one-line description and, when it depends
on the lifecycle stages, the stages and stage-rule thresholds it comes from. The thresholds are not
fixed numbers: :func:`run_terms` fills in the run's resolved stage rules (``run.stage_rules()``),
its CLV horizon and its currency, so a glossary reads "Lapsed customers: no purchase for more than
117 days (the at-risk threshold) ...". The key figures (:mod:`clc_lib.keyfigures`) take their
labels from here, and :func:`members` returns the people a population term covers, computed by the
existing analyses (customer summary, lifecycle stages, acquisition).

Populations, as of the run's as-of date (the whole day included):

* **customer**: at least one purchase (a row that is not a return). People with only returns,
  and people known only from the customers table or the events, are not customers.
* **prospect**: in the customers table or the events, without a purchase.
* **active / at risk / lapsed / churned / loyal**: customers by lifecycle stage (``docs/stages.md``):
  at risk is the at-risk stage, lapsed is the at-risk and dormant stages, churned the churned stage, active everything else
  (new, active, loyal, reactivated). With the packaged precedence these are recency bands: active
  up to the at-risk threshold, lapsed above it up to the churn threshold, churned above that.
* **repeat customer**: at least one counted repeat purchase day (summary ``x > 0``; a purchase
  day whose returns cancel it does not count).
* **acquired customer**: a customer counted at their first purchase
  (:func:`clc_lib.acquisition.customer_acquisition`); as of a date every customer was acquired once.

Shares of customers (loyal, repeat, lapsed or churned, ...) always divide by the customers, never
by prospects.
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from clc_lib.errors import ConfigError
from clc_lib.i18n import N_, gettext, language

__all__ = ["Term", "TERMS", "POPULATION_TERMS", "RECENCY_RULES", "recency_rule", "STAGE_LABELS", "stage_label", "RFM_SEGMENT_NAMES", "segment_label", "horizon_text", "run_terms", "glossary_frame", "members", "share_of_customers"]

_TIME_UNIT_WORDS = {"D": N_("days"), "W": N_("weeks"), "M": N_("months")}

# Words that name a threshold in the descriptions (the stage rule it comes from).
THRESHOLD_NAMES: Mapping[str, str] = {
    "new_window_days": N_("the new-customer window"),
    "at_risk_days": N_("the at-risk threshold"),
    "dormant_days": N_("the dormant threshold"),
    "churn_days": N_("the churn threshold"),
    "loyal_min_purchase_days": N_("the loyalty threshold"),
    "reactivation_gap_days": N_("the reactivation gap"),
    "reactivated_window_days": N_("the reactivated window"),
}


@dataclass(frozen=True)
class Term:
    """One business term.

    Attributes
    ----------
    key
        Identifier used in code (``"lapsed_customer"``).
    label
        Name shown in reports; may hold report parameters in braces (``{window_days}``).
    unit
        What the term is measured in (``"customers"``, ``"share of customers (0-1)"``,
        ``"run currency"``, ``"days"``, ``"date"``, ...).
    description
        One line; braces name stage-rule thresholds (``{churn_days}``), ``{currency}``,
        ``{clv_horizon}`` or report parameters, filled in by :func:`run_terms`.
    stages
        For terms defined by lifecycle stage, the stages that make up the population.
    thresholds
        Stage-rule thresholds (``stage_rules.yaml``) the term depends on.
    threshold_values
        ``(threshold, value)`` pairs of the run, set by :func:`run_terms` (empty in :data:`TERMS`).
    shown_label, shown_description, shown_unit
        Label, description and unit in the report's language with the run's values filled in, set
        by :meth:`resolved` (empty in :data:`TERMS`). ``label`` and ``description`` stay English:
        the label is how runs in any language find a figure of an earlier run.
    """

    key: str
    label: str
    unit: str
    description: str
    stages: tuple[str, ...] = ()
    thresholds: tuple[str, ...] = ()
    threshold_values: tuple[tuple[str, float], ...] = ()
    shown_label: str = ""
    shown_description: str = ""
    shown_unit: str = ""

    def placeholders(self) -> set[str]:
        """Names in braces in the label and description."""
        return {name for text in (self.label, self.description)
                for _, name, _, _ in string.Formatter().parse(text) if name}

    def resolved(self, values: Mapping[str, Any], shown_values: Mapping[str, Any] | None = None) -> Term:
        """This term with the braces of label and description filled from ``values``.

        ``shown_values`` are the same values in words of the active language (threshold names,
        time units; default ``values``): they fill the translated label, description and unit
        (``shown_label``, ``shown_description``, ``shown_unit``).

        Raises
        ------
        ConfigError
            When ``values`` lacks a name the term uses.
        """
        missing = sorted(self.placeholders() - set(values))
        if missing:
            raise ConfigError(f"The definition of {self.key!r} needs {', '.join(missing)}; "
                              f"pass {'it' if len(missing) == 1 else 'them'} as report parameters.")
        pairs = tuple((name, float(values[name])) for name in self.thresholds if name in values)
        shown = values if shown_values is None else shown_values
        return replace(self, label=self.label.format_map(values), description=self.description.format_map(values),
                       threshold_values=pairs, shown_label=gettext(self.label).format_map(shown),
                       shown_description=gettext(self.description).format_map(shown),
                       shown_unit=gettext(self.unit))


def _term(key: str, label: str, unit: str, description: str, **extra: Any) -> tuple[str, Term]:
    return key, Term(key, label, unit, description, **extra)


#: Every defined term by key.
TERMS: Mapping[str, Term] = dict([
    # populations
    _term("customer", N_("Customers"), N_("customers"),
          N_("People with at least one purchase on or before the as-of date; people with only returns and "
             "prospects are not customers.")),
    _term("prospect", N_("Prospects"), N_("people"),
          N_("People in the customers table or the events without any purchase on or before the as-of date.")),
    _term("acquired_customer", N_("Customers acquired"), N_("customers"),
          N_("Customers counted once, at their first purchase; people whose only rows are returns were "
             "never acquired.")),
    _term("active_customer", N_("Active customers"), N_("share of customers (0-1)"),
          N_("Customers in the new, active, loyal or reactivated stage: a purchase within the last "
             "{at_risk_days} days ({at_risk_days_name})."),
          stages=("new", "active", "loyal", "reactivated"), thresholds=("at_risk_days",)),
    _term("loyal_customer", N_("Loyal customers"), N_("share of customers (0-1)"),
          N_("Customers in the loyal stage: at least {loyal_min_purchase_days} purchase days "
             "({loyal_min_purchase_days_name}) and a purchase within the last {at_risk_days} days."),
          stages=("loyal",), thresholds=("loyal_min_purchase_days", "at_risk_days")),
    _term("lapsed_customer", N_("Lapsed customers"), N_("share of customers (0-1)"),
          N_("Customers in the at-risk or dormant stage: no purchase for more than {at_risk_days} days "
             "({at_risk_days_name}) but for at most {churn_days} days ({churn_days_name})."),
          stages=("at_risk", "dormant"), thresholds=("at_risk_days", "churn_days")),
    _term("at_risk_customer", N_("At-risk customers"), N_("share of customers (0-1)"),
          N_("Customers in the at-risk stage, the first step of lapsing: no purchase for more than {at_risk_days} "
             "days ({at_risk_days_name}) but for at most {dormant_days} days ({dormant_days_name})."),
          stages=("at_risk",), thresholds=("at_risk_days", "dormant_days")),
    _term("churned_customer", N_("Churned customers"), N_("share of customers (0-1)"),
          N_("Customers in the churned stage: no purchase for more than {churn_days} days ({churn_days_name})."),
          stages=("churned",), thresholds=("churn_days",)),
    _term("lapsed_or_churned", N_("Lapsed or churned customers"), N_("share of customers (0-1)"),
          N_("Customers in the at-risk, dormant or churned stage: no purchase for more than {at_risk_days} days "
             "({at_risk_days_name})."),
          stages=("at_risk", "dormant", "churned"), thresholds=("at_risk_days",)),
    _term("repeat_customer", N_("Repeat customers"), N_("share of customers (0-1)"),
          N_("Customers with at least one purchase day after their first; a purchase day cancelled by its "
             "returns does not count.")),
    # rates
    _term("churn_rate", N_("Churn rate"), N_("share per period (0-1)"),
          N_("Per period: customers whose days without a purchase pass {churn_days} ({churn_days_name}) during "
             "the period, as a share of the customers not yet churned when it starts."),
          thresholds=("churn_days",)),
    _term("buyer_dropoff_rate", N_("Buyer drop-off rate"), N_("share per period (0-1)"),
          N_("Per period: customers who bought in the previous period but not in this one, as a share of the "
             "previous period's buyers; high whenever customers buy less often than once a period, so not a "
             "churn rate.")),
    _term("reactivation_rate", N_("Reactivation rate, last full period"), N_("share per period (0-1)"),
          N_("Customers without a purchase for more than {reactivation_gap_days} days ({reactivation_gap_days_name}) "
             "at the start of the last full period who bought during it, as a share of them."),
          thresholds=("reactivation_gap_days",)),
    _term("repeat_within_window", N_("Second purchase within {window_days} days (complete cohorts)"),
          N_("share of acquired customers (0-1)"),
          N_("Acquired customers with a second purchase day within {window_days} days of the first (a purchase "
             "day cancelled by its returns does not count), counting only cohorts whose {window_days}-day window "
             "has ended by the as-of date.")),
    _term("retention_one_period", N_("Customers buying again one period after their first"),
          N_("share of customers (0-1)"),
          N_("Share of customers with a purchase in the period after the period of their first purchase, "
             "pooled over the cohorts that have reached it.")),
    _term("winback_uplift", N_("Win-back uplift against control (latest finished campaign)"),
          N_("percentage points, with the 95% interval"),
          N_("Share of a campaign's treated customers who bought within its outcome window minus that share in "
             "its randomised control group, for the latest finished campaign with a control group; only this "
             "difference is caused by the campaign.")),
    _term("best_channel_ltv_cac", N_("Best paid channel by {clv_horizon_text} LTV:CAC"), N_("channel and ratio (text)"),
          N_("The paid acquisition channel whose value per acquired customer over the next {clv_horizon:g} "
             "{clv_time_unit_words} (gross margin when configured, else net revenue) is the highest multiple of "
             "its acquisition cost, with that multiple; unpaid channels (acquisition: unpaid_channels) have no cost.")),
    # money
    _term("net_revenue", N_("Net revenue"), N_("run currency"),
          N_("Purchases minus returns and cancellations up to the as-of date, in {currency}.")),
    _term("gross_revenue", N_("Gross revenue"), N_("run currency"),
          N_("Purchases before returns and cancellations up to the as-of date, in {currency}.")),
    _term("returns", N_("Returns"), N_("run currency"),
          N_("Value of returns and cancellations up to the as-of date, as a positive amount in {currency}.")),
    _term("net_revenue_per_customer", N_("Net revenue per customer"), N_("run currency per customer"),
          N_("Net revenue divided by the number of customers, in {currency}.")),
    _term("top_share", N_("Revenue share of the top {top_share:.0%} of customers"), N_("share of net revenue (0-1)"),
          N_("Share of net revenue made by the {top_share:.0%} of customers with the highest net revenue "
             "(customers with negative net revenue count as zero).")),
    _term("at_risk_value", N_("Predicted {clv_horizon_text} value of at-risk customers"), N_("run currency"),
          N_("Customer value the purchase model predicts for the at-risk customers over the next {clv_horizon:g} "
             "{clv_time_unit_words} (their chance of having stopped buying allowed for), in {currency}.")),
    _term("orders", N_("Orders"), N_("orders"),
          N_("Distinct orders with at least one purchase line (return and cancellation invoices are not orders).")),
    # time
    _term("first_purchase_date", N_("First purchase in data"), N_("date"),
          N_("Date of the earliest purchase in the data.")),
    _term("last_purchase_date", N_("Last purchase in data"), N_("date"),
          N_("Date of the latest purchase on or before the as-of date.")),
    _term("days_since_last_purchase", N_("Median days since last purchase"), N_("days"),
          N_("Median over customers of the days from their last purchase date to the as-of date.")),
    _term("days_between_purchases", N_("Typical days between purchases"), N_("days"),
          N_("Median over customers with two or more purchase days of their mean days between consecutive "
             "purchase days.")),
    _term("clv_horizon", N_("CLV horizon"), N_("the run's CLV time unit (clv: time_unit)"),
          N_("Customer lifetime value is forecast over the next {clv_horizon:g} {clv_time_unit_words} "
             "(the run's clv: horizon and time_unit).")),
])

#: Terms that name a set of people (:func:`members` returns them).
POPULATION_TERMS: tuple[str, ...] = (
    "customer", "prospect", "acquired_customer", "active_customer", "loyal_customer", "lapsed_customer",
    "at_risk_customer", "churned_customer", "lapsed_or_churned", "repeat_customer",
)


#: For the population terms defined by days without a purchase, that rule in a few words; braces
#: name stage-rule thresholds. Charts and captions state it with :func:`recency_rule`.
RECENCY_RULES: Mapping[str, str] = {
    "active_customer": N_("a purchase within the last {at_risk_days} days"),
    "at_risk_customer": N_("no purchase for more than {at_risk_days} days, up to {dormant_days}"),
    "lapsed_customer": N_("no purchase for more than {at_risk_days} days, up to {churn_days}"),
    "churned_customer": N_("no purchase for more than {churn_days} days"),
    "lapsed_or_churned": N_("no purchase for more than {at_risk_days} days"),
}


def recency_rule(key: str, thresholds: Mapping[str, Any]) -> str:
    """The label and recency rule of a population term with the run's thresholds.

    Parameters
    ----------
    key
        One of :data:`RECENCY_RULES` (``"lapsed_customer"``).
    thresholds
        Stage-rule thresholds in days (``run.stage_rules().thresholds``: ``at_risk_days``,
        ``dormant_days``, ``churn_days``).

    Returns
    -------
    str
        E.g. ``"Lapsed customers: no purchase for more than 117 days, up to 292"``, in the active
        language.

    Raises
    ------
    ConfigError
        When ``key`` has no recency rule or ``thresholds`` lacks a threshold the rule uses.
    """
    if key not in RECENCY_RULES:
        raise ConfigError(f"{key!r} has no recency rule; terms with one: {', '.join(RECENCY_RULES)}.")
    days = {name: int(float(value)) if float(value).is_integer() else float(value)
            for name, value in thresholds.items() if value is not None}
    rule = RECENCY_RULES[key]
    missing = sorted({name for _, name, _, _ in string.Formatter().parse(rule) if name} - set(days))
    if missing:
        raise ConfigError(f"The recency rule of {key!r} needs the stage-rule threshold(s) {', '.join(missing)}.")
    return gettext("{label}: {rule}").format(label=gettext(TERMS[key].label),
                                             rule=gettext(rule).format_map(days))


#: How reports name each lifecycle stage (code name -> label); code names stay in data frames and
#: the appendix.
STAGE_LABELS: Mapping[str, str] = {
    "aware": N_("Aware (prospect)"),
    "engaged": N_("Engaged (prospect)"),
    "new": N_("New"),
    "active": N_("Active"),
    "loyal": N_("Loyal"),
    "at_risk": N_("At risk"),
    "dormant": N_("Dormant"),
    "churned": N_("Churned"),
    "reactivated": N_("Reactivated"),
}


def stage_label(stage: Any) -> str:
    """The display label of a stage code in the active language (``"at_risk"`` -> ``"At risk"``,
    ``衰退期`` in simplified Chinese, see :mod:`clc_lib.i18n`); an unknown code reads as words."""
    code = str(stage)
    label = STAGE_LABELS.get(code)
    return gettext(label) if label is not None else code.replace("_", " ").capitalize()


#: The segment names of the built-in RFM maps (``clc_lib/rfm_segments.yaml``), marked for
#: translation; a run config's own names are shown as they are written.
RFM_SEGMENT_NAMES: tuple[str, ...] = (
    N_("Champions"), N_("Can't Lose Them"), N_("Can't Lose"), N_("Loyalists"), N_("First-Time Buyers"),
    N_("Promising"), N_("Lost"), N_("Hibernating"), N_("About To Sleep"), N_("Need Attention"),
    N_("Potential Loyalist"), N_("Potential Loyalists"), N_("Slipping Regulars"), N_("VIP"), N_("Other"),
)
#: The segment migration table's row of customers new to the scores and column of those gone
#: (:data:`clc_lib.rfm.NEW_ROW`, :data:`clc_lib.rfm.GONE_COLUMN`), shown like segment names.
RFM_MIGRATION_MARKERS: tuple[str, ...] = (N_("(new)"), N_("(gone)"))


def segment_label(segment: Any) -> str:
    """The display label of an RFM segment in the active language (``"Champions"`` -> ``冠军客户``
    in simplified Chinese); a segment name of the run config's own map is shown as it is."""
    name = str(segment)
    return gettext(name) if name in RFM_SEGMENT_NAMES or name in RFM_MIGRATION_MARKERS else name


def term(key: str) -> Term:
    """The term ``key`` of :data:`TERMS` (unresolved); ConfigError naming the known keys otherwise."""
    try:
        return TERMS[key]
    except KeyError:
        raise ConfigError(f"Unknown term {key!r}; defined terms: {', '.join(TERMS)}.") from None


def horizon_text(horizon: float, time_unit: str) -> str:
    """A forecast horizon as an adjective: ``52, "W"`` -> ``12-month``, ``26, "W"`` -> ``26-week``
    (``12个月``, ``26周`` in simplified Chinese).

    Whole years read as months (52 weeks, 365 days and 12 months are all ``12-month``), so value
    figures of runs with different time units carry the same words.
    """
    days = {"D": 1.0, "W": 7.0, "M": 365.25 / 12}.get(time_unit)
    if days is not None:
        years = horizon * days / 365.25
        if years > 0 and abs(years - round(years)) < 0.01:
            return gettext(_HORIZON_WORDS["M"]).format(value=round(years) * 12)
    if time_unit not in _HORIZON_WORDS:
        return f"{horizon:g}-{time_unit}"
    return gettext(_HORIZON_WORDS[time_unit]).format(value=f"{horizon:g}")


_HORIZON_WORDS = {"D": N_("{value}-day"), "W": N_("{value}-week"), "M": N_("{value}-month")}


def _run_values(run: Any, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Threshold values, their names, currency and CLV horizon of ``run``, plus report ``parameters``;
    the words are in the active language."""
    thresholds = run.stage_rules().thresholds
    values: dict[str, Any] = {}
    for name, value in thresholds.items():
        number = float(value)
        values[name] = int(number) if number.is_integer() else number
        values[f"{name}_name"] = gettext(THRESHOLD_NAMES[name]) if name in THRESHOLD_NAMES else name
    clv = run.config.clv
    values["clv_horizon"] = float(clv.horizon)
    values["clv_time_unit"] = clv.time_unit
    words = _TIME_UNIT_WORDS.get(clv.time_unit)
    values["clv_time_unit_words"] = gettext(words) if words else clv.time_unit
    values["clv_horizon_text"] = horizon_text(float(clv.horizon), clv.time_unit)
    values["currency"] = run.currency or gettext("the run currency")
    return {**values, **(parameters or {})}


def run_terms(run: Any, keys: Iterable[str] | None = None, **parameters: Any) -> dict[str, Term]:
    """The terms with this run's thresholds, currency and CLV horizon filled in.

    Parameters
    ----------
    run
        A :class:`~clc_lib.run.RunData` (``run.stage_rules()``, ``run.config.clv``, ``run.currency``).
    keys
        Terms to resolve, in order; None = every term whose placeholders the run and ``parameters``
        fill (terms needing a report parameter such as ``window_days`` are left out unless given).
    **parameters
        Report parameters used in labels and descriptions (``window_days``, ``top_share``).

    Returns
    -------
    dict
        Key -> resolved :class:`Term` (``threshold_values`` set; ``label`` and ``description`` in
        English, ``shown_*`` in the active language).
    """
    with language("en"):
        values = _run_values(run, parameters)
    shown = _run_values(run, parameters)
    if keys is None:
        return {key: t.resolved(values, shown) for key, t in TERMS.items() if t.placeholders() <= set(values)}
    return {key: term(key).resolved(values, shown) for key in keys}


def glossary_frame(run: Any, keys: Iterable[Any] | None = None, **parameters: Any) -> pd.DataFrame:
    """The terms of this run as a table for a report glossary.

    Parameters
    ----------
    run
        The run (:func:`run_terms`).
    keys
        Term keys, or key figures (:class:`~clc_lib.keyfigures.KeyFigure`: their own resolved label
        and definition are shown); None = every term the run can resolve. A term given twice is
        shown once, in first-seen order.
    **parameters
        Report parameters (:func:`run_terms`) for the term keys.

    Returns
    -------
    pandas.DataFrame
        Index ``term`` (label); columns ``definition`` (the description with this run's thresholds)
        and ``unit``; all three in the active language.
    """
    if keys is None:
        entries = [(t.shown_label, t.shown_description, t.shown_unit) for t in run_terms(run, **parameters).values()]
    else:
        keys = list(keys)
        plain = [k for k in keys if isinstance(k, str)]
        resolved = run_terms(run, plain, **parameters) if plain else {}
        entries, seen = [], set()
        for entry in keys:
            key = entry if isinstance(entry, str) else entry.key
            if key in seen:
                continue
            seen.add(key)
            if isinstance(entry, str):
                t = resolved[key]
                entries.append((t.shown_label, t.shown_description, t.shown_unit))
            else:
                entries.append((entry.display_label or entry.label, entry.definition, gettext(term(key).unit)))
    frame = pd.DataFrame(entries, columns=["term", "definition", "unit"])
    return frame.set_index("term")


def members(run: Any, key: str) -> pd.Index:
    """The people of a population term as of ``run.as_of`` (ids, sorted).

    Parameters
    ----------
    run
        A :class:`~clc_lib.run.RunData`; uses ``run.summary()``, ``run.stages()`` and, for prospects,
        ``run.customers``.
    key
        One of :data:`POPULATION_TERMS`.

    Returns
    -------
    pandas.Index
        ``customer_id`` of customers; for prospects the ``customer_id`` (customers table, or events
        with a customer id) or else the events' ``person_id``.
    """
    if key not in POPULATION_TERMS:
        raise ConfigError(f"{key!r} is not a population; populations: {', '.join(POPULATION_TERMS)}.")
    summary = run.summary()
    customers = summary.index[summary["purchase_days"] > 0]
    if key == "customer":
        return customers.sort_values().rename("customer_id")
    if key == "acquired_customer":
        from clc_lib.acquisition import customer_acquisition

        acquired = customer_acquisition(run.transactions, run.customers)
        return acquired.index.sort_values().rename("customer_id")
    if key == "repeat_customer":
        return summary.index[summary["x"] > 0].sort_values().rename("customer_id")
    from clc_lib.stages import PROSPECT_STAGES

    stage = run.stages()["stage"].astype(str)
    if key == "prospect":
        prospects = set(stage.index[stage.isin(PROSPECT_STAGES)])
        if run.customers is not None and "customer_id" in run.customers.columns:
            prospects |= set(run.customers["customer_id"].dropna().astype(str)) - set(customers)
        return pd.Index(sorted(prospects), name="customer_id")
    return stage.index[stage.isin(TERMS[key].stages)].sort_values().rename("customer_id")


def share_of_customers(run: Any, key: str) -> float:
    """Share of customers in the population ``key`` (customers in the denominator; NaN without customers)."""
    n_customers = len(members(run, "customer"))
    if not n_customers:
        return math.nan
    population = members(run, key)
    return len(population) / n_customers
