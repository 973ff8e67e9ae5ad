"""Loaders: every source kind, column mappings, format detection and the validation messages."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from clc_lib.config import RunConfig
from clc_lib.errors import ConfigError, DataError
from clc_lib.engines import connect
from clc_lib.files import atomic_write
from clc_lib.loading import load_table, read_transactions
from clc_lib.run import load_run

from conftest import import_required

MAPPING = {"customer_id": "Customer", "order_id": "Invoice", "timestamp": "Date", "amount": "Value"}
ROWS = [("00017", "I1", "2024-01-05", 12.5), ("00017", "I2", "2024-02-01", 7.25), ("0042", "I3", "2024-02-03", 100.0)]
FRAME = pd.DataFrame(ROWS, columns=["Customer", "Invoice", "Date", "Value"])


@pytest.fixture(scope="module")
def con():
    return connect(None)


def _write(folder: Path, name: str, text: str, encoding: str = "utf-8", bom: bool = False) -> Path:
    path = folder / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return path


def _csv(rows=ROWS, delimiter=",", header=("Customer", "Invoice", "Date", "Value")) -> str:
    lines = [delimiter.join(header)] if header else []
    lines += [delimiter.join(str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def _tx(con, spec: dict, **kwargs) -> pd.DataFrame:
    table = load_table(spec, con, **kwargs)
    return table.to_pandas().sort_values(["customer_id", "timestamp"]).reset_index(drop=True)


def _assert_reference(frame: pd.DataFrame) -> None:
    assert frame["customer_id"].tolist() == ["00017", "00017", "0042"]
    assert frame["order_id"].tolist() == ["I1", "I2", "I3"]
    assert frame["timestamp"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-01"),
                                           pd.Timestamp("2024-02-03")]
    assert frame["amount"].tolist() == [12.5, 7.25, 100.0]
    assert frame["amount"].dtype == "float64" and frame["is_return"].dtype == bool
    assert not frame["is_return"].any()


# --- sources -----------------------------------------------------------------------------------------


def test_csv_with_mapping_keeps_leading_zeros(tmp_path, con):
    path = _write(tmp_path, "tx.csv", _csv())
    frame = _tx(con, {"path": str(path), "columns": MAPPING})
    _assert_reference(frame)
    assert list(frame.columns) == ["customer_id", "order_id", "timestamp", "amount", "quantity", "is_return"]


def test_parquet_source(tmp_path, con):
    FRAME.to_parquet(tmp_path / "tx.parquet")
    _assert_reference(_tx(con, {"path": str(tmp_path / "tx.parquet"), "columns": MAPPING}))


def test_parquet_with_typed_columns(tmp_path, con):
    typed = FRAME.assign(Date=pd.to_datetime(FRAME["Date"]).dt.tz_localize("UTC"), Customer=[17, 17, 42])
    typed.to_parquet(tmp_path / "typed.parquet")
    frame = _tx(con, {"path": str(tmp_path / "typed.parquet"), "columns": MAPPING})
    # Numeric ids lose their zeros in the source already; they still come back as text without ".0".
    assert frame["customer_id"].tolist() == ["17", "17", "42"]
    assert frame["timestamp"].tolist()[0] == pd.Timestamp("2024-01-05")


def test_glob_of_csv_files(tmp_path, con):
    _write(tmp_path, "tx_2024_01.csv", _csv(ROWS[:1]))
    _write(tmp_path, "tx_2024_02.csv", _csv(ROWS[1:]))
    _assert_reference(_tx(con, {"path": str(tmp_path / "tx_*.csv"), "columns": MAPPING}))


def test_glob_of_parquet_files(tmp_path, con):
    FRAME.iloc[:2].to_parquet(tmp_path / "part-1.parquet")
    FRAME.iloc[2:].to_parquet(tmp_path / "part-2.parquet")
    _assert_reference(_tx(con, {"path": str(tmp_path / "part-*.parquet"), "columns": MAPPING}))


def test_dataframe_source(con):
    _assert_reference(_tx(con, {"data": FRAME, "columns": MAPPING}))


def test_dataframe_directly_in_a_run_config():
    run = load_run({"transactions": FRAME.rename(columns={"Customer": "customer_id", "Invoice": "order_id",
                                                          "Date": "timestamp", "Value": "amount"})})
    assert run.transactions.count().to_pyarrow().as_py() == 3


@pytest.fixture()
def duckdb_file(tmp_path) -> Path:
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("CREATE TABLE orders (Customer VARCHAR, Invoice VARCHAR, Date DATE, Value DOUBLE)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", [list(r) for r in ROWS])
        db.execute("CREATE TABLE other (x INTEGER)")
    return path


def test_duckdb_table(duckdb_file, tmp_path):
    config = {"transactions": {"connection": "duckdb:///shop.duckdb", "table": "orders", "columns": MAPPING}}
    run = load_run(RunConfig.from_dict(config, base_dir=tmp_path))
    frame = run.transactions.to_pandas().sort_values("timestamp").reset_index(drop=True)
    _assert_reference(frame)


def test_duckdb_sql_query(duckdb_file, tmp_path):
    config = {"transactions": {"connection": "duckdb:///shop.duckdb", "columns": MAPPING,
                               "sql": "SELECT * FROM orders WHERE Value < 50"}}
    run = load_run(RunConfig.from_dict(config, base_dir=tmp_path))
    assert sorted(run.transactions.to_pandas()["amount"]) == [7.25, 12.5]
    assert run.quality["transactions"].source == "SQL query in duckdb:///shop.duckdb"


def test_database_url_takes_its_path_from_the_environment(duckdb_file, tmp_path, monkeypatch):
    monkeypatch.setenv("CLC_TEST_DB", str(duckdb_file))
    config = {"transactions": {"connection": "duckdb://${CLC_TEST_DB}", "table": "orders", "columns": MAPPING}}
    run = load_run(RunConfig.from_dict(config, base_dir=tmp_path / "elsewhere"))
    assert run.quality["transactions"].rows_out == 3
    assert "${CLC_TEST_DB}" in run.quality["transactions"].source  # the expanded value is never shown


def test_missing_database_table_lists_the_tables(duckdb_file, tmp_path):
    config = {"transactions": {"connection": "duckdb:///shop.duckdb", "table": "order", "columns": MAPPING}}
    with pytest.raises(DataError, match=r"no table 'order'") as info:
        load_run(RunConfig.from_dict(config, base_dir=tmp_path))
    assert "Did you mean 'orders'" in str(info.value) and "other" in str(info.value)


def test_bad_sql_query_is_reported(duckdb_file, tmp_path):
    config = {"transactions": {"connection": "duckdb:///shop.duckdb", "sql": "SELECT * FROM nope"}}
    with pytest.raises(DataError, match="The SQL query of 'transactions' failed"):
        load_run(RunConfig.from_dict(config, base_dir=tmp_path))


def test_any_ibis_backend_by_url(tmp_path):
    sqlite3 = import_required("sqlite3", "Python's standard library")
    import_required("ibis.backends.sqlite", "ibis-framework")
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (Customer TEXT, Invoice TEXT, Date TEXT, Value REAL)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", ROWS)
    config = {"transactions": {"connection": f"sqlite://{path}", "table": "orders", "columns": MAPPING}}
    run = load_run(config)
    _assert_reference(run.transactions.to_pandas().sort_values("timestamp").reset_index(drop=True))


# --- mapping -----------------------------------------------------------------------------------------


def test_unmapped_columns_match_by_name_ignoring_case_and_underscores(con):
    frame = pd.DataFrame({"CustomerID": ["7"], "Order ID": ["A"], "TimeStamp": ["2024-03-01 10:30:00"],
                          "AMOUNT": ["3.5"], "Channel": [" web "], "unused": [1]})
    out = _tx(con, {"data": frame})
    row = out.iloc[0]
    assert list(out.columns) == ["customer_id", "order_id", "timestamp", "amount", "quantity", "is_return", "channel"]
    assert (row.customer_id, row.order_id, row.timestamp, row.amount, row.channel) == (
        "7", "A", pd.Timestamp("2024-03-01 10:30"), 3.5, "web")
    assert pd.isna(row.quantity) and not row.is_return


def test_amount_from_quantity_times_unit_price(con):
    frame = pd.DataFrame({"customer_id": ["1", "1", "2"], "order_id": ["A", "B", "D"],
                          "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03"],
                          "Qty": ["3", "-2", "4"], "Price": ["2,50", "1,25", "0,10"]})
    out = _tx(con, {"data": frame, "columns": {"quantity": "Qty", "unit_price": "Price"}})
    assert out["amount"].tolist() == pytest.approx([7.5, -2.5, 0.4])
    assert out["quantity"].tolist() == [3.0, -2.0, 4.0]
    assert out["is_return"].tolist() == [False, True, False]


def test_whitespace_and_leading_zeros_in_ids(tmp_path, con):
    path = _write(tmp_path, "tx.csv", "Customer,Invoice,Date,Value\n  00017 , I1 ,2024-01-05, 12.5 \n")
    out = _tx(con, {"path": str(path), "columns": MAPPING})
    assert out[["customer_id", "order_id", "amount"]].values.tolist() == [["00017", "I1", 12.5]]


def test_surrogate_order_id_without_order_column(con):
    frame = pd.DataFrame({"customer_id": ["1", "1", "1"], "timestamp": ["2024-01-01 09:00", "2024-01-01 09:00",
                                                                        "2024-01-01 17:30"], "amount": [1.0, 2.0, 3.0]})
    table, quality = load_table({"data": frame}, con, return_report=True)
    out = table.to_pandas().sort_values("amount")
    assert out["order_id"].tolist() == ["1|2024-01-01T09:00:00", "1|2024-01-01T09:00:00", "1|2024-01-01T17:30:00"]
    assert any("order_id not mapped" in note for note in quality.notes)


def test_read_transactions_convenience(tmp_path, con):
    path = _write(tmp_path, "tx.txt", "Customer|Invoice|Date|Value\n00017|I1|05/01/2024|12.5\n")
    out = read_transactions(path, MAPPING, con=con, dayfirst=True).to_pandas()
    assert out["timestamp"].tolist() == [pd.Timestamp("2024-01-05")]


# --- format detection --------------------------------------------------------------------------------


def test_semicolon_decimal_comma_thousands_and_latin1(tmp_path, con):
    text = "Kunde;Rechnung;Datum;Betrag;Straße\n00017;R1;05.01.2024;1.234,50;Hauptstraße\n0042;R2;06.01.2024;-0,75;Gärten\n"
    path = _write(tmp_path, "export.csv", text, encoding="latin-1")
    table, quality = load_table({"path": str(path), "columns": {"customer_id": "Kunde", "order_id": "Rechnung",
                                                                "timestamp": "Datum", "amount": "Betrag"}},
                                con, return_report=True)
    out = table.to_pandas().sort_values("customer_id")
    assert out["amount"].tolist() == [1234.5, -0.75]
    assert out["timestamp"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-01-06")]
    assert {"encoding detected as latin-1", "delimiter detected as ';'"} <= set(quality.notes)


def test_windows_1252_euro_sign_is_transcoded(tmp_path, con, monkeypatch):
    monkeypatch.setenv("CLC_PROJECT_ROOT", str(tmp_path))
    text = "customer_id\torder_id\ttimestamp\tamount\tcategory\n1\tA\t2024-01-01\t5.00\tPrix €\n"
    path = _write(tmp_path, "tx.tsv", text, encoding="cp1252")
    out = _tx(con, {"path": str(path)})
    assert out["category"].tolist() == ["Prix €"]
    assert not any((tmp_path / "tx.tsv").read_bytes().startswith(b) for b in (b"\xef\xbb\xbf",))  # raw untouched
    assert list((tmp_path / "data" / "processed" / "transcoded").glob("tx.*.utf8.tsv"))


def test_utf8_bom_does_not_leak_into_the_first_column(tmp_path, con):
    path = _write(tmp_path, "bom.csv", _csv(), bom=True)
    _assert_reference(_tx(con, {"path": str(path), "columns": MAPPING}))


def test_configured_csv_options_override_detection(tmp_path, con):
    text = "skip me\nCustomer;Invoice;Date;Value\n00017;I1;2024/01/05;12,5\n"
    path = _write(tmp_path, "tx.csv", text)
    spec = {"path": str(path), "columns": MAPPING,
            "csv": {"delimiter": ";", "decimal": ",", "date_format": "%Y/%m/%d", "skip_rows": 1}}
    out = _tx(con, spec)
    assert out[["customer_id", "amount"]].values.tolist() == [["00017", 12.5]]


def test_ambiguous_day_month_order_is_noted(tmp_path, con):
    path = _write(tmp_path, "tx.csv", _csv([("1", "A", "03/04/2024", 1.0)]))
    table, quality = load_table({"path": str(path), "columns": MAPPING}, con, return_report=True)
    assert table.to_pandas()["timestamp"].tolist() == [pd.Timestamp("2024-03-04")]
    assert any("ambiguous" in note for note in quality.notes)
    dayfirst = _tx(con, {"path": str(path), "columns": MAPPING, "csv": {"dayfirst": True}})
    assert dayfirst["timestamp"].tolist() == [pd.Timestamp("2024-04-03")]


def test_whitespace_separated_file_without_header(tmp_path, con):
    path = _write(tmp_path, "tx.txt", " 00017 20240105  1   12.50\r\n 00042 20240203  3  100.00\r\n")
    spec = {"path": str(path), "csv": {"header": False, "names": ["customer_id", "date", "n", "value"]},
            "columns": {"timestamp": "date", "quantity": "n", "amount": "value"}}
    out = _tx(con, spec)
    assert out[["customer_id", "quantity", "amount"]].values.tolist() == [["00017", 1.0, 12.5], ["00042", 3.0, 100.0]]
    assert out["timestamp"].tolist() == [pd.Timestamp("2024-01-05"), pd.Timestamp("2024-02-03")]


def test_whitespace_file_with_a_wrong_number_of_fields(tmp_path, con):
    path = _write(tmp_path, "tx.txt", "customer_id timestamp amount\n1 2024-01-01 5\n2 2024-01-02\n")
    with pytest.raises(DataError, match="do not have 3 whitespace-separated fields") as info:
        load_table({"path": str(path)}, con)
    assert info.value.examples == [(2, "wrong number of fields")]


def test_european_number_formats_round_trip(con):
    rng = np.random.default_rng(7)
    values = np.round(rng.uniform(-50_000, 50_000, size=400), 2)
    # Written the German way: 1.234.567,89 (thousands '.', decimal ',').
    texts = [f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".") for v in values]
    frame = pd.DataFrame({"customer_id": [f"{i:05d}" for i in range(400)], "order_id": [f"A{i}" for i in range(400)],
                          "timestamp": "2024-01-01", "amount": texts})
    out = load_table({"data": frame}, con, quality={"returns": "keep"}).to_pandas().sort_values("customer_id")
    assert np.array_equal(out["amount"].to_numpy(), values)


def test_malformed_csv_line_is_reported_with_its_line_number(tmp_path, con):
    path = _write(tmp_path, "tx.csv", "customer_id,timestamp,amount\n1,2024-01-01,5\n2,2024-01-02,6,7\n")
    with pytest.raises(DataError, match=r"CSV Error on Line: 3.*Expected Number of Columns: 3 Found: 4"):
        load_table({"path": str(path)}, con)


# --- validation messages -----------------------------------------------------------------------------


def test_missing_required_column_suggests_the_closest(tmp_path, con):
    path = _write(tmp_path, "tx.csv", "customer,order_id,timestamp,amount\n1,A,2024-01-01,5\n")
    with pytest.raises(DataError) as info:
        load_table({"path": str(path)}, con)
    message = str(info.value)
    assert "has no column for the required 'customer_id'" in message
    assert "The closest is 'customer'" in message and "{customer_id: customer}" in message
    assert "Columns in the source: customer, order_id, timestamp, amount" in message
    assert str(path) in message


def test_mapping_to_a_column_not_in_the_file(tmp_path, con):
    path = _write(tmp_path, "tx.csv", _csv())
    with pytest.raises(DataError) as info:
        load_table({"path": str(path), "columns": {**MAPPING, "amount": "Valu"}}, con)
    assert "names 'Valu' for 'amount', but the source has no such column" in str(info.value)
    assert "Did you mean 'Value'?" in str(info.value)
    assert info.value.column == "Valu"


def test_mapping_to_an_unknown_contract_column(tmp_path, con):
    path = _write(tmp_path, "tx.csv", _csv())
    with pytest.raises(ConfigError, match=r"maps 'custmer_id'.*Did you mean 'customer_id'"):
        load_table({"path": str(path), "columns": {"custmer_id": "Customer"}}, con)


def test_unparseable_dates_name_rows_and_values(tmp_path, con):
    rows = [("1", "A", "2024-01-01", 1), ("2", "B", "2024-13-45", 2), ("3", "C", "2024-01-03", 3), ("4", "D", "soon", 4)]
    path = _write(tmp_path, "tx.csv", _csv(rows))
    with pytest.raises(DataError) as info:
        load_table({"path": str(path), "columns": MAPPING}, con)
    error = info.value
    assert error.n_rows == 2 and error.column == "Date" and error.source == str(path)
    assert error.examples == [(2, "2024-13-45"), (4, "soon")]
    assert "2 values of 'timestamp' are not valid dates" in str(error)
    assert "date_format" in str(error) and "unparseable_values: drop" in str(error)


def test_unparseable_amounts_name_rows_and_values(tmp_path, con):
    rows = [("1", "A", "2024-01-01", "1.5"), ("2", "B", "2024-01-02", "12 EUR")]
    path = _write(tmp_path, "tx.csv", _csv(rows))
    with pytest.raises(DataError, match="1 values of 'amount' are not valid numbers") as info:
        load_table({"path": str(path), "columns": MAPPING}, con)
    assert info.value.examples == [(2, "12 EUR")] and info.value.column == "Value"


def test_bad_values_in_a_glob_name_the_file(tmp_path, con):
    _write(tmp_path, "a.csv", _csv(ROWS))
    _write(tmp_path, "b.csv", _csv([("9", "Z", "2024-01-09", 1), ("9", "Y", "bad", 2)]))
    with pytest.raises(DataError) as info:
        load_table({"path": str(tmp_path / "*.csv"), "columns": MAPPING}, con)
    assert info.value.examples == [("2 of b.csv", "bad")]


def test_empty_values_of_required_columns(tmp_path, con):
    path = _write(tmp_path, "tx.csv", "Customer,Invoice,Date,Value\n1,A,2024-01-01,\n")
    with pytest.raises(DataError, match="1 rows have no value for the required 'amount'"):
        load_table({"path": str(path), "columns": MAPPING}, con)


@pytest.mark.parametrize("text", ["Customer,Invoice,Date,Value\n", ""])
def test_empty_table(tmp_path, con, text):
    path = _write(tmp_path, "tx.csv", text)
    with pytest.raises(DataError, match=r"(no data rows|is empty)") as info:
        load_table({"path": str(path), "columns": MAPPING}, con)
    assert info.value.n_rows == 0


def test_missing_file_suggests_a_sibling(tmp_path, con):
    _write(tmp_path, "transactions.csv", _csv())
    with pytest.raises(DataError, match="does not exist") as info:
        load_table({"path": str(tmp_path / "transaction.csv")}, con)
    assert "Did you mean 'transactions.csv'?" in str(info.value)


def test_glob_without_matches(tmp_path, con):
    with pytest.raises(DataError, match="No file matches"):
        load_table({"path": str(tmp_path / "nothing_*.csv")}, con)


def test_unknown_csv_option(tmp_path, con):
    path = _write(tmp_path, "tx.csv", _csv())
    with pytest.raises(ConfigError, match=r"Unknown option 'delimeter'.*Did you mean 'delimiter'"):
        load_table({"path": str(path), "csv": {"delimeter": ";"}}, con)


def test_engine_options_reach_duckdb(tmp_path):
    engine = connect({"engine": {"threads": 1, "memory_limit": "512MB", "temp_directory": str(tmp_path / "spill")},
                      "transactions": "tx.csv"})
    threads, memory, spill = engine.raw_sql("SELECT current_setting('threads'), current_setting('memory_limit'), "
                                            "current_setting('temp_directory')").fetchone()
    assert threads == 1 and spill == str(tmp_path / "spill")
    assert memory == "488.2 MiB"  # 512 MB (decimal) as DuckDB shows it


def test_unknown_engine_option(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown option 'memory'"):
        connect({"engine": {"memory": "1GB"}, "transactions": "tx.csv"})


# --- load_run ----------------------------------------------------------------------------------------


def _shop(tmp_path: Path) -> Path:
    """A run folder with all six tables (hand-made, tiny)."""
    _write(tmp_path, "tx.csv", _csv(ROWS + [("0042", "I4", "2024-03-10", 5.0)]))
    _write(tmp_path, "customers.csv", "customer_id,first_seen,acquisition_channel,country\n"
                                      "00017,2024-01-01,search,DE\n0042,2024-02-01,social,FR\n")
    _write(tmp_path, "spend.csv", "period_start,channel,spend\n2024-01-01,search,100\n2024-02-01,social,50.5\n")
    _write(tmp_path, "events.csv", "person_id,customer_id,timestamp,event_type,channel\n"
                                   "v1,,2024-01-01 10:00,visit,search\n00017,00017,2024-01-04 11:00,signup,search\n"
                                   "00017,00017,2024-03-20 09:00,email_open,email\n")
    _write(tmp_path, "campaigns.csv", "customer_id,campaign_id,sent_at,group,campaign_type\n"
                                      "00017,W1,2024-02-10,Treatment,win_back\n0042,W1,2024-02-10,control,win_back\n")
    _write(tmp_path, "surveys.csv", "customer_id,responded_at,score,reason,comment\n00017,2024-02-15,9,price,ok\n")
    config = ("name: shop\ncurrency: EUR\nperiod: W\n"
              "transactions: {path: tx.csv, columns: {customer_id: Customer, order_id: Invoice, "
              "timestamp: Date, amount: Value}}\n"
              "customers: customers.csv\nspend: spend.csv\nevents: events.csv\ncampaigns: campaigns.csv\n"
              "surveys: surveys.csv\n")
    return _write(tmp_path, "run.yaml", config)


def test_load_run_with_every_table(tmp_path):
    run = load_run(_shop(tmp_path))
    assert run.as_of == pd.Timestamp("2024-03-10")  # the date of the last transaction
    assert (run.currency, run.period) == ("EUR", "W")
    assert run.transactions.count().to_pyarrow().as_py() == 4
    assert run.customers["customer_id"].tolist() == ["00017", "0042"]
    assert run.customers["country"].tolist() == ["DE", "FR"]  # unmapped attributes are kept
    assert run.spend["spend"].tolist() == [100.0, 50.5]
    assert run.campaigns["group"].tolist() == ["treatment", "control"]
    assert run.surveys["score"].tolist() == [9.0]
    events = run.events.to_pandas()
    assert len(events) == 2 and events["customer_id"].isna().sum() == 1  # anonymous visit kept
    assert run.quality["events"].rule("after_as_of").rows == 1
    assert set(run.quality.tables) == {"transactions", "customers", "spend", "events", "campaigns", "surveys"}
    assert "RunData('shop', as_of=2024-03-10, 4 transactions, 2 customers" in repr(run)


def test_as_of_argument_overrides_the_config_and_excludes_later_rows(tmp_path):
    run = load_run(_shop(tmp_path), as_of="2024-02-01")
    quality = run.quality["transactions"]
    assert run.as_of == pd.Timestamp("2024-02-01")
    # The whole as_of day is included: 2024-02-01 stays, 02-03 and 03-10 go.
    assert quality.rule("after_as_of").rows == 2 and quality.rows_out == 2
    assert quality.last_timestamp == pd.Timestamp("2024-02-01")


def test_as_of_from_the_config(tmp_path):
    path = _shop(tmp_path)
    path.write_text(path.read_text() + "as_of: 2024-02-03\n")
    assert load_run(path).quality["transactions"].rows_out == 3
    with pytest.raises(ConfigError, match="as_of is 'yesterday'"):
        load_run(path, as_of="yesterday")


def test_campaign_groups_are_checked(tmp_path, con):
    path = _write(tmp_path, "campaigns.csv", "customer_id,campaign_id,sent_at,group\n1,W,2024-01-01,test\n"
                                             "2,W,2024-01-01,control\n3,W,2024-01-01,holdout\n")
    with pytest.raises(DataError, match=r"2 rows of 'campaigns' have a 'group' outside \{treatment, control\}") as info:
        load_table({"path": str(path)}, con, table="campaigns")
    assert info.value.examples == [(1, "test"), (3, "holdout")]


def test_survey_scores_are_checked(tmp_path, con):
    path = _write(tmp_path, "surveys.csv", "customer_id,responded_at,score\n1,2024-01-01,7\n2,2024-01-02,11\n")
    with pytest.raises(DataError, match=r"1 rows of 'surveys' have a 'score' outside 0-10") as info:
        load_table({"path": str(path)}, con, table="surveys")
    assert info.value.examples == [(2, "11.0")]


def test_optional_table_missing_column_and_bad_date(tmp_path, con):
    path = _write(tmp_path, "spend.csv", "period,channel,spend\n2024-01-01,search,1\n")
    with pytest.raises(DataError, match="has no column for the required 'period_start'"):
        load_table({"path": str(path)}, con, table="spend")
    _write(tmp_path, "spend.csv", "period_start,channel,spend\n2024-01-01,search,1\nJan,search,2\n")
    with pytest.raises(DataError, match="1 values of 'period_start' are not valid dates") as info:
        load_table({"path": str(path)}, con, table="spend")
    assert info.value.examples == [(2, "Jan")]


def test_optional_table_missing_id(tmp_path, con):
    path = _write(tmp_path, "customers.csv", "customer_id,first_seen\n1,2024-01-01\n,2024-01-02\n")
    with pytest.raises(DataError, match="1 rows have no value for the required 'customer_id'") as info:
        load_table({"path": str(path)}, con, table="customers")
    assert info.value.examples == [(2, None)]


def test_materialize_writes_parquet_atomically_under_processed(tmp_path, monkeypatch):
    monkeypatch.setenv("CLC_PROJECT_ROOT", str(tmp_path / "project"))
    path = _shop(tmp_path)
    path.write_text(path.read_text() + "engine: {materialize: true, threads: 1, memory_limit: 1GB}\n")
    run = load_run(path)
    target = tmp_path / "project" / "data" / "processed" / "shop" / "transactions.parquet"
    assert pd.read_parquet(target)["customer_id"].tolist().count("0042") == 2
    assert run.transactions.count().to_pyarrow().as_py() == 4
    assert [p.name for p in target.parent.iterdir()] == ["transactions.parquet"]  # no temp files left


def test_raw_files_are_not_modified(tmp_path):
    path = _shop(tmp_path)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("*.csv")}
    load_run(path)
    assert before == {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.glob("*.csv")}


@pytest.mark.slow
def test_load_run_none_loads_the_demo_with_the_counts_of_its_raw_files(demo_config_file):
    """``load_run(None)`` against a pandas read of the same raw files and the loader's documented rules."""
    import yaml

    from clc_lib.paths import demo_config_path

    assert demo_config_path() == demo_config_file
    config = yaml.safe_load(demo_config_file.read_text(encoding="utf-8"))
    folder = demo_config_file.parent
    columns = config["transactions"]["columns"]
    raw = pd.read_parquet(folder / config["transactions"]["path"])
    customer = raw[columns["customer_id"]].astype(str)
    quantity = raw[columns["quantity"]].astype(float)
    amount = quantity * raw[columns["unit_price"]].astype(float)
    timestamp = pd.to_datetime(raw[columns["timestamp"]])
    is_return = (amount < 0) | (quantity < 0) | raw[columns["order_id"]].astype(str).str.startswith("C")
    after_as_of = timestamp >= pd.Timestamp(config["as_of"]) + pd.Timedelta(days=1)
    duplicate = pd.Series(False, index=raw.index)
    duplicate[~after_as_of] = raw[~after_as_of].duplicated(subset=list(columns.values()))
    kept = ~after_as_of & ~duplicate
    assert is_return.sum() > 0 and customer.str.startswith("0").any()  # the comparisons below mean something

    run = load_run(None)
    assert run.as_of == pd.Timestamp(config["as_of"])
    quality = run.quality["transactions"]
    assert quality.rows_in == len(raw)
    assert quality.rule("after_as_of").rows == after_as_of.sum()
    assert quality.rule("duplicate_rows").rows == duplicate.sum()
    assert quality.rule("returns").rows == (is_return & kept).sum()
    assert quality.rule("returns").amount == pytest.approx(amount[is_return & kept].sum(), abs=0.005)
    assert quality.rule("zero_amount").rows == ((amount == 0) & kept).sum()
    assert quality.rows_out == kept.sum()
    assert quality.customers == customer[kept].nunique()
    assert quality.amount_in == pytest.approx(amount.sum(), abs=0.005)
    assert quality.amount_out == pytest.approx(amount[kept].sum(), abs=0.005)
    assert (quality.first_timestamp, quality.last_timestamp) == (timestamp[kept].min(), timestamp[kept].max())

    loaded = run.transactions.to_pandas()
    assert len(loaded) == kept.sum() and int(loaded["is_return"].sum()) == (is_return & kept).sum()
    assert set(loaded["customer_id"]) == set(customer[kept])  # ids stay text with their leading zeros
    per_customer = loaded.groupby("customer_id")["amount"].sum().sort_index()
    expected_per_customer = amount[kept].groupby(customer[kept]).sum().sort_index()
    pd.testing.assert_series_equal(per_customer, expected_per_customer, check_names=False, rtol=1e-12)

    for table, id_column in (("customers", "customer_id"), ("events", "customer_id"),
                             ("campaigns", "customer_id"), ("surveys", "customer_id"), ("spend", None)):
        path = folder / config[table]["path"]
        source = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
        table_quality = run.quality[table]
        assert table_quality.rows_in == table_quality.rows_out == len(source), table
        if id_column is not None:
            ids = source[config[table]["columns"][id_column]].dropna().astype(str)
            assert table_quality.customers == ids.nunique(), table


