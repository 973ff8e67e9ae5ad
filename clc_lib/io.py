"""Loading a run: the engine, the sources, column mapping, parsing, validation and data-quality rules.

``load_run(config)`` turns a run config (see :mod:`clc_lib.config`) into a :class:`RunData`:
Ibis tables for the transactions and events, pandas frames for the small tables, and a
:class:`~clc_lib.quality.DataQualityReport`. Only this module knows file formats and connection
details; everything downstream takes Ibis tables or pandas frames.

How a table is loaded
---------------------
1. **Read** the source on the engine (DuckDB by default): CSV and whitespace-separated text with
   every column as text, Parquet with its own types, a pandas DataFrame, or a table/query in a
   database. Globs read every matching file. Raw files are never modified.
2. **Map** contract names to source columns (the ``columns:`` mapping; unmapped contract columns
   are matched by name ignoring case, spaces and underscores, e.g. ``CustomerID``).
3. **Parse** text into timestamps and numbers with ``try_strptime`` / ``try_cast`` so that failures
   can be counted and shown (row numbers are 1-based data rows, the header is not counted).
   Date formats and the decimal separator are detected from the first values unless configured.
4. **Apply the data-quality rules** of :mod:`clc_lib.quality` and count what each one does, in one
   aggregate query; rules whose action is ``error`` raise :class:`~clc_lib.errors.DataError`.
5. **Cache** the cleaned table on the engine (a temporary table that DuckDB spills to disk), or
   with ``engine: {materialize: true}`` write it as Parquet under ``data/processed/<run>/``.

Transactions output (one row per line): ``customer_id`` (string), ``order_id`` (string),
``timestamp`` (timestamp, no time zone), ``amount`` (float64, run currency, net: negative for returns
and cancellations), ``quantity`` (float64, nullable; negative for returns), ``is_return`` (bool),
and ``product_id``, ``category``, ``channel``, ``currency`` when the source has them.

Without an ``order_id`` column the loader derives ``order_id = customer_id + "|" + timestamp``
(ISO, to the second): the lines of one customer at the same timestamp form one order. For
date-only sources such as CDNOW this is one order per customer and day.
"""

from __future__ import annotations

import codecs
import dataclasses
import csv as _csv
import difflib
import glob as _glob
import hashlib
import json
import os
import pickle
import re
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from clc_lib.config import (
    PERIODS,
    RunConfig,
    TableSpec,
    _parse_table_spec,
    expand_env,
    load_config,
    merge_options,
    parse_as_of,
)
from clc_lib.contract import CONTRACTS, TableContract
from clc_lib.engines import connect_spark, connect_url, engine_for, engine_of
from clc_lib.errors import ConfigError, DataError
from clc_lib.paths import process_running, processed_dir
from clc_lib.quality import (
    DUPLICATE_RULE_NAME,
    QUALITY_RULES,
    REMOVING_ACTIONS,
    TABLE_COUNTS,
    TABLE_KEYS,
    VALUE_CHECKS,
    DataQualityReport,
    RuleContext,
    RuleResult,
    TableQuality,
    min_date_of,
    quality_options,
)

__all__ = [
    "ENGINE_DEFAULTS",
    "CSV_DEFAULTS",
    "RunData",
    "atomic_write",
    "connect",
    "load_run",
    "load_table",
    "read_transactions",
    "save_run_cache",
]

ENGINE_DEFAULTS: dict[str, Any] = {
    "backend": "duckdb",
    "database": None,  # path of a DuckDB database file (relative to the config); None = in memory
    "memory_limit": None,  # e.g. "4GB"; None = DuckDB's default (80% of RAM)
    "threads": None,  # None = all cores
    "temp_directory": None,  # where DuckDB spills; None = data/processed/duckdb_tmp
    "cache": True,  # keep the cleaned events as an engine table (transactions always are)
    "materialize": False,  # also write the cleaned transactions as Parquet under data/processed/<run>/
    # Spark (backend: spark) and other databases (backend: url); see docs/engines.md.
    "master": None,  # Spark master URL: local[2], spark://host:7077, yarn, k8s://...; None = local[*]
    "app_name": "clc",  # Spark application name
    "settings": {},  # Spark configuration, e.g. {spark.sql.shuffle.partitions: 64}
    "url": None,  # Ibis connection URL of a database engine; passwords as ${ENV_VAR}
}

CSV_DEFAULTS: dict[str, Any] = {
    "delimiter": None,  # None = detect among , ; tab | and whitespace; "whitespace" = runs of blanks
    "decimal": None,  # None = detect per column ("." or ",")
    "thousands": None,  # None = "." when the decimal separator is ",", else none
    "encoding": None,  # None = detect (BOM, UTF-8, else Windows-1252/Latin-1)
    "header": True,
    "names": None,  # column names when the file has no header (or to replace it)
    "date_format": None,  # strptime format, e.g. "%Y%m%d"; None = detect
    "dayfirst": False,  # for ambiguous dates such as 03/04/2024
    "quote": '"',
    "skip_rows": 0,  # lines to skip before the header
    "max_line_bytes": None,  # longest line (quoted line breaks included); None = the engine's (DuckDB: 2,000,000)
}

FILE_FORMATS = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".dat": "csv", ".gz": "csv",
                ".parquet": "parquet", ".pq": "parquet"}

# Main date column of each table, for the date range in the report and the as_of exclusion.
DATE_COLUMNS = {"transactions": "timestamp", "events": "timestamp", "customers": "first_seen",
                "spend": "period_start", "campaigns": "sent_at", "surveys": "responded_at"}
SMALL_TABLES = ("customers", "spend", "campaigns", "surveys")
# Optional tables whose rows after the as_of day are excluded (customers are attributes: all kept).
AS_OF_TABLES = ("spend", "events", "campaigns", "surveys")

_ROW = "__clc_row"
_FILE = "__clc_file"
_LINE = "__clc_line"
_FIELDS_OK = "__clc_fields_ok"
_AFTER = "__clc_after_as_of"


# ---------------------------------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------------------------------


