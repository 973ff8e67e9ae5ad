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
5. ``clc_lib.stage_history.stage_history`` over every month, materialised through ``stage_counts`` and
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import DATA_DIR, HAND_WRITTEN_SUMMARY, describe_machine, generate

from clc_lib.stage_history import stage_counts, stage_history, transition_matrix
from clc_lib.stages import classify_stages
from clc_lib.summary import customer_summary


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
