"""Lifecycle stages: classification as of a date, stage history, growth accounting and metrics.

Every known person gets exactly one stage from :data:`STAGES` (see ``docs/stages.md``):

* prospects (people in the events table who never bought): ``aware`` or ``engaged``;
* customers (at least one purchase on or before the date): the first stage of the rule table
  (``precedence`` in ``stage_rules.yaml``) whose condition holds: ``reactivated``, ``new``,
  ``churned``, ``dormant``, ``at_risk``, ``loyal``, else ``active``.

Thresholds are data: the defaults in ``stage_rules.yaml`` are derived from the distribution of
gaps between purchase days (:func:`derive_stage_rules`) and can be overridden by the run config's
``stages:`` section. The transaction-level work runs in the engine with Ibis; the same stage
expression serves :func:`classify_stages` (one date) and :func:`stage_history` (every period end).

Time conventions: the unit of activity is the *purchase day* (all purchases of a customer on one
calendar day); returns never count as activity. Day counts run from the purchase date to the
snapshot date, whose whole day is included (a purchase on the snapshot day has recency 0 days).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import yaml

from clc_lib.cohorts import mark_complete_periods
from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import Period, resolve_as_of
from clc_lib.settings import STAGE_THRESHOLDS, StageSettings
from clc_lib.summary import (
    check_transactions,
    daily_purchase_values,
    fetch,
    is_purchase,
    purchase_days_table,
    rows_up_to,
)

__all__ = [
    "STAGES",
    "PROSPECT_STAGES",
    "StageRules",
    "stage_rule_defaults",
    "derive_stage_rules",
    "classify_stages",
    "stage_shares",
    "mark_advocates",
    "growth_accounting",
    "stage_history",
    "stage_counts",
    "transition_matrix",
    "stage_flows",
    "stage_metrics",
    "stage_backtest",
]

#: Canonical lifecycle stages, in lifecycle order.
STAGES: tuple[str, ...] = (
    "aware", "engaged", "new", "active", "loyal", "at_risk", "dormant", "churned", "reactivated",
)
#: Stages of people who never bought (from the events table).
PROSPECT_STAGES: tuple[str, ...] = ("aware", "engaged")

THRESHOLDS: tuple[str, ...] = STAGE_THRESHOLDS
#: Features a rule condition may use (all computed per person and snapshot date).
RULE_FEATURES: tuple[str, ...] = ("recency_days", "tenure_days", "purchase_days", "days_since_reactivation")

_OPERATORS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
_CLAUSE = re.compile(r"^\s*([a-z_]+)\s*(<=|>=|==|<|>)\s*([a-z_]+|-?\d+(?:\.\d+)?)\s*$")

# Derived thresholds that simply reuse another one (documented in docs/stages.md).
_ALIASES = {"new_window_days": "at_risk_days", "reactivation_gap_days": "dormant_days",
            "reactivated_window_days": "at_risk_days"}
_GAP_QUANTILE_KEYS = {"at_risk_days": "at_risk_gap_quantile", "dormant_days": "dormant_gap_quantile",
                      "churn_days": "churn_gap_quantile"}
FIRST_SEEN = "(first seen)"


@cache
def _packaged_defaults() -> dict[str, Any]:
    text = (Path(__file__).parent / "stage_rules.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def stage_rule_defaults() -> dict[str, Any]:
    """The packaged stage options (``stage_rules.yaml``) as a new dict; null thresholds are derived."""
    import copy

    return copy.deepcopy(_packaged_defaults())


@dataclass(frozen=True)
class StageRules:
    """Resolved stage rules: thresholds, precedence table and where each threshold came from.

    Attributes
    ----------
    thresholds
        Threshold name -> value (days; ``loyal_min_purchase_days`` counts purchase days).
    precedence
        Ordered ``(stage, condition)`` pairs; the first condition that holds wins and the last is
        ``always``.
    engaged_event_types
        Event types that make a prospect ``engaged`` (any other event: ``aware``).
    next_stage
        Stage -> stages that count as converting to the next stage.
    sources
        Threshold name -> how it was set (config value, data quantile, fallback).
    """

    thresholds: Mapping[str, float]
    precedence: tuple[tuple[str, str], ...]
    engaged_event_types: tuple[str, ...]
    next_stage: Mapping[str, tuple[str, ...]]
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _compile_precedence(self.precedence, self.thresholds)
        order = [self.thresholds[k] for k in ("at_risk_days", "dormant_days", "churn_days")]
        if not order[0] < order[1] < order[2]:
            raise ConfigError(
                f"Stage thresholds must satisfy at_risk_days < dormant_days < churn_days; got {order}. "
                "Fix the 'stages:' section of the run config."
            )

    def __getattr__(self, name: str) -> float:
        thresholds = self.__dict__.get("thresholds", {})
        if name in thresholds:
            return thresholds[name]
        raise AttributeError(name)

    def to_frame(self) -> pd.DataFrame:
        """Thresholds as a table (threshold, value, source) for reports."""
        return pd.DataFrame(
            {"threshold": list(self.thresholds), "value": list(self.thresholds.values()),
             "source": [self.sources.get(k, "") for k in self.thresholds]}
        ).set_index("threshold")


def _compile_precedence(precedence: Sequence[tuple[str, str]], thresholds: Mapping[str, float]):
    """Parse the rule table into ``(stage, [(feature, op, value), ...])``; ConfigError on mistakes."""
    if not precedence:
        raise ConfigError("The stage precedence table is empty; keep at least the final 'always' rule.")
    compiled = []
    for position, (stage, condition) in enumerate(precedence):
        if stage not in STAGES or stage in PROSPECT_STAGES:
            raise ConfigError(
                f"Stage rule {position + 1} names stage {stage!r}; customer stages are "
                f"{', '.join(s for s in STAGES if s not in PROSPECT_STAGES)}."
            )
        text = str(condition).strip()
        if text == "always":
            compiled.append((stage, []))
            continue
        clauses = []
        for part in re.split(r"\s+and\s+", text):
            match = _CLAUSE.match(part)
            if not match:
                raise ConfigError(
                    f"Cannot read the condition {condition!r} of stage rule {position + 1} ({stage}); "
                    "write clauses like 'recency_days > at_risk_days' joined by 'and', or 'always'."
                )
            feature, op, rhs = match.groups()
            if feature not in RULE_FEATURES:
                raise ConfigError(
                    f"Stage rule {position + 1} ({stage}) uses the unknown feature {feature!r}; "
                    f"known features: {', '.join(RULE_FEATURES)}."
                )
            if re.fullmatch(r"-?\d+(?:\.\d+)?", rhs):
                value = float(rhs)
            elif rhs in thresholds:
                value = float(thresholds[rhs])
            else:
                raise ConfigError(
                    f"Stage rule {position + 1} ({stage}) compares with {rhs!r}, which is neither a number "
                    f"nor a threshold ({', '.join(THRESHOLDS)})."
                )
            clauses.append((feature, _OPERATORS[op], value))
        compiled.append((stage, clauses))
    if compiled[-1][1]:
        raise ConfigError(
            "The last stage rule must be 'always' so that every customer gets a stage "
            "(e.g. {stage: active, when: always})."
        )
    return compiled


def _to_rules(options: StageSettings, derived: Mapping[str, float], sources: Mapping[str, str]) -> StageRules:
    thresholds = {}
    all_sources = dict(sources)
    for name in THRESHOLDS:
        fixed = options.threshold(name)
        if fixed is not None:
            thresholds[name] = float(fixed)
            all_sources[name] = str(options.sources.get(name) or "run config")
        else:
            thresholds[name] = float(derived[name])
    return StageRules(thresholds=thresholds, precedence=options.precedence,
                      engaged_event_types=options.engaged_event_types,
                      next_stage=dict(options.next_stage), sources=all_sources)


def derive_stage_rules(transactions: ir.Table, as_of: str | dt.date | pd.Timestamp, *,
                       rules: StageSettings | Mapping[str, Any] | None = None) -> StageRules:
    """Stage thresholds derived from the data up to ``as_of`` (and overrides from ``rules``).

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table).
    as_of
        Cut-off date; only purchase days on or before it are used.
    rules
        The run's stage settings (``run.config.stages``), or overrides as in the run config's
        ``stages:`` section (any key of ``stage_rules.yaml``), validated by
        :meth:`~clc_lib.settings.StageSettings.from_mapping`.

    Returns
    -------
    StageRules
        ``at_risk_days``, ``dormant_days`` and ``churn_days`` are the 80th, 90th and 95th
        percentiles (by default) of the gaps in days between consecutive purchase days of all
        customers, rounded to whole days and kept strictly increasing; ``loyal_min_purchase_days``
        is the 80th percentile of purchase days per customer (at least 2);
        ``new_window_days`` and ``reactivated_window_days`` equal ``at_risk_days`` and
        ``reactivation_gap_days`` equals ``dormant_days``. With fewer than ``min_gaps`` gaps the
        fallback values in ``stage_rules.yaml`` are used. ``sources`` says which applied.
    """
    if isinstance(rules, StageRules):
        return rules
    check_transactions(transactions)
    options = StageSettings.coerce(rules)
    as_of = resolve_as_of(as_of)
    return _derive_rules(_ordered_purchase_days(rows_up_to(transactions, as_of)), options, as_of)


def _derive_rules(days: ir.Table, options: StageSettings, as_of: Any = None) -> StageRules:
    """:func:`derive_stage_rules` from the output of :func:`_ordered_purchase_days` (one query);
    ``as_of`` only names the cut-off in the sources."""
    derive = options.derive
    loyal_q = float(derive.loyal_purchase_days_quantile)
    gaps, purchase_days = _day_histograms(days)
    stats = {name: _quantile_of_counts(gaps, float(getattr(derive, key))) for name, key in _GAP_QUANTILE_KEYS.items()}
    stats["loyal"] = _quantile_of_counts(purchase_days, loyal_q)

    n_gaps = int(gaps.sum())
    data_up_to = f"derived from the data up to {pd.Timestamp(as_of):%Y-%m-%d} as " if as_of is not None else ""
    derived: dict[str, float] = {}
    sources: dict[str, str] = {}
    if n_gaps >= int(derive.min_gaps):
        previous = 0.0
        for name, key in _GAP_QUANTILE_KEYS.items():
            value = max(float(round(stats[name])), previous + 1.0)
            derived[name] = value
            previous = value
            sources[name] = (f"{data_up_to}the {float(getattr(derive, key)):.0%} quantile of {n_gaps:,} gaps "
                             "between purchase days")
    else:
        for name in _GAP_QUANTILE_KEYS:
            derived[name] = float(derive.fallback[name])
            sources[name] = f"fallback (only {n_gaps:,} gaps between purchase days, fewer than {derive.min_gaps})"
    floor = float(derive.loyal_min_purchase_days_floor)
    if n_gaps >= int(derive.min_gaps) and not pd.isna(stats["loyal"]):
        derived["loyal_min_purchase_days"] = max(floor, float(math.ceil(stats["loyal"])))
        sources["loyal_min_purchase_days"] = (f"{data_up_to}the {loyal_q:.0%} quantile of purchase days per "
                                              f"customer (at least {floor:g})")
    else:
        derived["loyal_min_purchase_days"] = float(derive.fallback["loyal_min_purchase_days"])
        sources["loyal_min_purchase_days"] = "fallback"
    for name, base in _ALIASES.items():
        fixed = options.threshold(base)
        base_value = fixed if fixed is not None else derived[base]
        derived[name] = float(base_value)
        sources[name] = f"= {base}"
    return _to_rules(options, derived, sources)


def _day_histograms(days: ir.Table) -> tuple[pd.Series, pd.Series]:
    """Counts of each gap between purchase days and of each number of purchase days per customer.

    One grouping over the output of :func:`_ordered_purchase_days`: a customer's first purchase day
    (``day_number`` 1, no gap) carries the customer's number of purchase days, every later day its
    gap. Both are whole numbers with a few thousand distinct values at most, so exact quantiles
    come from these counts without the engine holding every value in memory (a quantile aggregate
    over 100M gaps needs gigabytes that cannot spill). Returns two Series, value -> count, sorted.
    """
    first = days.day_number == 1
    counts = days.group_by(
        first=first, value=ibis.ifelse(first, days.customer_days, days.gap_days).cast("int64"),
    ).aggregate(n=days.count()).execute()
    counts = counts.sort_values("value")
    as_series = lambda part: pd.Series(part["n"].to_numpy(), index=part["value"].to_numpy())  # noqa: E731
    return as_series(counts[~counts["first"].astype(bool)]), as_series(counts[counts["first"].astype(bool)])


def _quantile_of_counts(counts: pd.Series, q: float) -> float:
    """The interpolated (continuous) quantile of values given as value -> count, sorted by value.

    Equal to ``numpy.quantile(values, q)`` and to SQL ``quantile_cont``/``percentile_cont``: the value
    at position ``(n - 1) q`` of the sorted values, linear between neighbours. NaN without values.
    """
    n = int(counts.sum())
    if n == 0:
        return math.nan
    position = (n - 1) * q
    below, fraction = int(math.floor(position)), position - math.floor(position)
    ends = np.cumsum(counts.to_numpy())  # sorted position of each value's last copy, plus one
    values = counts.index.to_numpy(dtype="float64")
    lower = values[np.searchsorted(ends, below, side="right")]
    upper = values[np.searchsorted(ends, min(below + 1, n - 1), side="right")]
    return float(lower + fraction * (upper - lower))


def _resolve_rules(transactions: ir.Table, as_of: pd.Timestamp, rules, days: ir.Table | None = None) -> StageRules:
    """``rules`` as :class:`StageRules`, derived from the data up to ``as_of`` (or from ``days``, the
    output of :func:`_ordered_purchase_days` for those rows) unless already resolved."""
    if isinstance(rules, StageRules):
        return rules
    if rules is not None and not isinstance(rules, Mapping | StageSettings):
        raise ConfigError(f"rules must be a StageRules, StageSettings or a mapping of stage options, "
                          f"got {type(rules).__name__}.")
    if days is None:
        return derive_stage_rules(transactions, as_of, rules=rules)
    return _derive_rules(days, StageSettings.coerce(rules), as_of)


def override_thresholds(stages: StageSettings | Mapping[str, Any] | None,
                        thresholds: Mapping[str, Any]) -> StageSettings:
    """A ``stages:`` section with ``thresholds`` fixed in it, e.g. thresholds pinned by an earlier run.

    Parameters
    ----------
    stages
        The run config's stage settings (``run_config.stages``), a ``stages:`` section, or None.
    thresholds
        Threshold name -> value (days; ``loyal_min_purchase_days`` counts purchase days), and
        optionally ``sources``: threshold name -> text shown as that threshold's source in the
        reports (default "run config").

    Returns
    -------
    StageSettings
        New settings: the given values replace the section's, the rest is kept.

    Raises
    ------
    ConfigError
        An unknown threshold name, or a value that is not a number of at least 1 (0 for
        ``loyal_min_purchase_days`` is refused too: a customer has at least one purchase day).
    """
    if not isinstance(thresholds, Mapping):
        raise ConfigError(f"stage_rules must map threshold names to days, got {type(thresholds).__name__}.")
    section = dict(stages.written if isinstance(stages, StageSettings) else (stages or {}))
    sources = dict(section.get("sources") or {})
    for name, value in thresholds.items():
        if name == "sources":
            if not isinstance(value, Mapping):
                raise ConfigError(f"stage_rules['sources'] must map threshold names to texts, got {value!r}.")
            sources.update({str(key): str(text) for key, text in value.items()})
            continue
        if name not in THRESHOLDS:
            raise ConfigError(f"stage_rules names {name!r}, which is not a stage threshold; thresholds: "
                              f"{', '.join(THRESHOLDS)}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
            raise ConfigError(f"stage_rules['{name}'] is {value!r}; give a number of days of at least 1.")
        section[name] = float(value)
    if sources:
        section["sources"] = sources
    return StageSettings.from_mapping(section)


def config_fixed_thresholds(stages: StageSettings | Mapping[str, Any] | None) -> dict[str, float]:
    """The thresholds a ``stages:`` section fixes, with their values; the others are derived from the data.

    A threshold that reuses another one (``new_window_days``, ``reactivated_window_days``: ``at_risk_days``;
    ``reactivation_gap_days``: ``dormant_days``) and is not given itself counts as fixed when the one it
    reuses is.
    """
    options = StageSettings.coerce(stages)
    fixed = {name: float(options.threshold(name)) for name in THRESHOLDS if options.threshold(name) is not None}
    for name, base in _ALIASES.items():
        if name not in fixed and base in fixed:
            fixed[name] = fixed[base]
    return fixed


# ---------------------------------------------------------------------------------------------
# Engine-side building blocks shared by classify_stages and stage_history


def _ordered_purchase_days(transactions: ir.Table) -> ir.Table:
    """:func:`~clc_lib.summary.daily_purchase_values` plus ``prev_day``, ``gap_days``, ``day_number``
    (1 for the customer's first purchase day) and ``customer_days`` (the customer's purchase days),
    all from one window."""
    days = daily_purchase_values(transactions)
    by_customer = ibis.window(group_by=days.customer_id, order_by=days.day)
    days = days.mutate(
        prev_day=days.day.lag().over(by_customer),
        day_number=ibis.row_number().over(by_customer) + 1,
        customer_days=days.count().over(by_customer),
    )
    return days.mutate(gap_days=days.day.delta(days.prev_day, unit="day"))


def _stage_expression(table: ir.Table, rules: StageRules) -> ir.StringValue:
    """Ibis expression giving each row its stage from the feature columns of ``table``."""
    branches = [
        ((table.purchase_days == 0) & table.is_engaged.fill_null(False), "engaged"),
        (table.purchase_days == 0, "aware"),
    ]
    for stage, clauses in _compile_precedence(rules.precedence, rules.thresholds):
        condition = ibis.literal(True)
        for feature, op, value in clauses:
            condition = condition & op(table[feature], value)
        branches.append((condition, stage))
    return ibis.cases(*branches)


def _with_features(table: ir.Table) -> ir.Table:
    """Add the rule features to a table with ``snapshot`` (date) and per-person cumulative columns
    ``first_day``, ``last_day``, ``purchase_days``, ``last_reactivation_day``, ``first_engaged_day``."""
    snapshot = table.snapshot
    return table.mutate(
        purchase_days=table.purchase_days.fill_null(0),
        recency_days=snapshot.delta(table.last_day, unit="day"),
        tenure_days=snapshot.delta(table.first_day, unit="day"),
        days_since_reactivation=snapshot.delta(table.last_reactivation_day, unit="day"),
        is_engaged=table.first_engaged_day.notnull() & (table.first_engaged_day <= snapshot),
    )


def _event_people(events: ir.Table, end: pd.Timestamp, rules: StageRules) -> ir.Table:
    """Per person in the events table: ``first_event_day`` and ``first_engaged_day`` (up to ``end``)."""
    missing = [c for c in ("person_id", "timestamp", "event_type") if c not in events.columns]
    if missing:
        raise DataError("The events table lacks contract column(s) " + ", ".join(missing) + ".",
                        source="events", column=", ".join(missing),
                        hint="Map them in the run config (events: columns: ...).")
    rows = rows_up_to(events, end)
    known_id = rows.customer_id if "customer_id" in rows.columns else ibis.null("string")
    # A person's events are attributed to their customer id when any event carries it.
    identity = ibis.coalesce(known_id.max().over(ibis.window(group_by=rows.person_id)), rows.person_id)
    rows = rows.mutate(person=identity, day=rows.timestamp.date(),
                       engaged=rows.event_type.isin(list(rules.engaged_event_types)))
    return rows.group_by(customer_id=rows.person).aggregate(
        first_event_day=rows.day.min(), first_engaged_day=rows.day.min(where=rows.engaged),
    )


def _classify_table(transactions: ir.Table, as_of: pd.Timestamp, rules: StageRules,
                    events: ir.Table | None, days: ir.Table | None = None) -> ir.Table:
    if days is None:
        days = purchase_days_table(rows_up_to(transactions, as_of))
    reactivation = days.gap_days > rules.reactivation_gap_days
    people = days.group_by("customer_id").aggregate(
        first_day=days.day.min(),
        last_day=days.day.max(),
        purchase_days=days.count(),
        last_reactivation_day=days.day.max(where=reactivation),
    )
    if events is not None:
        prospects = _event_people(events, as_of, rules)
        joined = people.outer_join(prospects, people.customer_id == prospects.customer_id)
        people = joined.select(
            customer_id=ibis.coalesce(joined.customer_id, joined.customer_id_right),
            first_day=joined.first_day, last_day=joined.last_day, purchase_days=joined.purchase_days,
            last_reactivation_day=joined.last_reactivation_day, first_engaged_day=joined.first_engaged_day,
        )
    else:
        people = people.mutate(first_engaged_day=ibis.null("date"))
    people = _with_features(people.mutate(snapshot=ibis.literal(as_of.date())))
    return people.mutate(stage=_stage_expression(people, rules))


def _as_stage_categorical(values: pd.Series) -> pd.Categorical:
    return pd.Categorical(values, categories=list(STAGES), ordered=True)


def classify_stages(transactions: ir.Table, as_of: str | dt.date | pd.Timestamp, *,
                    rules: StageRules | StageSettings | Mapping[str, Any] | None = None,
                    events: ir.Table | None = None) -> pd.DataFrame:
    """The lifecycle stage of every known person as of a date.

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table). Purchases (``is_return`` false) on or before the
        ``as_of`` day count; returns never change a stage.
    as_of
        Snapshot date; its whole day is included.
    rules
        ``None`` (thresholds derived from the data up to ``as_of``), a mapping of overrides as in
        the run config's ``stages:`` section, or a :class:`StageRules`.
    events
        Optional contract events table; people in it who never bought become prospects
        (``engaged`` with an event of ``engaged_event_types``, else ``aware``).

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id`` (the ``person_id`` for prospects), sorted; columns ``stage``
        (ordered Categorical over :data:`STAGES`), the features that decided it
        (``recency_days``, ``tenure_days``, ``purchase_days``, ``days_since_reactivation``; days
        from the purchase date to ``as_of``, NaN where not applicable), ``first_purchase`` and
        ``last_purchase`` (dates). ``frame.attrs`` holds ``as_of`` and the :class:`StageRules`.
        Customers whose only rows are returns have no purchase and no stage.
    """
    check_transactions(transactions)
    return _classify(transactions, resolve_as_of(as_of), rules, events)


def _classify(transactions: ir.Table, as_of: pd.Timestamp, rules, events: ir.Table | None,
              days: ir.Table | None = None) -> pd.DataFrame:
    """:func:`classify_stages`; ``days`` (the output of :func:`_ordered_purchase_days` for the rows
    up to ``as_of``) serves both the derived thresholds and the stages."""
    rules = _resolve_rules(transactions, as_of, rules, days)
    table = _classify_table(transactions, as_of, rules, events, days)
    result = fetch(table.select(
        "customer_id", "stage", "recency_days", "tenure_days", "purchase_days", "days_since_reactivation",
        first_purchase=table.first_day, last_purchase=table.last_day,
    ).order_by("customer_id")).set_index("customer_id")
    if not result.index.is_monotonic_increasing:  # a database collation that is not code-point order
        result = result.sort_index()
    result["stage"] = _as_stage_categorical(result["stage"])
    for column in ("recency_days", "tenure_days", "days_since_reactivation"):
        result[column] = result[column].astype("float64")
    result["purchase_days"] = result["purchase_days"].astype("int64")
    for column in ("first_purchase", "last_purchase"):
        result[column] = pd.to_datetime(result[column]).astype("datetime64[ns]")
    result.attrs["as_of"] = as_of
    result.attrs["rules"] = rules
    return result


def stage_shares(stages: pd.DataFrame, *, customers_only: bool = True) -> pd.Series:
    """Share of people in each stage (index :data:`STAGES`, values sum to 1).

    With ``customers_only`` (default) prospects (``aware``, ``engaged``) are left out of the
    denominator and get share 0.
    """
    if "stage" not in stages.columns:
        raise DataError("stages has no 'stage' column; pass the output of clc.classify_stages.",
                        source="stages", column="stage")
    counts = stages["stage"].astype(str).value_counts().reindex(list(STAGES), fill_value=0)
    if customers_only:
        counts[list(PROSPECT_STAGES)] = 0
    total = counts.sum()
    shares = counts / total if total else counts.astype(float)
    shares.index.name = "stage"
    return shares.rename("share")


def mark_advocates(stages: pd.DataFrame, surveys: pd.DataFrame, *, min_score: float = 9,
                   as_of: str | pd.Timestamp | None = None) -> pd.DataFrame:
    """Add ``is_advocate``: the customer's latest survey answer up to ``as_of`` scored >= ``min_score``.

    Advocacy is a flag orthogonal to the stage (a loyal or an at-risk customer can be a promoter).
    ``surveys`` follows the contract (``customer_id``, ``responded_at``, ``score`` on the 0-10 NPS
    scale); promoters are 9-10 on that scale.
    """
    as_of = as_of if as_of is not None else stages.attrs.get("as_of")
    missing = [c for c in ("customer_id", "responded_at", "score") if c not in surveys.columns]
    if missing:
        raise DataError("The surveys table lacks contract column(s) " + ", ".join(missing) + ".",
                        source="surveys", column=", ".join(missing))
    answered = surveys
    if as_of is not None:  # answers after the stage date are not known yet
        answered = surveys[pd.to_datetime(surveys["responded_at"]) < resolve_as_of(as_of) + pd.Timedelta(days=1)]
    latest = answered.sort_values(["customer_id", "responded_at"]).groupby("customer_id")["score"].last()
    out = stages.copy()
    out["is_advocate"] = latest.reindex(out.index).ge(min_score).fillna(False).astype(bool)
    return out


# ---------------------------------------------------------------------------------------------
# Growth accounting


def growth_accounting(transactions: ir.Table, period: str = "M", *, as_of=None) -> pd.DataFrame:
    """Active customers per period split into new, returning and resurrected, plus dormant.

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table). A customer is *active* in a period with at least one
        purchase (returns do not count).
    period
        ``"M"`` (calendar months) or ``"W"`` (ISO weeks, Monday first).
    as_of
        Cut-off date of the data (``run.as_of``); ``None`` = the date of the last transaction. It
        decides whether the last period is complete.

    Returns
    -------
    pandas.DataFrame
        Index ``period_start`` (every period from the first to the last with a purchase), columns:
        ``new`` (first purchase ever in the period), ``returning`` (active this and the previous
        period), ``resurrected`` (active, not in the previous period, bought before), ``dormant``
        (active in the previous period but not in this one, reported as a *positive* count),
        ``active`` = new + returning + resurrected and ``quick_ratio`` = (new + resurrected) /
        dormant (NaN when nothing went dormant). The first period of the data counts everyone as
        new: a history that starts mid-life overstates new customers in its first periods.
        ``is_complete`` (:func:`clc_lib.cohorts.period_is_complete`) is False for a last period
        that runs past ``as_of``: its counts cover only part of the period, so its quick ratio
        is not comparable with the others.
    """
    check_transactions(transactions)
    as_of = resolve_as_of(as_of, transactions)
    period = Period.parse(period)
    unit = period.truncate_unit
    step = period.ibis_interval()
    purchases = transactions.filter(is_purchase(transactions))
    active = purchases.group_by(
        customer_id=purchases.customer_id, period_start=purchases.timestamp.date().truncate(unit)
    ).aggregate()
    ordered = ibis.window(group_by=active.customer_id, order_by=active.period_start)
    active = active.mutate(
        previous=active.period_start.lag().over(ordered),
        following=active.period_start.lead().over(ordered),
    )
    # The first active period of a customer is the one without a previous one (a null period, which
    # some engines sort first, is never new).
    status = ibis.cases(
        (active.previous.isnull() & active.period_start.notnull(), "new"),
        (active.previous + step == active.period_start, "returning"),
        else_="resurrected",
    )
    moves = active.select(period_start=active.period_start, status=status)
    lapsing = active.filter(active.following.isnull() | (active.period_start + step != active.following))
    lapses = lapsing.select(period_start=lapsing.period_start + step, status=ibis.literal("dormant"))
    # Both counts in one query, so that the active periods are ordered once.
    both = moves.union(lapses, distinct=False)
    frame = both.group_by("period_start", "status").aggregate(customers=both.count()).execute()
    is_dormant = frame["status"] == "dormant"
    counts_df = frame[~is_dormant]
    dormant_df = frame[is_dormant].rename(columns={"customers": "dormant"})
    columns = ["new", "returning", "resurrected"]
    if counts_df.empty:
        return pd.DataFrame(columns=[*columns, "dormant", "active", "quick_ratio", "is_complete"],
                            index=pd.DatetimeIndex([], name="period_start"))
    table = counts_df.pivot_table(index="period_start", columns="status", values="customers",
                                  aggfunc="sum", fill_value=0)
    table.index = pd.to_datetime(table.index)
    index = period.starts(table.index.min(), table.index.max()).rename("period_start")
    table = table.reindex(index=index, columns=columns, fill_value=0).astype("int64")
    dormant_series = dormant_df.assign(period_start=pd.to_datetime(dormant_df["period_start"]))
    table["dormant"] = (dormant_series.set_index("period_start")["dormant"]
                        .reindex(index, fill_value=0).astype("int64"))
    table["active"] = table[columns].sum(axis=1)
    gained = table["new"] + table["resurrected"]
    table["quick_ratio"] = gained / table["dormant"].where(table["dormant"] > 0)
    table.columns.name = None
    return mark_complete_periods(table, period, as_of)


# ---------------------------------------------------------------------------------------------
# Stage history


def _snapshot_dates(first: pd.Timestamp, end: pd.Timestamp, period: str) -> list[dt.date]:
    ends = pd.date_range(first, end, freq=Period.parse(period).end_frequency)
    dates = [d.date() for d in ends if d < end]
    dates.append(end.date())
    return dates


def _period_end(day: ir.DateValue, period: str) -> ir.DateValue:
    period = Period.parse(period)
    return day.truncate(period.truncate_unit) + period.ibis_interval() - ibis.interval(days=1)


def _data_bounds(transactions: ir.Table) -> tuple[pd.Timestamp, pd.Timestamp]:
    purchases = transactions.filter(is_purchase(transactions))
    bounds = purchases.aggregate(first=purchases.timestamp.min(), last=purchases.timestamp.max()).execute().iloc[0]
    if pd.isna(bounds["first"]):
        raise DataError("The transactions contain no purchase, so there is no stage history.",
                        source="transactions", column="is_return", n_rows=0)
    return pd.Timestamp(bounds["first"]).normalize(), pd.Timestamp(bounds["last"]).normalize()


def stage_history(transactions: ir.Table, *, period: str = "M",
                  rules: StageRules | StageSettings | Mapping[str, Any] | None = None,
                  start: str | dt.date | None = None, end: str | dt.date | None = None,
                  events: ir.Table | None = None) -> ir.Table:
    """The stage of every person at every period end, as an Ibis table (it stays in the engine).

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table).
    period
        ``"M"`` (snapshots at month ends) or ``"W"`` (at Sundays, ISO weeks).
    rules
        As in :func:`classify_stages`; thresholds left to the data are derived once from the data
        up to ``end`` so that every snapshot uses the same thresholds.
    start, end
        First and last snapshot dates; default: the first period end after the first purchase,
        and the last purchase date. Snapshots are the period ends in ``[start, end)`` plus ``end``
        itself, so the last snapshot agrees with ``classify_stages(transactions, end)``.
    events
        Optional events table: prospects (people who never bought by a snapshot) enter the
        history at their first event as ``aware``/``engaged``.

    Returns
    -------
    ibis.Table
        Columns ``customer_id``, ``period_end`` (date of the snapshot), ``stage`` (string),
        ``recency_days``, ``tenure_days``, ``purchase_days``, ``days_since_reactivation``,
        ``bought_in_period`` (a purchase day in the period ending at ``period_end``). A person
        enters at the first snapshot on or after their first purchase (or first event) and
        stays in every later snapshot. Call :func:`derive_stage_rules` with ``as_of=end`` to see
        the thresholds used.
    """
    check_transactions(transactions)
    Period.parse(period)
    first_day, last_day = _data_bounds(transactions)
    end_ts = resolve_as_of(end, what="end") if end is not None else last_day
    start_ts = resolve_as_of(start, what="start") if start is not None else first_day
    if start_ts > end_ts:
        raise ConfigError(f"start {start_ts.date()} is after end {end_ts.date()}; choose start <= end.")
    rules = _resolve_rules(transactions, end_ts, rules)
    snapshots = _snapshot_dates(start_ts, end_ts, period)
    first_snapshot = ibis.literal(snapshots[0])
    end_literal = ibis.literal(end_ts.date())

    def bucket(day: ir.DateValue) -> ir.DateValue:
        return ibis.greatest(ibis.least(_period_end(day, period), end_literal), first_snapshot)

    # Per purchase day: its snapshot bucket and the running count of purchase days (one sort).
    days = _ordered_purchase_days(rows_up_to(transactions, end_ts))
    days = days.mutate(bucket=bucket(days.day).cast("date"))
    reactivation = days.gap_days > rules.reactivation_gap_days
    per_bucket = days.group_by(customer_id=days.customer_id, bucket=days.bucket).aggregate(
        bucket_days=days.count(), purchase_days=days.day_number.max(), last_day=days.day.max(),
        first_day_in_bucket=days.day.min(), reactivation_day=days.day.max(where=reactivation),
    )
    people = None
    if events is not None:
        people = _event_people(events, end_ts, rules)
        people = people.mutate(event_entry=bucket(people.first_event_day).cast("date"))
    cumulative = _state_by_spans(per_bucket, people, snapshots)
    featured = _with_features(cumulative)
    staged = featured.mutate(stage=_stage_expression(featured, rules))
    return staged.select(
        "customer_id",
        period_end=staged.snapshot,
        stage=staged.stage,
        recency_days=staged.recency_days,
        tenure_days=staged.tenure_days,
        purchase_days=staged.purchase_days,
        days_since_reactivation=staged.days_since_reactivation,
        bought_in_period=staged.n_days > 0,
    )


def _state_by_spans(per_bucket: ir.Table, people: ir.Table | None, snapshots: list[dt.date]) -> ir.Table:
    """The state of every person at every snapshot from their entry on (the customer x snapshot grid).

    A customer's state (purchase days so far, last purchase day, last reactivation day) changes only
    at the buckets with purchase days, and every bucket is a snapshot, so each bucket's state holds
    from its snapshot up to the next bucket's: one window over the buckets and an expansion of each
    bucket to its snapshots, instead of matching every grid row with its latest bucket (which sorts
    the grid). A reactivation day is on or before a snapshot exactly when its bucket is. Prospects
    (``people``) enter at their first event's snapshot; before the first purchase they have no
    purchase state.
    """
    index = ibis.memtable(pd.DataFrame({"snapshot": pd.to_datetime(snapshots),
                                        "idx": np.arange(len(snapshots), dtype="int64")}))
    index = index.select(snapshot=index.snapshot.date(), idx=index.idx)
    after_last = len(snapshots)

    states = per_bucket.inner_join(index, per_bucket.bucket == index.snapshot).select(
        per_bucket.customer_id, per_bucket.bucket_days, per_bucket.purchase_days, per_bucket.last_day,
        per_bucket.first_day_in_bucket, per_bucket.reactivation_day, from_idx=index.idx,
    )
    ordered = ibis.window(group_by=states.customer_id, order_by=states.from_idx)
    so_far = ibis.cumulative_window(group_by=states.customer_id, order_by=states.from_idx)
    states = states.mutate(
        to_idx=states.from_idx.lead(default=after_last).over(ordered),
        first_day=states.first_day_in_bucket.min().over(ordered),
        last_reactivation_day=states.reactivation_day.max().over(so_far),
    )
    if people is None:
        states = states.mutate(first_engaged_day=ibis.null("date"))
    else:
        engaged = people.select("customer_id", "first_engaged_day")
        states = states.left_join(engaged, states.customer_id == engaged.customer_id).select(
            states, engaged.first_engaged_day)
    spans = states.mutate(idx=ibis.range(states.from_idx, states.to_idx).unnest())
    grid = spans.inner_join(index, spans.idx == index.idx).select(
        spans.customer_id, index.snapshot, spans.first_day, spans.first_engaged_day,
        spans.purchase_days, spans.last_day,
        n_days=ibis.cases((spans.idx == spans.from_idx, spans.bucket_days), else_=0),
        last_reactivation_day=spans.last_reactivation_day,
    )
    if people is None:
        return grid

    # People in the events table: the snapshots from their first event's one up to their first
    # purchase bucket (or the end), without purchase state.
    buyers = states.group_by("customer_id").aggregate(first_idx=states.from_idx.min(),
                                                       first_day=states.first_day.min())
    people = people.inner_join(index, people.event_entry == index.snapshot).select(
        people.customer_id, people.first_engaged_day, event_idx=index.idx)
    joined = people.left_join(buyers, people.customer_id == buyers.customer_id)
    early = joined.select(
        people.customer_id, buyers.first_day, people.first_engaged_day,
        from_idx=ibis.least(people.event_idx, buyers.first_idx),
        to_idx=buyers.first_idx.fill_null(after_last),
    )
    early = early.mutate(idx=ibis.range(early.from_idx, early.to_idx).unnest())
    early = early.inner_join(index, early.idx == index.idx).select(
        early.customer_id, index.snapshot, early.first_day, early.first_engaged_day,
        purchase_days=ibis.null(grid.purchase_days.type()), last_day=ibis.null("date"),
        n_days=ibis.literal(0, grid.n_days.type()), last_reactivation_day=ibis.null("date"),
    )
    return grid.union(early, distinct=False)


def _with_previous(history: ir.Table) -> ir.Table:
    """``period_end``, ``stage`` and ``from_stage``, the customer's stage at the previous snapshot."""
    ordered = ibis.window(group_by=history.customer_id, order_by=history.period_end)
    return history.select("period_end", "stage", from_stage=history.stage.lag().over(ordered))