def engine_options(config: RunConfig | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``engine:`` section merged into :data:`ENGINE_DEFAULTS` (unknown keys are refused)."""
    overrides = config.engine if isinstance(config, RunConfig) else (config or {})
    return merge_options("engine", ENGINE_DEFAULTS, overrides)


def _connect_duckdb(engine: Mapping[str, Any], base_dir: Path):
    database = engine["database"]
    if database:
        database = Path(os.path.expanduser(str(database)))
        database = str(database if database.is_absolute() else base_dir / database)
    temp_directory = engine["temp_directory"] or processed_dir() / "duckdb_tmp"
    # jemalloc's background threads hand memory freed after a query back to the operating system;
    # without them a notebook's process keeps its largest query's memory until it exits.
    settings = {"temp_directory": str(temp_directory), "allocator_background_threads": True}
    if engine["memory_limit"]:
        settings["memory_limit"] = str(engine["memory_limit"])
    if engine["threads"]:
        settings["threads"] = int(engine["threads"])
    try:
        con = ibis.duckdb.connect(database or ":memory:", **settings)
    except Exception as exc:  # duckdb raises its own error types for bad settings
        raise ConfigError(f"Could not start DuckDB with engine options {dict(engine)}: {exc}") from None
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except Exception:  # inside Jupyter, DuckDB 2 may refuse progress-bar settings without ipywidgets
        pass
    con.raw_sql("SET TimeZone = 'UTC'")  # time-zone-aware sources become UTC wall-clock time
    return con


# Engine name -> factory(engine options, config folder) -> ibis backend. Other engines register here.
ENGINES = {"duckdb": _connect_duckdb, "spark": connect_spark, "url": connect_url}


def connect(config: RunConfig | Mapping[str, Any] | str | Path | None = None):
    """Start the compute engine named in the ``engine:`` section and return the Ibis backend.

    Parameters
    ----------
    config
        A run config (object, mapping or path) or ``None`` for the defaults (in-memory DuckDB).
        The section reads ``backend`` (``duckdb``), ``database`` (file, relative to the config),
        ``memory_limit`` (e.g. ``"4GB"``), ``threads`` and ``temp_directory`` (where DuckDB spills
        to disk; default ``data/processed/duckdb_tmp``). ``backend: spark`` starts or joins a Spark
        session (``master``, ``app_name``, ``settings``); ``url:`` (or ``backend: url``) connects to
        any database Ibis supports, e.g. ``postgres://analyst:${PGPASSWORD}@db/shop``. See
        ``docs/engines.md``.
    """
    if config is None:
        engine, base_dir = engine_options(None), Path.cwd()
    elif isinstance(config, RunConfig):
        engine, base_dir = engine_options(config), config.base_dir
    elif isinstance(config, Mapping) and "transactions" not in config:
        engine, base_dir = engine_options(config), Path.cwd()  # the engine section itself
    else:
        run_config = load_config(config)
        engine, base_dir = engine_options(run_config), run_config.base_dir
    if engine["url"] and engine["backend"] == ENGINE_DEFAULTS["backend"]:
        engine = {**engine, "backend": "url"}  # `engine: {url: ...}` alone names a database engine
    factory = ENGINES.get(str(engine["backend"]))
    if factory is None:
        raise ConfigError(f"engine.backend is {engine['backend']!r}; available: {', '.join(ENGINES)}.")
    return factory(engine, base_dir)


# ---------------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------------


@contextmanager
def atomic_write(path: str | Path, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path in the folder of ``path``; on success move it onto ``path`` atomically.

    Readers never see a half-written file: the data are written to ``.<name>.<pid>.<random>.tmp``
    next to the target and renamed with :func:`os.replace`. The result gets the permission bits
    ``mode`` when given (e.g. 0o600 for private files); otherwise it keeps those of the file it
    replaces (a new file gets the umask's default, e.g. 0644). On an exception the temporary
    file is removed and ``path`` is left as it was; temporary files that a killed process left
    behind (their process id no longer runs) are removed by the next write of the same path.

    Examples
    --------
    >>> with atomic_write(tmp_dir / "summary.parquet") as tmp:  # doctest: +SKIP
    ...     frame.to_parquet(tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as DuckDB's COPY want to create the file themselves
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, _mode_for(target) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def _mode_for(target: Path) -> int:
    """Permission bits for a file written onto ``target``: those of the file it replaces, else the umask's."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:  # read without changing it where the system tells (Linux); os.umask can only set and return
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current



def remove_abandoned_temporaries(target: str | Path) -> list[Path]:
    """Remove the temporary files of :func:`atomic_write` for ``target`` whose writer no longer runs.

    A process killed while writing (SIGKILL, a power cut) cannot clean up after itself; its
    ``.<name>.<pid>.<random>.tmp`` file stays. Files of running processes are left alone.

    Returns
    -------
    list of Path
        The files (or folders) removed.
    """
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
    removed = []
    if not target.parent.is_dir():
        return removed
    for candidate in target.parent.iterdir():
        match = pattern.match(candidate.name)
        if match is None or process_running(int(match.group(1))):
            continue
        if candidate.is_dir():
            import shutil

            shutil.rmtree(candidate, ignore_errors=True)
        else:
            candidate.unlink(missing_ok=True)
        removed.append(candidate)
    return removed


# ---------------------------------------------------------------------------------------------------
# Reading sources
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Source:
    """A source opened on the engine, with its raw columns (source names)."""

    table: Any  # ibis.Table
    description: str
    columns: list[str]  # the source's data columns (internal columns excluded)
    multi_file: bool = False
    structural_check: bool = False  # has a _FIELDS_OK column (whitespace-separated files)
    csv_options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    duplicate_columns: dict[str, str] = field(default_factory=dict)  # column name -> repeated header text


def _table_name(prefix: str) -> str:
    return f"clc_{prefix}_{uuid.uuid4().hex[:10]}"


def _closest(name: str, candidates: Sequence[str]) -> str | None:
    normalized = {_normalize(c): c for c in candidates}
    close = difflib.get_close_matches(_normalize(name), list(normalized), n=1, cutoff=0.5)
    return normalized[close[0]] if close else None


def _normalize(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(name).lower())


def _describe(spec: TableSpec) -> str:
    if spec.connection and (spec.table or spec.sql):
        what = f"table {spec.table!r}" if spec.table else "SQL query"
        return f"{what} in {spec.connection}"  # the connection still holds ${VAR}, never a secret
    return spec.describe()


def _open_source(spec: TableSpec, con) -> _Source:
    description = _describe(spec)
    if spec.data is not None:
        return _open_frame(spec, con, description)
    if spec.path is not None:
        return _open_files(spec, con, description)
    return _open_database(spec, con, description)


def _open_frame(spec: TableSpec, con, description: str) -> _Source:
    data = spec.data
    if isinstance(data, ibis.Table):
        frame_table = data
    else:
        if not isinstance(data, pd.DataFrame):
            raise ConfigError(f"'data' of '{spec.name}' must be a pandas DataFrame, got {type(data).__name__}.")
        frame = data.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        # Mixed Python objects (e.g. ids given partly as int, partly as str) become text.
        objects = {c: "string" for c in frame.columns if frame[c].dtype == object}
        frame = frame.astype(objects) if objects else frame
        frame_table = _temp_table_from_memory(con, spec.name, frame)
    return _Source(frame_table, description, list(frame_table.columns))


def _resolve_files(spec: TableSpec, description: str) -> tuple[list[Path], bool]:
    path = spec.resolved_path
    is_glob = any(ch in str(spec.path) for ch in "*?[")
    if is_glob:
        files = sorted(Path(p) for p in _glob.glob(str(path), recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"No file matches the pattern of '{spec.name}'.", source=str(path),
                            hint=f"Check the path; it is relative to the config folder {spec.base_dir}.")
        return files, True
    if path.is_dir():
        raise DataError(f"The path of '{spec.name}' is a folder, not a data file.", source=str(path),
                        hint=f"Name the file, or every file of the folder with a glob such as {spec.path}/*.csv.")
    if path.exists() and not path.is_file():
        raise DataError(f"The path of '{spec.name}' is not a regular file (a device, pipe or socket); expected a "
                        "CSV or Parquet file.", source=str(path))
    if path.is_file() and not os.access(path, os.R_OK):
        raise DataError(f"The file of '{spec.name}' cannot be read (permission denied).", source=str(path))
    if not path.is_file():
        siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
        close = difflib.get_close_matches(path.name, siblings, n=1)
        hint = f"Did you mean '{close[0]}'? " if close else ""
        raise DataError(f"The file of '{spec.name}' does not exist.", source=str(path),
                        hint=hint + f"Paths are relative to the config folder {spec.base_dir}.")
    return [path], False


def _file_format(spec: TableSpec, files: list[Path]) -> str:
    if spec.format:
        fmt = str(spec.format).lower()
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"format of '{spec.name}' is {spec.format!r}; use csv or parquet.")
        return fmt
    formats = set()
    for file in files:
        suffixes = [s.lower() for s in file.suffixes] or [""]
        formats.add("parquet" if any(FILE_FORMATS.get(s) == "parquet" for s in suffixes) else "csv")
    if len(formats) > 1:
        raise ConfigError(f"The files of '{spec.name}' mix CSV and Parquet; set 'format' or narrow the glob.")
    return formats.pop()


def _open_files(spec: TableSpec, con, description: str) -> _Source:
    files, multi = _resolve_files(spec, description)
    empty = [f for f in files if f.stat().st_size == 0]
    if empty:
        raise DataError(f"The '{spec.name}' file is empty (0 bytes).", source=str(empty[0]), n_rows=0)
    paths = [str(f) for f in files]
    engine = engine_for(con)
    if not engine.reads_files:
        raise ConfigError(f"'{spec.name}' is a file, but " + engine._no_files_message()[4:])
    file_format = _file_format(spec, files)
    if file_format == "csv":
        _refuse_binary(spec, files)
    if file_format == "parquet":
        try:
            table = engine.read_parquet(paths, _table_name(spec.name), _FILE if multi else None)
        except Exception as exc:
            raise DataError(f"Could not read '{spec.name}' as Parquet: {_first_line(exc)}",
                            source=description) from None
        columns = [c for c in table.columns if c != _FILE]
        return _Source(table, description, columns, multi_file=multi)
    return _open_csv(spec, con, description, files, multi)


def _first_line(exc: Exception) -> str:
    """The informative start of an engine error (DuckDB's CSV errors add the line and the reason).

    The text of the offending line (DuckDB's "Original Line") is left out: it can be megabytes long
    and may come from a file that is not a data file at all.
    """
    message = str(exc).strip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if "Original Line:" in message:  # the line's text may span several lines: keep only the reason
        reason = _CSV_ERROR_REASON.search(message)
        return lines[0] + (f" {reason.group(0).strip()}" if reason else "")
    kept = lines[:1] + [line for line in lines[1:3] if not line.startswith("Possible Solution")]
    return " ".join(kept)


_CSV_ERROR_REASON = re.compile(r"^(Value with unterminated quote found\.|Expected Number of Columns:.*|Maximum line size.*"
                               r"|Invalid unicode.*|.*[Cc]ould not convert.*)$", re.MULTILINE)


_LINE_TOO_LONG = re.compile(r"Maximum line size of (\d+) bytes exceeded\. Actual Size: ?(\d+) bytes")
_ERROR_LINE = re.compile(r"CSV Error on Line: (\d+)")


def _line_too_long(exc: Exception, source: str, max_line_bytes: Any = None) -> DataError | None:
    """A DataError naming the file and line when an engine refused a line as too long, else None.

    DuckDB reports a quoted value longer than the line limit as an unterminated quote; the message
    says both, since a quote that is never closed and a huge value look the same to the reader.
    """
    message = str(exc)
    size = _LINE_TOO_LONG.search(message)
    line = _ERROR_LINE.search(message)
    where = f"Line {int(line.group(1)):,}" if line else "A line"
    if size is None and "unterminated quote" in message:
        limit = f"{max_line_bytes:,} bytes" if isinstance(max_line_bytes, int) else "2,000,000 bytes, DuckDB's default"
        return DataError(
            f"{where} of the file opens a quoted value that is not closed within the line limit ({limit}).",
            source=source,
            hint="Check the quotes on that line (the line number counts the header): a quote that is never closed "
                 "makes the rest of the file one value. If a value really is that long, raise csv: "
                 "{max_line_bytes: ...} for this table.")
    if size is None:
        return None
    return DataError(
        f"{where} of the file is {int(size.group(2)):,} bytes long, more than the {int(size.group(1)):,} bytes a "
        "line may have.", source=source,
        hint="A quote that is never closed makes the rest of the file one long field: check the quotes on that "
             "line (the line number counts the header). If such long values are real, raise csv: "
             "{max_line_bytes: ...} for this table.")


def _allow_sample_sized_fields() -> None:
    """Let Python's csv module split any field of the sampled head of a file.

    Its default limit (128 KB per field) is far below what a data file may hold; the sample is
    :data:`_SAMPLE_BYTES` long, so no field in it can be longer. The engine applies the real limit
    (``max_line_bytes``) when it reads the file.
    """
    if _csv.field_size_limit() < _SAMPLE_BYTES:
        _csv.field_size_limit(_SAMPLE_BYTES)


# File signatures (first bytes) of formats that are not text, with what to tell the user. A text
# source starting with one of them was saved in the wrong format or renamed.
BINARY_SIGNATURES: dict[bytes, tuple[str, str]] = {
    b"PK\x03\x04": ("a ZIP archive, e.g. an Excel .xlsx workbook",
                    "Save the sheet as CSV (File > Save As > CSV UTF-8), or unzip the export first."),
    b"\xd0\xcf\x11\xe0": ("an Excel 97-2003 .xls workbook", "Save the sheet as CSV (File > Save As > CSV UTF-8)."),
    b"PAR1": ("a Parquet file", "Set format: parquet for this table, or give the file a .parquet name."),
    b"%PDF": ("a PDF document", "Export the data itself as CSV or Parquet."),
    b"SQLite format 3\x00": ("an SQLite database", "Export the table as CSV, or read it through a database connection."),
}
GZIP_SIGNATURE = b"\x1f\x8b"
_SAMPLE_BYTES = 256 * 1024  # head of a text file read to detect its encoding and dialect


def _is_gzip(file: Path) -> bool:
    with open(file, "rb") as handle:
        return handle.read(2) == GZIP_SIGNATURE


def _open_bytes(file: Path):
    """A binary file object of the text in ``file``, decompressed when it is gzip (whatever its name)."""
    import gzip

    return gzip.open(file, "rb") if _is_gzip(file) else open(file, "rb")


def _refuse_binary(spec: TableSpec, files: list[Path]) -> None:
    """DataError for a text source that is really a workbook, archive, Parquet file or other binary file."""
    for file in files:
        with _open_bytes(file) as handle:
            head = handle.read(4096)
        for signature, (what, hint) in BINARY_SIGNATURES.items():
            if head.startswith(signature):
                raise DataError(f"The '{spec.name}' file {file.name} is {what}, not a text (CSV) file.",
                                source=str(file), hint=hint)
        utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        if b"\x00" in head and not utf16:
            raise DataError(f"The '{spec.name}' file {file.name} is binary (it contains NUL bytes), not a text "
                            "(CSV) file.", source=str(file),
                            hint="Export the data as CSV or Parquet; for UTF-16 text set csv: {encoding: utf-16}.")


# Encodings DuckDB reads natively; any other is transcoded to UTF-8 under data/processed first.
_DUCKDB_ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "utf-8-sig": "utf-8", "utf-16": "utf-16",
                     "latin-1": "latin-1", "latin1": "latin-1", "iso-8859-1": "latin-1",
                     "iso8859-1": "latin-1"}


