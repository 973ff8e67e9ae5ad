"""The engine abstraction (clc_lib.engines) on the embedded DuckDB and without a server.

Spark and PostgreSQL equivalence: tests/test_engines_spark.py and tests/test_engines_postgres.py.
"""

from __future__ import annotations

import re
from datetime import datetime

import ibis
import pandas as pd
import pytest

from clc_lib.engines import (
    DuckDBEngine,
    Engine,
    cache_table,
    connect,
    engine_description,
    engine_for,
    engine_of,
    strptime_shape,
    strptime_to_java,
    strptime_to_postgres,
)
from clc_lib.errors import ConfigError, DataError
from clc_lib.run import load_run
from clc_lib.settings import engine_settings


@pytest.fixture()
def con():
    return connect(None)


@pytest.mark.parametrize(("fmt", "java", "postgres"), [
    ("%Y%m%d", "yyyyMMdd", "YYYYMMDD"),
    ("%d.%m.%Y %H:%M", "d.M.yyyy H:m", "DD.MM.YYYY HH24:MI"),
    ("%m/%d/%y", "M/d/yy", "MM/DD/YY"),
    ("%Y-%m-%dT%H:%M:%S", "yyyy-M-d'T'H:m:s", 'YYYY-MM-DD"T"HH24:MI:SS'),
    ("%Y%m%d%H%M%S", "yyyyMMddHHmmss", "YYYYMMDDHH24MISS"),
])
def test_strptime_formats_translate_to_spark_and_postgres_patterns(fmt, java, postgres):
    assert strptime_to_java(fmt) == java
    assert strptime_to_postgres(fmt) == postgres


@pytest.mark.parametrize("fmt", ["%Y%m%d", "%d.%m.%Y %H:%M", "%m/%d/%y", "%Y-%m-%dT%H:%M:%S"])
@pytest.mark.parametrize("text", ["19970101", "1.2.1997 10:05", "01.02.1997 10:05", "3/4/97", "1997-01-02T03:04:05",
                                  "1997013x", "1997-01-02", " 19970101"])
def test_shape_check_accepts_what_strptime_accepts(fmt, text):
    """The shape regex never refuses text that Python's strptime reads (it may accept impossible dates,
    which the engines' own parsers then reject)."""
    try:
        datetime.strptime(text, fmt)
        parses = True
    except ValueError:
        parses = False
    if parses:
        assert re.match(strptime_shape(fmt), text)
    if not re.match(strptime_shape(fmt), text):
        assert not parses


def test_unsupported_directive_is_a_config_error():
    with pytest.raises(ConfigError, match="%j"):
        strptime_to_java("%Y-%j")


def test_one_engine_per_connection_object(con):
    other = connect(None)
    assert isinstance(engine_for(con), DuckDBEngine)
    assert engine_for(con) is engine_for(con)
    assert engine_for(other) is not engine_for(con)  # two sessions, two sets of temporary tables
    assert engine_for(other).con is other


def test_engine_of_an_expression_and_description(con):
    table = con.create_table("t", pd.DataFrame({"a": [1, 2]}), temp=True)
    assert engine_of(table.a).con is con
    description = engine_description(con)
    assert description == f"DuckDB {con.version} (embedded)"
    assert engine_description(table) == description
    assert isinstance(engine_of(ibis.memtable({"a": [1]}).a), DuckDBEngine)  # unbound: the default DuckDB


def test_cache_table_stores_an_expression_that_reads_an_in_memory_table(con):
    lines = con.create_table("lines_for_cache", pd.DataFrame({"customer_id": ["a", "b"], "amount": [1.0, 2.0]}),
                             temp=True)
    labels = ibis.memtable(pd.DataFrame({"customer_id": ["a", "b"], "label": ["x", "y"]}))
    joined = lines.inner_join(labels, "customer_id").select("customer_id", "amount", "label")
    cached = cache_table(joined)
    assert cached.op().name.startswith("clc_cached") and cached._find_backend() is con
    assert cached.order_by("customer_id").to_pandas()["label"].tolist() == ["x", "y"]


