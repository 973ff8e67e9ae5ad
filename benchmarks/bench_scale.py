"""Scale benchmark: every step and the whole ``clc report`` at 1M, 10M and (on request) 100M rows.

Usage::

    .venv/bin/python benchmarks/bench_scale.py                  # 1M and 10M transactions (make bench)
    .venv/bin/python benchmarks/bench_scale.py --with-100m      # also 100M: summary and stage history
    .venv/bin/python benchmarks/bench_scale.py --rows 1000000   # one size only
    .venv/bin/python benchmarks/bench_scale.py --skip-lifetimes-above 1000000   # lifetimes at 1M only

For each size the synthetic business of ``benchmarks/common.py`` (10 transaction lines per
customer id, a customers table and monthly spend) is generated once under
``benchmarks/data/scale_<rows>/`` (gitignored) together with a run config, ``run.yaml``. Each step
then runs in a fresh Python process, so its wall time starts with a cold engine and its peak
memory (``ru_maxrss`` of that process; DuckDB runs in-process) is its own. The analysis steps read
the Parquet file directly (it has the contract's columns), so they do not include loading.

Steps: load + validate (``load_run`` on the run config); the customer summary three ways (clc on
DuckDB, the hand-written DuckDB query that is the practical floor, a plain pandas groupby after
``pandas.read_parquet``); the model inputs alone (clc's ``model_inputs`` and its hand-written floor,
the columns lifetimes computes) and ``lifetimes.utils.summary_data_from_transaction_data`` on the
purchases already in memory; stages as of the last day; a 36-month stage history with its counts and
transition matrix; the monthly cohort matrix; the whole ``clc report`` (five notebooks, two at a
time), whose peak memory is the largest sum of the resident memory of the runner, papermill and
the kernels, polled every 0.2 s; each kernel's DuckDB gets ``--report-memory-limit`` (1.5GB). At 100M only the summary (clc and floor) and the stage history
run, with DuckDB's ``memory_limit`` set so that it spills to ``scale_<rows>/duckdb_tmp``.

The summaries are compared customer by customer after timing. The exponent ``b`` of
``time ~ rows^b`` is the least-squares slope of log(time) on log(rows) over the sizes run.
``benchmarks/RESULTS.md`` is rewritten (atomically) at the end of every run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (
    DATA_DIR,
    HAND_WRITTEN_MODEL_INPUTS,
    HAND_WRITTEN_SUMMARY,
    TreeMemory,
    children_peak_rss_gb,
    describe_machine,
    generate,
    generate_customers,
    generate_spend,
    peak_rss_gb,
)

RESULTS_FILE = HERE / "RESULTS.md"
LINES_PER_CUSTOMER = 10
DEFAULT_SIZES = (1_000_000, 10_000_000)
LARGE = 100_000_000
REPORT_TARGET = {"rows": 10_000_000, "seconds": 300.0, "peak_gb": 6.0}
LARGE_TARGET_PEAK_GB = 12.0
STAGES_TARGET = {"rows": 10_000_000, "floor_ratio": 1.5, "lifetimes_speedup": 7.0, "history_seconds": 60.0,
                 "peak_gb": 4.0}


@dataclass(frozen=True)
class Step:
    """One timed step: its label and the largest size it runs at (None: every size)."""

    name: str
    label: str
    max_rows: int | None = None
    why_not_larger: str = ""


WHOLE_FRAME = "needs every transaction in one pandas frame (about 10 GB before the groupby copies)"
STEPS = (
    Step("load", "load + validate (load_run)", 10_000_000, "not a 100M target"),
    Step("summary_clc", "customer summary, clc (Ibis on DuckDB)"),
    Step("summary_floor", "customer summary, hand-written DuckDB SQL (floor)"),
    Step("summary_model_inputs", "model inputs only (x, t_x, T, zbar: lifetimes' columns), clc"),
    Step("model_inputs_floor", "model inputs only, hand-written DuckDB SQL (floor)"),
    Step("summary_pandas", "customer summary, pandas (read_parquet + groupby)", 10_000_000, WHOLE_FRAME),
    Step("summary_lifetimes", "customer summary, lifetimes 0.11.3 (data in memory)", 10_000_000, WHOLE_FRAME),
    Step("stages", "classify_stages as of the last day", 10_000_000, "not a 100M target"),
    Step("stage_history", "36-month stage history + counts + transition matrix"),
    Step("cohorts", "cohort matrix (monthly)", 10_000_000, "not a 100M target"),
    Step("report", "whole clc report (5 notebooks, 2 at a time)", 10_000_000,
         "the report target is 10M; at 100M the notebooks would hold 10M customers per kernel"),
)
STEP_BY_NAME = {step.name: step for step in STEPS}


# --- data ------------------------------------------------------------------------------------------

def size_dir(rows: int) -> Path:
    return DATA_DIR / f"scale_{rows}"


def prepare(rows: int, memory_limit: str, report_memory_limit: str) -> dict[str, Any]:
    """Generate the data of one size when missing and (re)write its run config; describe it."""
    import duckdb

    folder = size_dir(rows)
    customers = max(rows // LINES_PER_CUSTOMER, 1)
    files = {"transactions": folder / "transactions.parquet", "customers": folder / "customers.parquet",
             "spend": folder / "spend.csv"}
    started = time.perf_counter()
    generated = False
    if not files["transactions"].is_file():
        generate(files["transactions"], rows, customers, every_customer=True)
        generated = True
    if not files["customers"].is_file():
        generate_customers(files["customers"], customers)
        generated = True
    if not files["spend"].is_file():
        generate_spend(files["spend"], customers)
        generated = True
    seconds = time.perf_counter() - started
    with duckdb.connect() as con:
        n_rows, n_customers, last_day = con.execute(
            f"SELECT count(*), count(DISTINCT customer_id), CAST(max(timestamp) AS DATE) "
            f"FROM read_parquet('{files['transactions']}')").fetchone()
    config = {
        "name": f"scale_{rows}",
        "currency": "EUR",
        "period": "M",
        "transactions": {"path": "transactions.parquet"},
        "customers": {"path": "customers.parquet"},
        "spend": {"path": "spend.csv"},
        "engine": {"memory_limit": report_memory_limit, "temp_directory": "duckdb_tmp"},
        "report": {"keep": 2},
    }
    import yaml

    (folder / "run.yaml").write_text(
        "# Run config of the scale benchmark (benchmarks/bench_scale.py); rewritten on every run.\n"
        + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return {"rows": int(n_rows), "customers": int(n_customers), "customer_ids": customers,
            "as_of": last_day.isoformat(), "parquet_mb": files["transactions"].stat().st_size / 1e6,
            "generated_s": seconds if generated else None, "memory_limit": memory_limit,
            "report_memory_limit": report_memory_limit}


# --- the steps (each runs in its own process) ------------------------------------------------------

def _engine(folder: Path, memory_limit: str):
    import ibis

    temp = folder / "duckdb_tmp"
    temp.mkdir(exist_ok=True)
    con = ibis.duckdb.connect(memory_limit=memory_limit, temp_directory=str(temp))
    return con.read_parquet(str(folder / "transactions.parquet"))


def _save(frame, folder: Path, name: str) -> None:
    results = folder / "results"
    results.mkdir(exist_ok=True)
    frame.to_parquet(results / f"{name}.parquet")


def _pandas_summary(path: Path, as_of: str):
    """The summary's columns with a plain pandas groupby (weeks for t_x and T)."""
    import numpy as np
    import pandas as pd

    rows = pd.read_parquet(path, columns=["customer_id", "order_id", "timestamp", "amount", "is_return"])
    end = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    rows = rows[rows["timestamp"] < end]
    as_of_day = pd.Timestamp(as_of)
    purchases = rows[~rows["is_return"]]
    by_customer = rows.groupby("customer_id", sort=True)
    out = pd.DataFrame({
        "orders": purchases.groupby("customer_id")["order_id"].nunique(),
        "net_revenue": by_customer["amount"].sum(),
        "return_amount": -rows["amount"].where(rows["is_return"], 0.0).groupby(rows["customer_id"]).sum(),
    })
    # Purchase days net of returns (docs/clv.md): each return is booked against the customer's latest
    # purchase day on or before it; a day cancelled by its returns (net value <= 0) is no repeat.
    per_date = (rows.assign(day=rows["timestamp"].dt.normalize(), bought=~rows["is_return"],
                            day_value=rows["amount"].where(~rows["is_return"]),
                            returned=rows["amount"].where(rows["is_return"]))
                .groupby(["customer_id", "day"], sort=True)
                .agg(bought=("bought", "any"), day_value=("day_value", "sum"), returned=("returned", "sum"))
                .reset_index())
    per_date["anchor"] = per_date["day"].where(per_date["bought"]).groupby(per_date["customer_id"]).ffill()
    days = (per_date.dropna(subset=["anchor"])
            .groupby(["customer_id", "anchor"], sort=True)[["day_value", "returned"]].sum()
            .reset_index().rename(columns={"anchor": "day"}))
    days["net_value"] = days["day_value"] + days["returned"]
    first_day = days.groupby("customer_id")["day"].transform("min")
    repeat = days[(days["day"] > first_day) & ((days["returned"] >= 0) | (days["net_value"] > 0))]
    per_day = days.groupby("customer_id").agg(
        first_purchase=("day", "min"), last_purchase=("day", "max"), purchase_days=("day", "size"),
        gross=("day_value", "sum"))
    per_day = per_day.join(repeat.groupby("customer_id").agg(
        x=("day", "size"), last_repeat=("day", "max"), repeat_value=("net_value", "sum")))
    out = out.join(per_day)
    out["orders"] = out["orders"].fillna(0).astype("int64")
    out["purchase_days"] = out["purchase_days"].fillna(0).astype("int64")
    out["aov"] = out["gross"] / out["orders"].where(out["orders"] > 0)
    out["tenure_days"] = (as_of_day - out["first_purchase"]).dt.days
    out["recency_days"] = (as_of_day - out["last_purchase"]).dt.days
    out["mean_gap_days"] = ((out["last_purchase"] - out["first_purchase"]).dt.days
                            / (out["purchase_days"] - 1).where(out["purchase_days"] > 1))
    out["x"] = out["x"].fillna(0).astype("int64")
    out["t_x"] = ((out["last_repeat"] - out["first_purchase"]).dt.days / 7.0).where(
        out["x"] > 0, np.where(out["first_purchase"].isna(), np.nan, 0.0))
    out["T"] = out["tenure_days"] / 7.0
    out["zbar"] = np.where(out["x"] > 0, out["repeat_value"] / out["x"].where(out["x"] > 0), 0.0)
    return out.drop(columns=["gross", "repeat_value", "last_repeat"])