def _detect_encoding(sample: bytes, truncated: bool = False) -> str:
    """BOM first; then UTF-8 if the sample decodes; else Windows-1252 when it uses 0x80-0x9F, else Latin-1.

    ``truncated``: the sample is the start of a longer file, so its last character may be cut.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if truncated and exc.start >= len(sample) - 4:  # a multi-byte character cut by the end of the sample
            return "utf-8"
    return "cp1252" if re.search(rb"[\x80-\x9f]", sample) else "latin-1"


def _sample_lines(file: Path, encoding: str, skip_rows: int, n_lines: int = 50) -> list[str]:
    _allow_sample_sized_fields()
    with _open_bytes(file) as handle:
        raw = handle.read(_SAMPLE_BYTES)
    text = raw.decode(codecs.lookup(encoding).name if encoding != "utf-8" else "utf-8-sig", errors="replace")
    lines = text.splitlines()
    if len(raw) == _SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # possibly cut in the middle
    lines = [ln for ln in lines[skip_rows:] if ln.strip()]
    return lines[:n_lines]


def _detect_delimiter(lines: list[str], quote: str) -> str | None:
    """The delimiter that splits the header into most fields and agrees best with the other lines.

    Candidates are ``,`` ``;`` tab and ``|``; a candidate must give more than one field on the first
    line, and the share of sampled lines with that many fields decides between candidates (so one
    malformed line still gets the right delimiter and then a precise error from the reader).
    Returns ``"whitespace"`` for files with none of the candidates whose lines split on blanks, and
    None when nothing fits (DuckDB's own sniffer then decides).
    """
    if not lines:
        return None
    best, best_score = None, (0.0, 1)
    for candidate in (",", ";", "\t", "|"):
        counts = [len(row) for row in _csv.reader(lines, delimiter=candidate, quotechar=quote or '"')]
        header_fields = counts[0]
        if header_fields < 2:
            continue
        score = (sum(c == header_fields for c in counts) / len(counts), header_fields)
        if score > best_score:
            best, best_score = candidate, score
    if best is not None:
        return best
    if not any(ch in line for line in lines for ch in ",;\t|") and len(lines[0].split()) > 1:
        return "whitespace"
    return None


def _transcode(files: list[Path], encoding: str) -> list[Path]:
    """UTF-8 copies (under data/processed/transcoded) of files in an encoding DuckDB cannot read."""
    out = []
    for file in files:
        digest = hashlib.sha1(f"{file.resolve()}|{file.stat().st_mtime_ns}|{encoding}".encode()).hexdigest()[:16]
        name = file.name[:-3] if file.name.lower().endswith(".gz") else file.name
        stem, suffix = os.path.splitext(name)
        target = processed_dir() / "transcoded" / f"{stem}.{digest}.utf8{suffix}"
        if not target.is_file():
            with atomic_write(target) as tmp, _open_bytes(file) as raw, \
                    codecs.getreader(encoding)(raw) as src, open(tmp, "w", encoding="utf-8", newline="") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
        out.append(target)
    return out


def _open_csv(spec: TableSpec, con, description: str, files: list[Path], multi: bool) -> _Source:
    try:
        options = merge_options(f"{spec.name}.csv", CSV_DEFAULTS, spec.csv)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (csv options for {description})") from None
    notes = []
    with _open_bytes(files[0]) as handle:
        head = handle.read(_SAMPLE_BYTES)
    encoding = str(options["encoding"] or _detect_encoding(head, truncated=len(head) == _SAMPLE_BYTES)).lower()
    if options["encoding"] is None and encoding != "utf-8":
        notes.append(f"encoding detected as {encoding}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"csv.encoding of '{spec.name}' is {encoding!r}, which Python does not know.") from None
    originals = list(files)
    if encoding in _DUCKDB_ENCODINGS:
        duck_encoding = _DUCKDB_ENCODINGS[encoding]
    else:
        files, duck_encoding = _transcode(files, encoding), "utf-8"
    lines = _sample_lines(files[0], duck_encoding, int(options["skip_rows"]))
    delimiter = options["delimiter"]
    if delimiter is None:
        delimiter = _detect_delimiter(lines, options["quote"])
        if delimiter not in (None, ","):
            notes.append(f"delimiter detected as {'tab' if delimiter == chr(9) else repr(delimiter)}")
    elif delimiter in ("tab", "\\t"):
        delimiter = "\t"
    header = bool(options["header"])
    names = list(options["names"]) if options["names"] else None
    duplicates: dict[str, str] = {}
    paths = [str(f) for f in files] if multi else str(files[0])
    common = {"table_name": _table_name(spec.name), "encoding": duck_encoding}
    if options["max_line_bytes"] is not None:
        limit = options["max_line_bytes"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ConfigError(f"csv.max_line_bytes of '{spec.name}' is {limit!r}; give a positive whole number of "
                              "bytes, or null for the engine's limit.")
        common["max_line_size"] = limit
    if multi:
        common["filename"] = _FILE
    if all(_is_gzip(f) for f in files):
        common["compression"] = "gzip"  # also when the name does not end in .gz
    try:
        if delimiter == "whitespace":
            if names is None:
                if not header:
                    n_fields = len(lines[0].split()) if lines else 0
                    names = [f"column{i}" for i in range(n_fields)]
                else:
                    names = lines[0].split() if lines else []
            skip = int(options["skip_rows"]) + (1 if header else 0)
            lines_table = engine_for(con).read_csv(paths, columns={_LINE: "VARCHAR"}, header=False, delim="\x1f",
                                       quote="", escape="", skip=skip, **common)
            text = lines_table[_LINE].strip()
            parts = text.re_split(r"\s+")
            table = lines_table.filter(text.notnull() & (text != "")).select(
                **{name: parts[i] for i, name in enumerate(names)},
                **({_FILE: lines_table[_FILE]} if multi else {}),
                **{_FIELDS_OK: parts.length() == len(names)},
            )
            return _Source(table, description, names, multi_file=multi, structural_check=True,
                           csv_options={**options, "delimiter": "whitespace"}, notes=notes)
        kwargs = dict(common, header=header, skip=int(options["skip_rows"]))
        if options["quote"] is not None:
            kwargs["quote"] = options["quote"]
        if delimiter is not None and lines:
            # The dialect is known: read exactly these columns as text, so that a malformed line is
            # reported with its line number instead of confusing DuckDB's sniffer.
            first = next(_csv.reader(lines[:1], delimiter=delimiter, quotechar=options["quote"] or '"'))
            if header and options["names"] is None:
                duplicates = _repeated_names(first)
                if multi:
                    _check_same_header(spec, files, originals, first, duck_encoding, delimiter, options)
            names = names or (_unique_names(first) if header else [f"column{i}" for i in range(len(first))])
            kwargs.update(delim=delimiter, auto_detect=False, columns={n: "VARCHAR" for n in names})
        else:
            kwargs.update(all_varchar=True, **({"delim": delimiter} if delimiter else {}),
                          **({"names": names} if names else {}))
        table = engine_for(con).read_csv(paths, **kwargs)
    except DataError:
        raise
    except Exception as exc:
        raise _csv_error(exc, spec, description) from None
    columns = [c for c in table.columns if c != _FILE]
    return _Source(table, description, columns, multi_file=multi,
                   csv_options={**options, "delimiter": delimiter}, notes=notes, duplicate_columns=duplicates)


def _repeated_names(header: list[str]) -> dict[str, str]:
    """Column name given by :func:`_unique_names` -> header text, for header names that occur more than once."""
    stripped = [h.strip() for h in header]
    names = _unique_names(header)
    return {name: text for name, text in zip(names, stripped) if text and stripped.count(text) > 1}


def _check_same_header(spec: TableSpec, files: list[Path], originals: list[Path], first: list[str],
                       encoding: str, delimiter: str, options: Mapping[str, Any]) -> None:
    """Refuse a glob whose files do not share one header: columns are read by position, so a file
    with reordered or renamed columns would put values under the wrong names."""
    expected = [h.strip() for h in first]
    for file, original in zip(files[1:], originals[1:]):
        lines = _sample_lines(file, encoding, int(options["skip_rows"]), n_lines=1)
        if not lines:
            continue  # header-only or blank files add no rows
        header = [h.strip() for h in next(_csv.reader(lines, delimiter=delimiter, quotechar=options["quote"] or '"'))]
        if header == expected:
            continue
        if not _names_a_known_column(spec, header):
            raise DataError(
                f"The files of '{spec.name}' do not share one header: {original.name} has none of the expected "
                "columns, so it does not look like a data file for this table.", source=str(original),
                hint="Narrow the glob to the data files, or give the files the same columns in the same order.")
        position = next((i for i, (a, b) in enumerate(zip(expected, header)) if a != b), min(len(expected), len(header)))
        found = header[position] if position < len(header) else "(no column)"
        wanted = expected[position] if position < len(expected) else "(no column)"
        raise DataError(
            f"The files of '{spec.name}' do not share one header: {original.name} has {found!r} where "
            f"{originals[0].name} has {wanted!r} (column {position + 1}).",
            source=str(original), column=wanted,
            examples=[(f"header of {original.name}", ", ".join(header)),
                      (f"header of {originals[0].name}", ", ".join(expected))],
            hint="Columns are read by position: give the files the same columns in the same order, or load "
                 "them with separate globs.")


def _unique_names(header: list[str]) -> list[str]:
    """Header fields as column names: stripped, empty ones named by position, repeats suffixed _1, _2."""
    names: list[str] = []
    for i, raw in enumerate(header):
        name = raw.strip() or f"column{i}"
        candidate, n = name, 0
        while candidate in names:
            n += 1
            candidate = f"{name}_{n}"
        names.append(candidate)
    return names


def _is_encoding_error(message: str) -> bool:
    lowered = message.lower()
    return "invalid unicode" in lowered or "not utf-8" in lowered


def _csv_error(exc: Exception, spec: TableSpec, description: str) -> DataError:
    too_long = _line_too_long(exc, description, (spec.csv or {}).get("max_line_bytes"))
    if too_long is not None:
        return too_long
    message = str(exc)
    hint = "Set the csv options of this table (delimiter, quote, header, encoding) in the run config."
    if _is_encoding_error(message):
        hint = "The file is not valid UTF-8: set e.g. csv: {encoding: latin-1} (or cp1252) for this table."
    return DataError(f"Could not read the '{spec.name}' file as CSV: {_first_line(exc)}",
                     source=description, hint=hint)


def _duckdb_file_from_url(url: str, base_dir: Path) -> Path | None:
    """``duckdb:///rel/path.duckdb`` (relative to the config) or ``duckdb:////abs/path.duckdb``."""
    if not url.startswith("duckdb://"):
        return None
    rest = url[len("duckdb://"):]
    relative = rest[1:] if rest.startswith("/") else rest
    candidates = [Path(os.path.expanduser(relative))]
    if rest.startswith("/"):
        candidates.append(Path(rest))  # duckdb:///abs/path written by expanding ${VAR}
    candidates = [p if p.is_absolute() else base_dir / p for p in candidates]
    return next((p for p in candidates if p.is_file()), candidates[0])


#: ``connection: engine`` reads a table or query that already lives in the run's engine (no copy).
ENGINE_CONNECTION = "engine"


def _open_database(spec: TableSpec, con, description: str) -> _Source:
    if str(spec.connection).strip().lower() == ENGINE_CONNECTION:
        table = _read_engine_table(spec, con, description)
        return _Source(table, description, list(table.columns))
    url = expand_env(str(spec.connection), what=f"The connection of '{spec.name}'")
    db_file = _duckdb_file_from_url(url, spec.base_dir)
    if db_file is not None and engine_for(con).label == "DuckDB":
        table = _read_duckdb_file(spec, con, description, db_file)
    else:
        table = _copy_from_backend(spec, con, description, url)
    return _Source(table, description, list(table.columns))


def _read_engine_table(spec: TableSpec, con, description: str):
    """A table (``schema.table`` allowed) or SQL query of the engine itself, read lazily where it is."""
    try:
        return engine_for(con).source_table(spec.table, spec.sql)
    except Exception as exc:
        if spec.sql is not None:
            raise DataError(f"The SQL query of '{spec.name}' failed on the engine: {_first_line(exc)}",
                            source=description) from None
        try:
            tables = sorted(con.list_tables())
        except Exception:
            tables = []
        close = difflib.get_close_matches(str(spec.table).rpartition(".")[2], tables, n=1)
        raise DataError(f"The engine has no table {spec.table!r} for '{spec.name}'.", source=description,
                        hint=(f"Did you mean {close[0]!r}? " if close else "")
                        + f"Tables: {', '.join(tables[:20]) or '(none)'}.") from None


def _read_duckdb_file(spec: TableSpec, con, description: str, db_file: Path):
    """Attach the DuckDB file read-only to the engine: tables stay lazy, queries run once into a temp table."""
    if not db_file.is_file():
        raise DataError(f"The database file of '{spec.name}' does not exist.", source=str(db_file))
    alias = "clc_src_" + hashlib.sha1(str(db_file.resolve()).encode()).hexdigest()[:10]
    attached = {row[0] for row in con.raw_sql("SELECT database_name FROM duckdb_databases()").fetchall()}
    if alias not in attached:
        path_literal = str(db_file.resolve()).replace("'", "''")
        con.raw_sql(f"ATTACH '{path_literal}' AS {alias} (READ_ONLY)")
    if spec.table is not None:
        schema, _, name = str(spec.table).rpartition(".")
        try:
            return con.table(name, database=(alias, schema or "main"))
        except Exception:
            tables = [row[0] for row in con.raw_sql(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
                "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = ? AND schema_name = ? "
                "ORDER BY 1", parameters=[alias, schema or "main"] * 2).fetchall()]
            close = difflib.get_close_matches(name, tables, n=1)
            raise DataError(f"The database has no table {spec.table!r} for '{spec.name}'.", source=description,
                            hint=(f"Did you mean {close[0]!r}? " if close else "")
                            + f"Tables: {', '.join(tables) or '(none)'}.") from None
    current_db, current_schema = con.raw_sql("SELECT current_database(), current_schema()").fetchone()
    temp_name = _table_name(spec.name)
    con.raw_sql(f"USE {alias}")
    try:
        con.raw_sql(f"CREATE TEMP TABLE {temp_name} AS {spec.sql}")
    except Exception as exc:
        raise DataError(f"The SQL query of '{spec.name}' failed: {_first_line(exc)}", source=description) from None
    finally:
        con.raw_sql(f'USE "{current_db}"."{current_schema}"')
    return con.table(temp_name, database=("temp", "main"))


def _copy_from_backend(spec: TableSpec, con, description: str, url: str):
    """Read a table or query from any database Ibis connects to and copy it into the engine."""
    try:
        other = ibis.connect(url)
    except Exception as exc:
        scheme = url.split(":", 1)[0]
        raise DataError(f"Could not connect to the {scheme} database of '{spec.name}': "
                        f"{type(exc).__name__}", source=description,
                        hint="Check the URL, the driver package and the environment variables it uses.") from None
    try:
        expr = other.table(spec.table) if spec.table is not None else other.sql(spec.sql)
        arrow = expr.to_pyarrow()
    except Exception as exc:
        raise DataError(f"Could not read '{spec.name}' from the database: {_first_line(exc)}",
                        source=description) from None
    return _temp_table_from_memory(con, spec.name, arrow)


def _temp_table_from_memory(con, prefix: str, data):
    """Copy a pandas DataFrame or Arrow table into a temporary engine table (row order kept on DuckDB)."""
    return engine_for(con).table_from_memory(prefix, data)


# ---------------------------------------------------------------------------------------------------
# Column mapping and parsing
# ---------------------------------------------------------------------------------------------------


def _resolve_columns(source: _Source, spec: TableSpec, contract: TableContract) -> dict[str, str]:
    """Contract name -> source column, from the mapping and then by matching names."""
    available = source.columns
    known = contract.source_columns
    _refuse_unrecognised_file(source, spec, contract)
    mapping: dict[str, str] = {}
    for name, column in spec.columns.items():
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            raise ConfigError(
                f"'columns' of '{spec.name}' maps {name!r}, which is not a column of the {spec.name} contract."
                + (f" Did you mean {close[0]!r}?" if close else "") + f" Contract columns: {', '.join(known)}."
            )
        if column not in available:
            close = _closest(column, available)
            raise DataError(
                f"The column mapping of '{spec.name}' names {column!r} for {name!r}, but the source has no such column.",
                source=source.description, column=column,
                hint=(f"Did you mean {close!r}? " if close else "") + f"Columns in the source: {', '.join(available)}.",
            )
        mapping[name] = column
    by_normalized = {}
    for column in available:
        by_normalized.setdefault(_normalize(column), column)
    used = set(mapping.values())
    for name in known:
        if name in mapping:
            continue
        match = by_normalized.get(_normalize(name))
        if match is not None and match not in used:
            mapping[name] = match
            used.add(match)
    ambiguous = {name: column for name, column in mapping.items() if column in source.duplicate_columns}
    if ambiguous:
        name, column = next(iter(ambiguous.items()))
        text = source.duplicate_columns[column]
        positions = [str(i + 1) for i, c in enumerate(available) if source.duplicate_columns.get(c) == text]
        raise DataError(
            f"The header of '{spec.name}' repeats the column {text!r} (positions {', '.join(positions)}), so it is "
            f"not clear which one holds {name!r}.",
            source=source.description, column=text,
            examples=[("header", ", ".join(source.duplicate_columns.get(c, c) for c in available))],
            hint="Rename the repeated columns in the export, or name the one to use in the csv options with "
                 "csv: {names: [...]} and map it under columns:.")
    for name in contract.required:
        if name in mapping:
            continue
        alternatives = contract.derivable_from.get(name, ())
        if alternatives and all(a in mapping for a in alternatives):
            continue
        close = _closest(name, [c for c in available if c not in used])
        also = f" (or {' and '.join(alternatives)})" if alternatives else ""
        raise DataError(
            f"The '{spec.name}' source has no column for the required {name!r}{also}.",
            source=source.description, column=name,
            hint=(f"The closest is {close!r}: map it with columns: {{{name}: {close}}}. " if close else
                  f"Map it with columns: {{{name}: <source column>}}. ")
            + f"Columns in the source: {', '.join(available)}.",
        )
    _refuse_nested_columns(source, spec, mapping)
    return mapping


def _names_a_known_column(spec: TableSpec, header: Sequence[str]) -> bool:
    """Whether a header names a column the config maps or the table's contract knows."""
    normalized = {_normalize(h) for h in header}
    return (any(column in header for column in spec.columns.values())
            or any(_normalize(name) in normalized for name in CONTRACTS[spec.name].source_columns))


def _refuse_unrecognised_file(source: _Source, spec: TableSpec, contract: TableContract) -> None:
    """DataError for a file none of whose columns the config or the contract names.

    Such a file is not a data export (a wrong path, e.g. a system file), so the message names the
    path and what was expected and quotes nothing from it: its "header" may be anything.
    """
    if spec.path is None or _names_a_known_column(spec, source.columns):
        return
    available = set(source.columns)
    expected = ", ".join(spec.columns.values()) if spec.columns else ", ".join(contract.source_columns)
    raise DataError(
        f"The '{spec.name}' file has none of the expected columns ({expected}); it has {len(available):,} "
        "column(s) with other names, so it does not look like a data file for this table.",
        source=source.description,
        hint="Check the path (it is relative to the config folder) and, for a CSV, that the first line is the "
             "header; map the export's column names under columns: (e.g. columns: {customer_id: CustomerNo}).")


def _refuse_nested_columns(source: _Source, spec: TableSpec, mapping: Mapping[str, str]) -> None:
    """DataError for a mapped column holding structs, lists or maps (Parquet, databases): read as
    text they would become values such as ``{'id': 1}`` instead of an id, date or number."""
    for name, column in mapping.items():
        column_type = source.table[column].type()
        if column_type.is_nested():
            kind = "structs" if column_type.is_struct() else "lists" if column_type.is_array() else "maps"
            raise DataError(
                f"The column {column!r} of '{spec.name}' holds {kind} ({column_type}), not single values, so it "
                f"cannot be the {name!r}.",
                source=source.description, column=column,
                hint="Flatten the column in the export (e.g. select the id field of the struct) or map another "
                     "column.")


_ISO = "ISO 8601"
_ISO_OFFSET = "ISO 8601 with UTC offset"
_EPOCH_SECONDS = "Unix time in seconds"
_EPOCH_MILLISECONDS = "Unix time in milliseconds"
_DATE_FORMATS_YEAR_FIRST = ("%Y%m%d", "%Y%m%d%H%M%S", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
                            "%Y.%m.%d")
_DATE_FORMATS_MONTH_FIRST = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y", "%m/%d/%y", "%m-%d-%Y")
_DATE_FORMATS_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%y",
                           "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d-%m-%Y %H:%M:%S",
                           "%d-%m-%Y %H:%M", "%d-%m-%Y", "%d.%m.%y")