def stage_counts(history: ir.Table) -> pd.DataFrame:
    """Customers per stage at every snapshot (long form: ``period_end``, ``stage``, ``customers``).

    Stages absent at a snapshot appear with 0 so that stacked charts line up.
    """
    counts = history.group_by("period_end", "stage").aggregate(customers=history.count()).execute()
    counts["period_end"] = pd.to_datetime(counts["period_end"])
    full = pd.MultiIndex.from_product([sorted(counts["period_end"].unique()), list(STAGES)],
                                      names=["period_end", "stage"])
    counts = counts.set_index(["period_end", "stage"])["customers"].reindex(full, fill_value=0).reset_index()
    counts["stage"] = _as_stage_categorical(counts["stage"])
    counts["customers"] = counts["customers"].astype("int64")
    return counts


def _nearest_snapshot(history: ir.Table, date: str | dt.date) -> dt.date:
    target = resolve_as_of(date, what="date").date()
    found = history.filter(history.period_end <= target).period_end.max().execute()
    if found is None or pd.isna(found):
        raise ConfigError(f"No snapshot of the stage history on or before {target}; choose a later date.")
    return pd.Timestamp(found).date()


def transition_matrix(history: ir.Table, from_date: str | dt.date | None = None,
                      to_date: str | dt.date | None = None, *, normalize: bool = True) -> pd.DataFrame:
    """Stage-to-stage transitions, pooled over consecutive snapshots or between two dates.

    Parameters
    ----------
    history
        Output of :func:`stage_history`.
    from_date, to_date
        Compare the snapshot on or before ``from_date`` with the one on or before ``to_date``.
        Both ``None`` (default): pool every pair of consecutive snapshots.
    normalize
        Row shares (each row sums to 1 where it has customers) instead of counts.

    Returns
    -------
    pandas.DataFrame
        Index ``from_stage``, columns ``to_stage``, both over :data:`STAGES`. Customers who enter
        the history after the first of the two snapshots are not counted (they had no stage then).
    """
    if (from_date is None) != (to_date is None):
        raise ConfigError("Give both from_date and to_date, or neither (to pool consecutive periods).")
    if from_date is None:
        pairs = _with_previous(history)
        pairs = pairs.filter(pairs.from_stage.notnull())
        counts = pairs.group_by(from_stage=pairs.from_stage, to_stage=pairs.stage).aggregate(n=pairs.count())
    else:
        start, stop = _nearest_snapshot(history, from_date), _nearest_snapshot(history, to_date)
        before = history.filter(history.period_end == start).select("customer_id", from_stage=history.stage)
        after = history.filter(history.period_end == stop).select("customer_id", to_stage=history.stage)
        joined = before.inner_join(after, "customer_id")
        counts = joined.group_by("from_stage", "to_stage").aggregate(n=joined.count())
    frame = counts.execute()
    matrix = (frame.pivot_table(index="from_stage", columns="to_stage", values="n", aggfunc="sum", fill_value=0)
              .reindex(index=list(STAGES), columns=list(STAGES), fill_value=0).astype("int64"))
    matrix.index.name, matrix.columns.name = "from_stage", "to_stage"
    if normalize:
        totals = matrix.sum(axis=1)
        matrix = matrix.div(totals.where(totals > 0), axis=0)
    return matrix