def _report_step(folder: Path) -> dict[str, Any]:
    """Run ``clc report`` as a child process tree; peak = largest summed RSS of the tree."""
    clc = Path(sys.executable).with_name("clc")
    command = [str(clc), "report", "--config", str(folder / "run.yaml"), "--out", str(folder / "reports")]
    started = time.perf_counter()
    with open(folder / "report.log", "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        with TreeMemory(process.pid) as memory:
            code = process.wait()
    seconds = time.perf_counter() - started
    latest = folder / "reports" / folder.name / "latest"
    detail: dict[str, Any] = {"exit_code": code, "tree_peak_gb": memory.peak_gb,
                              "largest_process_peak_gb": children_peak_rss_gb(),
                              "processes_at_peak": memory.peak_processes}
    if latest.exists():
        detail.update(_report_detail(latest.resolve()))
    elif code != 0:
        detail["error"] = (folder / "report.log").read_text(encoding="utf-8")[-2000:]
    return {"seconds": seconds, "peak_gb": memory.peak_gb, "detail": detail}


def _report_detail(run_folder: Path, top: int = 4) -> dict[str, Any]:
    """Per notebook: execution seconds and its slowest cells (papermill's cell durations)."""
    manifest = json.loads((run_folder / "run.json").read_text(encoding="utf-8"))
    notebooks = []
    for entry in manifest["notebooks"]:
        executed = json.loads((run_folder / entry["ipynb"]).read_text(encoding="utf-8"))
        cells = []
        for index, cell in enumerate(executed["cells"]):
            duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
            if cell["cell_type"] == "code" and duration is not None:
                source = "".join(cell["source"]).strip().splitlines()
                first = next((line for line in source if line.strip() and not line.startswith(("%", "import", "#"))), "")
                cells.append({"cell": index, "seconds": duration, "code": first[:70]})
        cells.sort(key=lambda c: -c["seconds"])
        notebooks.append({"name": entry["name"], "status": entry["status"], "seconds": entry["seconds"],
                          "render_seconds": entry["render_seconds"], "error": entry["error"],
                          "cells_seconds": sum(c["seconds"] for c in cells), "slowest": cells[:top]})
    return {"run_seconds": manifest["seconds"], "status": manifest["status"], "notebooks": notebooks}


def run_step(name: str, folder: Path, as_of: str, memory_limit: str) -> dict[str, Any]:
    """Execute one step in this process; return seconds, peak memory and a short description."""
    import pandas as pd

    detail: dict[str, Any] = {}
    path = folder / "transactions.parquet"
    as_of_day = pd.Timestamp(as_of)
    actions: dict[str, Callable[[], Any]] = {}

    def load():
        from clc_lib.run import load_run

        run = load_run(folder / "run.yaml")
        quality = run.quality["transactions"]
        detail.update(rows_in=quality.rows_in, rows_out=quality.rows_out, customers=quality.customers)

    def summary_clc():
        from clc_lib.summary import customer_summary

        return customer_summary(_engine(folder, memory_limit), as_of_day, time_unit="W")

    def summary_model_inputs():
        from clc_lib.summary import model_inputs

        return model_inputs(_engine(folder, memory_limit), as_of_day, time_unit="W")

    def summary_floor():
        import duckdb

        temp = folder / "duckdb_tmp"
        temp.mkdir(exist_ok=True)
        con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(temp)})
        return con.sql(HAND_WRITTEN_SUMMARY.format(path=path, as_of=as_of)).df().set_index("customer_id")

    def model_inputs_floor():
        import duckdb

        con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(folder / "duckdb_tmp")})
        return con.sql(HAND_WRITTEN_MODEL_INPUTS.format(path=path, as_of=as_of)).df().set_index("customer_id")

    def summary_pandas():
        return _pandas_summary(path, as_of)

    def summary_lifetimes():
        from lifetimes.utils import summary_data_from_transaction_data

        return summary_data_from_transaction_data(
            purchases, "customer_id", "timestamp", monetary_value_col="amount",
            observation_period_end=as_of_day, freq="D")

    def stages():
        from clc_lib.stages import classify_stages

        result = classify_stages(_engine(folder, memory_limit), as_of_day)
        detail["stages"] = {str(k): int(v) for k, v in result["stage"].value_counts(sort=False).items()}

    def stage_history():
        from clc_lib.stage_history import stage_counts, stage_history, transition_matrix

        history = stage_history(_engine(folder, memory_limit), period="M")
        counts = stage_counts(history)
        transition_matrix(history)
        detail.update(snapshots=int(counts["period_end"].nunique()),
                      customer_snapshots=int(counts["customers"].sum()))

    def cohorts():
        from clc_lib.cohorts import cohort_matrix

        matrix = cohort_matrix(_engine(folder, memory_limit), period="M", as_of=as_of_day)
        detail["cohorts"] = int(matrix.shape[0])

    actions.update(load=load, summary_clc=summary_clc, summary_floor=summary_floor,
                   summary_model_inputs=summary_model_inputs, model_inputs_floor=model_inputs_floor,
                   summary_pandas=summary_pandas, summary_lifetimes=summary_lifetimes, stages=stages,
                   stage_history=stage_history, cohorts=cohorts)
    if name == "report":
        return _report_step(folder)
    if name == "summary_lifetimes":
        import duckdb

        read_started = time.perf_counter()
        purchases = duckdb.connect().sql(
            f"SELECT customer_id, timestamp, amount FROM read_parquet('{path}') WHERE NOT is_return").df()
        detail["read_s (not timed)"] = round(time.perf_counter() - read_started, 1)
    started = time.perf_counter()
    result = actions[name]()
    seconds = time.perf_counter() - started
    if name.startswith("summary_") or name == "model_inputs_floor":
        detail["customers"] = len(result)
        _save(result.reset_index(), folder, name)
    return {"seconds": seconds, "peak_gb": peak_rss_gb(), "detail": detail}


