"""Lifecycle stages: the stage rules and their thresholds, and the classification as of a date.

Every known person gets exactly one stage from :data:`STAGES` (see ``docs/stages.md``):

* prospects (people in the events table who never bought): ``aware`` or ``engaged``;
* customers (at least one purchase on or before the date): the first stage of the rule table
  (``precedence`` in ``stage_rules.yaml``) whose condition holds: ``reactivated``, ``new``,
  ``churned``, ``dormant``, ``at_risk``, ``loyal``, else ``active``.

Thresholds are data: the defaults in ``stage_rules.yaml`` are derived from the distribution of
gaps between purchase days (:func:`derive_stage_rules`) and can be overridden by the run config's
``stages:`` section. The transaction-level work runs in the engine with Ibis; the same stage
expression serves :func:`classify_stages` (one date) and :func:`clc_lib.stage_history.stage_history`
(every period end); stages over time are in :mod:`clc_lib.stage_history`.

Time conventions: the unit of activity is the *purchase day* (all purchases of a customer on one
calendar day); returns never count as activity. Day counts run from the purchase date to the
snapshot date, whose whole day is included (a purchase on the snapshot day has recency 0 days).
"""

from __future__ import annotations

import contextlib
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

from clc_lib.errors import ConfigError, DataError
from clc_lib.i18n import N_, current_language, format_count, format_date, format_percent, gettext as _
from clc_lib.periods import resolve_as_of
from clc_lib.settings import STAGE_THRESHOLDS, StageSettings
from clc_lib.summary import (
    check_transactions,
    daily_purchase_values,
    fetch,
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
        """Thresholds as a table (threshold, value, source) for reports, the sources in the active language."""
        return pd.DataFrame(
            {"threshold": list(self.thresholds), "value": list(self.thresholds.values()),
             "source": [source_text(self.sources.get(k, "")) for k in self.thresholds]}
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
    return _derive_rules(ordered_purchase_days(rows_up_to(transactions, as_of)), options, as_of)


#: How a derived threshold's source is written (in English, as pinned in ``definitions.json``);
#: :func:`source_text` shows it in the report's language.
SOURCE_TEMPLATES: dict[str, str] = {
    "gaps_up_to": N_("derived from the data up to {date} as the {share} quantile of {gaps} gaps between purchase days"),
    "gaps": N_("the {share} quantile of {gaps} gaps between purchase days"),
    "too_few_gaps": N_("fallback (only {gaps} gaps between purchase days, fewer than {minimum})"),
    "purchase_days_up_to": N_("derived from the data up to {date} as the {share} quantile of purchase days per "
                              "customer (at least {floor})"),
    "purchase_days": N_("the {share} quantile of purchase days per customer (at least {floor})"),
    "fallback": N_("fallback"),
    "pinned": N_("pinned since {date}: {source}"),
}


@cache
def _source_patterns() -> list[tuple[str, re.Pattern]]:
    def pattern(template: str) -> re.Pattern:
        parts = re.split(r"\{(\w+)\}", template)
        return re.compile("".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)"
                                  for i, part in enumerate(parts)) + r"\Z")
    return [(template, pattern(template)) for template in SOURCE_TEMPLATES.values()]


def source_text(source: str) -> str:
    """A threshold's source (written with :data:`SOURCE_TEMPLATES`) in the active language.

    ``"derived from the data up to 2024-12-31 as the 90% quantile of 51,234 gaps between purchase days"``
    reads ``根据截至2024年12月31日的数据推导：51,234 个购买间隔天数的90%分位数`` in simplified Chinese.
    Text written otherwise (a config's own words) is returned as it is.
    """
    if current_language() == "en":
        return source
    for template, pattern in _source_patterns():
        found = pattern.match(source)
        if found:
            values = found.groupdict()
            if "date" in values:
                with contextlib.suppress(ValueError):
                    values["date"] = format_date(pd.Timestamp(values["date"]))
            if "source" in values:
                values["source"] = source_text(values["source"])
            return _(template).format(**values)
    return source


