"""Benchmark: load + validate N transactions (default 1M) with ``clc_lib.run.load_run``.

Usage::

    .venv/bin/python benchmarks/bench_load.py                    # 1,000,000 rows, Parquet
    .venv/bin/python benchmarks/bench_load.py --rows 10000000    # the 10M target
    .venv/bin/python benchmarks/bench_load.py --format csv       # the same data as CSV

The data are synthetic (zero-padded customer ids, ~3 lines per order, 2% returns, some zero
amounts, three years of timestamps) and written once under ``benchmarks/data/`` (gitignored).
Each measurement runs in a fresh Python process so that the peak resident memory
(``ru_maxrss``, which includes DuckDB's memory since it runs in-process) belongs to the load
alone. Target: 10M rows in under 30 s with peak memory under 3 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from machine import describe_machine  # benchmarks/machine.py

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"


def data_path(rows: int, fmt: str) -> Path:
    return DATA_DIR / f"transactions_{rows}.{ 'parquet' if fmt == 'parquet' else 'csv'}"


def generate(rows: int, fmt: str) -> Path:
    """Write ``rows`` synthetic transactions with DuckDB (streamed; never all in Python memory)."""
    import duckdb

    target = data_path(rows, fmt)
    if target.is_file():
        return target
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    customers = max(rows // 10, 1)
    tmp = target.with_suffix(target.suffix + ".tmp")
    query = f"""
        SELECT
            lpad(CAST(hash(i // 3) % {customers} AS VARCHAR), 8, '0') AS CustomerID,
            'INV' || CAST(i // 3 AS VARCHAR) AS InvoiceNo,
            TIMESTAMP '2021-01-01' + to_seconds(CAST(hash(i // 3 + 17) % (3 * 365 * 86400) AS BIGINT)) AS InvoiceDate,
            CASE WHEN hash(i + 1) % 50 = 0 THEN -1 ELSE 1 + CAST(hash(i + 2) % 4 AS INTEGER) END AS Quantity,
            CASE WHEN hash(i + 3) % 1000 = 0 THEN 0.0
                 ELSE round(1 + (hash(i + 4) % 10000) / 100.0, 2) END AS UnitPrice,
            'P' || CAST(hash(i + 5) % 5000 AS VARCHAR) AS StockCode,
            ['web', 'store', 'app'][1 + CAST(hash(i // 3 + 6) % 3 AS INTEGER)] AS Channel
        FROM range({rows}) AS t(i)
    """
    options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
    with duckdb.connect() as con:
        con.execute(f"COPY ({query}) TO '{tmp}' ({options})")
    os.replace(tmp, target)
    return target


def measure(path: Path, threads: int | None, memory_limit: str | None) -> dict:
    """Load + validate in this process; return wall time, peak RSS and the report's row counts."""
    start = time.perf_counter()
    import clc_lib.run as clc_run

    import_seconds = time.perf_counter() - start
    engine = {"threads": threads, "memory_limit": memory_limit}
    config = {
        "name": "bench",
        "transactions": {
            "path": str(path),
            "columns": {"customer_id": "CustomerID", "order_id": "InvoiceNo", "timestamp": "InvoiceDate",
                        "quantity": "Quantity", "unit_price": "UnitPrice", "product_id": "StockCode",
                        "channel": "Channel"},
        },
        "engine": {k: v for k, v in engine.items() if v},
    }
    start = time.perf_counter()
    run = clc_run.load_run(config)
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    per_customer = run.transactions.group_by("customer_id").aggregate(n=run.transactions.count()).count().execute()
    query_seconds = time.perf_counter() - start
    quality = run.quality["transactions"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rows_in": quality.rows_in, "rows_out": quality.rows_out, "customers": quality.customers,
        "per_customer_groups": int(per_customer), "import_s": import_seconds, "load_s": load_seconds,
        "first_query_s": query_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: kilobytes
        "returns": quality.rule("returns").rows, "zero_amount": quality.rule("zero_amount").rows,
        "duplicates": quality.rule("duplicate_rows").rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-limit", default=None, help='DuckDB memory_limit, e.g. "2GB"')
    parser.add_argument("--repeat", type=int, default=1, help="measurements (each in a fresh process)")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    path = data_path(args.rows, args.format)
    if args.measure_only:
        print(json.dumps(measure(path, args.threads, args.memory_limit)))
        return 0

    start = time.perf_counter()
    generate(args.rows, args.format)
    print(f"data: {path} ({path.stat().st_size / 1e6:,.0f} MB; ready in {time.perf_counter() - start:.1f} s)")
    print(f"machine: {describe_machine('duckdb', 'ibis-framework')}")
    command = [sys.executable, __file__, "--measure-only", "--rows", str(args.rows), "--format", args.format]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.memory_limit:
        command += ["--memory-limit", args.memory_limit]
    header = f"{'rows':>12} {'format':>8} {'load+validate s':>16} {'CPU s (process)':>16} {'first query s':>14} " \
             f"{'peak RSS MB':>12} {'customers':>10} {'returns':>9}"
    print(header)
    for _ in range(args.repeat):
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        print(f"{result['rows_in']:>12,} {args.format:>8} {result['load_s']:>16.1f} {result['cpu_s']:>16.1f} "
              f"{result['first_query_s']:>14.2f} "
              f"{result['peak_rss_mb']:>12,.0f} {result['customers']:>10,} {result['returns']:>9,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
