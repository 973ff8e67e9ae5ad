"""Compute engines: what differs between DuckDB, Spark and SQL databases reached through Ibis.

Every transaction-level step of ``clc`` is an Ibis expression, so it runs unchanged on any Ibis
backend. A few things cannot be written once for all backends; this module holds them, one class
per kind of engine (see ``docs/engines.md``):

* **connecting** (:func:`connect`): an embedded DuckDB (the default), a Spark session
  (``engine: {backend: spark, master: ..., settings: {...}}``) or any Ibis connection URL
  (``engine: {url: "postgres://analyst:${PGPASSWORD}@db/shop"}``, secrets from the environment);
* **caching** a cleaned table in the engine (a DuckDB temporary table, a cached Spark temporary
  view, a temporary table in a SQL database) and dropping it again;
* **parsing text without raising**: a timestamp with a ``strptime`` format and a number, NULL when
  the text does not parse (DuckDB ``try_strptime``/``TRY_CAST``, Spark ``try_to_timestamp``/
  ``TRY_CAST``, PostgreSQL a shape check plus session-local functions that catch the error);
* **reading files** (DuckDB and Spark read CSV and Parquet themselves; a SQL database reads tables);
* a one-line **description** of the engine for reports (:func:`engine_description`).

Only small per-customer or per-period results come back to the client.

In the flow config -> sources -> parsing -> quality rules -> run -> analyses, the engine is started
first (:func:`connect`, called by :func:`clc_lib.run.load_run`): every later step runs on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from clc_lib.config import RunConfig, check_no_literal_secret, expand_env, load_config
from clc_lib.errors import ConfigError
from clc_lib.paths import processed_dir
from clc_lib.settings import ENGINE_DEFAULTS, engine_settings

__all__ = [
    "SPARK_DEFAULT_SETTINGS",
    "Engine",
    "engine_for",
    "engine_of",
    "engine_description",
    "cache_table",
    "connect_spark",
    "connect_url",
    "connect",
]

#: Spark settings applied before the run config's ``engine.settings`` (which win).
SPARK_DEFAULT_SETTINGS: Mapping[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
}

# strptime directive -> (Spark/Java pattern letters, PostgreSQL template pattern, shape regex).
# Numeric fields take one or two digits like strptime, or exactly two when another directive
# follows directly (``%Y%m%d``), where a width is the only way to tell the fields apart.
_DIRECTIVES: Mapping[str, tuple[str, str, str]] = {
    "Y": ("yyyy", "YYYY", r"\d{4}"),
    "y": ("yy", "YY", r"\d{2}"),
    "m": ("M", "MM", r"\d{1,2}"),
    "d": ("d", "DD", r"\d{1,2}"),
    "H": ("H", "HH24", r"\d{1,2}"),
    "I": ("h", "HH12", r"\d{1,2}"),
    "M": ("m", "MI", r"\d{1,2}"),
    "S": ("s", "SS", r"\d{1,2}"),
    "f": ("SSSSSS", "US", r"\d{1,6}"),
    "p": ("a", "AM", r"[AaPp][Mm]"),
    "b": ("MMM", "Mon", r"[A-Za-z]{3}"),
    "B": ("MMMM", "Month", r"[A-Za-z]+"),
}
_VARIABLE_WIDTH = {"m", "d", "H", "I", "M", "S"}

#: Named text formats of the loader (besides strptime formats such as ``%Y%m%d``).
ISO = "ISO 8601"
ISO_OFFSET = "ISO 8601 with UTC offset"
EPOCH_SECONDS = "Unix time in seconds"
EPOCH_MILLISECONDS = "Unix time in milliseconds"
#: ISO 8601 text without a UTC offset (date, optional time).
ISO_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"
#: ISO 8601 text with a UTC offset (Z, +01, +0100, +01:00).
ISO_OFFSET_PATTERN = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
_EPOCH_MICROSECONDS = {EPOCH_SECONDS: 1_000_000, EPOCH_MILLISECONDS: 1_000}
#: Plain decimal numbers (after the loader removed thousands separators and set "." as decimal).
NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def _strptime_tokens(fmt: str) -> list[tuple[str, str]]:
    """Split a strptime format into ("directive", letter) and ("literal", text) tokens."""
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            letter = fmt[i + 1]
            if letter == "%":
                tokens.append(("literal", "%"))
            elif letter in _DIRECTIVES:
                tokens.append(("directive", letter))
            else:
                raise ConfigError(
                    f"The date format {fmt!r} uses %{letter}, which the Spark and SQL engines do not "
                    f"translate; use {' '.join('%' + k for k in _DIRECTIVES)} or ISO dates."
                )
            i += 2
        else:
            tokens.append(("literal", fmt[i]))
            i += 1
    return tokens


def _width_fixed(tokens: list[tuple[str, str]], index: int) -> bool:
    """A variable-width field needs a fixed width when a directive touches it on either side."""
    before = tokens[index - 1][0] == "directive" if index > 0 else False
    after = tokens[index + 1][0] == "directive" if index + 1 < len(tokens) else False
    return before or after


def strptime_to_java(fmt: str) -> str:
    """Translate a strptime format into a Spark datetime pattern (``%Y%m%d`` -> ``yyyyMMdd``)."""
    tokens = _strptime_tokens(fmt)
    out = []
    for i, (kind, value) in enumerate(tokens):
        if kind == "literal":
            out.append(f"'{value}'" if value.isalpha() else ("''" if value == "'" else value))
            continue
        letters = _DIRECTIVES[value][0]
        if value in _VARIABLE_WIDTH and _width_fixed(tokens, i):
            letters = letters * 2
        out.append(letters)
    return "".join(out)


def strptime_to_postgres(fmt: str) -> str:
    """Translate a strptime format into a PostgreSQL ``to_timestamp`` template (``%d.%m.%Y`` -> ``DD.MM.YYYY``)."""
    out = []
    for kind, value in _strptime_tokens(fmt):
        if kind == "literal":
            out.append(f'"{value}"' if value.isalpha() else value)
        else:
            out.append(_DIRECTIVES[value][1])
    return "".join(out)


def strptime_shape(fmt: str) -> str:
    """An anchored regular expression for the text a strptime format accepts (shape only)."""
    tokens = _strptime_tokens(fmt)
    out = []
    for i, (kind, value) in enumerate(tokens):
        if kind == "literal":
            out.append(re.escape(value))
        elif value in _VARIABLE_WIDTH and _width_fixed(tokens, i):
            out.append(r"\d{2}")
        else:
            out.append(_DIRECTIVES[value][2])
    return "^" + "".join(out) + "$"


# ---------------------------------------------------------------------------------------------------
# Builtin functions of the engines, called from Ibis expressions
# ---------------------------------------------------------------------------------------------------


@ibis.udf.scalar.builtin(name="try_strptime")
def _duckdb_try_strptime(text: str, format: str) -> dt.Timestamp():
    """DuckDB ``try_strptime``: the timestamp, or NULL when ``text`` does not match ``format``."""


@ibis.udf.scalar.builtin(name="try_to_timestamp")
def _spark_try_to_timestamp(text: str, format: str) -> dt.Timestamp():
    """Spark ``try_to_timestamp``: NULL instead of an error when the text does not match."""


@ibis.udf.scalar.builtin(name="clc_try_timestamp", database="pg_temp")
def _postgres_try_timestamp(text: str, template: str) -> dt.Timestamp():
    """Session function (see ``_POSTGRES_FUNCTIONS``): ``to_timestamp`` or NULL on any error."""


@ibis.udf.scalar.builtin(name="clc_try_float8", database="pg_temp")
def _postgres_try_float8(text: str) -> dt.Float64():
    """Session function (see ``_POSTGRES_FUNCTIONS``): ``text::float8`` or NULL on any error."""


# Functions created in the session's own temporary schema: nothing is left behind on the server.
# Template '' means ISO text without offset (a plain cast), 'UTC' ISO text with an offset.
_POSTGRES_FUNCTIONS = (
    """CREATE OR REPLACE FUNCTION pg_temp.clc_try_timestamp(value text, template text)
       RETURNS timestamp LANGUAGE plpgsql IMMUTABLE AS $$
       BEGIN
         IF template = '' THEN RETURN value::timestamp; END IF;
         IF template = 'UTC' THEN RETURN value::timestamptz AT TIME ZONE 'UTC'; END IF;
         RETURN to_timestamp(value, template)::timestamp;
       EXCEPTION WHEN others THEN RETURN NULL;
       END $$""",
    """CREATE OR REPLACE FUNCTION pg_temp.clc_try_float8(value text)
       RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $$
       BEGIN RETURN value::double precision;
       EXCEPTION WHEN others THEN RETURN NULL;
       END $$""",
)


# ---------------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------------


class Engine:
    """A SQL database reached through an Ibis connection URL (PostgreSQL, BigQuery, Snowflake...).

    Subclasses override what differs. The base class is the portable fallback: cached tables are
    Ibis' own temporary tables, text parses with a shape check before the cast, files are not read.

    Parameters
    ----------
    con
        The Ibis backend.
    """

    #: Reads CSV and Parquet files itself.
    reads_files: bool = False
    #: Human-readable product name for descriptions.
    label: str = ""

    def __init__(self, con: Any) -> None:
        self.con = con

    # -- caching ------------------------------------------------------------------------------------
    def cache(self, expr: ir.Table, prefix: str) -> ir.Table:
        """Compute ``expr`` once into a temporary table of the session; later queries read it."""
        return self.con.create_table(unique_table_name(prefix), expr, temp=True)

    def drop(self, table: ir.Table) -> None:
        """Drop a temporary table made by :meth:`cache` (it would also end with the session)."""
        self.con.drop_table(table.op().name, force=True)

    # -- parsing ------------------------------------------------------------------------------------
    def parse_timestamp(self, text: ir.StringValue, fmt: str | None) -> ir.TimestampValue:
        """Timestamp (no time zone) from trimmed text; NULL where the text does not parse.

        ``fmt`` is a strptime format (``%d.%m.%Y``), ``None`` or :data:`ISO` (ISO 8601 without
        offset), :data:`ISO_OFFSET` (converted to UTC), or :data:`EPOCH_SECONDS` /
        :data:`EPOCH_MILLISECONDS` (Unix time, UTC).
        """
        if fmt is None or fmt == ISO:
            return self._checked(text, ISO_TIMESTAMP_PATTERN, text.try_cast(dt.Timestamp()))
        if fmt == ISO_OFFSET:
            as_utc = text.try_cast(dt.Timestamp(timezone="UTC")).cast(dt.Timestamp())
            return self._checked(text, ISO_OFFSET_PATTERN, as_utc)
        if fmt in _EPOCH_MICROSECONDS:
            micros = text.try_cast("int64") * _EPOCH_MICROSECONDS[fmt]
            return self._checked(text, r"^-?\d{1,15}$", micros.to_timestamp(unit="us").cast(dt.Timestamp()))
        return self._checked(text, strptime_shape(fmt), self._strptime(text, fmt))

    @staticmethod
    def _checked(text: ir.StringValue, pattern: str, parsed: ir.TimestampValue) -> ir.TimestampValue:
        return ibis.ifelse(text.re_search(pattern), parsed, ibis.null(dt.Timestamp()))

    def _strptime(self, text: ir.StringValue, fmt: str) -> ir.TimestampValue:
        raise ConfigError(f"The {self.description()} engine cannot parse dates with the format {fmt!r}; "
                          "store the column as a timestamp in the database.")

    def parse_number(self, text: ir.StringValue) -> ir.FloatingValue:
        """float64 from trimmed text with "." as decimal separator; NULL when it fails."""
        return ibis.ifelse(text.re_search(NUMBER_PATTERN), text.try_cast("float64"), ibis.null("float64"))

    def row_fingerprint(self, table: ir.Table, columns: Sequence[str]) -> ir.IntegerValue | None:
        """A cheap 64-bit hash of a whole row for counting distinct lines, or None (count exactly)."""
        return None

    # -- sources ------------------------------------------------------------------------------------
    def table_from_memory(self, prefix: str, data: Any) -> ir.Table:
        """A temporary engine table holding a pandas DataFrame or Arrow table (small tables)."""
        return self.con.create_table(unique_table_name(prefix), data, temp=True)

    def read_parquet(self, paths: list[str], table_name: str, file_column: str | None) -> ir.Table:
        raise ConfigError(self.no_files_message())

    def read_csv(self, paths: str | list[str], **options: Any) -> ir.Table:
        raise ConfigError(self.no_files_message())

    def no_files_message(self) -> str:
        """Why this engine cannot read a file source, and what to do instead."""
        return (f"The {self.description()} engine does not read files. Load the file into a table of that "
                "database and name it with `table:` (or `sql:`) and `connection: engine`, or run on "
                "DuckDB or Spark (docs/engines.md).")

    def source_table(self, name: str | None, sql: str | None) -> ir.Table:
        """A table or query that already lives in the engine (``connection: engine``)."""
        if name is not None:
            *database, table = str(name).split(".")
            return self.con.table(table, database=tuple(database) if database else None)
        return self.con.sql(sql)

    # -- description --------------------------------------------------------------------------------
    def description(self) -> str:
        """One line naming the engine and its version, e.g. ``PostgreSQL 15.13``."""
        label = self.label or self.con.name
        try:
            version = self.con.version
        except Exception:  # a backend without a version query
            version = ""
        return f"{label} {version}".strip()


class DuckDBEngine(Engine):
    """The embedded default: temporary tables spill to ``temp_directory``, files are read natively."""

    reads_files = True
    label = "DuckDB"

    def cache(self, expr: ir.Table, prefix: str) -> ir.Table:
        name = unique_table_name(prefix)
        self.con._run_pre_execute_hooks(expr)  # registers the in-memory tables that expr reads
        self.con.raw_sql(f'CREATE TEMP TABLE "{name}" AS {ibis.to_sql(expr, dialect=self.con.name)}')
        return self.con.table(name, database=("temp", "main"))

    def drop(self, table: ir.Table) -> None:
        self.con.raw_sql(f'DROP TABLE IF EXISTS temp.main."{table.op().name}"')

    def parse_timestamp(self, text: ir.StringValue, fmt: str | None) -> ir.TimestampValue:
        if fmt is None or fmt == ISO:
            return text.try_cast("timestamp")
        return _duckdb_try_strptime(text, fmt)

    def parse_number(self, text: ir.StringValue) -> ir.FloatingValue:
        return text.try_cast("float64")

    def row_fingerprint(self, table: ir.Table, columns: Sequence[str]) -> ir.IntegerValue | None:
        return ibis.struct({c: table[c] for c in columns}).hash()

    def table_from_memory(self, prefix: str, data: Any) -> ir.Table:
        name = unique_table_name(prefix)
        view = f"{name}_src"
        self.con.con.register(view, data)
        try:
            self.con.raw_sql(f'CREATE TEMP TABLE "{name}" AS SELECT * FROM "{view}"')
        finally:
            self.con.con.unregister(view)
        return self.con.table(name, database=("temp", "main"))

    def read_parquet(self, paths: list[str], table_name: str, file_column: str | None) -> ir.Table:
        kwargs = {"filename": file_column} if file_column else {}
        return self.con.read_parquet(paths if len(paths) > 1 or file_column else paths[0],
                                     table_name=table_name, **kwargs)

    def read_csv(self, paths: str | list[str], **options: Any) -> ir.Table:
        return self.con.read_csv(paths, **options)

    def description(self) -> str:
        return f"DuckDB {self.con.version} (embedded)"


# Java charset names for the encodings the loader passes on.
_SPARK_ENCODINGS = {"utf-8": "UTF-8", "latin-1": "ISO-8859-1", "utf-16": "UTF-16"}


class SparkEngine(Engine):
    """Apache Spark through ``ibis.pyspark``: cached temporary views, files read by Spark itself."""

    reads_files = True
    label = "Spark"

    def __init__(self, con: Any) -> None:
        super().__init__(con)
        self._cached: dict[str, Any] = {}  # temporary view name -> cached Spark DataFrame

    @property
    def session(self):
        return self.con._session

    def cache(self, expr: ir.Table, prefix: str) -> ir.Table:
        # Spark fills the cache on the first query that reads it; the view name refers to it.
        name = unique_table_name(prefix)
        self.con._run_pre_execute_hooks(expr)  # registers the in-memory tables that expr reads
        frame = self.session.sql(self.con.compile(expr)).cache()
        frame.createOrReplaceTempView(name)
        self._cached[name] = frame
        return self.con.table(name)

    def drop(self, table: ir.Table) -> None:
        name = table.op().name
        frame = self._cached.pop(name, None)
        if frame is not None:
            self.session.catalog.dropTempView(name)
            frame.unpersist()

    def _strptime(self, text: ir.StringValue, fmt: str) -> ir.TimestampValue:
        return _spark_try_to_timestamp(text, strptime_to_java(fmt)).cast(dt.Timestamp())

    def table_from_memory(self, prefix: str, data: Any) -> ir.Table:
        import pyarrow as pa

        frame = data.to_pandas() if isinstance(data, pa.Table) else data
        name = unique_table_name(prefix)
        self.session.createDataFrame(frame).createOrReplaceTempView(name)
        return self.con.table(name)

    def _register(self, frame, table_name: str, file_column: str | None) -> ir.Table:
        if file_column:
            from pyspark.sql import functions as F

            frame = frame.withColumn(file_column, F.col("_metadata.file_path"))
        frame.createOrReplaceTempView(table_name)
        return self.con.table(table_name)

    def read_parquet(self, paths: list[str], table_name: str, file_column: str | None) -> ir.Table:
        return self._register(self.session.read.parquet(*paths), table_name, file_column)

    def read_csv(self, paths: str | list[str], **options: Any) -> ir.Table:
        """Read delimited text as string columns, taking the DuckDB ``read_csv`` options the loader uses.

        Spark has no per-file line skipping: ``skip`` may only drop the header line. Malformed lines
        (a wrong number of fields) stop the read (``FAILFAST``) instead of becoming NULLs.
        """
        from pyspark.sql.types import StringType, StructField, StructType

        paths = [paths] if isinstance(paths, str) else list(paths)
        table_name = options.pop("table_name")
        file_column = options.pop("filename", None)
        columns = options.pop("columns", None)
        header = bool(options.pop("header", True))
        skip = int(options.pop("skip", 0) or 0)
        lines_mode = columns is not None and len(columns) == 1 and options.get("delim") == "\x1f"
        if lines_mode:
            # One text column per line (whitespace-separated files): a header line, if any, is skipped.
            if skip > 1:
                raise ConfigError("On Spark, csv.skip_rows is not supported; remove the lines before the "
                                  "header or read the file on DuckDB.")
            header = skip == 1
        elif skip:
            raise ConfigError("On Spark, csv.skip_rows is not supported; remove the lines before the header "
                              "or read the file on DuckDB.")
        reader = self.session.read.option("header", header).option("mode", "FAILFAST")
        reader = reader.option("encoding", _SPARK_ENCODINGS.get(str(options.pop("encoding", "utf-8")), "UTF-8"))
        delimiter = options.pop("delim", None)
        if delimiter is not None:
            reader = reader.option("sep", delimiter)
        quote = options.pop("quote", None)
        if quote is not None:
            reader = reader.option("quote", quote or "\u0000")
        if options.pop("escape", None) == "":
            reader = reader.option("escape", "\u0000")
        names = options.pop("names", None)
        options.pop("auto_detect", None)
        options.pop("all_varchar", None)
        if options:
            raise ConfigError(f"CSV options {', '.join(sorted(options))} are not available on Spark.")
        if columns is not None:
            names = list(columns)
        if names is not None:
            frame = reader.schema(StructType([StructField(n, StringType()) for n in names])).csv(paths)
        else:
            frame = reader.option("inferSchema", False).csv(paths)
        return self._register(frame, table_name, file_column)

    def description(self) -> str:
        return f"Spark {self.session.version} {self.session.sparkContext.master}"


class PostgresEngine(Engine):
    """PostgreSQL: temporary tables, parsing through session functions that catch conversion errors."""

    label = "PostgreSQL"

    def __init__(self, con: Any) -> None:
        super().__init__(con)
        for statement in _POSTGRES_FUNCTIONS:
            with con.raw_sql(statement):
                pass

    def parse_timestamp(self, text: ir.StringValue, fmt: str | None) -> ir.TimestampValue:
        # Casts raise on PostgreSQL, so every text goes through the session function, after the
        # shape check: to_timestamp alone is lenient (it skips or reinterprets characters); the
        # function then catches impossible dates such as February 30.
        if fmt is None or fmt == ISO:
            return self._checked(text, ISO_TIMESTAMP_PATTERN, _postgres_try_timestamp(text, ""))
        if fmt == ISO_OFFSET:
            return self._checked(text, ISO_OFFSET_PATTERN, _postgres_try_timestamp(text, "UTC"))
        if fmt in _EPOCH_MICROSECONDS:
            seconds = _postgres_try_float8(text) / (1_000_000 / _EPOCH_MICROSECONDS[fmt])
            return self._checked(text, r"^-?\d{1,15}$", seconds.to_timestamp(unit="s").cast(dt.Timestamp()))
        return self._checked(text, strptime_shape(fmt), _postgres_try_timestamp(text, strptime_to_postgres(fmt)))

    def parse_number(self, text: ir.StringValue) -> ir.FloatingValue:
        return ibis.ifelse(text.re_search(NUMBER_PATTERN), _postgres_try_float8(text), ibis.null("float64"))

    def description(self) -> str:
        with self.con.raw_sql("SHOW server_version") as cursor:
            (version,) = cursor.fetchone()
        return f"PostgreSQL {str(version).split()[0]}"


# Ibis backend name -> engine class; any other backend gets the portable base class.
ENGINE_CLASSES: Mapping[str, type[Engine]] = {
    "duckdb": DuckDBEngine,
    "pyspark": SparkEngine,
    "postgres": PostgresEngine,
}

# The Engine is kept on the backend object itself: one per connection (Ibis backends compare equal
# when they point at the same database, but temporary tables belong to one session), and it goes
# away with the connection.
_ENGINE_ATTRIBUTE = "_clc_engine"


def engine_for(con: Any) -> Engine:
    """The :class:`Engine` of an Ibis backend (one per connection object, created on first use)."""
    engine = getattr(con, _ENGINE_ATTRIBUTE, None)
    if engine is None:
        engine = ENGINE_CLASSES.get(con.name, Engine)(con)
        setattr(con, _ENGINE_ATTRIBUTE, engine)
    return engine


def engine_of(expr: ir.Expr) -> Engine:
    """The :class:`Engine` an expression runs on (an unbound memtable runs on the default DuckDB)."""
    return engine_for(expr._find_backend(use_default=True))


def cache_table(table: ir.Table, prefix: str = "cached") -> ir.Table:
    """Compute ``table`` once in its engine and return a table that reads the stored result.

    Use it when several analyses read the same expensive expression, e.g. a stage history that the
    stage metrics, counts, transitions and flows all read. The result lives as long as the session:
    a DuckDB temporary table (which spills to ``temp_directory`` beyond ``memory_limit``), a cached
    Spark view, or a temporary table of a SQL database. Unlike Ibis' ``Table.cache()``, this also
    works on Spark for expressions that contain in-memory tables (the stage history does).
    """
    return engine_of(table).cache(table, prefix)


def engine_description(con: Any) -> str:
    """One line naming the engine that ran a step, for reports.

    Examples: ``"DuckDB 2.0.0 (embedded)"``, ``"Spark 4.0.5 local[2]"``, ``"PostgreSQL 15.13"``.
    ``con`` is an Ibis backend (``run.con``) or an Ibis table or expression bound to one.
    """
    if isinstance(con, ir.Expr):
        return engine_of(con).description()
    return engine_for(con).description()


def unique_table_name(prefix: str) -> str:
    """A new table name ``clc_<prefix>_<random>`` for a temporary or cached table."""
    import uuid

    return f"clc_{prefix}_{uuid.uuid4().hex[:10]}"


# ---------------------------------------------------------------------------------------------------
# Connecting
# ---------------------------------------------------------------------------------------------------


def connect_spark(engine: Mapping[str, Any], base_dir: Path):
    """Start (or join) a Spark session from the ``engine:`` section and return the Ibis backend.

    Reads ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://...``; default
    ``local[*]``), ``app_name`` and ``settings`` (any ``spark.*`` configuration; values may use
    ``${VAR}``). An existing session in the process is reused: its static settings stay as they were.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError("engine.backend is 'spark' but pyspark is not installed: "
                          "pip install 'pyspark>=3.5,<4.1' (and Java 17 or 21).") from None
    settings = {**SPARK_DEFAULT_SETTINGS}
    for key, value in dict(engine.get("settings") or {}).items():
        settings[str(key)] = expand_env(str(value), what=f"engine.settings.{key}")
    builder = SparkSession.builder.appName(str(engine.get("app_name") or "clc"))
    builder = builder.master(str(engine.get("master") or "local[*]"))
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise ConfigError(f"Could not start Spark (master {engine.get('master') or 'local[*]'}): "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}. "
                          "Spark needs Java 17 or 21 (JAVA_HOME).") from None
    for key, value in settings.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, value)  # runtime settings also apply to a reused session
    return ibis.pyspark.connect(session)