def stage_flows(history: ir.Table) -> pd.DataFrame:
    """Customers moving between stages from one snapshot to the next (input of flow charts).

    Returns
    -------
    pandas.DataFrame
        Columns ``period_end`` (the later snapshot), ``from_stage`` (stage at the previous
        snapshot, or ``"(first seen)"`` for people entering the history), ``to_stage`` and
        ``customers``. Summed over ``from_stage`` it gives :func:`stage_counts`.
    """
    pairs = _with_previous(history)
    flows = pairs.group_by(
        period_end=pairs.period_end, from_stage=pairs.from_stage.fill_null(FIRST_SEEN), to_stage=pairs.stage
    ).aggregate(customers=pairs.count()).execute()
    flows["period_end"] = pd.to_datetime(flows["period_end"])
    flows["customers"] = flows["customers"].astype("int64")
    order = {s: i for i, s in enumerate((FIRST_SEEN, *STAGES))}
    flows = flows.sort_values(
        ["period_end", "from_stage", "to_stage"],
        key=lambda col: col.map(order) if col.name != "period_end" else col,
    ).reset_index(drop=True)
    return flows


# ---------------------------------------------------------------------------------------------
# Stage metrics and back-test


def _window_revenue(transactions: ir.Table, as_of: pd.Timestamp, window_start: pd.Timestamp, *,
                    orders: bool = True) -> pd.DataFrame:
    """Per customer with rows in ``(window_start, as_of]`` days, sorted: net ``revenue`` and ``purchases``
    (purchase rows); with ``orders`` also ``gross`` (purchase value) and ``orders`` (distinct
    purchase order ids; this distinct count is most of the query's cost)."""
    rows = rows_up_to(transactions, as_of)
    rows = rows.filter(rows.timestamp >= (window_start + pd.Timedelta(days=1)).to_pydatetime())
    purchase = is_purchase(rows)
    measures = {"revenue": rows.amount.sum(), "purchases": rows.count(where=purchase)}
    if orders:
        measures.update(gross=rows.amount.sum(where=purchase), orders=rows.order_id.nunique(where=purchase))
    # Sorted like the stages frame, so that pandas joins the two without hashing a million ids.
    frame = fetch(rows.group_by("customer_id").aggregate(**measures).order_by("customer_id"))
    return frame.set_index("customer_id")