# --- run cache ------------------------------------------------------------------------------------


def test_run_cache_gives_the_same_run_and_is_ignored_for_another_config(tmp_path, monkeypatch):
    from clc_lib import handoff
    from clc_lib.run import save_run_cache
    from clc_lib.summary import customer_summary

    data = tmp_path / "data"
    data.mkdir()
    pd.DataFrame({
        "customer_id": ["007", "007", "008", "009"], "order_id": ["1", "2", "3", "4"],
        "timestamp": ["2024-01-02", "2024-02-03", "2024-01-05", "2024-03-01"],
        "amount": ["10.5", "-2", "7", "3.25"],
    }).to_csv(data / "tx.csv", index=False)
    pd.DataFrame({"customer_id": ["007", "008"], "first_seen": ["2023-12-30", "2024-01-04"],
                  "acquisition_channel": ["search", "email"]}).to_csv(data / "customers.csv", index=False)
    config = tmp_path / "run.yaml"
    config.write_text("name: cached\ncurrency: EUR\ntransactions: {path: data/tx.csv}\n"
                      "customers: {path: data/customers.csv}\n")
    fresh = load_run(config, as_of="2024-02-29")
    assert save_run_cache(fresh, tmp_path / "cache", config=config, as_of="2024-02-29")

    import clc_lib.run as io_module

    monkeypatch.setattr(handoff, "_settings", handoff._NotebookSettings())
    handoff.apply_notebook_parameters(run_cache=tmp_path / "cache")
    original_load = io_module.load_transactions

    def sources_must_not_be_read(*args, **kwargs):
        raise AssertionError("the sources were read although the cache matches")

    monkeypatch.setattr(io_module, "load_transactions", sources_must_not_be_read)
    cached = load_run(str(config), as_of="2024-02-29")
    monkeypatch.setattr(io_module, "load_transactions", original_load)
    pd.testing.assert_frame_equal(customer_summary(cached.transactions, cached.as_of),
                                  customer_summary(fresh.transactions, fresh.as_of))
    pd.testing.assert_frame_equal(cached.customers, fresh.customers)
    pd.testing.assert_frame_equal(cached.quality.to_frame(), fresh.quality.to_frame())
    assert cached.as_of == fresh.as_of == pd.Timestamp("2024-02-29")
    assert cached.transactions.count().execute() == 3  # 2024-03-01 is after as_of

    # Another as_of or an edited config is loaded from the sources again.
    later = load_run(config, as_of="2024-03-31")
    assert later.transactions.count().execute() == 4
    config.write_text(config.read_text() + "period: W\n")
    assert load_run(config, as_of="2024-02-29").period == "W"