# Formats recognised by a pattern rather than strptime: format name -> pattern of a whole value.
# Unix times: 9-10 digits are seconds (1973-2286), 12-13 digits milliseconds; 8 digits stay %Y%m%d.
_PATTERN_FORMATS = {
    _ISO: re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"),
    _ISO_OFFSET: re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"),
    _EPOCH_SECONDS: re.compile(r"^\d{9,10}$"),
    _EPOCH_MILLISECONDS: re.compile(r"^\d{12,13}$"),
}
_UTC_OFFSET_SQL = r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
_EPOCH_UNITS = {_EPOCH_SECONDS: "s", _EPOCH_MILLISECONDS: "ms"}

# Why values of a date column failed, by the format the column was parsed with (for the error hint).
_DATE_FORMAT_HINTS = {
    _ISO: "Values with a UTC offset (e.g. +01:00) are refused in a column whose other values have none: "
          "their time zones cannot be compared. ",
    _ISO_OFFSET: "Every value needs a UTC offset (Z, +01:00) when the column has them; a value without one has "
                 "an unknown time zone. ",
}


def _date_candidates(dayfirst: bool) -> tuple[str, ...]:
    first, second = ((_DATE_FORMATS_DAY_FIRST, _DATE_FORMATS_MONTH_FIRST) if dayfirst
                     else (_DATE_FORMATS_MONTH_FIRST, _DATE_FORMATS_DAY_FIRST))
    # Unix times come before the strptime formats: strptime also reads 1704448800 as %Y%m%d%H%M%S
    # (1704-04-04 08:08:00), taking one digit per field.
    return (_ISO, _ISO_OFFSET, _EPOCH_SECONDS, _EPOCH_MILLISECONDS, *_DATE_FORMATS_YEAR_FIRST, *first, *second)


def _parse_timestamp_text(text, fmt: str):
    """Timestamp (no time zone) from text in format ``fmt``; NULL where a value does not fit it.

    ISO values with a UTC offset are converted to UTC. In a column of values without offsets, a value
    with a non-zero offset is NULL (refused) rather than read as local time; in a column with offsets,
    a value without one is NULL. Unix times are seconds or milliseconds since 1970-01-01 UTC.
    """
    engine = engine_of(text)
    if engine.con.name != "duckdb":  # Spark and SQL databases parse each named format their own way
        return engine.parse_timestamp(text, fmt)
    if fmt in (_ISO, _ISO_OFFSET):
        as_utc = text.try_cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
        if fmt == _ISO_OFFSET:
            return ibis.ifelse(text.re_search(_UTC_OFFSET_SQL), as_utc, ibis.null(dt.Timestamp()))
        wall_clock = text.try_cast("timestamp")
        return ibis.ifelse(wall_clock == as_utc, wall_clock, ibis.null(dt.Timestamp()))
    if fmt in _EPOCH_UNITS:
        since_epoch = text.try_cast("int64").as_interval(_EPOCH_UNITS[fmt])
        return (ibis.timestamp("1970-01-01 00:00:00") + since_epoch).cast(dt.Timestamp())
    return engine.parse_timestamp(text, fmt)


def _matches_date_format(text: str, fmt: str) -> bool:
    """Whether ``text`` parses with ``fmt`` (Python's strptime accepts what DuckDB's does for these formats)."""
    if fmt in _PATTERN_FORMATS:
        return bool(_PATTERN_FORMATS[fmt].match(text))
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


_COMMA_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+),\d+$")
_DOT_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)\.\d+$")
_COMMA_THOUSANDS = re.compile(r"^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$")

#: Texts that mean "no value" in exports (pandas, R, SQL, Excel); compared ignoring case, after
#: stripping spaces, in identifier columns (in number columns only NaN is missing; the others do not parse).
MISSING_TOKENS: tuple[str, ...] = ("NAN", "NAT", "NULL", "NONE", "NA", "N/A", "#N/A")

#: Currency signs recognised before or after an amount: symbols and common ISO 4217 codes.
CURRENCY_SYMBOLS: tuple[str, ...] = ("$", "€", "£", "¥", "₹", "₩", "₺", "₽", "₪", "₫", "₱", "₦", "zł", "kr", "Fr.",
                                     "US$", "C$", "A$", "R$")
CURRENCY_CODES: tuple[str, ...] = ("EUR", "USD", "GBP", "CHF", "JPY", "CNY", "SEK", "NOK", "DKK", "PLN", "CZK",
                                   "HUF", "AUD", "CAD", "NZD", "INR", "BRL", "MXN", "ZAR", "TRY", "KRW", "SGD",
                                   "HKD")
_MARKERS = "|".join(re.escape(m) for m in sorted((*CURRENCY_SYMBOLS, *CURRENCY_CODES), key=len, reverse=True))
_CURRENCY_MARKER = re.compile(r"^[-+(]?\s*(?P<before>" + _MARKERS + r")?\s*[-+(]?[\d.,]+\)?-?\s*(?P<after>"
                              + _MARKERS + r")?$")

# Scientific notation in an identifier: a spreadsheet turned a long numeric id into 1.23457E+11.
_SCIENTIFIC_ID_SQL = r"^[0-9](\.[0-9]+)?[eE]\+[0-9]+$"


def _currency_marker(values: Sequence[str]) -> str | None:
    """The currency sign written next to most (more than half) of the amounts of a sample, or None."""
    found: dict[str, int] = {}
    for value in values:
        match = _CURRENCY_MARKER.match(value.strip())
        marker = match and (match.group("before") or match.group("after"))
        if marker:
            found[marker] = found.get(marker, 0) + 1
    if not found:
        return None
    marker = max(found, key=lambda m: (found[m], m))
    return marker if 2 * found[marker] > len(values) else None


def _normalize_number_text(value: str, marker: str | None) -> str:
    """Python twin of :meth:`_Parser._number`'s text clean-up, for format detection on sample values."""
    text = value.strip()
    if marker:
        text = re.sub(r"^([-+(]?)\s*" + re.escape(marker) + r"\s*", r"\1", text)
        text = re.sub(r"\s*" + re.escape(marker) + r"$", "", text)
    if text.startswith("(") and text.endswith(")"):
        text = "-" + text[1:-1]
    elif text.endswith("-") and len(text) > 1:
        text = "-" + text[:-1]
    return text


