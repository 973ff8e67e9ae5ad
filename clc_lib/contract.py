"""The table registry: for each input table, its columns, types, units and how the run treats it.

Each :class:`TableContract` says which columns a table has (and which are required), its main date
column, whether it is small (loaded into pandas) or stays on the engine, whether its rows after the
as_of day are excluded, and the allowed values of its columns. :data:`CONTRACTS` is the list of
tables: the run config's table names (:data:`clc_lib.config.TABLE_NAMES`), the loader
(:mod:`clc_lib.sources`, :mod:`clc_lib.parsing`, :mod:`clc_lib.loading`) and the run
(:mod:`clc_lib.run`) all read it, so a new table needs its entry here and a field of
:class:`clc_lib.run.RunData`. ``docs/data-contract.md`` describes the same tables for people.
This module imports nothing of ``clc``: it is the first step of the flow config -> sources ->
parsing -> quality rules -> run -> analyses. Types are the logical types of the *output* of the
loader:

``string``
    Text. Identifier columns are always read as text, never as numbers ("00017" stays "00017");
    leading and trailing whitespace is stripped and an empty value counts as missing.
``timestamp``
    Date and time without a time zone. Sources with a time zone are converted to UTC and the zone
    is dropped.
``float64``
    A number. Decimal comma and thousands separators in text sources are handled by the loader.
``boolean``
    True or false.

Example
-------
>>> from clc_lib.contract import CONTRACTS
>>> CONTRACTS["transactions"].required
('customer_id', 'timestamp')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ColumnSpec", "TableContract", "CONTRACTS", "contract_for"]

ColumnType = str  # one of "string", "timestamp", "float64", "boolean"
COLUMN_TYPES = ("string", "timestamp", "float64", "boolean")


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table.

    Attributes
    ----------
    name
        Contract name (what the rest of ``clc`` uses).
    dtype
        Logical output type: ``string``, ``timestamp``, ``float64`` or ``boolean``.
    required
        The source must provide it (directly or through ``derivable_from``).
    unit
        Unit or allowed values, for people (e.g. "run currency", "0-10").
    description
        One sentence for the docs and error messages.
    is_id
        An identifier: read as text, whitespace stripped.
    source
        False for columns the loader derives and a source cannot map (e.g. ``is_return``).
    output
        False for columns that are read from the source but not returned (e.g. ``unit_price``).
    """

    name: str
    dtype: ColumnType
    required: bool = False
    unit: str = ""
    description: str = ""
    is_id: bool = False
    source: bool = True
    output: bool = True


@dataclass(frozen=True)
class TableContract:
    """The columns of one input table and how required ones can be derived.

    Attributes
    ----------
    name
        Table name as used in the run config (``transactions``, ``customers``, ...).
    columns
        Column specifications in output order.
    derivable_from
        Required column -> columns that can stand in for it when it is not mapped
        (``amount`` = ``quantity`` x ``unit_price``).
    keep_extra_columns
        Pass unmapped source columns through unchanged (customer attributes such as country).
    date_column
        The table's main date column: the date range in the report and, with
        ``excludes_after_as_of``, the column the as_of cut reads.
    small
        Loaded into a pandas DataFrame on the client (``RunData.customers`` ...); otherwise the
        table stays an Ibis table on the engine (transactions, events).
    excludes_after_as_of
        Rows dated after the as_of day are excluded and counted (the ``after_as_of`` rule of
        :mod:`clc_lib.quality`); False for tables of attributes, whose rows are all kept.
    value_checks
        Column -> allowed values, checked on load; a violation is always an error. Each check has
        ``allowed`` (a tuple of values, compared ignoring case) or ``min`` and ``max`` (None = no
        bound), plus ``label`` (the allowed values for the message) and ``hint``.
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    derivable_from: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keep_extra_columns: bool = False
    date_column: str | None = None
    small: bool = False
    excludes_after_as_of: bool = False
    value_checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for column in self.columns:
            if column.dtype not in COLUMN_TYPES:
                raise ValueError(f"{self.name}.{column.name}: unknown type {column.dtype!r}")
        dtypes = {column.name: column.dtype for column in self.columns}
        if self.date_column is not None and dtypes.get(self.date_column) != "timestamp":
            raise ValueError(f"{self.name}: date_column {self.date_column!r} is not a timestamp column")
        if self.excludes_after_as_of and self.date_column is None:
            raise ValueError(f"{self.name}: excludes_after_as_of needs a date_column")
        for name, check in self.value_checks.items():
            if name not in dtypes:
                raise ValueError(f"{self.name}: value check of the unknown column {name!r}")
            if ("allowed" in check) == ("min" in check or "max" in check):
                raise ValueError(f"{self.name}.{name}: a value check has either 'allowed' or 'min'/'max'")

    def column(self, name: str) -> ColumnSpec:
        return {c.name: c for c in self.columns}[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def source_columns(self) -> tuple[str, ...]:
        """Contract names a source column may be mapped to."""
        return tuple(c.name for c in self.columns if c.source)

    @property
    def output_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.output)

    def to_frame(self):
        """The contract as a pandas DataFrame (one row per column), for docs and notebooks."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"table": self.name, "column": c.name, "type": c.dtype, "required": c.required,
                 "unit": c.unit, "description": c.description}
                for c in self.columns
            ]
        )