def measure(name: str, rows: int, as_of: str, memory_limit: str) -> dict[str, Any]:
    """Run one step in a fresh Python process and return its JSON line."""
    command = [sys.executable, str(Path(__file__).resolve()), "--step", name, "--rows", str(rows),
               "--as-of", as_of, "--memory-limit", memory_limit]
    spill_dir = size_dir(rows) / "duckdb_tmp"
    spilled = 0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        while process.poll() is None:  # DuckDB's spill files live only while the step runs
            spilled = max(spilled, _folder_bytes(spill_dir))
            time.sleep(0.5)
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        error = [line for line in (stderr or stdout).strip().splitlines() if "Error" in line][-1:]
        return {"seconds": math.nan, "peak_gb": math.nan, "detail": {"error": error}}
    result = json.loads(stdout.strip().splitlines()[-1])
    if spilled:
        result["detail"]["spilled to disk (peak)"] = f"{spilled / 1e9:.2f} GB"
    return result


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for file in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, file))
    return total


# --- checks, exponents, the results file -----------------------------------------------------------

def compare_summaries(folder: Path) -> list[dict[str, Any]]:
    """Customers whose x, t_x, T, net revenue or zbar differ from the floor's (all in DuckDB)."""
    import duckdb

    results = folder / "results"
    floor = results / "summary_floor.parquet"
    if not floor.is_file():
        return []
    checks = []
    con = duckdb.connect()
    tolerance = "1e-6 * greatest(1, abs(f.{c}))"
    for name in ("summary_clc", "summary_model_inputs", "model_inputs_floor", "summary_pandas", "summary_lifetimes"):
        other = results / f"{name}.parquet"
        if not other.is_file():
            continue
        if name == "summary_lifetimes":  # frequency, recency and T in days; purchasers only
            pairs = {"x": "o.frequency", "t_x": "o.recency / 7.0", "T": "o.T / 7.0", "zbar": "o.monetary_value"}
        elif name in ("summary_model_inputs", "model_inputs_floor"):
            pairs = {c: f"o.{c}" for c in ("x", "t_x", "T", "zbar")}
        else:
            pairs = {c: f"o.{c}" for c in ("x", "t_x", "T", "net_revenue", "zbar", "orders")}
        differ = " OR ".join(f"abs(coalesce({expr}, -1) - coalesce(f.{c}, -1)) > {tolerance.format(c=c)}"
                             for c, expr in pairs.items())
        scope, only = "", ""
        if name == "summary_lifetimes":
            # lifetimes knows no returns: it counts a purchase day cancelled by its returns and averages
            # gross spend, so it is compared on the customers without returns only.
            scope = "customers without returns (lifetimes has no notion of returns)"
            only = (f"WHERE customer_id NOT IN (SELECT customer_id FROM "
                    f"read_parquet('{folder / 'transactions.parquet'}') WHERE is_return)")
        n_other, n_common, n_differ = con.execute(f"""
            SELECT (SELECT count(*) FROM read_parquet('{other}')), count(*), count(*) FILTER (WHERE {differ})
            FROM read_parquet('{other}') o JOIN read_parquet('{floor}') f USING (customer_id) {only}""").fetchone()
        n_floor = con.execute(f"SELECT count(*) FROM read_parquet('{floor}')").fetchone()[0]
        checks.append({"step": name, "customers": n_other, "floor_customers": n_floor, "compared": n_common,
                       "differ": n_differ, "columns": ", ".join(pairs), "scope": scope})
    return checks


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(seconds) on log(rows); None with fewer than two sizes."""
    points = [(r, s) for r, s in points if s and s > 0 and math.isfinite(s)]
    if len({r for r, _ in points}) < 2:
        return None
    xs = [math.log(r) for r, _ in points]
    ys = [math.log(s) for _, s in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    return (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
            / sum((x - mean_x) ** 2 for x in xs))


def _gb(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _seconds(value: float) -> str:
    return "failed" if value is None or not math.isfinite(value) else f"{value:,.1f}"


def _finite(result: dict[str, Any]) -> bool:
    """The step ran and has a time (a failed step has NaN seconds)."""
    return math.isfinite(result.get("seconds", math.nan))


def render(run: dict[str, Any]) -> str:
    """The Markdown of RESULTS.md for one benchmark run."""
    lines = [
        "# Scale benchmark results",
        "",
        f"Written by `{run['command']}` on {run['finished']} (`benchmarks/bench_scale.py`; "
        "how the data are made and what each step does: its docstring and `benchmarks/README.md`).",
        "",
        f"Machine: {run['machine']}.",
        "",
        "Each step ran in a fresh Python process; time is wall time of the step inside that process "
        "(interpreter start and imports excluded, data generation never included); peak memory is that "
        "process's `ru_maxrss` (DuckDB runs in-process). For the whole report, time is the wall time of "
        "`clc report` and peak memory the largest sum of the resident memory of the whole process tree "
        "(runner, papermill processes, kernels), polled every 0.2 s.",
        "",
        "## Data",
        "",
        "Synthetic business of `benchmarks/common.py`: 10 transaction lines per customer, every customer "
        "id with at least one line and the rest drawn with a skew (low ids buy more), one order per line, "
        "2% returns, 36 months, categories and sales channels; a customers table (first_seen, acquisition_channel, country) and monthly spend per "
        "channel. The report runs on transactions + customers + spend (no events, campaigns or surveys: "
        "those sections show that the table is missing).",
        "",
        "| rows | customers with rows | Parquet (MB) | as_of | DuckDB memory_limit: steps, report kernels "
        "| generated in (s) |",
        "|---:|---:|---:|---|---|---:|",
    ]
    for size in run["sizes"]:
        data = size["data"]
        generated = "cached" if data["generated_s"] is None else f"{data['generated_s']:.0f}"
        lines.append(f"| {data['rows']:,} | {data['customers']:,} | {data['parquet_mb']:,.0f} | {data['as_of']} | "
                     f"{data['memory_limit']}, {data['report_memory_limit']} | {generated} |")
    for size in run["sizes"]:
        data = size["data"]
        lines += ["", f"## {data['rows']:,} transactions, {data['customers']:,} customers", "",
                  "| step | time (s) | peak memory (GB) | notes |", "|---|---:|---:|---|"]
        for name, result in size["steps"].items():
            step = STEP_BY_NAME[name]
            if "skipped" in result:
                lines.append(f"| {step.label} | not run | | {result['skipped']} |")
                continue
            notes = {k: v for k, v in result.get("detail", {}).items()
                     if k not in ("notebooks", "stages", "run_seconds")}
            note_text = "; ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in notes.items()
                                  if not isinstance(v, float)) or ""
            if name == "report":
                detail = result["detail"]
                note_text = (f"status {detail.get('status', 'failed')}; largest single process "
                             f"{_gb(detail.get('largest_process_peak_gb'))} GB; "
                             f"{detail.get('processes_at_peak')} processes at the peak")
            lines.append(f"| {step.label} | {_seconds(result['seconds'])} | {_gb(result['peak_gb'])} | {note_text} |")
        floor = size["steps"].get("summary_floor", {})
        if size.get("checks"):
            lines += ["", "Summaries compared with the floor, customer by customer "
                          "(relative tolerance 1e-6):", ""]
            for check in size["checks"]:
                lines.append(f"- {check['step']}: {check['customers']:,} customers "
                             f"(floor {check['floor_customers']:,}), {check['compared']:,} "
                             f"{check.get('scope') or 'compared'} on {check['columns']}: {check['differ']:,} differ")
        if _finite(floor) and floor["seconds"] > 0:
            ratios = []
            for name in ("summary_clc", "summary_pandas", "summary_lifetimes"):
                other = size["steps"].get(name, {})
                if _finite(other):
                    ratios.append(f"{name.split('_', 1)[1]} {other['seconds'] / floor['seconds']:.2f} ×")
            if ratios:
                lines += ["", "Summary time relative to the floor: " + ", ".join(ratios) + "."]
        inputs, inputs_floor = (size["steps"].get(n, {}) for n in ("summary_model_inputs", "model_inputs_floor"))
        if _finite(inputs) and _finite(inputs_floor):
            lines += ["", f"Model inputs relative to their floor: clc {inputs['seconds'] / inputs_floor['seconds']:.2f} ×."]
        lifetimes = size["steps"].get("summary_lifetimes", {})
        if _finite(lifetimes) and lifetimes["seconds"] > 0:
            speedups = [f"{name.split('_', 1)[1]} {lifetimes['seconds'] / size['steps'][name]['seconds']:.1f} ×"
                        for name in ("summary_clc", "summary_model_inputs", "summary_floor", "model_inputs_floor")
                        if _finite(size["steps"].get(name, {}))]
            lines += ["", "lifetimes' time divided by: " + ", ".join(speedups) + "."]
        report = size["steps"].get("report", {})
        if report.get("detail", {}).get("notebooks"):
            lines += ["", "Where the report's time goes (execution wall time per notebook, the sum of its "
                          "cells' papermill durations, and its slowest cells):", "",
                      "| notebook | execute (s) | cells (s) | render (s) | slowest cells (s) |",
                      "|---|---:|---:|---:|---|"]
            for notebook in report["detail"]["notebooks"]:
                slowest = "; ".join(f"[{c['cell']}] `{c['code']}` {c['seconds']:.1f}" for c in notebook["slowest"])
                lines.append(f"| {notebook['name']} | {notebook['seconds']:.1f} | {notebook['cells_seconds']:.1f} | "
                             f"{notebook['render_seconds']:.1f} | {slowest} |")
    lines += ["", "## Growth with rows", "",
              "Exponent b of time ∝ rows^b (least squares on log time against log rows over the sizes above; "
              "1 is linear):", "", "| step | sizes | b |", "|---|---|---:|"]
    for step in STEPS:
        points = [(size["data"]["rows"], size["steps"][step.name]["seconds"]) for size in run["sizes"]
                  if "seconds" in size["steps"].get(step.name, {})]
        b = exponent(points)
        if b is not None:
            sizes = ", ".join(f"{r / 1e6:g}M" for r, _ in points)
            lines.append(f"| {step.label} | {sizes} | {b:.2f} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for size in run["sizes"]:
        report = size["steps"].get("report", {})
        if size["data"]["rows"] == REPORT_TARGET["rows"] and "seconds" in report:
            ok = (report["seconds"] < REPORT_TARGET["seconds"] and report["peak_gb"] < REPORT_TARGET["peak_gb"]
                  and report["detail"].get("status") == "complete")
            lines.append(f"| 10M transactions through `clc report` < 300 s, peak < 6 GB (process tree) | "
                         f"{_seconds(report['seconds'])} s, {_gb(report['peak_gb'])} GB | {'yes' if ok else 'no'} |")
        if size["data"]["rows"] == STAGES_TARGET["rows"]:
            lines += _stages_targets(size["steps"])
        if size["data"]["rows"] >= LARGE:
            measured = [size["steps"][n] for n in ("summary_clc", "stage_history")
                        if "seconds" in size["steps"].get(n, {})]
            peak = max((m["peak_gb"] for m in measured), default=math.nan)
            ok = bool(measured) and all(math.isfinite(m["seconds"]) for m in measured) and peak < LARGE_TARGET_PEAK_GB
            lines.append(f"| 100M through summary and stage history, spilling, peak < 12 GB | "
                         f"peak {_gb(peak)} GB | {'yes' if ok else 'no'} |")
    return "\n".join(lines) + "\n"


def _stages_targets(steps: dict[str, dict[str, Any]]) -> list[str]:
    """Rows of the targets table for the customer summary, stages and stage history at 10M rows."""
    rows = []

    def row(target: str, measured: str, ok: bool) -> None:
        rows.append(f"| {target} | {measured} | {'yes' if ok else 'no'} |")

    limit = STAGES_TARGET["floor_ratio"]
    for name, floor, what in (("summary_clc", "summary_floor", "customer summary"),
                              ("summary_model_inputs", "model_inputs_floor", "model inputs (lifetimes' columns)")):
        if _finite(steps.get(name, {})) and _finite(steps.get(floor, {})):
            ratio = steps[name]["seconds"] / steps[floor]["seconds"]
            row(f"{what} within {limit:g} × of the hand-written DuckDB query", f"{ratio:.2f} ×", ratio <= limit)
    lifetimes = steps.get("summary_lifetimes", {})
    if _finite(lifetimes):
        for name, what in (("summary_clc", "customer summary (all columns)"),
                           ("summary_model_inputs", "model inputs (the same columns as lifetimes)")):
            if _finite(steps.get(name, {})):
                speedup = lifetimes["seconds"] / steps[name]["seconds"]
                row(f"{what} ≥ {STAGES_TARGET['lifetimes_speedup']:g} × faster than lifetimes, same run",
                    f"{speedup:.1f} ×", speedup >= STAGES_TARGET["lifetimes_speedup"])
    history = steps.get("stage_history", {})
    if _finite(history):
        row(f"36-month stage history < {STAGES_TARGET['history_seconds']:g} s",
            f"{_seconds(history['seconds'])} s", history["seconds"] < STAGES_TARGET["history_seconds"])
    measured = [steps[n] for n in ("summary_clc", "stages", "stage_history") if _finite(steps.get(n, {}))]
    if measured:
        peak = max(m["peak_gb"] for m in measured)
        row(f"summary, stages and stage history: peak < {STAGES_TARGET['peak_gb']:g} GB", f"{_gb(peak)} GB",
            peak < STAGES_TARGET["peak_gb"])
    return rows


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append",
                        help="transactions per size; repeat for several (default 1M and 10M)")
    parser.add_argument("--with-100m", action="store_true", help="add 100M rows (summary and stage history)")
    parser.add_argument("--steps", nargs="+", choices=[s.name for s in STEPS], help="only these steps")
    parser.add_argument("--skip-lifetimes-above", type=int, default=None,
                        help="time lifetimes only up to this many rows (it takes minutes at 10M)")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory_limit of every step")
    parser.add_argument("--report-memory-limit", default="1.5GB",
                        help="engine.memory_limit of the report's run config: per kernel, two kernels run at once")
    parser.add_argument("--spill-memory-limit", default="4GB",
                        help="DuckDB memory_limit at 100M rows and more, where DuckDB spills to disk")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="where to write the Markdown results")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.step:
        print(json.dumps(run_step(args.step, size_dir(args.rows[0]), args.as_of, args.memory_limit), default=str))
        return 0

    sizes = sorted(set(args.rows or DEFAULT_SIZES) | ({LARGE} if args.with_100m else set()))
    machine = describe_machine("duckdb", "ibis-framework", "pandas", "lifetimes", "papermill")
    print(f"machine: {machine}", flush=True)
    run: dict[str, Any] = {"command": " ".join(["benchmarks/bench_scale.py", *(argv if argv is not None else sys.argv[1:])]),
                           "machine": machine, "sizes": []}
    for rows in sizes:
        memory_limit = args.spill_memory_limit if rows >= LARGE else args.memory_limit
        data = prepare(rows, memory_limit, args.report_memory_limit)
        print(f"\n{rows:,} rows: {data['customers']:,} customers, {data['parquet_mb']:,.0f} MB Parquet, "
              f"as_of {data['as_of']}, memory_limit {memory_limit}", flush=True)
        results: dict[str, Any] = {}
        stale = size_dir(rows) / "results"
        for old in stale.glob("*.parquet") if stale.is_dir() else []:
            old.unlink()
        for step in STEPS:
            skip = (args.steps and step.name not in args.steps) or (step.max_rows is not None and rows > step.max_rows)
            if step.name == "summary_lifetimes" and args.skip_lifetimes_above is not None:
                skip = skip or rows > args.skip_lifetimes_above
            if skip:
                too_large = step.max_rows is not None and rows > step.max_rows
                results[step.name] = {"skipped": step.why_not_larger if too_large else "skipped by option"}
                continue
            result = measure(step.name, rows, data["as_of"], memory_limit)
            results[step.name] = result
            print(f"  {step.label:<58} {_seconds(result['seconds']):>9} s  {_gb(result['peak_gb']):>6} GB  "
                  f"{json.dumps({k: v for k, v in result['detail'].items() if k != 'notebooks'}, default=str)[:160]}",
                  flush=True)
        checks = compare_summaries(size_dir(rows))
        for check in checks:
            print(f"  check {check['step']}: {check['compared']:,} customers compared with the floor, "
                  f"{check['differ']:,} differ", flush=True)
        run["sizes"].append({"data": data, "steps": results, "checks": checks})
    run["finished"] = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    write_atomically(args.results, render(run))
    print(f"\nwritten: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