def _detect_number_format(values: Sequence[str]) -> tuple[str, str | None]:
    """(decimal, thousands) for a column from sample values: the separator used by more values wins."""
    values = [v.strip() for v in values]
    comma = sum(bool(_COMMA_DECIMAL.match(v)) for v in values)
    dot = sum(bool(_DOT_DECIMAL.match(v)) for v in values)
    if comma > dot:
        return ",", "."
    if any(_COMMA_THOUSANDS.match(v) for v in values):
        return ".", ","
    return ".", None


def _without_missing_tokens(text):
    """``text`` with the :data:`MISSING_TOKENS` (any case) turned into NULL."""
    return ibis.ifelse(text.upper().isin(list(MISSING_TOKENS)), ibis.null("string"), text)


@dataclass
class _Parser:
    """Builds the typed contract columns (plus failure flags) from a raw source table."""

    source: _Source
    mapping: dict[str, str]
    contract: TableContract
    date_formats: dict[str, str] = field(default_factory=dict)
    number_formats: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    currency_markers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def detect(self) -> None:
        """Choose date formats and decimal separators from the first non-empty values of each column."""
        raw = self.source.table
        options = self.source.csv_options
        text_columns = {
            name: column for name, column in self.mapping.items()
            if self.contract.column(name).dtype in ("timestamp", "float64") and raw[column].type().is_string()
        }
        if not text_columns:
            return
        sample = _execute(raw.select(*set(text_columns.values())).limit(2000), self.source).astype("string")
        for name, column in text_columns.items():
            values = [v for v in sample[column].dropna().tolist() if v.strip() and v.strip().upper() != "NAN"][:500]
            if self.contract.column(name).dtype == "float64":
                marker = _currency_marker(values)
                if marker:
                    self.currency_markers[name] = marker
                    self.notes.append(f"{name}: currency sign {marker!r} removed from {column!r}")
                values = [_normalize_number_text(v, marker) for v in values]
                if options.get("decimal"):
                    decimal = str(options["decimal"])
                    thousands = options.get("thousands")
                    thousands = thousands if thousands is not None else ("." if decimal == "," else None)
                    self.number_formats[name] = (decimal, thousands)
                else:
                    self.number_formats[name] = _detect_number_format(values)
                    if self.number_formats[name][0] == ",":
                        self.notes.append(f"{name}: decimal comma detected in {column!r}")
            else:
                self.date_formats[name] = self._detect_date_format(name, column, values,
                                                                   options.get("date_format"),
                                                                   bool(options.get("dayfirst", False)))

    def _detect_date_format(self, name: str, column: str, values: list[str], configured, dayfirst: bool) -> str:
        if configured:
            return str(configured)
        if not values:
            return _ISO
        candidates = _date_candidates(dayfirst)
        parsed = [sum(_matches_date_format(v.strip(), fmt) for v in values) for fmt in candidates]
        best = max(range(len(candidates)), key=lambda i: (parsed[i], -i))
        chosen = candidates[best]
        if chosen != _ISO:
            self.notes.append(f"{name}: date format {chosen} detected in {column!r}")
        full = {fmt for fmt, n in zip(candidates, parsed) if n == len(values)}
        if chosen in full and any(f.startswith("%d") for f in full) and any(f.startswith("%m") for f in full):
            self.notes.append(f"{name}: day/month order is ambiguous in the sample; used {chosen} "
                              f"(set csv: {{dayfirst: {str(not dayfirst).lower()}}} or date_format if wrong)")
        return chosen

    def parse(self, raw) -> tuple[Any, list[str], list[str]]:
        """Return (table with contract columns and flags, bad-value flag names, missing-value flag names)."""
        columns: dict[str, Any] = {}
        bad_flags: dict[str, Any] = {}
        missing_flags: dict[str, Any] = {}
        for name, source_column in self.mapping.items():
            spec = self.contract.column(name)
            value = raw[source_column]
            parse = {"timestamp": self._timestamp, "float64": self._number}.get(spec.dtype)
            if spec.dtype == "string":
                columns[name] = _clean_text(value, missing_tokens=spec.is_id)
                if spec.is_id and value.type().is_string():
                    bad_flags[name] = columns[name].re_search(_SCIENTIFIC_ID_SQL)
            elif parse is not None:
                columns[name], bad, empty = parse(name, value)
                if bad is not None:
                    bad_flags[name] = bad
                if spec.required:
                    missing_flags[name] = empty
            else:
                columns[name] = value.cast(spec.dtype)
        for name, parts in self.contract.derivable_from.items():
            if name not in columns and all(p in columns for p in parts):
                product = columns[parts[0]]
                for part in parts[1:]:
                    product = product * columns[part]
                columns[name] = product
                if self.contract.column(name).required:
                    part_bad = [bad_flags[p] for p in parts if p in bad_flags]
                    missing = product.isnull()
                    for flag in part_bad:
                        missing = missing & ~flag
                    missing_flags[name] = missing
        extras = {}
        if self.contract.keep_extra_columns:
            used = set(self.mapping.values())
            extras = {c: raw[c] for c in self.source.columns if c not in used and c not in columns}
        internals = {c: raw[c] for c in (_ROW, _FILE, _FIELDS_OK) if c in raw.columns}
        if _ROW in raw.columns:  # the error path: keep the source text of parsed columns for examples
            internals.update({f"__raw_{name}": raw[column].cast("string") for name, column in self.mapping.items()
                              if self.contract.column(name).dtype in ("timestamp", "float64")})
        flags = {f"__bad_{k}": v.fill_null(False) for k, v in bad_flags.items()}
        flags.update({f"__missing_{k}": v.fill_null(True) for k, v in missing_flags.items()})
        table = raw.select(**columns, **extras, **internals, **flags)
        return table, [f"__bad_{k}" for k in bad_flags], [f"__missing_{k}" for k in missing_flags]

    def _timestamp(self, name: str, value):
        value_type = value.type()
        if value_type.is_timestamp():
            parsed = value.cast(dt.Timestamp()) if value_type.timezone else value
            return parsed, None, parsed.isnull()
        if value_type.is_date():
            parsed = value.cast(dt.Timestamp())
            return parsed, None, parsed.isnull()
        text = _strip_blanks(value.cast("string") if not value_type.is_string() else value)
        parsed = _parse_timestamp_text(text, self.date_formats.get(name, _ISO))
        present = text.notnull() & (text != "")
        return parsed, present & parsed.isnull(), ~present

    def _number(self, name: str, value):
        value_type = value.type()
        if value_type.is_numeric() or value_type.is_boolean():
            parsed = value.cast("float64")
            if value_type.is_floating():
                # NaN is a missing value, not a number to add up; an infinite value is not a number at all.
                infinite = parsed.isinf().fill_null(False)
                parsed = ibis.ifelse(parsed.isnan() | infinite, ibis.null("float64"), parsed)
                return parsed, infinite, parsed.isnull() & ~infinite
            return parsed, None, parsed.isnull()
        text = _strip_blanks(value.cast("string"))
        # "NaN" is a missing value: engines would read it as a number that turns every sum into NaN.
        text = ibis.ifelse(text.upper() == "NAN", ibis.null("string"), text)
        decimal, thousands = self.number_formats.get(name, (".", None))
        cleaned = text
        marker = self.currency_markers.get(name)
        if marker:
            cleaned = cleaned.re_replace(r"^([-+(]?)\s*" + re.escape(marker) + r"\s*", r"\1")
            cleaned = cleaned.re_replace(r"\s*" + re.escape(marker) + "$", "")
        # Accounting negatives: (12.50) and the trailing minus of SAP-style exports, 12.50-.
        inner = cleaned.substr(1, cleaned.length() - 2)
        cleaned = ibis.ifelse(cleaned.startswith("(") & cleaned.endswith(")"), ibis.literal("-").concat(inner),
                              cleaned)
        cleaned = ibis.ifelse(cleaned.endswith("-") & (cleaned.length() > 1),
                              ibis.literal("-").concat(cleaned.substr(0, cleaned.length() - 1)), cleaned)
        if thousands:
            cleaned = cleaned.replace(thousands, "")
        if decimal != ".":
            cleaned = cleaned.replace(decimal, ".")
        parsed = engine_of(cleaned).parse_number(cleaned)
        # inf, Infinity and -nan parse on some engines; they are never amounts, counts or scores.
        parsed = ibis.ifelse(parsed.isnan() | parsed.isinf(), ibis.null("float64"), parsed)
        present = text.notnull() & (text != "")
        return parsed, present & parsed.isnull(), ~present


@ibis.udf.scalar.builtin(name="trim")
def _trim(text: str) -> str:
    """SQL ``TRIM(text)``: strips leading and trailing spaces (faster than a character-set trim)."""


def _strip_blanks(text):
    """``text`` without leading and trailing blanks: spaces, non-breaking spaces, tabs, line breaks."""
    return _trim(_trim(text).strip())


def _clean_text(value, *, missing_tokens: bool = False):
    """Identifiers and labels as text: numbers without a spurious '.0', blanks stripped, '' -> NULL.

    With ``missing_tokens`` (identifier columns) the :data:`MISSING_TOKENS` such as ``NaN`` and ``NULL``
    are NULL too, so that they are never taken for a customer.
    """
    value_type = value.type()
    if value_type.is_floating():
        value = ibis.ifelse(value == value.floor(), value.cast("int64").cast("string"), value.cast("string"))
    elif not value_type.is_string():
        value = value.cast("string")
    text = _strip_blanks(value).nullif("")
    return _without_missing_tokens(text) if missing_tokens else text


# Packages whose exceptions mean "the engine could not read or compute the data" (as opposed to a bug).
ENGINE_ERROR_MODULES = ("duckdb", "_duckdb", "pyspark", "py4j")


def _is_engine_error(exc: Exception) -> bool:
    return type(exc).__module__.split(".")[0] in ENGINE_ERROR_MODULES


def _execute(expr, source: _Source) -> pd.DataFrame:
    """Run a query, turning engine read errors (bad CSV lines, encodings) into a DataError."""
    try:
        return expr.to_pandas()
    except DataError:
        raise
    except Exception as exc:
        message = str(exc)
        too_long = (_line_too_long(exc, source.description, source.csv_options.get("max_line_bytes"))
                    if _is_engine_error(exc) else None)
        if too_long is not None:
            raise too_long from None
        if _is_engine_error(exc):
            hint = "Check the csv options (delimiter, quote, header, encoding) of this table in the run config."
            if _is_encoding_error(message):
                hint = "The file is not valid UTF-8: set e.g. csv: {encoding: latin-1} (or cp1252)."
            raise DataError(f"Could not read the source: {_first_line(exc)}", source=source.description,
                            hint=hint) from None
        raise


# ---------------------------------------------------------------------------------------------------
# Rules and counting
# ---------------------------------------------------------------------------------------------------


def _numbered(source: _Source):
    """The raw table with 1-based data row numbers (within each file for globs)."""
    raw = source.table
    position = ibis.row_number()
    raw = raw.mutate(**{_ROW: position + 1})
    if source.multi_file:
        raw = raw.mutate(**{_ROW: raw[_ROW] - raw[_ROW].min().over(group_by=raw[_FILE]) + 1})
    return raw


def _examples(source: _Source, build, predicate_builder, value_of, n: int = 5) -> list[tuple]:
    """Up to ``n`` (row label, value) pairs of the rows matching a predicate, in file order.

    ``build(raw) -> (parsed, bad flags, missing flags)`` is the same function that built the counted
    table, applied to the raw table with row numbers.
    """
    parsed, _, _ = build(_numbered(source))
    matches = parsed.filter(predicate_builder(parsed))
    file_column = [parsed[_FILE]] if source.multi_file else []
    value = value_of(parsed).name("__value")
    rows = _execute(matches.select(parsed[_ROW], *file_column, value).order_by(_ROW).limit(n), source)
    examples = []
    for record in rows.itertuples(index=False):
        row = int(record[0])
        label = f"{row} of {Path(str(record[1])).name}" if source.multi_file else row
        val = record[-1]
        examples.append((label, None if pd.isna(val) else val))
    return examples


