"""Pieces shared by the benchmark scripts: synthetic data, the hand-written summary query, memory.

The synthetic business (deterministic, hash-based, written by DuckDB so that no size ever has to
fit in Python memory):

* ``transactions``: ``rows`` order lines of up to ``customers`` customers over 36 months from
  2021-07-01. Customers are drawn with a skew (low ids buy more; with 10 rows per customer about
  83% of the ids occur, or every id with ``every_customer``), each customer's purchases fall after a customer-specific start, one
  order per line, 2% of lines are returns (negative ``amount``, ``is_return`` true), amounts
  5.00-204.99 in the run currency, quantity 1-3, one of 8 categories and 3 sales channels.
* ``customers``: one row per customer id ``0 .. customers-1`` with ``first_seen`` (the start of
  that customer's purchases), ``acquisition_channel`` (5 channels) and ``country`` (4 values).
* ``spend``: monthly spend per acquisition channel over the 36 months.

Customer ids are zero-padded text (7 digits up to 10M customers, more beyond).
"""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path

import duckdb
from machine import describe_machine  # noqa: F401  (re-exported for the scripts)

DATA_DIR = Path(__file__).resolve().parent / "data"
START = "2021-07-01"
MONTHS = 36
SALES_CHANNELS = ("web", "store", "app")
CATEGORIES = ("music", "books", "games", "film", "home", "garden", "toys", "sport")
ACQUISITION_CHANNELS = ("search", "social", "email", "affiliate", "direct")
COUNTRIES = ("DE", "FR", "NL", "ES")

_NET_PURCHASE_DAYS = """
rows AS (
    SELECT * FROM read_parquet('{path}') WHERE "timestamp" < DATE '{as_of}' + INTERVAL 1 DAY
),
per_date AS (
    SELECT customer_id, CAST("timestamp" AS DATE) AS day, bool_or(NOT is_return) AS bought,
           sum(amount) FILTER (WHERE NOT is_return) AS day_value,
           sum(amount) FILTER (WHERE is_return) AS returned
    FROM rows GROUP BY ALL
),
anchored AS (
    SELECT *, max(CASE WHEN bought THEN day END) OVER (
               PARTITION BY customer_id ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS anchor
    FROM per_date
),
days AS (
    SELECT customer_id, anchor AS day, coalesce(sum(day_value), 0) AS day_value,
           coalesce(sum(returned), 0) AS returned
    FROM anchored WHERE anchor IS NOT NULL GROUP BY ALL
),
repeat_days AS (
    SELECT *, day_value + returned AS net_value,
           (returned >= 0 OR day_value + returned > 0)
               AND day > min(day) OVER (PARTITION BY customer_id) AS counted_repeat
    FROM days
),
per_day AS (
    SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) AS purchase_days,
           sum(day_value) AS gross, count(*) FILTER (WHERE counted_repeat) AS x,
           sum(net_value) FILTER (WHERE counted_repeat) AS repeat_value,
           max(day) FILTER (WHERE counted_repeat) AS last_repeat_day
    FROM repeat_days GROUP BY customer_id
)"""
# Purchase days net of returns, the models' rule (docs/clv.md): a return is booked against the
# customer's latest purchase day on or before it; a day whose returns bring its net value to zero or
# less is cancelled and is no repeat purchase; x, t_x and zbar use the repeat days that count.

HAND_WRITTEN_SUMMARY = "WITH " + _NET_PURCHASE_DAYS + """,
per_row AS (
    SELECT customer_id,
           count(DISTINCT order_id) FILTER (WHERE NOT is_return) AS orders,
           sum(amount) AS net_revenue,
           -coalesce(sum(amount) FILTER (WHERE is_return), 0) AS return_amount
    FROM rows GROUP BY customer_id
)
SELECT r.customer_id, d.first_day AS first_purchase, d.last_day AS last_purchase, r.orders,
       coalesce(d.purchase_days, 0) AS purchase_days, r.net_revenue, r.return_amount,
       d.gross / nullif(r.orders, 0) AS aov,
       date_diff('day', d.first_day, DATE '{as_of}') AS tenure_days,
       date_diff('day', d.last_day, DATE '{as_of}') AS recency_days,
       date_diff('day', d.first_day, d.last_day) / nullif(d.purchase_days - 1, 0) AS mean_gap_days,
       coalesce(d.x, 0) AS x,
       coalesce(date_diff('day', d.first_day, d.last_repeat_day) / 7.0,
                CASE WHEN d.first_day IS NOT NULL THEN 0.0 END) AS t_x,
       date_diff('day', d.first_day, DATE '{as_of}') / 7.0 AS T,
       coalesce(d.repeat_value / nullif(d.x, 0), 0) AS zbar
FROM per_row r LEFT JOIN per_day d USING (customer_id)
"""
"""The customer summary's columns as one DuckDB query over the Parquet file: the practical floor.

Format with ``path`` and ``as_of`` (``YYYY-MM-DD``); ``t_x`` and ``T`` are in weeks.
"""


HAND_WRITTEN_MODEL_INPUTS = "WITH " + _NET_PURCHASE_DAYS + """
SELECT customer_id, x,
       coalesce(date_diff('day', first_day, last_repeat_day) / 7.0, 0.0) AS t_x,
       date_diff('day', first_day, DATE '{as_of}') / 7.0 AS T,
       coalesce(repeat_value / nullif(x, 0), 0) AS zbar
FROM per_day
"""
"""The columns of ``lifetimes.utils.summary_data_from_transaction_data`` (x, t_x and T in weeks, zbar)
for customers with a purchase, net of returns as in :func:`clc_lib.summary.model_inputs`, as one
DuckDB query: the floor for ``model_inputs``."""