def test_duckdb_cache_is_a_temporary_table_that_drop_removes(con):
    engine = engine_for(con)
    source = con.create_table("lines", pd.DataFrame({"customer_id": ["b", "a", "a"], "amount": [1.5, 2.0, 3.25]}),
                              temp=True)
    cached = engine.cache(source.group_by("customer_id").aggregate(total=source.amount.sum()), "probe")
    assert cached.order_by("customer_id").to_pandas()["total"].tolist() == [5.25, 1.5]
    def temporary_tables():
        return {row[0] for row in con.raw_sql("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()}

    assert cached.op().name in temporary_tables()
    engine.drop(cached)
    assert cached.op().name not in temporary_tables()


def test_duckdb_parsing_returns_null_instead_of_raising(con):
    engine = engine_for(con)
    text = ibis.memtable(pd.DataFrame({"d": ["19970101", "19970230", "1997013x", None],
                                       "n": ["1.5", "x", "-2", None]}))
    out = con.execute(text.select(d=engine.parse_timestamp(text.d, "%Y%m%d"), n=engine.parse_number(text.n)))
    assert out["d"].tolist()[:1] == [pd.Timestamp("1997-01-01")]
    assert out["d"].iloc[1:].isna().all()
    assert out["n"].tolist()[0] == 1.5 and out["n"].tolist()[2] == -2.0
    assert out["n"].iloc[[1, 3]].isna().all()


def test_portable_parsing_of_the_base_engine_on_duckdb(con):
    """The shape-checked casts used for SQL engines give the same values (run here on DuckDB)."""
    engine = Engine(con)
    text = ibis.memtable(pd.DataFrame({"d": ["2024-01-05 10:00:00", "2024-01-05", "2024", "05/01/2024"],
                                       "o": ["2024-01-05 10:00:00+02:00", "2024-01-05T08:00:00Z", "x", None],
                                       "n": ["1.5", "1e3", "12abc", ".5"]}))
    out = con.execute(text.select(d=engine.parse_timestamp(text.d, None),
                                  o=engine.parse_timestamp(text.o, "ISO 8601 with UTC offset"),
                                  n=engine.parse_number(text.n)))
    assert out["d"].tolist()[:2] == [pd.Timestamp("2024-01-05 10:00"), pd.Timestamp("2024-01-05")]
    assert out["d"].iloc[2:].isna().all()  # "2024" alone is no ISO timestamp on any engine
    assert out["o"].tolist()[:2] == [pd.Timestamp("2024-01-05 08:00"), pd.Timestamp("2024-01-05 08:00")]
    assert out["o"].iloc[2:].isna().all()
    assert out["n"].tolist()[:2] == [1.5, 1000.0] and pd.isna(out["n"].iloc[2]) and out["n"].iloc[3] == 0.5


def test_engine_options_take_spark_and_url_settings():
    options = engine_settings({"backend": "spark", "master": "spark://host:7077",
                               "settings": {"spark.executor.memory": "8g"}})
    assert options["master"] == "spark://host:7077"
    assert options["settings"] == {"spark.executor.memory": "8g"}
    with pytest.raises(ConfigError, match="Unknown option 'mastr'"):
        engine_settings({"mastr": "local[2]"})


def test_url_engine_refuses_a_literal_password():
    with pytest.raises(ConfigError, match="contains a password"):
        connect({"url": "postgres://analyst:hunter2@db.example/shop"})


def test_url_engine_names_a_missing_environment_variable(monkeypatch):
    monkeypatch.delenv("CLC_NO_SUCH_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"\$\{CLC_NO_SUCH_PASSWORD\}"):
        connect({"url": "postgres://analyst:${CLC_NO_SUCH_PASSWORD}@db.example/shop"})


def test_url_engine_without_url_and_unknown_backend_are_config_errors():
    with pytest.raises(ConfigError, match="engine.url is empty"):
        connect({"backend": "url"})
    with pytest.raises(ConfigError, match="available: duckdb, spark, url"):
        connect({"backend": "oracle"})


def test_url_engine_connects_any_ibis_backend(tmp_path):
    """`engine: {url: duckdb://file}` reaches a database through the URL path, tables read in place."""
    database = tmp_path / "shop.duckdb"
    seed = ibis.duckdb.connect(str(database))
    seed.create_table("sales", pd.DataFrame({
        "customer": ["a", "a", "b"], "order": ["1", "2", "3"],
        "ts": pd.to_datetime(["2024-01-02", "2024-02-03", "2024-01-05"]), "value": [10.0, 5.5, 7.25]}))
    seed.disconnect()
    run = load_run({"engine": {"url": f"duckdb://{database}"}, "transactions": {
        "table": "sales", "connection": "engine",
        "columns": {"customer_id": "customer", "order_id": "order", "timestamp": "ts", "amount": "value"}}})
    assert run.quality["transactions"].rows_out == 3
    assert sorted(run.transactions.to_pandas()["amount"]) == [5.5, 7.25, 10.0]
    assert engine_description(run.con).startswith("DuckDB")


def test_engine_connection_names_missing_tables():
    with pytest.raises(DataError, match="no table 'nope'"):
        load_run({"transactions": {"table": "nope", "connection": "engine"}})


def test_materialize_is_refused_off_duckdb():
    from clc_lib.loading import store_table

    class _FakeSpark:
        name = "pyspark"

    fake = _FakeSpark()
    fake._clc_engine = Engine(fake)
    fake._clc_engine.description = lambda: "Spark 4.0.5 local[2]"
    with pytest.raises(ConfigError, match="materialize"):
        store_table(None, fake, {"materialize": True}, "run", "transactions")
