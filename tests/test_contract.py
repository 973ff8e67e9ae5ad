"""The data contract as data: every table, its required columns and the transactions output."""

from __future__ import annotations

import pytest

from clc_lib.config import TABLE_NAMES
from clc_lib.contract import COLUMN_TYPES, CONTRACTS, contract_for


def test_every_config_table_has_a_contract():
    assert set(CONTRACTS) == set(TABLE_NAMES)


@pytest.mark.parametrize(
    ("table", "required"),
    [
        ("transactions", ("customer_id", "timestamp", "amount")),
        ("customers", ("customer_id",)),
        ("spend", ("period_start", "channel", "spend")),
        ("events", ("person_id", "timestamp", "event_type")),
        ("campaigns", ("customer_id", "campaign_id", "sent_at")),
        ("surveys", ("customer_id", "responded_at", "score")),
    ],
)
def test_required_columns_match_the_shared_contract(table, required):
    assert contract_for(table).required == required


def test_transactions_output_columns_follow_the_shared_contract():
    contract = CONTRACTS["transactions"]
    assert contract.output_columns == ("customer_id", "order_id", "timestamp", "amount", "quantity",
                                       "is_return", "product_id", "category", "channel", "currency")
    # unit_price is read but not returned; is_return is derived and cannot be mapped.
    assert "unit_price" in contract.source_columns and "unit_price" not in contract.output_columns
    assert "is_return" not in contract.source_columns
    assert contract.derivable_from["amount"] == ("quantity", "unit_price")


def test_types_units_and_derivations_are_consistent():
    for contract in CONTRACTS.values():
        assert len(set(contract.names)) == len(contract.names), contract.name
        for column in contract.columns:
            assert column.dtype in COLUMN_TYPES
            assert column.description, f"{contract.name}.{column.name} has no description"
            if column.is_id:
                assert column.dtype == "string", f"{contract.name}.{column.name}: ids are text"
        for target, parts in contract.derivable_from.items():
            assert target in contract.names and all(p in contract.names for p in parts)
    assert CONTRACTS["transactions"].column("amount").unit == "run currency"
    assert CONTRACTS["surveys"].column("score").unit.startswith("0-10")


def test_contract_as_frame_lists_every_column():
    frame = CONTRACTS["campaigns"].to_frame()
    assert list(frame.columns) == ["table", "column", "type", "required", "unit", "description"]
    assert frame["column"].tolist() == ["customer_id", "campaign_id", "sent_at", "group", "campaign_type"]
    assert frame["required"].sum() == 3  # group is optional: campaigns without a control group


def test_unknown_table_names_the_known_ones():
    with pytest.raises(KeyError, match="known: transactions, customers"):
        contract_for("orders")


def test_the_contract_page_documents_every_column():
    from clc_lib.paths import project_root

    page = (project_root() / "docs" / "data-contract.md").read_text(encoding="utf-8")
    for contract in CONTRACTS.values():
        assert f"### {contract.name}" in page, contract.name
        for column in contract.columns:
            assert f"| {column.name} | {column.dtype} |" in page, f"{contract.name}.{column.name}"


def test_the_registry_config_table_names_and_run_data_fields_agree():
    import dataclasses

    from clc_lib.run import OPTIONAL_TABLES, SMALL_TABLES, RunData

    assert TABLE_NAMES == tuple(CONTRACTS)
    assert OPTIONAL_TABLES == tuple(name for name in CONTRACTS if name != "transactions")
    fields = {field.name: field for field in dataclasses.fields(RunData)}
    for name, contract in CONTRACTS.items():
        assert name in fields, f"RunData has no field for the table {name!r}"
        if name != "transactions":
            assert fields[name].default is None, f"RunData.{name} is optional: it defaults to None"
        # Small tables are pandas frames on the run; the others stay engine (Ibis) tables.
        assert ("pd.DataFrame" in str(fields[name].type)) == contract.small, name
    assert SMALL_TABLES == ("customers", "spend", "campaigns", "surveys")


def test_the_registry_says_how_each_table_is_treated():
    dated = {name: contract.date_column for name, contract in CONTRACTS.items()}
    assert dated == {"transactions": "timestamp", "customers": "first_seen", "spend": "period_start",
                     "events": "timestamp", "campaigns": "sent_at", "surveys": "responded_at"}
    # Customers are attributes: every row is kept whatever its first_seen.
    assert [name for name, c in CONTRACTS.items() if not c.excludes_after_as_of] == ["customers"]
    assert {name: tuple(c.value_checks) for name, c in CONTRACTS.items() if c.value_checks} == {
        "spend": ("spend",), "campaigns": ("group",), "surveys": ("score",)}
    from clc_lib.quality import VALUE_CHECKS

    assert VALUE_CHECKS["surveys"]["score"]["max"] == 10 and VALUE_CHECKS["spend"]["spend"]["min"] == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"date_column": "channel"}, "not a timestamp column"),
        ({"date_column": "when"}, "not a timestamp column"),
        ({"excludes_after_as_of": True}, "needs a date_column"),
        ({"value_checks": {"score": {"min": 0}}}, "unknown column 'score'"),
        ({"value_checks": {"channel": {"allowed": ("a",), "min": 0}}}, "either 'allowed' or 'min'/'max'"),
        ({"value_checks": {"channel": {"label": "any"}}}, "either 'allowed' or 'min'/'max'"),
    ],
)
def test_a_contract_entry_that_contradicts_its_columns_is_refused(extra, message):
    from clc_lib.contract import ColumnSpec, TableContract

    columns = (ColumnSpec("when_seen", "timestamp"), ColumnSpec("channel", "string"))
    with pytest.raises(ValueError, match=message):
        TableContract(name="visits", columns=columns, **extra)