def _id_width(customers: int) -> int:
    return max(7, len(str(max(customers - 1, 0))))


def _customer_start(customer: str) -> str:
    """SQL: the share (0-0.8) of the 36 months after which a customer's purchases start."""
    return f"(hash({customer}, 3) % 1000) / 1000.0 * 0.8"


def _copy_atomically(query: str, target: Path, options: str = "FORMAT parquet") -> None:
    """``COPY (query) TO target`` through a temporary file renamed into place when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with duckdb.connect() as con:
        con.execute(f"COPY ({query}) TO '{tmp}' ({options})")
    os.replace(tmp, target)


def generate(path: Path, rows: int, customers: int, *, every_customer: bool = False) -> None:
    """Write ``rows`` transactions of up to ``customers`` customers to Parquet (deterministic).

    Columns: ``customer_id, order_id, timestamp, amount, quantity, is_return, category, channel``
    (the data contract's names and types, so the file can be read directly as the transactions
    table). The first six columns are the same for the same arguments whatever else is added
    later. With ``every_customer`` the first ``customers`` lines go one to each customer id (so
    every id occurs) and only the remaining lines follow the skewed draw.
    """
    seconds = MONTHS * 30 * 86400
    start = _customer_start("c")
    sales = ", ".join(f"'{c}'" for c in SALES_CHANNELS)
    categories = ", ".join(f"'{c}'" for c in CATEGORIES)
    skewed = f"CAST(floor({customers} * pow((hash(i, 1) % 1000000) / 1000000.0, 1.6)) AS BIGINT)"
    customer = f"CASE WHEN i < {customers} THEN i ELSE {skewed} END" if every_customer else skewed
    query = f"""
        WITH base AS (
            SELECT i,
                   {customer} AS c,
                   (hash(i, 2) % 1000000) / 1000000.0 AS u
            FROM range({rows}) t(i)
        )
        SELECT lpad(CAST(c AS VARCHAR), {_id_width(customers)}, '0') AS customer_id,
               CAST(i AS VARCHAR) AS order_id,
               TIMESTAMP '{START}' + to_seconds(CAST(({start} + u * (1 - {start})) * {seconds} AS BIGINT))
                   AS "timestamp",
               CASE WHEN hash(i, 4) % 50 = 0 THEN -1 ELSE 1 END * (5 + (hash(i, 5) % 20000) / 100.0) AS amount,
               CAST(1 + hash(i, 6) % 3 AS DOUBLE) AS quantity,
               hash(i, 4) % 50 = 0 AS is_return,
               [{categories}][1 + CAST(hash(i, 7) % {len(CATEGORIES)} AS INTEGER)] AS category,
               [{sales}][1 + CAST(hash(i, 8) % {len(SALES_CHANNELS)} AS INTEGER)] AS channel
        FROM base
    """
    _copy_atomically(query, path)


def generate_customers(path: Path, customers: int) -> None:
    """Write the customers table (Parquet): id, ``first_seen``, ``acquisition_channel``, ``country``.

    ``first_seen`` is midnight of the day the customer's purchases may start (never after the
    first purchase); the channel mix differs by customer so that survival curves differ a little.
    """
    seconds = MONTHS * 30 * 86400
    channels = ", ".join(f"'{c}'" for c in ACQUISITION_CHANNELS)
    countries = ", ".join(f"'{c}'" for c in COUNTRIES)
    query = f"""
        SELECT lpad(CAST(c AS VARCHAR), {_id_width(customers)}, '0') AS customer_id,
               date_trunc('day', TIMESTAMP '{START}' + to_seconds(CAST({_customer_start("c")} * {seconds} AS BIGINT)))
                   AS first_seen,
               [{channels}][1 + CAST(hash(c, 9) % {len(ACQUISITION_CHANNELS)} AS INTEGER)] AS acquisition_channel,
               [{countries}][1 + CAST(hash(c, 10) % {len(COUNTRIES)} AS INTEGER)] AS country
        FROM range({customers}) t(c)
    """
    _copy_atomically(query, path)


def generate_spend(path: Path, customers: int) -> None:
    """Write monthly spend per acquisition channel (CSV), about 20 (currency) per customer in total."""
    channels = ", ".join(f"'{c}'" for c in ACQUISITION_CHANNELS)
    per_month = 20.0 * customers / MONTHS / len(ACQUISITION_CHANNELS)
    query = f"""
        SELECT CAST(TIMESTAMP '{START}' + to_months(m) AS DATE) AS period_start, channel,
               round({per_month} * (0.6 + (hash(m, channel) % 800) / 1000.0), 2) AS spend
        FROM range({MONTHS}) t(m), (SELECT unnest([{channels}]) AS channel)
        ORDER BY period_start, channel
    """
    _copy_atomically(query, path, "FORMAT csv, HEADER true")


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far, GB (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def children_peak_rss_gb() -> float:
    """Largest peak resident memory of any waited-for descendant of this process, GB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2


class TreeMemory:
    """Poll the summed resident memory of a process and all its descendants in a thread.

    ``peak_gb`` is the largest sum seen. Polling every ``interval`` seconds can miss a spike
    shorter than the interval; the sum is what the machine must hold at one time, unlike the
    largest single ``ru_maxrss``.
    """

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        import psutil

        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak_gb = 0.0
        self.peak_processes = 0
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                processes = [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in processes:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    continue
            if total / 1024**3 > self.peak_gb:
                self.peak_gb = total / 1024**3
                self.peak_processes = len(processes)
            time.sleep(self._interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