def _col(name: str, dtype: ColumnType, description: str, **kwargs) -> ColumnSpec:
    return ColumnSpec(name=name, dtype=dtype, description=description, **kwargs)


TRANSACTIONS = TableContract(
    name="transactions",
    description="One row per order line (or per order); returns and cancellations are rows with negative amount.",
    columns=(
        _col("customer_id", "string", "Customer identifier.", required=True, is_id=True),
        _col("order_id", "string", "Order (invoice) identifier; a surrogate customer_id|timestamp when not mapped.",
             is_id=True),
        _col("timestamp", "timestamp", "Time of the order, no time zone.", required=True, unit="date and time"),
        _col("amount", "float64", "Net line value; negative for returns and cancellations.", required=True,
             unit="run currency"),
        _col("quantity", "float64", "Units on the line; negative for returns. Nullable.", unit="units"),
        _col("unit_price", "float64", "Price per unit; used for amount = quantity x unit_price when amount "
             "is not mapped.", unit="run currency per unit", output=False),
        _col("is_return", "boolean", "True for returns and cancellations (derived by the loader).", source=False),
        _col("product_id", "string", "Product identifier (SKU).", is_id=True),
        _col("category", "string", "Product category."),
        _col("channel", "string", "Sales channel (web, store, app, ...)."),
        _col("currency", "string", "Currency code of the line (ISO 4217)."),
    ),
    derivable_from={"amount": ("quantity", "unit_price")},
    date_column="timestamp",
    excludes_after_as_of=True,
)

CUSTOMERS = TableContract(
    name="customers",
    description="One row per customer with attributes; unmapped columns (e.g. country) are kept.",
    columns=(
        _col("customer_id", "string", "Customer identifier (same as in transactions).", required=True, is_id=True),
        _col("first_seen", "timestamp", "When the customer was first seen (signup or first contact).",
             unit="date and time"),
        _col("acquisition_channel", "string", "Channel that acquired the customer."),
    ),
    keep_extra_columns=True,
    date_column="first_seen",
    small=True,
)

SPEND = TableContract(
    name="spend",
    description="Marketing spend per period and channel.",
    columns=(
        _col("period_start", "timestamp", "First day of the period (month).", required=True, unit="date"),
        _col("channel", "string", "Acquisition channel, as in customers.acquisition_channel.", required=True),
        _col("spend", "float64", "Spend in the period.", required=True, unit="run currency"),
    ),
    date_column="period_start",
    small=True,
    excludes_after_as_of=True,
    value_checks={"spend": {"min": 0, "max": None, "label": "0 or more",
                            "hint": "Spend cannot be negative; record refunds in the period they reduce."}},
)

EVENTS = TableContract(
    name="events",
    description="Behavioural events (visits, signups, product views, email opens, ...).",
    columns=(
        _col("person_id", "string", "Customer id when known, else an anonymous visitor id.", required=True,
             is_id=True),
        _col("customer_id", "string", "Customer id; null for anonymous visitors.", is_id=True),
        _col("timestamp", "timestamp", "Time of the event, no time zone.", required=True, unit="date and time"),
        _col("event_type", "string", "visit, signup, product_view, add_to_cart, email_open, ...", required=True),
        _col("channel", "string", "Channel of the event."),
    ),
    date_column="timestamp",
    excludes_after_as_of=True,
)

CAMPAIGNS = TableContract(
    name="campaigns",
    description="Campaign sends, with their randomised group when the campaign had a control group.",
    columns=(
        _col("customer_id", "string", "Customer identifier.", required=True, is_id=True),
        _col("campaign_id", "string", "Campaign identifier.", required=True, is_id=True),
        _col("sent_at", "timestamp", "When the campaign was sent.", required=True, unit="date and time"),
        _col("group", "string", "'treatment' or 'control'; without it every row is a contacted customer.",
             unit="treatment | control"),
        _col("campaign_type", "string", "Kind of campaign, e.g. 'win_back'."),
    ),
    date_column="sent_at",
    small=True,
    excludes_after_as_of=True,
    value_checks={"group": {"allowed": ("treatment", "control"), "label": "{treatment, control}",
                            "hint": "Rename the groups to 'treatment' and 'control' (case is ignored)."}},
)

SURVEYS = TableContract(
    name="surveys",
    description="Survey responses on the NPS scale.",
    columns=(
        _col("customer_id", "string", "Customer identifier.", required=True, is_id=True),
        _col("responded_at", "timestamp", "When the customer answered.", required=True, unit="date and time"),
        _col("score", "float64", "Likelihood to recommend.", required=True, unit="0-10 (NPS scale)"),
        _col("reason", "string", "Chosen reason."),
        _col("comment", "string", "Free text."),
    ),
    date_column="responded_at",
    small=True,
    excludes_after_as_of=True,
    value_checks={"score": {"min": 0, "max": 10, "label": "0-10",
                            "hint": "Scores are on the 0-10 NPS scale; rescale other scales before loading."}},
)

#: Every input table, transactions first (the order of the run config's tables and of loading).
CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (TRANSACTIONS, CUSTOMERS, SPEND, EVENTS, CAMPAIGNS, SURVEYS)
}


def contract_for(table: str) -> TableContract:
    """Return the contract of ``table``; a KeyError names the known tables."""
    try:
        return CONTRACTS[table]
    except KeyError:
        raise KeyError(f"No data contract for table {table!r}; known: {', '.join(CONTRACTS)}") from None
