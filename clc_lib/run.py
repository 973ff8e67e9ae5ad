"""A run: every table of a run config loaded and checked, the results analyses share, and the run cache.

Flow: config -> sources -> parsing -> quality rules (:mod:`clc_lib.loading`) -> **the run** ->
analyses. ``load_run(config)`` turns a run config (see :mod:`clc_lib.config`) into a
:class:`RunData`: the resolved settings (as_of, period, currency), Ibis tables for the large tables
(transactions, events), pandas frames for the small ones, and a
:class:`~clc_lib.quality.DataQualityReport`. Which tables there are, and which are small or dated,
is the table registry of :mod:`clc_lib.contract`. Only the loader modules know file formats and
connection details; everything downstream takes Ibis tables or pandas frames.

This is the layer above the loader: the results several analyses share (the customer summary, the
stages, the customer value) are computed here on first use, importing the analyses then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clc_lib.config import RunConfig, TableSpec, load_config
from clc_lib.contract import CONTRACTS
from clc_lib.engines import connect, connect_duckdb, engine_for, unique_table_name
from clc_lib.errors import DataError
from clc_lib.files import atomic_write
from clc_lib.periods import Period
from clc_lib.loading import as_of_timestamp, drop_temp_table, load_other_table, load_transactions
from clc_lib.quality import TABLE_COUNTS, TABLE_KEYS, DataQualityReport, RuleResult, TableQuality
from clc_lib.settings import engine_settings, plain
from clc_lib.sources import Source, execute_query, temp_table_from_memory

__all__ = [
    "RunData",
    "load_run",
    "save_run_cache",
]


#: The tables besides the transactions, in the order they are loaded (each is a field of RunData).
OPTIONAL_TABLES = tuple(name for name in CONTRACTS if name != "transactions")
#: Tables loaded into pandas frames (``small`` in their contract); the others stay engine tables.
SMALL_TABLES = tuple(name for name, contract in CONTRACTS.items() if contract.small)


@dataclass
class RunData:
    """Everything a run works on.

    Attributes
    ----------
    config
        The parsed run config.
    con
        The Ibis backend the tables live on (DuckDB by default).
    transactions
        Ibis table: customer_id, order_id, timestamp, amount (run currency, net; negative for returns),
        quantity, is_return and optional product_id, category, channel, currency.
    customers, spend, campaigns, surveys
        pandas DataFrames, or None when the config does not name the table.
    events
        Ibis table, or None.
    as_of
        Midnight of the as_of day; the whole day is included in the data.
    currency
        Run currency code (from the config; "" when not given).
    period
        Reporting period, "M" or "W".
    quality
        The :class:`~clc_lib.quality.DataQualityReport` of this load.
    """

    config: RunConfig
    con: Any
    transactions: Any
    as_of: pd.Timestamp
    currency: str
    period: str
    quality: DataQualityReport
    customers: pd.DataFrame | None = None
    spend: pd.DataFrame | None = None
    events: Any = None
    campaigns: pd.DataFrame | None = None
    surveys: pd.DataFrame | None = None
    _results: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _results_folder: Path | None = field(default=None, repr=False, compare=False)

    def result(self, name: str, compute: Callable[[], Any]) -> Any:
        """The run's result ``name``, computed by ``compute()`` at most once per run.

        Results of this run (its data, ``as_of`` and config) that several analyses share, such as
        the customer summary or the stages, are kept on the run. In a ``clc report`` run the
        runner computes them once and every notebook reads them from the run cache; a result first
        computed in a notebook is added to the cache for the notebooks that start later. With a
        cache, every call reads a fresh copy from it and nothing stays in memory between calls;
        without one, results stay on the run and DataFrames come back as copies. Either way,
        changing a returned frame never changes what other callers get.
        """
        if name not in self._results:
            stored = self._results_folder / f"{name}.pickle" if self._results_folder else None
            if stored is not None and stored.is_file():
                return pickle.loads(stored.read_bytes())
            value = compute()
            if stored is not None:
                _store_result(stored, value)
                return value
            self._results[name] = value
        value = self._results[name]
        return value.copy() if isinstance(value, pd.DataFrame) else value

    def summary(self) -> pd.DataFrame:
        """:func:`clc_lib.summary.customer_summary` of the transactions as of ``as_of``, computed once.

        ``t_x`` and ``T`` are in the run's model time unit (``clv: time_unit``, weeks by default).
        """
        from clc_lib.summary import customer_summary

        unit = self.config.clv.time_unit
        return self.result(f"summary_{unit}", lambda: customer_summary(self.transactions, self.as_of, time_unit=unit))

    def stage_rules(self):
        """:func:`clc_lib.stages.derive_stage_rules` as of ``as_of`` with the config's ``stages:`` (and the
        ``stage_rules`` given to :func:`load_run`), computed once."""
        from clc_lib.stages import derive_stage_rules

        return self.result("stage_rules", lambda: derive_stage_rules(self.transactions, self.as_of,
                                                                     rules=self.config.stages))

    def stages(self) -> pd.DataFrame:
        """:func:`clc_lib.stages.classify_stages` as of ``as_of`` with :meth:`stage_rules` and the events, computed once."""
        from clc_lib.stages import classify_stages

        return self.result("stages", lambda: classify_stages(self.transactions, self.as_of, rules=self.stage_rules(),
                                                             events=self.events))

    def __repr__(self) -> str:
        tables = ", ".join(n for n in OPTIONAL_TABLES
                           if getattr(self, n) is not None)
        tx = self.quality.tables.get("transactions")
        rows = f"{tx.rows_out:,} transactions, {tx.customers:,} customers" if tx else ""
        return (f"RunData({self.config.name!r}, as_of={self.as_of:%Y-%m-%d}, {rows}"
                + (f"; also {tables}" if tables else "") + ")")


def _shared_customer_value(run: RunData) -> Any:
    from clc_lib.clv import predict_run_value

    return predict_run_value(run)


#: Results that several notebooks use, computed once per run before the notebooks start.
SHARED_RESULTS: dict[str, Callable[[RunData], Any]] = {
    "customer summary": lambda run: run.summary(),
    "stage rules": lambda run: run.stage_rules(),
    "stages": lambda run: run.stages(),
    "customer value": _shared_customer_value,
}


def compute_shared_results(run: RunData) -> str:
    """Compute :data:`SHARED_RESULTS` into the run cache; say what was computed and how long it took.

    A result that fails here is left to the notebooks, which compute it themselves and show the
    error where it belongs.
    """
    import warnings

    done, failed = [], []
    started = time.perf_counter()
    # Warnings of the fits belong on the pages (the results carry them as notes) and in the notebook
    # logs, not on the runner's console, which a scheduler mails.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name, compute in SHARED_RESULTS.items():
            try:
                compute(run)
                done.append(name)
            except Exception as error:  # noqa: BLE001 - reported, and raised again in the notebook that needs it
                failed.append(f"{name} ({type(error).__name__})")
    text = f"computed once for every notebook in {time.perf_counter() - started:.1f} s: {', '.join(done) or 'nothing'}"
    notes = len({str(warning.message) for warning in caught})
    text += f"; {notes} model note(s), shown on the pages that use these results" if notes else ""
    return text + (f"; left to the notebooks: {', '.join(failed)}" if failed else "")


def load_run(config: RunConfig | Mapping[str, Any] | str | Path | None = None, *, as_of: Any = None,
             period: str | None = None, stage_rules: Mapping[str, Any] | None = None) -> RunData:
    """Load, validate and clean every table of a run.

    Parameters
    ----------
    config
        A run config: path to a YAML file, a mapping (DataFrames allowed as ``data``), a
        :class:`~clc_lib.config.RunConfig`, or None for the demo (``data/raw/demo/run.yaml``).
    as_of
        Date of the analysis; overrides the config's ``as_of``. Default: the date of the last
        transaction. Transactions and events after the as_of day are excluded (and counted).
    period
        ``"M"`` or ``"W"``; overrides the config's ``period`` for every per-period view.
    stage_rules
        Stage thresholds that override the config's ``stages:`` (threshold name -> days;
        ``loyal_min_purchase_days`` in purchase days), optionally with ``sources`` (threshold name
        -> text shown as its source), as :func:`clc_lib.stages.override_thresholds`. ``clc report``
        passes the thresholds pinned by the config's first run. None: the config's thresholds, the
        others derived from the data.

    Returns
    -------
    RunData

    Raises
    ------
    DataError
        A source breaks the data contract (missing file or column, unparseable values, empty table,
        a rule whose action is ``error``); the message names the file, column, rows and examples.
    ConfigError
        Unknown options or bad values in the config.
    """
    run_config = load_config(config)
    if period is not None:
        run_config = dataclasses.replace(run_config, period=Period.parse(period, what="period"))
    if stage_rules is not None:
        from clc_lib.stages import override_thresholds

        run_config = dataclasses.replace(run_config, stages=override_thresholds(run_config.stages, stage_rules))
    cached = _from_run_cache(config, run_config, as_of)
    if cached is not None:
        return cached
    engine = run_config.engine
    options = run_config.quality
    as_of_value = as_of_timestamp(as_of if as_of is not None else run_config.as_of)
    con = connect(run_config)
    loaded = load_transactions(run_config.tables["transactions"], con, options, as_of_value, engine,
                                run_config.name)
    if as_of_value is not None:
        _check_as_of_after_data(loaded.quality, as_of_value, run_config.period.code, options)
    report = DataQualityReport(as_of=loaded.as_of, currency=run_config.currency)
    report.add(loaded.quality)
    others: dict[str, Any] = {}
    for name in OPTIONAL_TABLES:
        if not run_config.has(name):
            continue
        spec = run_config.tables[name]
        table_con = _small_table_engine(spec, con, run_config) if name in SMALL_TABLES else con
        table = load_other_table(spec, table_con, options, loaded.as_of, engine, run_config.name)
        report.add(table.quality)
        others[name] = table.table.to_pandas() if name in SMALL_TABLES else table.table
        if name in SMALL_TABLES:
            _check_small_table(others[name], table.quality, con, loaded.table)
    return RunData(config=run_config, con=con, transactions=loaded.table, as_of=loaded.as_of,
                   currency=run_config.currency, period=run_config.period.code, quality=report, **others)


def _check_small_table(frame: pd.DataFrame, quality: TableQuality, con, transactions) -> None:
    """Apply :data:`~clc_lib.quality.TABLE_KEYS` (errors) and :data:`~clc_lib.quality.TABLE_COUNTS`
    (counted in ``quality``) to a loaded optional table, so that ``clc check`` refuses what the
    reports would refuse.

    Raises
    ------
    DataError
        A key of the table repeats (e.g. a customer twice in the customers table, or in both groups
        of one campaign).
    """
    name = quality.table
    key = TABLE_KEYS.get(name)
    if key is not None and len(frame):
        columns = list(key["columns"])
        repeated = frame.duplicated(columns, keep=False)
        if repeated.any():
            message, rows = key["message"], repeated
            conflict = key.get("conflict")
            if conflict not in frame.columns:  # e.g. campaigns without a group column
                conflict = None
            if conflict is not None:
                in_both = frame.groupby(columns, dropna=False)[conflict].transform("nunique") > 1
                if in_both.any():
                    message, rows = key["conflict_message"], in_both
            positions = np.flatnonzero(rows.to_numpy())
            exact = quality.rows_in == quality.rows_out  # then row i of the frame is data row i + 1
            examples = [(int(i) + 1 if exact else f"{int(i) + 1} of the kept rows",
                         " / ".join(str(frame[c].iloc[i]) for c in [*columns, *([conflict] if conflict else [])]))
                        for i in positions[:5]]
            raise DataError(f"{len(positions):,} {message}.", source=quality.source, column=", ".join(columns),
                            n_rows=len(positions), examples=examples, hint=key["hint"])
    for rule, description in TABLE_COUNTS.get(name, {}).items():
        if rule == "customer_not_in_transactions":
            rows = _rows_without_transactions(frame, con, transactions)
        elif rule == "period_start_not_first_day":
            starts = pd.to_datetime(frame["period_start"])
            rows = int(((starts.dt.day != 1) | (starts != starts.dt.normalize())).sum())
        else:
            raise KeyError(f"No count for the rule {rule!r} of {name}.")
        quality.rules.append(RuleResult(rule, "keep", rows, description=description))


def _rows_without_transactions(frame: pd.DataFrame, con, transactions) -> int:
    """Rows of ``frame`` whose customer_id has no row in the (engine) transactions table."""
    ids = pd.DataFrame({"customer_id": frame["customer_id"].dropna().astype(str).unique()})
    if ids.empty:
        return 0
    lookup = temp_table_from_memory(con, "customer_lookup", ids)
    try:
        known = execute_query(lookup.filter(lookup.customer_id.isin(transactions.customer_id)),
                         Source(lookup, "transactions", []))
    finally:
        drop_temp_table(con, lookup)
    return int((~frame["customer_id"].astype(str).isin(set(known["customer_id"]))).sum())


def _check_as_of_after_data(quality: TableQuality, as_of: pd.Timestamp, period: str,
                            options: Mapping[str, Any]) -> None:
    """Refuse an as_of far after the last transaction; warn when the data end over a period before it.

    Raises
    ------
    DataError
        ``as_of`` lies more than ``quality.max_days_after_last_transaction`` days after the last
        kept transaction.
    """
    last = quality.last_timestamp
    if last is None or pd.isna(last):
        return
    last_day = pd.Timestamp(last).normalize()
    gap_days = (as_of - last_day).days
    allowance = options["max_days_after_last_transaction"]
    if allowance is not None and gap_days > allowance:
        raise DataError(
            f"as_of {as_of:%Y-%m-%d} is {gap_days:,} days after the last transaction ({last_day:%Y-%m-%d}); at most "
            f"{allowance:,} days are allowed (quality.max_days_after_last_transaction).",
            source=quality.source, column="timestamp",
            hint="Check the as_of date (config or --as-of) and that the export is complete. To analyse old data "
                 "at a later date on purpose, raise quality.max_days_after_last_transaction (null allows any).")
    one_period_before = as_of - (pd.DateOffset(months=1) if period == "M" else pd.Timedelta(days=7))
    if last_day < one_period_before:
        unit = "month" if period == "M" else "week"
        quality.warnings.append(
            f"the data end {gap_days:,} days before as_of ({last_day:%Y-%m-%d} vs {as_of:%Y-%m-%d}), more than one "
            f"period ({unit}): recent customers look lapsed and the last periods are empty.")


_CACHE_KEY_FILE = "key.json"
_CACHE_FRAMES_FILE = "run.pickle"
_CACHED_ENGINE_TABLES = tuple(name for name in CONTRACTS if name not in SMALL_TABLES)
_CACHE_RESULTS_FOLDER = "results"
_PRIVATE_FILE_MODE = 0o600  # the run cache holds real customer ids (see save_run_cache)


def _store_result(path: Path, value: Any) -> None:
    with atomic_write(path, mode=_PRIVATE_FILE_MODE) as tmp:
        tmp.write_bytes(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _run_cache_key(config: Any, run_config: RunConfig, as_of: Any) -> dict[str, Any] | None:
    """What a cached load must have been asked for: the same config file, content, period, stage
    thresholds and as_of."""
    if not isinstance(config, (str, Path)):
        return None
    path = Path(config).expanduser().resolve()
    return {"config": str(path), "config_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "period": run_config.period.code, "stages": json.loads(json.dumps(plain(run_config.stages), default=str)),
            "as_of": None if as_of is None else str(as_of)}


def save_run_cache(run: RunData, folder: str | Path, *, config: str | Path, as_of: Any = None) -> bool:
    """Keep the cleaned tables of ``run`` in ``folder`` so that later loads of the same run skip the work.

    The transactions and events are written as Parquet (by DuckDB, streaming), the small tables and
    the data-quality report as one pickle, with a key: the config file (path and SHA-256 of its
    text), the period and the ``as_of`` argument. :func:`load_run` reads the cache instead of the
    sources when the notebook parameter ``run_cache`` names ``folder`` (see :mod:`clc_lib.handoff`) and the key
    matches; the result is the same data, as a lazily read Parquet table. ``clc report`` writes the
    cache once per run, in a private working folder outside the reports folder that it removes at
    the end, so every notebook sees the same snapshot of the data. Results kept on the run
    (:meth:`RunData.result`) go to the cache's ``results`` folder, now and whenever one is computed
    later, and every load from the cache reads them from there.

    The cache holds real customer ids: ``folder`` is made readable by its owner only (mode 700,
    files 600), and :func:`load_run` ignores a cache folder that others may write to (its pickles
    would run their code).

    Only DuckDB runs are cached: on Spark or a database the data stay where they are.
    Returns whether a cache was written.
    """
    if engine_for(run.con).label != "DuckDB":
        return False
    key = _run_cache_key(config, run.config, as_of)
    if key is None:
        return False
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    target.chmod(0o700)
    for name in _CACHED_ENGINE_TABLES:
        table = getattr(run, name)
        if table is not None:
            with atomic_write(target / f"{name}.parquet", mode=_PRIVATE_FILE_MODE) as tmp:
                table.to_parquet(tmp)
    frames = {name: getattr(run, name) for name in SMALL_TABLES}
    frames.update(as_of=run.as_of, quality=run.quality)
    with atomic_write(target / _CACHE_FRAMES_FILE, mode=_PRIVATE_FILE_MODE) as tmp:
        tmp.write_bytes(pickle.dumps(frames, protocol=pickle.HIGHEST_PROTOCOL))
    run._results_folder = target / _CACHE_RESULTS_FOLDER
    run._results_folder.mkdir(exist_ok=True, mode=0o700)
    for name, value in run._results.items():
        _store_result(run._results_folder / f"{name}.pickle", value)
    with atomic_write(target / _CACHE_KEY_FILE, mode=_PRIVATE_FILE_MODE) as tmp:  # last: a cache without a key is ignored
        tmp.write_text(json.dumps(key, indent=1), encoding="utf-8")
    return True


def _private_folder(folder: Path) -> bool:
    """Whether only this user can change ``folder``: owned by them, not writable by group or others."""
    try:
        status = folder.stat()
    except OSError:
        return False
    return status.st_uid == os.getuid() and not status.st_mode & 0o022


def _from_run_cache(config: Any, run_config: RunConfig, as_of: Any) -> RunData | None:
    from clc_lib.handoff import run_cache_folder

    folder = run_cache_folder()
    if not folder or not (Path(folder) / _CACHE_KEY_FILE).is_file():
        return None
    folder = Path(folder)
    if not _private_folder(folder):
        return None
    key = _run_cache_key(config, run_config, as_of)
    if key is None or json.loads((folder / _CACHE_KEY_FILE).read_text(encoding="utf-8")) != key:
        return None
    frames = pickle.loads((folder / _CACHE_FRAMES_FILE).read_bytes())
    con = connect(run_config)
    tables = {name: con.read_parquet(str(folder / f"{name}.parquet"), table_name=unique_table_name(name))
              for name in _CACHED_ENGINE_TABLES if (folder / f"{name}.parquet").is_file()}
    return RunData(config=run_config, con=con, transactions=tables["transactions"], as_of=frames["as_of"],
                   currency=run_config.currency, period=run_config.period.code, quality=frames["quality"],
                   events=tables.get("events"), _results_folder=folder / _CACHE_RESULTS_FOLDER,
                   **{name: frames[name] for name in SMALL_TABLES})


#: Identifier columns of the cached tables, with the prefix of their pseudonyms (customer ids first:
#: a value that is both is shown as a customer).
_CACHED_IDENTIFIERS: tuple[tuple[str, str], ...] = (("customer_id", "C"), ("person_id", "P"))


def run_cache_identifiers(folder: str | Path, values: Sequence[str] | set[str]) -> dict[str, str]:
    """Which of ``values`` are customer or person ids of the run cached in ``folder``.

    Returns value -> pseudonym prefix (``C`` or ``P``, see :data:`clc_lib.privacy.IDENTIFIER_COLUMNS`).
    The report runner uses it to pseudonymise the examples of an error message before publishing it.
    The lookup reads only the identifier columns of the cached tables.
    """
    import duckdb

    folder = Path(folder)
    wanted = sorted({str(v) for v in values})
    if not wanted:
        return {}
    found: dict[str, str] = {}
    con = duckdb.connect()
    try:
        for name in _CACHED_ENGINE_TABLES:
            path = folder / f"{name}.parquet"
            if not path.is_file():
                continue
            columns = {row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
            for column, prefix in _CACHED_IDENTIFIERS:
                if column not in columns:
                    continue
                rows = con.execute(
                    f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM read_parquet(?) '
                    f'WHERE CAST("{column}" AS VARCHAR) IN (SELECT UNNEST(?::VARCHAR[]))', [str(path), wanted]).fetchall()
                for (value,) in rows:
                    found.setdefault(value, prefix)
    finally:
        con.close()
    frames = pickle.loads((folder / _CACHE_FRAMES_FILE).read_bytes()) if (folder / _CACHE_FRAMES_FILE).is_file() else {}
    for frame in frames.values():
        if isinstance(frame, pd.DataFrame):
            for column, prefix in _CACHED_IDENTIFIERS:
                if column in frame.columns:
                    present = frame[column].dropna().astype(str)
                    for value in present[present.isin(wanted)].unique():
                        found.setdefault(value, prefix)
    return found


def _small_table_engine(spec: TableSpec, con, run_config: RunConfig):
    """The run's engine, or a local in-memory DuckDB for a small table in a file the engine cannot read.

    Small tables (customers, spend, campaigns, surveys) end up in pandas anyway, so reading their
    files on the client is no detour when the engine is a database server.
    """
    if spec.path is None or engine_for(con).reads_files:
        return con
    return connect_duckdb(engine_settings(None), run_config.base_dir)
