"""Benchmark: customer summary, as-of stages and a 36-month stage history on synthetic Parquet.

Usage::

    .venv/bin/python benchmarks/bench_stages.py                       # quick check (200k rows)
    .venv/bin/python benchmarks/bench_stages.py --rows 10000000 --customers 1000000

The data are generated once per size with DuckDB (deterministic, hash-based) into
``benchmarks/data/`` (gitignored) and reused. Timed steps, each on a fresh DuckDB connection over
``read_parquet``:

1. ``clc_lib.summary.customer_summary`` (Ibis on DuckDB);
2. the same columns as one hand-written DuckDB SQL query (the practical floor);
3. ``lifetimes.utils.summary_data_from_transaction_data`` (pandas, ``freq="D"``) on the
   purchases, already in memory (reading them is not timed);
4. ``clc_lib.stages.classify_stages`` as of the last day;
5. ``clc_lib.stages.stage_history`` over every month, materialised through ``stage_counts`` and
   ``transition_matrix``.

Targets: summary within 1.5x of the SQL floor and at least 7x faster than lifetimes; stage
history under 60 s; peak memory (``ru_maxrss``, whole process) under 4 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import duckdb
import ibis
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clc_lib.stages import classify_stages, stage_counts, stage_history, transition_matrix  # noqa: E402
from clc_lib.summary import customer_summary  # noqa: E402
from machine import describe_machine  # noqa: E402  (benchmarks/machine.py)

DATA_DIR = Path(__file__).resolve().parent / "data"
START = "2021-07-01"
MONTHS = 36

HAND_WRITTEN_SUMMARY = """
WITH rows AS (
    SELECT * FROM read_parquet('{path}') WHERE "timestamp" < DATE '{as_of}' + INTERVAL 1 DAY
),
per_row AS (
    SELECT customer_id,
           count(DISTINCT order_id) FILTER (WHERE NOT is_return) AS orders,
           sum(amount) AS net_revenue,
           -coalesce(sum(amount) FILTER (WHERE is_return), 0) AS return_amount
    FROM rows GROUP BY customer_id
),
days AS (
    SELECT customer_id, CAST("timestamp" AS DATE) AS day, sum(amount) AS day_value
    FROM rows WHERE NOT is_return GROUP BY ALL
),
gaps AS (
    SELECT *, date_diff('day', lag(day) OVER (PARTITION BY customer_id ORDER BY day), day) AS gap
    FROM days
),
per_day AS (
    SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) AS purchase_days,
           sum(day_value) AS gross, sum(day_value) FILTER (WHERE gap IS NOT NULL) AS repeat_value,
           avg(gap) AS mean_gap_days, median(gap) AS median_gap_days
    FROM gaps GROUP BY customer_id
)
SELECT r.customer_id, d.first_day AS first_purchase, d.last_day AS last_purchase, r.orders,
       coalesce(d.purchase_days, 0) AS purchase_days, r.net_revenue, r.return_amount,
       d.gross / nullif(r.orders, 0) AS aov,
       date_diff('day', d.first_day, DATE '{as_of}') AS tenure_days,
       date_diff('day', d.last_day, DATE '{as_of}') AS recency_days,
       d.mean_gap_days, d.median_gap_days,
       greatest(coalesce(d.purchase_days, 0) - 1, 0) AS x,
       date_diff('day', d.first_day, d.last_day) / 7.0 AS t_x,
       date_diff('day', d.first_day, DATE '{as_of}') / 7.0 AS T,
       coalesce(d.repeat_value / nullif(d.purchase_days - 1, 0), 0) AS zbar
FROM per_row r LEFT JOIN per_day d USING (customer_id)
"""


def generate(path: Path, rows: int, customers: int) -> None:
    """Write ``rows`` transactions of ``customers`` customers over 36 months (deterministic).

    Customers are drawn with a skew (low ids buy more), each customer's purchases fall after a
    customer-specific start date, 2% of rows are returns with a negative amount.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    seconds = MONTHS * 30 * 86400
    sql = f"""
    COPY (
        WITH base AS (
            SELECT i,
                   CAST(floor({customers} * pow((hash(i, 1) % 1000000) / 1000000.0, 1.6)) AS BIGINT) AS c,
                   (hash(i, 2) % 1000000) / 1000000.0 AS u
            FROM range({rows}) t(i)
        )
        SELECT lpad(CAST(c AS VARCHAR), 7, '0') AS customer_id,
               CAST(i AS VARCHAR) AS order_id,
               TIMESTAMP '{START}' + to_seconds(CAST(
                   ((hash(c, 3) % 1000) / 1000.0 * 0.8 + u * (1 - (hash(c, 3) % 1000) / 1000.0 * 0.8))
                   * {seconds} AS BIGINT)) AS "timestamp",
               CASE WHEN hash(i, 4) % 50 = 0 THEN -1 ELSE 1 END * (5 + (hash(i, 5) % 20000) / 100.0) AS amount,
               CAST(1 + hash(i, 6) % 3 AS DOUBLE) AS quantity,
               hash(i, 4) % 50 = 0 AS is_return
        FROM base
    ) TO '{path}' (FORMAT parquet)
    """
    duckdb.connect().execute(sql)