def stage_metrics(transactions: ir.Table, stages: pd.DataFrame, *, history: ir.Table | None = None,
                  as_of: str | pd.Timestamp | None = None, revenue_window_days: int = 365,
                  period: str = "M",
                  rules: StageRules | StageSettings | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Size, value and movement of each stage.

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table).
    stages
        Output of :func:`classify_stages` (index ``customer_id``, column ``stage``).
    history
        Output of :func:`stage_history` for the movement columns; by default it is computed with
        ``period`` and the rules of ``stages`` up to ``as_of``.
    as_of
        Date of ``stages``; default ``stages.attrs["as_of"]``.
    revenue_window_days
        Revenue and AOV use the ``revenue_window_days`` days ending on ``as_of`` (inclusive).
    period
        Snapshot period of the computed history (``"M"`` or ``"W"``).

    Returns
    -------
    pandas.DataFrame
        Index ``stage`` (all of :data:`STAGES`); columns ``customers``, ``customer_share``,
        ``revenue`` (net, run currency, in the window), ``revenue_share``, ``aov`` (gross
        purchase value / orders in the window), ``next_period_purchase_rate`` (share of
        customer-snapshots in the stage with a purchase in the following period, pooled over the
        history), ``next_stage_conversion`` (share moving at the next snapshot to the stage's
        ``next_stage`` in the rules), ``median_periods_in_stage`` (median length, in periods, of
        completed stays in the stage; stays still running at the last snapshot are censored and
        left out) and ``snapshots`` (customer-snapshots the movement columns rest on).
    """
    check_transactions(transactions)
    if "stage" not in stages.columns:
        raise DataError("stages has no 'stage' column; pass the output of clc.classify_stages.",
                        source="stages", column="stage")
    as_of_ts = resolve_as_of(as_of if as_of is not None else stages.attrs.get("as_of"))
    resolved = stages.attrs.get("rules") if rules is None else rules
    resolved = _resolve_rules(transactions, as_of_ts, resolved)

    window = _window_revenue(transactions, as_of_ts, as_of_ts - pd.Timedelta(days=revenue_window_days))
    frame = stages[["stage"]].join(window, how="left")
    grouped = frame.groupby("stage", observed=False)
    out = pd.DataFrame({
        "customers": grouped.size(),
        "revenue": grouped["revenue"].sum(min_count=0),
        "gross": grouped["gross"].sum(min_count=0),
        "orders": grouped["orders"].sum(min_count=0),
    }).reindex(list(STAGES)).fillna(0)
    out["customers"] = out["customers"].astype("int64")
    out["customer_share"] = out["customers"] / max(int(out["customers"].sum()), 1)
    total_revenue = out["revenue"].sum()
    out["revenue_share"] = out["revenue"] / total_revenue if total_revenue != 0 else np.nan
    out["aov"] = out["gross"] / out["orders"].where(out["orders"] > 0)

    if history is None:
        history = stage_history(transactions, period=period, rules=resolved, end=as_of_ts)
    movement = _movement_metrics(history, resolved)
    out = out.join(movement)
    out.index = pd.CategoricalIndex(out.index, categories=list(STAGES), ordered=True, name="stage")
    return out[["customers", "customer_share", "revenue", "revenue_share", "aov",
                "next_period_purchase_rate", "next_stage_conversion", "median_periods_in_stage", "snapshots"]]


def _movement_metrics(history: ir.Table, rules: StageRules) -> pd.DataFrame:
    # One sort of the history by customer and snapshot gives the next snapshot's stage and purchase
    # and each row's position; both aggregates below read it, so it is one query.
    ordered = ibis.window(group_by=history.customer_id, order_by=history.period_end)
    steps = history.select(
        "customer_id", "stage",
        position=ibis.row_number().over(ordered),
        next_stage=history.stage.lead().over(ordered),
        next_bought=history.bought_in_period.lead().over(ordered),
    )
    pairs = steps.filter(steps.next_stage.notnull())
    target_cases = [(pairs.stage == stage, pairs.next_stage.isin(list(targets)))
                    for stage, targets in rules.next_stage.items()]
    converted = ibis.cases(*target_cases, else_=False) if target_cases else ibis.literal(False)
    # Booleans pass through an integer: PostgreSQL casts no boolean to a float.
    per_stage = pairs.group_by("stage").aggregate(
        snapshots=pairs.count(),
        next_period_purchase_rate=pairs.next_bought.cast("int32").cast("float64").mean(),
        next_stage_conversion=converted.cast("int32").cast("float64").mean(),
    )

    # Stays in one stage (runs of consecutive snapshots with the same stage): a stay ends where the
    # next snapshot has another stage or there is none, and starts right after the previous end, so
    # its length is the distance between consecutive ends. A stay ending at the customer's last
    # snapshot is still running (censored) and left out of the median.
    ends = steps.filter(steps.next_stage.isnull() | (steps.next_stage != steps.stage))
    by_end = ibis.window(group_by=ends.customer_id, order_by=ends.position)
    ends = ends.mutate(length=ends.position - ends.position.lag(default=-1).over(by_end))
    completed = ends.filter(ends.next_stage.notnull())
    spells = completed.group_by("stage").aggregate(median_periods_in_stage=completed.length.median())

    joined = per_stage.outer_join(spells, per_stage.stage == spells.stage)
    frame = joined.select(
        stage=ibis.coalesce(joined.stage, joined.stage_right),
        snapshots=joined.snapshots,
        next_period_purchase_rate=joined.next_period_purchase_rate,
        next_stage_conversion=joined.next_stage_conversion,
        median_periods_in_stage=joined.median_periods_in_stage,
    ).execute().set_index("stage")
    return frame.reindex(list(STAGES))


def stage_backtest(transactions: ir.Table, as_of: str | dt.date | pd.Timestamp | None = None, *,
                   window_days: int = 90, rules: StageRules | StageSettings | Mapping[str, Any] | None = None,
                   events: ir.Table | None = None,
                   data_end: str | dt.date | pd.Timestamp | None = None) -> pd.DataFrame:
    """Classify at a past date with data up to it only, then measure who bought afterwards.

    Parameters
    ----------
    transactions
        Contract transactions (Ibis table) reaching at least ``window_days`` beyond ``as_of``.
    as_of
        Past snapshot date (whole day included in the classification data); default
        ``data_end - window_days``.
    window_days
        Length of the outcome window ``(as_of, as_of + window_days]`` in days.
    data_end
        Last day covered by the data (e.g. ``run.as_of``); default the last purchase date. The
        outcome window must end on or before it.
    rules, events
        As in :func:`classify_stages` (thresholds derived from the data up to ``as_of`` only).

    Returns
    -------
    pandas.DataFrame
        Index ``stage`` (stages with customers), columns ``customers``, ``buyers`` (a purchase in
        the window), ``buy_rate`` = buyers / customers and ``revenue_per_customer`` (net revenue
        in the window / customers, run currency). On healthy rules the buy rate falls from
        active and loyal through at_risk and dormant to churned.
    """
    check_transactions(transactions)
    last_day = resolve_as_of(data_end, what="data_end") if data_end is not None else _data_bounds(transactions)[1]
    as_of_ts = resolve_as_of(as_of) if as_of is not None else last_day - pd.Timedelta(days=window_days)
    window_end = as_of_ts + pd.Timedelta(days=window_days)
    if last_day < window_end:
        raise ConfigError(
            f"The back-test window {as_of_ts.date()} + {window_days} days ends on {window_end.date()}, "
            f"after the end of the data ({last_day.date()}); choose an earlier as_of or a shorter window."
        )
    known = rows_up_to(transactions, as_of_ts)
    if rules is None or isinstance(rules, Mapping | StageSettings):
        # Thresholds and stages both come from the ordered purchase days up to as_of: order them once.
        with _ordered_purchase_days(known).cache() as days:
            stages = _classify(known, as_of_ts, rules, events, days)
    else:
        stages = _classify(known, as_of_ts, rules, events)
    outcome = _window_revenue(transactions, window_end, as_of_ts, orders=False)
    frame = stages[["stage"]].join(outcome, how="left")
    frame["bought"] = frame["purchases"].fillna(0) > 0
    grouped = frame.groupby("stage", observed=True)
    result = pd.DataFrame({
        "customers": grouped.size(),
        "buyers": grouped["bought"].sum().astype("int64"),
        "revenue": grouped["revenue"].sum(),
    })
    result["buy_rate"] = result["buyers"] / result["customers"]
    result["revenue_per_customer"] = result["revenue"] / result["customers"]
    result.attrs.update(as_of=as_of_ts, window_days=window_days, rules=stages.attrs["rules"])
    return result[["customers", "buyers", "buy_rate", "revenue_per_customer"]]