def test_run_results_are_computed_once_and_shared_through_the_run_cache(tmp_path, monkeypatch):
    from clc_lib import handoff
    from clc_lib.run import save_run_cache
    from clc_lib.stages import classify_stages, derive_stage_rules
    from clc_lib.summary import customer_summary

    config = tmp_path / "run.yaml"
    pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "c", "c"], "order_id": ["1", "2", "3", "4", "5", "6"],
        "timestamp": ["2024-01-02", "2024-02-03", "2024-01-05", "2024-01-01", "2024-02-01", "2024-03-01"],
        "amount": ["10", "20", "7", "3", "4", "5"],
    }).to_csv(tmp_path / "tx.csv", index=False)
    config.write_text("name: shared\ntransactions: {path: tx.csv}\n")
    run = load_run(config)
    calls = []
    summary = run.result("probe", lambda: calls.append(1) or pd.DataFrame({"v": [1]}))
    summary.loc[0, "v"] = 99  # the caller's copy; the kept result does not change
    assert run.result("probe", lambda: calls.append(1)).loc[0, "v"] == 1 and calls == [1]

    # The run's own results equal the functions' results.
    pd.testing.assert_frame_equal(run.summary(), customer_summary(run.transactions, run.as_of))
    assert run.stage_rules() == derive_stage_rules(run.transactions, run.as_of)
    pd.testing.assert_frame_equal(run.stages(), classify_stages(run.transactions, run.as_of))

    # Written with the cache (those computed before and after it), read back by every later load.
    assert save_run_cache(run, tmp_path / "cache", config=config)
    run.result("after_saving", lambda: "late")
    assert {p.name for p in (tmp_path / "cache" / "results").iterdir()} == {
        "probe.pickle", "summary_W.pickle", "stage_rules.pickle", "stages.pickle", "after_saving.pickle"}
    monkeypatch.setattr(handoff, "_settings", handoff._NotebookSettings())
    handoff.apply_notebook_parameters(run_cache=tmp_path / "cache")
    cached = load_run(str(config))
    must_not_run = lambda: pytest.fail("computed again although the cache holds it")  # noqa: E731
    assert cached.result("after_saving", must_not_run) == "late"
    pd.testing.assert_frame_equal(cached.result("summary_W", must_not_run), run.summary())
    pd.testing.assert_frame_equal(cached.stages(), run.stages())
    changed = cached.summary()
    changed["x"] = -1  # a reader's copy: the next reader still gets the stored frame
    pd.testing.assert_frame_equal(cached.summary(), run.summary())
    assert cached._results == {}  # read from the cache on every call, nothing kept in the kernel