@dataclass
class _LoadedTable:
    table: Any  # ibis.Table
    quality: TableQuality
    as_of: pd.Timestamp | None = None


def _check_structure(source: _Source, build, counts: Mapping[str, Any]) -> None:
    if source.structural_check and int(counts.get("__n_fields_bad", 0)) > 0:
        n_fields = len(source.columns)
        examples = _examples(source, build, lambda t: ~t[_FIELDS_OK], lambda t: t[_FIELDS_OK].cast("string"))
        raise DataError(
            f"Some lines do not have {n_fields} whitespace-separated fields ({', '.join(source.columns)}).",
            source=source.description, n_rows=int(counts["__n_fields_bad"]),
            examples=[(row, "wrong number of fields") for row, _ in examples],
            hint="Values with blanks need another delimiter: set csv: {delimiter: ...} for this table.",
        )


def _raise_bad_values(source: _Source, parser: _Parser, build, counts: Mapping[str, Any], flags: list[str],
                      rule: str, alive_before) -> None:
    """Raise a DataError for the first column with failing values (unparseable or missing)."""
    for flag in flags:
        n_bad = int(counts[f"__n{flag}"])
        if n_bad == 0:
            continue
        name = flag.split("_", 3)[-1]
        source_column = parser.mapping.get(name)
        if source_column is None:  # a derived column (amount = quantity x unit_price)
            source_column = " x ".join(parser.mapping[p] for p in parser.contract.derivable_from.get(name, ()))
        parts = parser.contract.derivable_from.get(name, ()) if name not in parser.mapping else (name,)
        examples = _examples(source, build, lambda t, f=flag: t[f] & alive_before(t),
                             lambda t, ps=parts: _raw_text(t, ps))
        header_repeats = bool(examples) and all(str(v).strip() == source_column for _, v in examples)
        if rule == "unparseable_values" and header_repeats:
            message = (f"{n_bad:,} rows repeat the header line (files joined together?): {source_column!r} "
                       f"is not a value of {name!r}.")
            hint = ("Remove the repeated header lines, or set quality: {unparseable_values: drop} to drop them "
                    "(they are counted).")
        elif rule == "unparseable_values":
            message, hint = _unparseable_message(parser, name, n_bad, examples)
        else:
            message = f"{n_bad:,} rows have no value for the required {name!r}."
            hint = "Fill the values in the source, or set quality: {missing_values: drop} to drop such rows."
        raise DataError(message, source=source.description, column=source_column, n_rows=n_bad,
                        examples=examples, hint=hint)


_NON_FINITE_TEXT = re.compile(r"^\s*[-+]?(inf|infinity|nan)\s*$", re.IGNORECASE)


def _unparseable_message(parser: _Parser, name: str, n_bad: int, examples: Sequence[tuple]) -> tuple[str, str]:
    """Message and hint for values of ``name`` that do not parse (a date, a number or an id)."""
    drop = "Or set quality: {unparseable_values: drop} to drop such rows (they are counted)."
    dtype = parser.contract.column(name).dtype
    if dtype == "string":  # an identifier in scientific notation
        return (f"{n_bad:,} values of {name!r} are numbers in scientific notation (e.g. 1.23457E+11): a "
                "spreadsheet rounded these ids, so they no longer identify anyone.",
                "Export the ids as text (format the column as Text before saving the CSV). " + drop)
    if dtype == "timestamp":
        fmt = parser.date_formats.get(name, _ISO)
        other = {_ISO: _ISO_OFFSET, _ISO_OFFSET: _ISO}.get(fmt)
        zones = other is not None and any(_PATTERN_FORMATS[other].match(str(v).strip()) for _, v in examples)
        return (f"{n_bad:,} values of {name!r} are not valid dates.",
                f"Parsed with format {fmt}; a column uses one date format throughout. "
                + (_DATE_FORMAT_HINTS[fmt] if zones else "")
                + "Set csv: {date_format: ...} if the format is wrong. " + drop)
    non_finite = [v for _, v in examples if _NON_FINITE_TEXT.match(str(v))]
    if non_finite:
        return (f"{n_bad:,} values of {name!r} are not finite numbers (e.g. {', '.join(map(str, non_finite[:3]))}): "
                "infinity and NaN are not amounts, counts or scores.",
                "Fix the export (a division by zero or an overflow upstream?). " + drop)
    decimal = (parser.number_formats.get(name) or (".",))[0]
    marker = parser.currency_markers.get(name)
    other_markers = {m for _, v in examples for m in [_currency_marker([str(v)])] if m and m != marker}
    if other_markers and marker:
        found = ", ".join(sorted(other_markers))
        return (f"{n_bad:,} values of {name!r} carry another currency ({found}) than the others ({marker}).",
                "Amounts in several currencies cannot be added up: convert them to the run currency first. "
                + drop)
    signs = ("A currency sign is removed only when more than half of the values carry the same one. "
             if other_markers else "")
    return (f"{n_bad:,} values of {name!r} are not valid numbers.",
            f"Parsed with decimal {decimal!r}" + (f" after removing the currency sign {marker!r}" if marker else "")
            + "; set csv: {decimal: ...} if that is wrong. " + signs + drop)


def _raw_text(parsed, names: Sequence[str]):
    """The source text of parsed columns (joined with ' x ' for a derived amount), for examples."""
    texts = [parsed[f"__raw_{n}"].fill_null("") for n in names if f"__raw_{n}" in parsed.columns]
    if not texts and len(names) == 1 and names[0] in parsed.columns and parsed[names[0]].type().is_string():
        return parsed[names[0]]  # a text column (an id) is its own source text
    if not texts:
        return ibis.literal(None, type="string")
    text = texts[0]
    for other in texts[1:]:
        text = text.concat(" x ", other)
    return text


