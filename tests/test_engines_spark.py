"""The transaction-level steps on Apache Spark (local mode) give the same results as on DuckDB.

One local Spark session (local[2], 4 shuffle partitions, no UI) serves the whole module; each data
set is loaded once on each engine. Reference: the DuckDB results of the same functions, compared
exactly for ids, dates, counts and stages and to 1e-9 relative for money.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd
import pytest

from clc_lib.cohorts import cohort_matrix
from clc_lib.config import load_config
from clc_lib.engines import cache_table, engine_description
from clc_lib.run import load_run
from clc_lib.paths import project_root
from clc_lib.stage_history import stage_counts, stage_history
from clc_lib.stages import classify_stages, derive_stage_rules
from clc_lib.summary import customer_summary

from engine_equivalence import ANALYSES, assert_same, assert_same_analysis
from engine_equivalence import history_frame as _history_frame

pytestmark = pytest.mark.slow  # starts a Spark session (JVM)

ROOT = project_root()
DEMO_CONFIG = ROOT / "data" / "raw" / "demo" / "run.yaml"
CDNOW_CONFIG = ROOT / "docs" / "examples" / "cdnow.yaml"

SPARK_ENGINE = {
    "backend": "spark",
    "master": "local[2]",
    "app_name": "clc-tests",
    # Small data: interpreted expressions start faster than generated code on a cold JVM.
    "settings": {"spark.sql.shuffle.partitions": 4, "spark.ui.enabled": "false",
                 "spark.driver.memory": "2g", "spark.sql.codegen.wholeStage": "false",
                 "spark.sql.codegen.factoryMode": "NO_CODEGEN"},
}


@pytest.fixture(scope="module")
def spark_session():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode needs no network interface
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("clc-tests")
    for key, value in SPARK_ENGINE["settings"].items():
        builder = builder.config(key, str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _transactions_only(config_path: Path, **engine):
    config = load_config(config_path)
    return dataclasses.replace(config, tables={"transactions": config.tables["transactions"]}, engine=engine)


def _pair(config_path: Path):
    duck = load_run(_transactions_only(config_path))
    spark = load_run(_transactions_only(config_path, **SPARK_ENGINE))
    return duck, spark


@pytest.fixture(scope="module")
def demo(spark_session):
    if not DEMO_CONFIG.is_file():
        pytest.fail(f"The demo data are missing ({DEMO_CONFIG}); run `.venv/bin/clc demo-data` first.")
    return _pair(DEMO_CONFIG)


@pytest.fixture(scope="module")
def cdnow(spark_session):
    config = load_config(CDNOW_CONFIG)
    path = config.tables["transactions"].resolved_path
    if not path.is_file():
        pytest.fail(f"The CDNOW master file is missing ({path}); it belongs in shared/data/cdnow/.")
    return _pair(CDNOW_CONFIG)


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_load_runs_on_spark_with_the_same_quality_counts(data, request):
    duck, spark = request.getfixturevalue(data)
    assert engine_description(spark.con).startswith("Spark 4.")
    assert engine_description(spark.con).endswith("local[2]")
    assert engine_description(duck.con).startswith("DuckDB ")
    assert spark.con.name == "pyspark" and spark.transactions._find_backend() is spark.con
    ours, theirs = duck.quality["transactions"], spark.quality["transactions"]
    assert (theirs.rows_in, theirs.rows_out, theirs.customers) == (ours.rows_in, ours.rows_out, ours.customers)
    assert theirs.first_timestamp == ours.first_timestamp and theirs.last_timestamp == ours.last_timestamp
    assert theirs.amount_out == pytest.approx(ours.amount_out, rel=1e-12)
    assert [(r.rule, r.rows) for r in theirs.rules] == [(r.rule, r.rows) for r in ours.rules]
    assert spark.as_of == duck.as_of


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_customer_summary_is_identical(data, request):
    duck, spark = request.getfixturevalue(data)
    ours = customer_summary(duck.transactions, duck.as_of)
    theirs = customer_summary(spark.transactions, spark.as_of)
    assert len(ours) == duck.quality["transactions"].customers
    assert_same(theirs, ours)


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_stages_as_of_a_date_are_identical(data, request):
    duck, spark = request.getfixturevalue(data)
    as_of = duck.as_of - pd.Timedelta(days=120)  # not the last day: rows after it must be ignored
    rules = derive_stage_rules(duck.transactions, as_of)
    assert derive_stage_rules(spark.transactions, as_of).thresholds == rules.thresholds
    ours = classify_stages(duck.transactions, as_of, rules=rules)
    theirs = classify_stages(spark.transactions, as_of, rules=rules)
    assert ours["stage"].nunique() >= 4
    assert_same(theirs, ours)


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_monthly_stage_history_is_identical(data, request):
    duck, spark = request.getfixturevalue(data)
    rules = derive_stage_rules(duck.transactions, duck.as_of)
    start = duck.as_of - pd.Timedelta(days=365)  # 13 snapshots; earlier purchases enter at the first
    ours = _history_frame(stage_history(duck.transactions, period="M", rules=rules, start=start))
    theirs = _history_frame(stage_history(spark.transactions, period="M", rules=rules, start=start))
    assert ours["period_end"].nunique() >= 12
    assert ours["customer_id"].nunique() == duck.quality["transactions"].customers
    assert_same(theirs, ours)


def test_a_cached_stage_history_reads_the_same_on_spark(demo):
    duck, spark = demo
    rules = derive_stage_rules(duck.transactions, duck.as_of)
    ours = stage_counts(stage_history(duck.transactions, rules=rules))
    cached = cache_table(stage_history(spark.transactions, rules=rules))  # the history holds an in-memory table
    assert cached._find_backend() is spark.con
    assert_same(stage_counts(cached), ours)


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_cohort_matrix_is_identical(data, request):
    duck, spark = request.getfixturevalue(data)
    ours = cohort_matrix(duck.transactions, period="M", as_of=duck.as_of, values="customers")
    theirs = cohort_matrix(spark.transactions, period="M", as_of=spark.as_of, values="customers")
    assert ours.attrs["cohort_size"] == theirs.attrs["cohort_size"]
    assert sum(ours.attrs["cohort_size"].values()) == duck.quality["transactions"].customers
    assert_same(theirs, ours)


@pytest.mark.parametrize("name", list(ANALYSES))
def test_report_analyses_of_the_demo_are_identical(name, demo):
    assert_same_analysis(name, *demo)