# --- atomic_write ------------------------------------------------------------------------------------


def test_atomic_write_replaces_the_target(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert os.listdir(target.parent) == ["out.txt"]


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


# --- CDNOW (Fader & Hardie 2001; see ../shared/data/cdnow/README.md) --------------------------------


CDNOW_MAPPING = {"customer_id": "customer_id", "timestamp": "date", "quantity": "number_of_cds",
                 "amount": "dollar_value"}


def test_cdnow_master_file(cdnow_dir):
    config = {"transactions": {"path": str(cdnow_dir / "CDNOW_master.txt"), "columns": CDNOW_MAPPING,
                               "csv": {"date_format": "%Y%m%d"}}}
    run = load_run(config)
    quality = run.quality["transactions"]
    assert quality.rows_in == quality.rows_out == 69_659
    assert quality.customers == 23_570
    assert quality.amount_out == pytest.approx(2_500_315.63, abs=0.005)
    assert quality.rule("zero_amount").rows == 80  # kept: zero-value purchases are purchases
    assert (quality.rule("duplicate_rows").rows, quality.rule("duplicate_rows").action) == (255, "keep")
    assert (quality.first_timestamp, quality.last_timestamp) == (pd.Timestamp("1997-01-01"), pd.Timestamp("1998-06-30"))
    assert run.as_of == pd.Timestamp("1998-06-30")
    first = run.transactions.filter(run.transactions.customer_id == "00001").to_pandas()
    assert first[["customer_id", "amount", "quantity"]].values.tolist() == [["00001", 11.77, 1.0]]


def test_cdnow_sample_file_without_header(cdnow_dir):
    names = ["customer_id", "sample_id", "date", "number_of_cds", "dollar_value"]
    config = {"transactions": {"path": str(cdnow_dir / "CDNOW_sample.txt"), "columns": CDNOW_MAPPING,
                               "csv": {"header": False, "names": names}}}
    quality = load_run(config).quality["transactions"]
    assert quality.rows_out == 6_919 and quality.customers == 2_357
