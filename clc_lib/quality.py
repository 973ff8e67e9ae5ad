"""Data-quality rules (as data, overridable from the ``quality:`` section) and the data-quality report.

Every load applies the rules below to the transactions, in this order, and counts the rows each
one affects. A row removed by one rule is not counted again by a later one, so
``rows_in - sum(rows removed) == rows_out``. Each rule is documented in ``docs/data-quality.md``.

========================  ==============================  =========================================
rule                      option (default)                 what it matches
========================  ==============================  =========================================
unparseable_values        ``unparseable_values: error``    a timestamp or number that does not parse,
                                                           or an id in scientific notation
missing_values            ``missing_values: error``        empty timestamp or amount
missing_customer_id       ``missing_customer_id: drop``    empty customer id
after_as_of               (always ``exclude``)             timestamp after the ``as_of`` day
above_max_amount          ``above_max_amount: error``      ``|amount| > max_line_amount`` (1e7)
zero_amount               ``zero_amount: keep``            ``amount == 0``
returns                   ``returns: keep``                negative amount or quantity, or an order id
                                                           starting with a cancellation prefix
duplicate_rows            ``duplicate_rows: drop``         a line identical to an earlier one in all
                                                           mapped columns (only with an order id)
========================  ==============================  =========================================

After the rules, the kept rows are checked (always an error when they fail): no timestamp before
``min_date`` (placeholder dates), none after today unless ``as_of`` is given, and with
``shared_order_ids: error`` no order id on the lines of two customers. An ``as_of`` more than
``max_days_after_last_transaction`` (365) days after the last transaction is refused; one more than
a period after it is a warning in the summary.

Example
-------
>>> from clc_lib.settings import quality_settings
>>> quality_settings({"duplicate_rows": "keep"})["duplicate_rows"]
'keep'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from clc_lib.contract import CONTRACTS
from clc_lib.i18n import N_, gettext

__all__ = [
    "QUALITY_RULES",
    "QualityRule",
    "RuleResult",
    "TableQuality",
    "DataQualityReport",
    "VALUE_CHECKS",
    "TABLE_KEYS",
    "TABLE_COUNTS",
]


SHARED_ORDER_ID_ACTIONS = ("error", "keep")

#: Allowed values of columns of the optional tables, by table; a violation is always an error. Each
#: table's checks are the ``value_checks`` of its contract (:mod:`clc_lib.contract`), gathered here.
VALUE_CHECKS: dict[str, dict[str, dict[str, Any]]] = {
    name: contract.value_checks for name, contract in CONTRACTS.items() if contract.value_checks
}

# Columns that identify one row of an optional table: the reports join on them, so a repeat is always an
# error. ``conflict`` names a column whose differing values make the repeat a contradiction.
TABLE_KEYS: dict[str, dict[str, Any]] = {
    "customers": {"columns": ("customer_id",),
                  "message": "customer ids occur more than once in the customers table",
                  "hint": "Keep one row per customer (e.g. the earliest first_seen) in the export."},
    "campaigns": {"columns": ("campaign_id", "customer_id"), "conflict": "group",
                  "message": "rows repeat a customer within one campaign",
                  "conflict_message": "customers are in both groups of one campaign",
                  "hint": "Keep one row per customer and campaign (the first send), in one group: a customer in "
                          "treatment and control makes the uplift of that campaign meaningless."},
}

# Facts about the optional tables that the reports handle but that are worth knowing; counted (action
# ``keep``) in the data-quality summary. See docs/data-quality.md.
TABLE_COUNTS: dict[str, dict[str, str]] = {
    "campaigns": {"customer_not_in_transactions": N_("campaign row for a customer without transactions "
                                                     "(counted as not converted)")},
    "spend": {"period_start_not_first_day": N_("period_start that is not the first day of a month (spend is "
                                               "assigned to the month it falls in)")},
}

# Actions that take a row out of the cleaned table.
REMOVING_ACTIONS = ("drop", "exclude")

Predicate = Callable[[Any, "RuleContext"], Any]


@dataclass(frozen=True)
class RuleContext:
    """What a rule predicate may look at besides the row: the as_of limit, options, parsed columns."""

    options: Mapping[str, Any]
    as_of_end: Any = None  # first instant after the as_of day (pd.Timestamp) or None
    parsed_flags: tuple[str, ...] = ()  # names of the ``__bad_<column>`` flag columns
    missing_flags: tuple[str, ...] = ()  # names of the ``__missing_<column>`` flag columns
    has_order_id: bool = False


def _any(table, names: tuple[str, ...]):
    import ibis

    if not names:
        # A column expression (not a scalar) so that it can be counted like any other flag.
        return table[table.columns[0]].isnull() & ibis.literal(False)
    flag = table[names[0]]
    for name in names[1:]:
        flag = flag | table[name]
    return flag


@dataclass(frozen=True)
class QualityRule:
    """One data-quality rule.

    Attributes
    ----------
    name
        Rule name, used in the report.
    option
        Key of :data:`QUALITY_DEFAULTS` holding the action, or None when the action is fixed.
    actions
        Allowed actions; ``keep`` counts only, ``drop``/``exclude`` remove the rows, ``error``
        raises :class:`~clc_lib.errors.DataError` when any row matches.
    description
        One line for the report and docs.
    predicate
        ``(table, context) -> boolean ibis expression`` matching the affected rows.
    fixed_action
        The action when ``option`` is None.
    """

    name: str
    option: str | None
    actions: tuple[str, ...]
    description: str
    predicate: Predicate
    fixed_action: str = "keep"

    def action(self, options: Mapping[str, Any]) -> str:
        return self.fixed_action if self.option is None else str(options[self.option])


QUALITY_RULES: tuple[QualityRule, ...] = (
    QualityRule(
        "unparseable_values", "unparseable_values", ("error", "drop"),
        N_("timestamp or number that does not parse (or an id in scientific notation)"),
        lambda t, ctx: _any(t, ctx.parsed_flags),
    ),
    QualityRule(
        "missing_values", "missing_values", ("error", "drop"),
        N_("empty timestamp or amount (required values)"),
        lambda t, ctx: _any(t, ctx.missing_flags),
    ),
    QualityRule(
        "missing_customer_id", "missing_customer_id", ("drop", "error"),
        N_("empty customer id"),
        lambda t, ctx: t.customer_id.isnull(),
    ),
    QualityRule(
        "after_as_of", None, ("exclude",),
        N_("timestamp after the as_of day"),
        lambda t, ctx: (t.timestamp >= ctx.as_of_end) if ctx.as_of_end is not None else _any(t, ()),
        fixed_action="exclude",
    ),
    QualityRule(
        "above_max_amount", "above_max_amount", ("error", "drop"),
        N_("line amount above max_line_amount in absolute value"),
        lambda t, ctx: t.amount.abs() > float(ctx.options["max_line_amount"]),
    ),
    QualityRule(
        "zero_amount", "zero_amount", ("keep", "drop"),
        N_("amount of exactly 0 (kept: still a purchase)"),
        lambda t, ctx: t.amount == 0,
    ),
    QualityRule(
        "returns", "returns", ("keep", "drop"),
        N_("returns and cancellations (kept with negative amount)"),
        lambda t, ctx: t.is_return,
    ),
)

DUPLICATE_RULE_NAME = "duplicate_rows"
DUPLICATE_ACTIONS = ("drop", "keep", "error")
DUPLICATES_WITHOUT_ORDER_ID_ACTIONS = ("keep", "drop")



def min_date_of(options: Mapping[str, Any]) -> pd.Timestamp | None:
    """The ``min_date`` option as a midnight timestamp (None when it is null or not a date)."""
    value = options.get("min_date")
    if value is None or value == "":
        return None
    try:
        stamp = pd.Timestamp(str(value))
    except (TypeError, ValueError):
        return None
    return None if pd.isna(stamp) else stamp.tz_localize(None).normalize() if stamp.tzinfo else stamp.normalize()


@dataclass
class RuleResult:
    """What one rule did to one table: rows matched, the action, and their amount (run currency)."""

    rule: str
    action: str
    rows: int
    amount: float | None = None
    description: str = ""

    @property
    def removed(self) -> int:
        return self.rows if self.action in REMOVING_ACTIONS else 0


@dataclass
class TableQuality:
    """Data-quality summary of one loaded table.

    Attributes
    ----------
    table, source
        Contract table name and a description of where the rows came from.
    rows_in, rows_out
        Data rows read and rows returned.
    rules
        One :class:`RuleResult` per rule, in the order applied.
    customers
        Distinct customer ids in the output (None for tables without one).
    first_timestamp, last_timestamp
        Range of the table's main date column in the output.
    amount_in, amount_out
        Sum of ``amount`` (transactions) before and after the rules, in the run currency.
    notes
        Detected formats and other facts worth showing (e.g. "timestamp: format %Y%m%d").
    warnings
        Facts that may make the results misleading (e.g. data older than one period at as_of);
        shown as ``warning`` lines in the summary and in the report's quality table.
    """

    table: str
    source: str
    rows_in: int
    rows_out: int
    rules: list[RuleResult] = field(default_factory=list)
    customers: int | None = None
    first_timestamp: pd.Timestamp | None = None
    last_timestamp: pd.Timestamp | None = None
    amount_in: float | None = None
    amount_out: float | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def rule(self, name: str) -> RuleResult:
        for result in self.rules:
            if result.rule == name:
                return result
        raise KeyError(f"No rule {name!r} in the report of {self.table}; rules: {[r.rule for r in self.rules]}")


@dataclass
class DataQualityReport:
    """The data-quality summary of a whole run (one :class:`TableQuality` per loaded table).

    Amounts are in ``currency``; ``as_of`` is midnight of the as_of day (the whole day is included).
    """

    tables: dict[str, TableQuality] = field(default_factory=dict)
    as_of: pd.Timestamp | None = None
    currency: str = ""

    def __getitem__(self, table: str) -> TableQuality:
        return self.tables[table]

    def add(self, table_quality: TableQuality) -> None:
        self.tables[table_quality.table] = table_quality

    def to_frame(self) -> pd.DataFrame:
        """One row per table and step: ``rows in``, each rule, ``rows out``.

        Columns: table, step, action, rows, amount (run currency; NaN where not applicable),
        description (a rule's description in the active language, see :mod:`clc_lib.i18n`).
        """
        records = []
        for tq in self.tables.values():
            records.append({"table": tq.table, "step": "rows in", "action": "", "rows": tq.rows_in,
                            "amount": tq.amount_in, "description": tq.source})
            for r in tq.rules:
                records.append({"table": tq.table, "step": r.rule, "action": r.action, "rows": r.rows,
                                "amount": r.amount, "description": gettext(r.description) if r.description else ""})
            records.append({"table": tq.table, "step": "rows out", "action": "", "rows": tq.rows_out,
                            "amount": tq.amount_out, "description": ""})
            for warning in tq.warnings:
                records.append({"table": tq.table, "step": "warning", "action": "warn", "rows": tq.rows_out,
                                "amount": None, "description": warning})
        frame = pd.DataFrame.from_records(
            records, columns=["table", "step", "action", "rows", "amount", "description"])
        frame["rows"] = frame["rows"].astype("int64")
        frame["amount"] = frame["amount"].astype("float64")
        return frame

    def summary_frame(self) -> pd.DataFrame:
        """One row per table: rows_in, rows_removed, rows_out, customers, first/last timestamp,
        amount_in, amount_out (run currency)."""
        rows = [
            {"table": tq.table, "source": tq.source, "rows_in": tq.rows_in,
             "rows_removed": sum(r.removed for r in tq.rules), "rows_out": tq.rows_out,
             "customers": tq.customers, "first_timestamp": tq.first_timestamp,
             "last_timestamp": tq.last_timestamp, "amount_in": tq.amount_in, "amount_out": tq.amount_out}
            for tq in self.tables.values()
        ]
        return pd.DataFrame(rows).set_index("table") if rows else pd.DataFrame()

    def render_text(self) -> str:
        """A console summary, one block per table."""
        currency = f" {self.currency}" if self.currency else ""
        lines = ["Data quality" + (f" (as of {self.as_of:%Y-%m-%d})" if self.as_of is not None else "")]
        width = max([22, *(len(r.rule) + 1 for tq in self.tables.values() for r in tq.rules)])
        for tq in self.tables.values():
            lines.append(f"{tq.table}  <- {tq.source}")
            lines.append(f"  {'rows in':<{width}}{tq.rows_in:>12,}" + _amount(tq.amount_in, currency))
            for r in tq.rules:
                lines.append(f"  {r.rule:<{width}}{r.rows:>12,}  {r.action:<8}" + _amount(r.amount, currency))
            lines.append(f"  {'rows out':<{width}}{tq.rows_out:>12,}" + _amount(tq.amount_out, currency))
            facts = []
            if tq.customers is not None:
                facts.append(f"{tq.customers:,} customers")
            if tq.first_timestamp is not None and not pd.isna(tq.first_timestamp):
                facts.append(f"{tq.first_timestamp:%Y-%m-%d} to {tq.last_timestamp:%Y-%m-%d}")
            if facts:
                lines.append("  " + "; ".join(facts))
            lines.extend(f"  note: {note}" for note in tq.notes)
            lines.extend(f"  WARNING: {warning}" for warning in tq.warnings)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, na_rep="")

    def __str__(self) -> str:
        return self.render_text()


def _amount(value: float | None, currency: str) -> str:
    if value is None or pd.isna(value):
        return ""
    return f"  {value:>16,.2f}{currency}"