def _derive_rules(days: ir.Table, options: StageSettings, as_of: Any = None) -> StageRules:
    """:func:`derive_stage_rules` from the output of :func:`ordered_purchase_days` (one query);
    ``as_of`` only names the cut-off in the sources."""
    derive = options.derive
    loyal_q = float(derive.loyal_purchase_days_quantile)
    gaps, purchase_days = _day_histograms(days)
    stats = {name: _quantile_of_counts(gaps, float(getattr(derive, key))) for name, key in _GAP_QUANTILE_KEYS.items()}
    stats["loyal"] = _quantile_of_counts(purchase_days, loyal_q)

    n_gaps = int(gaps.sum())
    up_to = {"date": f"{pd.Timestamp(as_of):%Y-%m-%d}", "gaps": format_count(n_gaps, lang="en")} if as_of is not None else None
    derived: dict[str, float] = {}
    sources: dict[str, str] = {}
    if n_gaps >= int(derive.min_gaps):
        previous = 0.0
        for name, key in _GAP_QUANTILE_KEYS.items():
            value = max(float(round(stats[name])), previous + 1.0)
            derived[name] = value
            previous = value
            share = format_percent(float(getattr(derive, key)), decimals=0, lang="en")
            sources[name] = (SOURCE_TEMPLATES["gaps_up_to"].format(share=share, **up_to) if up_to else
                             SOURCE_TEMPLATES["gaps"].format(share=share, gaps=format_count(n_gaps, lang="en")))
    else:
        for name in _GAP_QUANTILE_KEYS:
            derived[name] = float(derive.fallback[name])
            sources[name] = SOURCE_TEMPLATES["too_few_gaps"].format(gaps=format_count(n_gaps, lang="en"),
                                                                    minimum=format_count(derive.min_gaps, lang="en"))
    floor = float(derive.loyal_min_purchase_days_floor)
    if n_gaps >= int(derive.min_gaps) and not pd.isna(stats["loyal"]):
        derived["loyal_min_purchase_days"] = max(floor, float(math.ceil(stats["loyal"])))
        values = {"share": format_percent(loyal_q, decimals=0, lang="en"), "floor": f"{floor:g}"}
        sources["loyal_min_purchase_days"] = (
            SOURCE_TEMPLATES["purchase_days_up_to"].format(date=up_to["date"], **values) if up_to else
            SOURCE_TEMPLATES["purchase_days"].format(**values))
    else:
        derived["loyal_min_purchase_days"] = float(derive.fallback["loyal_min_purchase_days"])
        sources["loyal_min_purchase_days"] = SOURCE_TEMPLATES["fallback"]
    for name, base in _ALIASES.items():
        fixed = options.threshold(base)
        base_value = fixed if fixed is not None else derived[base]
        derived[name] = float(base_value)
        sources[name] = f"= {base}"
    return _to_rules(options, derived, sources)


def _day_histograms(days: ir.Table) -> tuple[pd.Series, pd.Series]:
    """Counts of each gap between purchase days and of each number of purchase days per customer.

    One grouping over the output of :func:`ordered_purchase_days`: a customer's first purchase day
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


def resolve_rules(transactions: ir.Table, as_of: pd.Timestamp, rules, days: ir.Table | None = None) -> StageRules:
    """``rules`` as :class:`StageRules`, derived from the data up to ``as_of`` (or from ``days``, the
    output of :func:`ordered_purchase_days` for those rows) unless already resolved."""
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


def ordered_purchase_days(transactions: ir.Table) -> ir.Table:
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


def stage_expression(table: ir.Table, rules: StageRules) -> ir.StringValue:
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


def with_features(table: ir.Table) -> ir.Table:
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


def event_people(events: ir.Table, end: pd.Timestamp, rules: StageRules) -> ir.Table:
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
        prospects = event_people(events, as_of, rules)
        joined = people.outer_join(prospects, people.customer_id == prospects.customer_id)
        people = joined.select(
            customer_id=ibis.coalesce(joined.customer_id, joined.customer_id_right),
            first_day=joined.first_day, last_day=joined.last_day, purchase_days=joined.purchase_days,
            last_reactivation_day=joined.last_reactivation_day, first_engaged_day=joined.first_engaged_day,
        )
    else:
        people = people.mutate(first_engaged_day=ibis.null("date"))
    people = with_features(people.mutate(snapshot=ibis.literal(as_of.date())))
    return people.mutate(stage=stage_expression(people, rules))


def as_stage_categorical(values: pd.Series) -> pd.Categorical:
    """Stage names as an ordered Categorical over :data:`STAGES`."""
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
    return classify_snapshot(transactions, resolve_as_of(as_of), rules, events)


def classify_snapshot(transactions: ir.Table, as_of: pd.Timestamp, rules, events: ir.Table | None,
                      days: ir.Table | None = None) -> pd.DataFrame:
    """:func:`classify_stages` for a resolved ``as_of``, without the input check; ``days`` (the output of
    :func:`ordered_purchase_days` for the rows up to ``as_of``) serves both the derived thresholds and the
    stages."""
    rules = resolve_rules(transactions, as_of, rules, days)
    table = _classify_table(transactions, as_of, rules, events, days)
    result = fetch(table.select(
        "customer_id", "stage", "recency_days", "tenure_days", "purchase_days", "days_since_reactivation",
        first_purchase=table.first_day, last_purchase=table.last_day,
    ).order_by("customer_id")).set_index("customer_id")
    if not result.index.is_monotonic_increasing:  # a database collation that is not code-point order
        result = result.sort_index()
    result["stage"] = as_stage_categorical(result["stage"])
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