def connect_url(engine: Mapping[str, Any], base_dir: Path):
    """Connect to the database named by ``engine.url`` (any Ibis URL); passwords come from ``${VAR}``."""
    url = engine.get("url")
    if not url:
        raise ConfigError("engine.backend is 'url' but engine.url is empty; give e.g. "
                          "postgres://analyst:${PGPASSWORD}@db-host/shop.")
    check_no_literal_secret(str(url), what="engine.url")
    expanded = expand_env(str(url), what="engine.url")
    scheme = expanded.split(":", 1)[0]
    try:
        con = ibis.connect(expanded)
    except Exception as exc:
        raise ConfigError(f"Could not connect to the {scheme} engine: {type(exc).__name__}: "
                          f"{_without_secrets(str(exc), expanded, url)}",
                          ) from None
    if con.name == "postgres":
        with con.raw_sql("SET TimeZone = 'UTC'"):
            pass
    return con


def _without_secrets(message: str, expanded: str, original: str) -> str:
    """The first line of a driver message, with the expanded URL replaced by the one in the config."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first.replace(expanded, str(original))


def connect_duckdb(engine: Mapping[str, Any], base_dir: Path):
    """Start an embedded DuckDB from the ``engine:`` options (a ``database`` file is relative to ``base_dir``)."""
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
ENGINES = {"duckdb": connect_duckdb, "spark": connect_spark, "url": connect_url}


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
        engine, base_dir = engine_settings(None), Path.cwd()
    elif isinstance(config, RunConfig):
        engine, base_dir = config.engine, config.base_dir
    elif isinstance(config, Mapping) and "transactions" not in config:
        engine, base_dir = engine_settings(config), Path.cwd()  # the engine section itself
    else:
        run_config = load_config(config)
        engine, base_dir = run_config.engine, run_config.base_dir
    if engine["url"] and engine["backend"] == ENGINE_DEFAULTS["backend"]:
        engine = {**engine, "backend": "url"}  # `engine: {url: ...}` alone names a database engine
    factory = ENGINES.get(str(engine["backend"]))
    if factory is None:
        raise ConfigError(f"engine.backend is {engine['backend']!r}; available: {', '.join(ENGINES)}.")
    return factory(engine, base_dir)