def peak_memory_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # Linux: KiB


def timed(label: str, func, results: dict) -> object:
    start = time.perf_counter()
    value = func()
    seconds = time.perf_counter() - start
    results[label] = seconds
    print(f"{label:<42} {seconds:8.2f} s   peak memory so far {peak_memory_gb():5.2f} GB", flush=True)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="transactions (10,000,000 for the full run)")
    parser.add_argument("--customers", type=int, default=20_000, help="customers (1,000,000 for the full run)")
    parser.add_argument("--skip-lifetimes", action="store_true", help="do not time lifetimes (slow at full size)")
    parser.add_argument("--memory-limit", default="3GB",
                        help="DuckDB memory_limit of the clc engine and of the SQL floor (as engine.memory_limit "
                             "in a run config); DuckDB spills to disk beyond it")
    args = parser.parse_args(argv)

    path = DATA_DIR / f"transactions_{args.rows}_{args.customers}.parquet"
    print(describe_machine("duckdb", "ibis-framework", "pandas", "lifetimes"))
    if not path.exists():
        timed("generate data (once per size)", lambda: generate(path, args.rows, args.customers), {})
    print(f"data: {path} ({path.stat().st_size / 1024**2:,.0f} MB, {args.rows:,} rows, "
          f"up to {args.customers:,} customers)")
    as_of = duckdb.connect().sql(f"SELECT CAST(max(timestamp) AS DATE) FROM read_parquet('{path}')").fetchall()[0][0]
    as_of = pd.Timestamp(as_of)
    results: dict[str, float] = {}

    def ours():
        table = ibis.duckdb.connect(memory_limit=args.memory_limit).read_parquet(str(path))
        return customer_summary(table, as_of, time_unit="W")

    def floor():
        return duckdb.connect(config={"memory_limit": args.memory_limit}).sql(HAND_WRITTEN_SUMMARY.format(path=path, as_of=as_of.date())).df()

    summary = timed("summary: clc customer_summary (Ibis)", ours, results)
    reference = timed("summary: hand-written DuckDB SQL", floor, results)
    reference = reference.set_index("customer_id").sort_index()
    assert len(summary) == len(reference) and (summary["x"] == reference["x"]).all()
    assert (summary["t_x"] - reference["t_x"]).abs().max() < 1e-9

    if not args.skip_lifetimes:
        from lifetimes.utils import summary_data_from_transaction_data

        purchases = duckdb.connect().sql(
            f"SELECT customer_id, timestamp, amount FROM read_parquet('{path}') WHERE NOT is_return").df()
        lifetimes_summary = timed(
            "summary: lifetimes summary_data_from_transaction_data",
            lambda: summary_data_from_transaction_data(purchases, "customer_id", "timestamp",
                                                       monetary_value_col="amount", observation_period_end=as_of,
                                                       freq="D"),
            results,
        )
        common = summary.index.intersection(lifetimes_summary.index)
        assert (lifetimes_summary.loc[common, "frequency"] == summary.loc[common, "x"]).all()
        del purchases

    def stages_now():
        table = ibis.duckdb.connect(memory_limit=args.memory_limit).read_parquet(str(path))
        return classify_stages(table, as_of)

    def history_36_months():
        table = ibis.duckdb.connect(memory_limit=args.memory_limit).read_parquet(str(path))
        history = stage_history(table, period="M")
        return stage_counts(history), transition_matrix(history)

    stages = timed("stages: classify_stages as of the last day", stages_now, results)
    counts, _ = timed("stages: stage_history (monthly) + counts + matrix", history_36_months, results)

    print(f"\ncustomers: {len(summary):,}; stage snapshots: {counts['period_end'].nunique()}, "
          f"customer-snapshots: {int(counts['customers'].sum()):,}")
    print(stages["stage"].value_counts(sort=False).to_string())
    ratio = results["summary: clc customer_summary (Ibis)"] / results["summary: hand-written DuckDB SQL"]
    print(f"\nsummary / SQL floor: {ratio:.2f}x (target <= 1.5x)")
    if "summary: lifetimes summary_data_from_transaction_data" in results:
        speedup = results["summary: lifetimes summary_data_from_transaction_data"] / results[
            "summary: clc customer_summary (Ibis)"]
        print(f"lifetimes / summary: {speedup:.1f}x faster (target >= 7x)")
    print(f"stage history: {results['stages: stage_history (monthly) + counts + matrix']:.1f} s (target < 60 s)")
    print(f"peak memory: {peak_memory_gb():.2f} GB (target < 4 GB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
