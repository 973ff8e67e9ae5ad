"""The data contract as data: for each input table, its columns, types, units and whether they are required.

The loaders in :mod:`clc_lib.io` read these definitions to map, parse and validate a source, and
``docs/data-contract.md`` describes the same tables for people. Types are the logical types of the
*output* of the loader:

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
    """

    name: str
    columns: tuple[ColumnSpec, ...]
    description: str = ""
    derivable_from: dict[str, tuple[str, ...]] = field(default_factory=dict)
    keep_extra_columns: bool = False

    def __post_init__(self) -> None:
        for column in self.columns:
            if column.dtype not in COLUMN_TYPES:
                raise ValueError(f"{self.name}.{column.name}: unknown type {column.dtype!r}")

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
)

SPEND = TableContract(
    name="spend",
    description="Marketing spend per period and channel.",
    columns=(
        _col("period_start", "timestamp", "First day of the period (month).", required=True, unit="date"),
        _col("channel", "string", "Acquisition channel, as in customers.acquisition_channel.", required=True),
        _col("spend", "float64", "Spend in the period.", required=True, unit="run currency"),
    ),
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
)

CONTRACTS: dict[str, TableContract] = {
    c.name: c for c in (TRANSACTIONS, CUSTOMERS, SPEND, EVENTS, CAMPAIGNS, SURVEYS)
}


def contract_for(table: str) -> TableContract:
    """Return the contract of ``table``; a KeyError names the known tables."""
    try:
        return CONTRACTS[table]
    except KeyError:
        raise KeyError(f"No data contract for table {table!r}; known: {', '.join(CONTRACTS)}") from None