def _as_of_timestamp(value: Any) -> pd.Timestamp | None:
    """Midnight of the as_of day, checked by :func:`clc_lib.config.parse_as_of` (None stays None)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = pd.Timestamp(value).tz_convert("UTC").tz_localize(None)
    elif not isinstance(value, str | datetime | date | None):
        try:
            value = pd.Timestamp(value).to_pydatetime()  # e.g. numpy.datetime64
        except (TypeError, ValueError):
            pass  # parse_as_of names the value
    day = parse_as_of(value)
    return None if day is None else pd.Timestamp(day)


def _load_transactions(spec: TableSpec, con, options: Mapping[str, Any], as_of: pd.Timestamp | None,
                       engine: Mapping[str, Any], run_name: str) -> _LoadedTable:
    contract = CONTRACTS["transactions"]
    source = _open_source(spec, con)
    mapping = _resolve_columns(source, spec, contract)
    parser = _Parser(source, mapping, contract)
    parser.detect()
    has_order_id = "order_id" in mapping
    prefixes = tuple(options["cancellation_prefixes"])

    def build(raw):
        parsed, bad_flags, missing_flags = parser.parse(raw)
        return _with_returns(parsed, has_order_id, prefixes), bad_flags, missing_flags

    parsed, bad_flags, missing_flags = build(source.table)
    as_of_end = None if as_of is None else as_of + pd.Timedelta(days=1)
    context = RuleContext(options=options, as_of_end=as_of_end, parsed_flags=tuple(bad_flags),
                          missing_flags=tuple(missing_flags), has_order_id=has_order_id)

    def rule_flags(t, ctx):
        return [(rule, rule.action(options), rule.predicate(t, ctx)) for rule in QUALITY_RULES]

    def alive_before(t, ctx, index):
        alive = ibis.literal(True)
        for rule, action, flag in rule_flags(t, ctx)[:index]:
            if action in REMOVING_ACTIONS or action == "error":
                alive = alive & ~flag.fill_null(False)
        return alive

    # One pass: the distinct combinations of all rule flags with their row counts and amounts. The
    # sequential counting (a row removed by one rule is not counted by later ones) happens in pandas
    # on this small frame.
    rules = rule_flags(parsed, context)
    flags = {f"__rule_{rule.name}": flag for rule, _, flag in rules}
    flags.update({flag: parsed[flag] for flag in (*bad_flags, *missing_flags)})
    if source.structural_check:
        flags["__fields_bad"] = ~parsed[_FIELDS_OK]
    output = [c for c in contract.output_columns if c in parsed.columns]
    # The source is parsed once into an engine table holding the output columns and every rule flag;
    # the counts, the checks and the cleaned table all read from it.
    flagged = _engine_table(parsed.select(*output, **{k: v.fill_null(False) for k, v in flags.items()}),
                            con, "transactions_flagged", source)
    profile = _flag_profile(flagged, {name: flagged[name] for name in flags}, source,
                            lambda t: {"__amount": t.amount.sum(), "__max_ts": t.timestamp.max()})
    counts = {"__rows": int(profile["__n"].sum()), "__amount": profile["__amount"].sum(min_count=1),
              "__max_ts": profile["__max_ts"].max()}
    for flag in (*bad_flags, *missing_flags):
        counts[f"__n{flag}"] = int(profile.loc[profile[flag], "__n"].sum())
    if source.structural_check:
        counts["__n_fields_bad"] = int(profile.loc[profile["__fields_bad"], "__n"].sum())
    alive = pd.Series(True, index=profile.index)
    for rule, action, _ in rules:
        matched = profile[f"__rule_{rule.name}"]
        hit = matched & alive
        counts[f"{rule.name}__rows"] = int(profile.loc[hit, "__n"].sum())
        counts[f"{rule.name}__amount"] = profile.loc[hit, "__amount"].sum(min_count=1)
        if action in REMOVING_ACTIONS or action == "error":
            alive &= ~matched
    try:
        _check_rules(source, parser, build, context, counts, rules, alive_before, bad_flags, missing_flags)
        _check_kept_rows(source, build, flagged, [f"__rule_{r.name}" for r, a, _ in rules if a in REMOVING_ACTIONS],
                         options, as_of, mapping)
    except DataError:
        _drop_temp(con, flagged)
        raise

    if as_of is None:
        if pd.isna(counts["__max_ts"]):
            raise DataError("No transaction has a valid timestamp, so as_of cannot default to the last one.",
                            source=source.description, column=mapping.get("timestamp"), n_rows=counts["__rows"])
        as_of = pd.Timestamp(counts["__max_ts"]).normalize()

    removing = [f"__rule_{rule.name}" for rule, action, _ in rules if action in REMOVING_ACTIONS]
    keep = ~_any_flag(flagged, removing)
    cleaned = flagged.filter(keep).select(*output) if removing else flagged.select(*output)

    results = [
        RuleResult(rule.name, action, int(counts[f"{rule.name}__rows"]),
                   _float(counts[f"{rule.name}__amount"]), rule.description)
        for rule, action, _ in rules
    ]
    kept_rows = counts["__rows"] - sum(r.removed for r in results)
    # Distinct lines are counted by a 64-bit hash of the line (8 bytes per line instead of the whole
    # line). A collision can only make the count of duplicates too high, never hide one, so the
    # exact count is computed whenever the hash finds any.
    # Engines without a cheap row hash (clc_lib.engines) count distinct lines exactly instead.
    fingerprint = engine_for(con).row_fingerprint(cleaned, output)
    out = _execute(cleaned.aggregate(
        rows=cleaned.count(), customers=cleaned.customer_id.nunique(), first=cleaned.timestamp.min(),
        last=cleaned.timestamp.max(), amount=cleaned.amount.sum(),
        **({"distinct_lines": fingerprint.nunique()} if fingerprint is not None else {})), source).iloc[0]
    if fingerprint is None:
        distinct = cleaned.select(*output).distinct()
        out["distinct_lines"] = _execute(distinct.aggregate(n=distinct.count()), source).iloc[0]["n"]
    n_duplicates = kept_rows - int(out["distinct_lines"])
    if n_duplicates > 0 and fingerprint is not None:
        line = ibis.struct({c: cleaned[c] for c in output})
        n_duplicates = kept_rows - int(_execute(cleaned.aggregate(n=line.nunique()), source).iloc[0]["n"])
    duplicate_action = options["duplicate_rows"] if has_order_id else options["duplicates_without_order_id"]
    final, dup_amount = cleaned, None
    if duplicate_action == "drop" and n_duplicates > 0:
        final = _engine_table(cleaned.distinct(), con, "transactions_distinct", source)
        deduplicated = _execute(final.aggregate(rows=final.count(), amount=final.amount.sum()), source).iloc[0]
        dup_amount = _float(out["amount"] - deduplicated["amount"])
        out["rows"], out["amount"] = deduplicated["rows"], deduplicated["amount"]
    if engine.get("materialize"):
        stored = _store(final, con, engine, run_name, "transactions")
        if final is not cleaned:
            _drop_temp(con, final)
        final = stored
    if final is not cleaned:  # the flagged table is no longer referenced
        _drop_temp(con, flagged)
    rows_out = int(out["rows"])
    duplicate_description = ("line identical to an earlier one in every mapped column" if has_order_id else
                             "identical lines without an order id (kept: may be repeat purchases)")
    if duplicate_action == "error" and n_duplicates > 0:
        columns = [c for c in output]
        examples = _duplicate_examples(source, build, columns)
        raise DataError(f"{n_duplicates:,} lines repeat an earlier line exactly.", source=source.description,
                        n_rows=n_duplicates, examples=examples,
                        hint="Set quality: {duplicate_rows: drop} to drop the repeats (they are counted).")
    results.append(RuleResult(DUPLICATE_RULE_NAME, duplicate_action, n_duplicates, dup_amount,
                              duplicate_description))
    if rows_out == 0:
        raise DataError(f"No '{spec.name}' rows are left after the data-quality rules.",
                        source=source.description, n_rows=counts["__rows"],
                        hint="See which rule removed them: " + ", ".join(
                            f"{r.rule}={r.rows:,}" for r in results if r.removed))
    quality = TableQuality(
        table="transactions", source=source.description, rows_in=counts["__rows"], rows_out=rows_out,
        rules=results,
        customers=int(out["customers"]), first_timestamp=pd.Timestamp(out["first"]),
        last_timestamp=pd.Timestamp(out["last"]), amount_in=_float(counts["__amount"]),
        amount_out=_float(out["amount"]), notes=[*source.notes, *parser.notes],
    )
    if not has_order_id:
        quality.notes.append("order_id not mapped: derived as customer_id|timestamp (one order per customer "
                             "and timestamp)")
    return _LoadedTable(final, quality, as_of)


def _check_kept_rows(source: _Source, build, flagged, removing: list[str], options: Mapping[str, Any],
                     as_of: pd.Timestamp | None, mapping: Mapping[str, str]) -> None:
    """Refuse implausible rows that survive the rules: placeholder dates before ``min_date``, dates
    after today when ``as_of`` is left to default to the last transaction, and an order id shared by
    two customers (``shared_order_ids: error``). One aggregate query, plus one group-by on order ids."""
    kept = flagged.filter(~_any_flag(flagged, removing)) if removing else flagged
    earliest = min_date_of(options)
    tomorrow = pd.Timestamp.now(tz="UTC").tz_localize(None).normalize() + pd.Timedelta(days=1)
    checks: dict[str, tuple[Any, str, str]] = {}
    if earliest is not None:
        checks["early"] = (
            lambda t: (t.timestamp < earliest.to_pydatetime()).fill_null(False),
            f"rows are dated before {earliest:%Y-%m-%d} (quality.min_date): placeholder dates such as "
            "1900-01-01 or 1970-01-01 stand for an unknown date.",
            "Fix or remove these rows in the export, or set quality: {min_date: ...} to an earlier day (null "
            "switches the check off) if such old transactions are real.")
    if as_of is None:
        checks["future"] = (
            lambda t: (t.timestamp >= tomorrow.to_pydatetime()).fill_null(False),
            f"rows are dated after today ({tomorrow - pd.Timedelta(days=1):%Y-%m-%d}), so as_of cannot default "
            "to the date of the last transaction.",
            "Fix the dates, or set as_of in the run config: rows after it are then excluded and counted.")
    if not checks:
        counts = {}
    else:
        counts = _execute(kept.aggregate(**{k: predicate(kept).sum() for k, (predicate, _, _) in checks.items()}),
                          source).iloc[0]
    for key, (predicate, message, hint) in checks.items():
        n_rows = int(counts[key] or 0)
        if n_rows:
            examples = _examples(source, build, predicate, lambda t: _raw_text(t, ("timestamp",)))
            raise DataError(f"{n_rows:,} {message}", source=source.description, column=mapping.get("timestamp"),
                            n_rows=n_rows, examples=examples, hint=hint)
    if "order_id" not in mapping or options["shared_order_ids"] != "error":
        return
    per_order = kept.group_by("order_id").aggregate(lines=kept.count(), first=kept.customer_id.min(),
                                                    last=kept.customer_id.max())
    shared = per_order.filter(per_order.first != per_order.last)
    found = _execute(shared.aggregate(orders=shared.count(), lines=shared.lines.sum()), source).iloc[0]
    if int(found["orders"]):
        window = ibis.window(group_by="order_id")

        def spans_customers(t):
            return (t.customer_id.min().over(window) != t.customer_id.max().over(window)).fill_null(False)

        examples = _examples(source, build, spans_customers,
                             lambda t: t.order_id.concat(" (customer ", t.customer_id.fill_null(""), ")"))
        raise DataError(
            f"{int(found['orders']):,} order ids belong to more than one customer ({int(found['lines']):,} lines).",
            source=source.description, column=mapping["order_id"], n_rows=int(found["lines"]), examples=examples,
            hint="Usually ids restart per shop or year, or the customer column is misaligned: map a column that "
                 "makes orders unique, or set quality: {shared_order_ids: keep} to count orders per customer.")


def _check_rules(source: _Source, parser: _Parser, build, context: RuleContext, counts: Mapping[str, Any],
                 rules, alive_before, bad_flags: list[str], missing_flags: list[str]) -> None:
    """Raise the DataError of the first problem: empty source, malformed lines, a rule set to ``error``."""
    if counts["__rows"] == 0:
        raise DataError("The 'transactions' source has no data rows (header only or empty).",
                        source=source.description, n_rows=0)
    _check_structure(source, build, counts)
    for i, (rule, action, _) in enumerate(rules):
        n_hit = int(counts[f"{rule.name}__rows"])
        if action != "error" or n_hit == 0:
            continue
        before = lambda t, i=i: alive_before(t, context, i)  # noqa: E731
        if rule.name in ("unparseable_values", "missing_values"):
            flags = bad_flags if rule.name == "unparseable_values" else missing_flags
            _raise_bad_values(source, parser, build, counts, flags, rule.name, before)
        _raise_rule_error(source, build, context, rule, n_hit, before, parser.mapping)


def _drop_temp(con, table) -> None:
    engine_for(con).drop(table)


def _flag_profile(parsed, flags: Mapping[str, Any], source: _Source, extra=None) -> pd.DataFrame:
    """Row counts (``__n``) and ``extra`` aggregates per distinct combination of boolean flags.

    A GROUP BY on a handful of booleans is one cheap pass, much faster than one filtered sum per rule.
    """
    keyed = parsed.mutate(**{name: flag.fill_null(False) for name, flag in flags.items()})
    aggregates = {"__n": keyed.count(), **(extra(keyed) if extra else {})}
    profile = _execute(keyed.group_by(list(flags)).aggregate(**aggregates), source)
    for name in flags:
        profile[name] = profile[name].astype(bool)
    return profile


def _float(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _with_returns(parsed, has_order_id: bool, prefixes: tuple[str, ...]):
    """Add ``is_return``, make return amounts and quantities negative, derive a missing order_id."""
    is_return = parsed.amount < 0
    if "quantity" in parsed.columns:
        is_return = is_return | (parsed.quantity < 0).fill_null(False)
    if has_order_id and prefixes:
        for prefix in prefixes:
            is_return = is_return | parsed.order_id.startswith(prefix).fill_null(False)
    is_return = is_return.fill_null(False)
    columns = {"is_return": is_return, "amount": ibis.ifelse(is_return, -parsed.amount.abs(), parsed.amount)}
    if "quantity" in parsed.columns:
        columns["quantity"] = ibis.ifelse(is_return, -parsed.quantity.abs(), parsed.quantity)
    else:
        columns["quantity"] = ibis.literal(None, type="float64")
    if not has_order_id:
        # Date and time formatted apart: a literal "T" inside a format is not portable (Spark).
        columns["order_id"] = parsed.customer_id.concat("|", parsed.timestamp.strftime("%Y-%m-%d"), "T",
                                                        parsed.timestamp.strftime("%H:%M:%S"))
    return parsed.mutate(**columns)


def _raise_rule_error(source: _Source, build, context: RuleContext, rule, n_hit: int, alive_before,
                      mapping: Mapping[str, str]) -> None:
    """DataError for a row rule whose action is ``error`` (missing customer id, absurd amount)."""
    limit = context.options["max_line_amount"]
    messages = {
        "missing_customer_id": (f"{n_hit:,} rows have no customer id.", "customer_id",
                                "Fix the source, or set quality: {missing_customer_id: drop} (the default) "
                                "to drop them (they are counted)."),
        "above_max_amount": (f"{n_hit:,} lines have an amount above {limit:,.0f} (quality.max_line_amount).",
                             "amount",
                             "Check the decimal separator and the amount column; raise max_line_amount if "
                             "such lines are real, or set quality: {above_max_amount: drop}."),
    }
    message, column, hint = messages.get(
        rule.name, (f"{n_hit:,} rows match the rule {rule.name!r}.", None, f"See quality.{rule.option}."))
    examples = _examples(
        source, build, lambda t: rule.predicate(t, context).fill_null(False) & alive_before(t),
        lambda t: t[column].cast("string") if column else ibis.literal(None, type="string"))
    raise DataError(message, source=source.description, column=mapping.get(column, column), n_rows=n_hit,
                    examples=examples, hint=hint)


def _duplicate_examples(source: _Source, build, columns: list[str]) -> list[tuple]:
    parsed, _, _ = build(_numbered(source))
    occurrence = ibis.row_number().over(group_by=[parsed[c] for c in columns], order_by=parsed[_ROW])
    ranked = parsed.mutate(__occurrence=occurrence)
    file_column = [ranked[_FILE]] if source.multi_file else []
    label = ranked.customer_id.cast("string").concat(" ", ranked.timestamp.cast("string"), " ",
                                                      ranked.amount.cast("string"))
    rows = _execute(ranked.filter(ranked.__occurrence > 0).select(ranked[_ROW], *file_column, label.name("v"))
                    .order_by(_ROW).limit(5), source)
    return [(f"{int(r[0])} of {Path(str(r[1])).name}" if source.multi_file else int(r[0]), r[-1])
            for r in rows.itertuples(index=False)]


_TEMP = ("temp", "main")


def _engine_table(expr, con, prefix: str, source: _Source):
    """Compute ``expr`` once into a temporary engine table (DuckDB spills it to temp_directory).

    On Spark the cache is filled by the first query that reads it, so read errors surface there
    (``_execute`` turns them into the same DataError).
    """
    try:
        return engine_for(con).cache(expr, prefix)
    except Exception as exc:
        if not _is_engine_error(exc):
            raise
        message = str(exc)
        hint = "Check the csv options (delimiter, quote, header, encoding) of this table in the run config."
        if _is_encoding_error(message):
            hint = "The file is not valid UTF-8: set e.g. csv: {encoding: latin-1} (or cp1252)."
        raise DataError(f"Could not read the source: {_first_line(exc)}", source=source.description,
                        hint=hint) from None


def _store(table, con, engine: Mapping[str, Any], run_name: str, name: str):
    """Materialise a cleaned table: Parquet under data/processed/<run>/ or an engine cache, else lazy."""
    if engine.get("materialize"):
        if engine_for(con).label != "DuckDB":
            raise ConfigError("engine.materialize writes Parquet through the embedded DuckDB engine; on "
                              f"{engine_for(con).description()} leave it off (cleaned tables are cached there).")
        target = processed_dir() / run_name / f"{name}.parquet"
        with atomic_write(target) as tmp:
            con.to_parquet(table, tmp)
        return con.read_parquet(str(target), table_name=_table_name(name))
    if engine.get("cache", True):
        return _engine_table(table, con, name, _Source(table, name, []))
    return table


# ---------------------------------------------------------------------------------------------------
# Optional tables
# ---------------------------------------------------------------------------------------------------


def _load_other(spec: TableSpec, con, options: Mapping[str, Any], as_of: pd.Timestamp | None,
                engine: Mapping[str, Any], run_name: str) -> _LoadedTable:
    """Light validation of an optional table: required columns, parseable values, allowed values.

    Rows of the dated tables (:data:`AS_OF_TABLES`) after the as_of day are excluded and counted
    by the transactions' ``after_as_of`` rule, applied to the table's date column.
    """
    name = spec.name
    contract = CONTRACTS[name]
    source = _open_source(spec, con)
    mapping = _resolve_columns(source, spec, contract)
    parser = _Parser(source, mapping, contract)
    parser.detect()
    required_ids = [c for c in contract.required if contract.column(c).dtype == "string"]
    checks = {column: check for column, check in VALUE_CHECKS.get(name, {}).items() if column in mapping}
    date_column = DATE_COLUMNS[name]
    as_of_end = None if as_of is None else as_of + pd.Timedelta(days=1)
    exclude_after = name in AS_OF_TABLES and as_of_end is not None
    after_rule = next(rule for rule in QUALITY_RULES if rule.name == "after_as_of")
    rule_context = RuleContext(options=options, as_of_end=as_of_end)

    def build(raw):
        parsed, bad, missing = parser.parse(raw)
        parsed = parsed.mutate(**{f"__missing_{c}": parsed[c].isnull() for c in required_ids})
        # Allowed values are compared without regard to case.
        parsed = parsed.mutate(**{c: parsed[c].lower() for c, check in checks.items() if "allowed" in check})
        if exclude_after:  # the rule reads `timestamp`: give it the table's date column under that name
            dated = parsed.mutate(timestamp=parsed[date_column])
            parsed = dated.mutate(**{_AFTER: after_rule.predicate(dated, rule_context).fill_null(False)})
            if date_column != "timestamp":
                parsed = parsed.drop("timestamp")
        return parsed, bad, [*missing, *(f"__missing_{c}" for c in required_ids)]

    parsed, bad_flags, missing_flags = build(source.table)

    aggregates = {"__rows": parsed.count()}
    for flag in (*bad_flags, *missing_flags):
        aggregates[f"__n{flag}"] = parsed[flag].sum()
    for column, check in checks.items():
        aggregates[f"__check_{column}"] = _check_violation(parsed[column], check).sum()
    if source.structural_check:
        aggregates["__n_fields_bad"] = (~parsed[_FIELDS_OK]).sum()
    any_bad = _any_flag(parsed, bad_flags)
    any_missing = _any_flag(parsed, missing_flags)
    if exclude_after:
        aggregates["__after"] = (parsed[_AFTER] & ~any_bad & ~any_missing).sum()
    aggregates["__bad_rows"] = any_bad.sum()
    aggregates["__missing_rows"] = (any_missing & ~any_bad).sum()
    counts = _execute(parsed.aggregate(**aggregates), source).iloc[0]
    rows_in = int(counts["__rows"])
    if rows_in == 0:
        raise DataError(f"The '{name}' source has no data rows (header only or empty).",
                        source=source.description, n_rows=0)
    _check_structure(source, build, counts)
    no_filter = lambda t: ibis.literal(True)  # noqa: E731
    if options["unparseable_values"] == "error":
        _raise_bad_values(source, parser, build, counts, bad_flags, "unparseable_values", no_filter)
    if options["missing_values"] == "error":
        _raise_bad_values(source, parser, build, counts, missing_flags, "missing_values",
                          lambda t: ~_any_flag(t, bad_flags))
    for column, check in checks.items():
        n_bad = int(counts[f"__check_{column}"])
        if n_bad:
            examples = _examples(source, build, lambda t, c=column, k=check: _check_violation(t[c], k),
                                 lambda t, c=column: t[c].cast("string"))
            raise DataError(f"{n_bad:,} rows of '{name}' have a {column!r} outside {check['label']}.",
                            source=source.description, column=mapping[column], n_rows=n_bad,
                            examples=examples, hint=check["hint"])

    results = [
        RuleResult("unparseable_values", options["unparseable_values"], int(counts["__bad_rows"]),
                   description="date or number that does not parse"),
        RuleResult("missing_values", options["missing_values"], int(counts["__missing_rows"]),
                   description="empty required value"),
    ]
    keep = ~any_bad & ~any_missing
    if exclude_after:
        results.append(RuleResult(after_rule.name, after_rule.action(options), int(counts["__after"]),
                                  description=f"{date_column} after the as_of day"))
        keep = keep & ~parsed[_AFTER]
    flags = {*bad_flags, *missing_flags, _AFTER}
    cleaned = parsed.filter(keep).select(*[c for c in parsed.columns if c not in flags and not c.startswith("__clc_")])
    if name == "events":
        cleaned = _store(cleaned, con, {**engine, "materialize": False}, run_name, name)
    summary = {"rows": cleaned.count()}
    if date_column in cleaned.columns:
        summary.update(first=cleaned[date_column].min(), last=cleaned[date_column].max())
    if "customer_id" in cleaned.columns:
        summary["customers"] = cleaned.customer_id.nunique()
    out = _execute(cleaned.aggregate(**summary), source).iloc[0]
    quality = TableQuality(
        table=name, source=source.description, rows_in=rows_in, rows_out=int(out["rows"]), rules=results,
        customers=int(out["customers"]) if "customers" in out else None,
        first_timestamp=pd.Timestamp(out["first"]) if "first" in out and not pd.isna(out["first"]) else None,
        last_timestamp=pd.Timestamp(out["last"]) if "last" in out and not pd.isna(out["last"]) else None,
        notes=[*source.notes, *parser.notes],
    )
    return _LoadedTable(cleaned, quality, as_of)


def _any_flag(table, flags: Sequence[str]):
    result = table[table.columns[0]].isnull() & ibis.literal(False)  # a column, countable
    for flag in flags:
        result = result | table[flag]
    return result


def _check_violation(value, check: Mapping[str, Any]):
    if "allowed" in check:
        return value.notnull() & ~value.isin(list(check["allowed"]))
    violation = ibis.literal(False)
    if check.get("min") is not None:
        violation = violation | (value < check["min"])
    if check.get("max") is not None:
        violation = violation | (value > check["max"])
    return violation.fill_null(False)


# ---------------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------------


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
        from clc_lib.clv.value import clv_options
        from clc_lib.summary import customer_summary

        unit = clv_options(self.config.clv or None)["time_unit"]
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
        tables = ", ".join(n for n in ("customers", "spend", "events", "campaigns", "surveys")
                           if getattr(self, n) is not None)
        tx = self.quality.tables.get("transactions")
        rows = f"{tx.rows_out:,} transactions, {tx.customers:,} customers" if tx else ""
        return (f"RunData({self.config.name!r}, as_of={self.as_of:%Y-%m-%d}, {rows}"
                + (f"; also {tables}" if tables else "") + ")")


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
        if str(period).upper() not in PERIODS:
            raise ConfigError(f"period is {period!r}; use one of {', '.join(PERIODS)}.")
        run_config = dataclasses.replace(run_config, period=str(period).upper())
    if stage_rules is not None:
        from clc_lib.stages import override_thresholds

        run_config = dataclasses.replace(run_config, stages=override_thresholds(run_config.stages, stage_rules))
    cached = _from_run_cache(config, run_config, as_of)
    if cached is not None:
        return cached
    engine = engine_options(run_config)
    options = quality_options(run_config.quality)
    as_of_value = _as_of_timestamp(as_of if as_of is not None else run_config.as_of)
    con = connect(run_config)
    loaded = _load_transactions(run_config.tables["transactions"], con, options, as_of_value, engine,
                                run_config.name)
    if as_of_value is not None:
        _check_as_of_after_data(loaded.quality, as_of_value, run_config.period, options)
    report = DataQualityReport(as_of=loaded.as_of, currency=run_config.currency)
    report.add(loaded.quality)
    others: dict[str, Any] = {}
    for name in ("customers", "spend", "events", "campaigns", "surveys"):
        if not run_config.has(name):
            continue
        spec = run_config.tables[name]
        table_con = _small_table_engine(spec, con, run_config) if name in SMALL_TABLES else con
        table = _load_other(spec, table_con, options, loaded.as_of, engine, run_config.name)
        report.add(table.quality)
        others[name] = table.table.to_pandas() if name in SMALL_TABLES else table.table
        if name in SMALL_TABLES:
            _check_small_table(others[name], table.quality, con, loaded.table)
    return RunData(config=run_config, con=con, transactions=loaded.table, as_of=loaded.as_of,
                   currency=run_config.currency, period=run_config.period, quality=report, **others)


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
    lookup = _temp_table_from_memory(con, "customer_lookup", ids)
    try:
        known = _execute(lookup.filter(lookup.customer_id.isin(transactions.customer_id)),
                         _Source(lookup, "transactions", []))
    finally:
        _drop_temp(con, lookup)
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
_CACHED_ENGINE_TABLES = ("transactions", "events")
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
            "period": run_config.period, "stages": json.loads(json.dumps(run_config.stages or {}, default=str)),
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
    tables = {name: con.read_parquet(str(folder / f"{name}.parquet"), table_name=_table_name(name))
              for name in _CACHED_ENGINE_TABLES if (folder / f"{name}.parquet").is_file()}
    return RunData(config=run_config, con=con, transactions=tables["transactions"], as_of=frames["as_of"],
                   currency=run_config.currency, period=run_config.period, quality=frames["quality"],
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
    return _connect_duckdb(engine_options(None), run_config.base_dir)


def _spec_from(spec: TableSpec | Mapping[str, Any] | str | Path | pd.DataFrame, table: str) -> TableSpec:
    if isinstance(spec, TableSpec):
        return spec
    if isinstance(spec, Path):
        spec = str(spec)
    return _parse_table_spec(table, spec, Path.cwd(), "table spec")


def load_table(spec: TableSpec | Mapping[str, Any] | str | Path | pd.DataFrame, con=None, *,
               table: str | None = None, as_of: Any = None, quality: Mapping[str, Any] | None = None,
               return_report: bool = False):
    """Load, validate and clean one table and return it as an Ibis table.

    Parameters
    ----------
    spec
        A :class:`~clc_lib.config.TableSpec`, a mapping in run-config form (``{path: ..., columns:
        ...}``), a path, or a DataFrame.
    con
        The engine (from :func:`connect`); a new in-memory DuckDB when None.
    table
        Contract table name when ``spec`` is not a TableSpec (default ``transactions``).
    as_of, quality
        As in :func:`load_run` and the ``quality:`` section.
    return_report
        Also return the table's :class:`~clc_lib.quality.TableQuality`.
    """
    name = spec.name if isinstance(spec, TableSpec) else (table or "transactions")
    if name not in CONTRACTS:
        raise ConfigError(f"No data contract for table {name!r}; known: {', '.join(CONTRACTS)}.")
    table_spec = _spec_from(spec, name)
    con = con if con is not None else connect(None)
    options = quality_options(quality)
    as_of_value = _as_of_timestamp(as_of)
    engine = engine_options(None)
    loader = _load_transactions if name == "transactions" else _load_other
    loaded = loader(table_spec, con, options, as_of_value, engine, "tables")
    return (loaded.table, loaded.quality) if return_report else loaded.table


def read_transactions(path_or_df: str | Path | pd.DataFrame, columns: Mapping[str, str] | None = None, *,
                      con=None, as_of: Any = None, quality: Mapping[str, Any] | None = None, **csv: Any):
    """Convenience: load a transactions file or DataFrame with a column mapping and CSV options.

    Examples
    --------
    >>> tx = read_transactions("CDNOW_master.txt",  # doctest: +SKIP
    ...                        {"timestamp": "date", "quantity": "number_of_cds", "amount": "dollar_value"},
    ...                        date_format="%Y%m%d")
    """
    raw: dict[str, Any] = {"columns": dict(columns or {})}
    if isinstance(path_or_df, pd.DataFrame):
        raw["data"] = path_or_df
    else:
        raw["path"] = str(path_or_df)
    if csv:
        raw["csv"] = csv
    return load_table(raw, con, table="transactions", as_of=as_of, quality=quality)
