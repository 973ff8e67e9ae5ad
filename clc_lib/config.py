"""The run config: one YAML file that names every table's source, its column mapping and the options.

A run config looks like::

    name: retail                    # used for report folders
    as_of: 2024-06-30               # default: date of the last transaction
    period: M                       # M (month) or W (week)
    currency: EUR
    transactions:
      path: exports/retail_*.csv    # relative to this file; a glob reads every match
      columns: {customer_id: CustomerID, order_id: Invoice, timestamp: InvoiceDate,
                quantity: Quantity, unit_price: Price}
      csv: {delimiter: ";", decimal: ",", encoding: latin-1}
    customers: {path: customers.parquet}
    quality: {duplicate_rows: drop}
    stages: {...}                   # see docs/stages.md
    clv: {horizon: 52}

The same file drives ``clc`` commands and the notebooks. Paths are relative to the config file.
Secrets never live in the config: a connection URL may reference environment variables as
``${NAME}``, and a URL that carries a literal password is refused.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clc_lib.contract import CONTRACTS
from clc_lib.errors import ConfigError
from clc_lib.periods import Period
from clc_lib.settings import (
    ClvSettings,
    ReportSettings,
    RfmSettings,
    StageSettings,
    acquisition_settings,
    engine_settings,
    margin_settings,
    quality_settings,
    read_only,
    suggest,
)

#: The tables a run config may name: those of the table registry, :data:`clc_lib.contract.CONTRACTS`.
TABLE_NAMES = tuple(CONTRACTS)
OPTION_SECTIONS = ("engine", "quality", "stages", "rfm", "clv", "report", "margin", "acquisition")
SCALAR_KEYS = ("name", "as_of", "period", "currency")
TOP_LEVEL_KEYS = (*SCALAR_KEYS, *TABLE_NAMES, *OPTION_SECTIONS)
TABLE_SPEC_KEYS = ("path", "format", "columns", "csv", "connection", "table", "sql", "data", "options")
#: A reference to an environment variable in a connection URL: ``${NAME}`` (group 1 is the name).
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

#: A run config is a page of YAML; anything much larger is not one (and is not read into memory).
MAX_CONFIG_BYTES = 1_000_000

#: The as_of dates clc can compute with: timestamps are held in nanoseconds (years 1678 to 2261).
AS_OF_RANGE = (dt.date(1678, 1, 1), dt.date(2261, 12, 31))


class _RunConfigLoader(yaml.SafeLoader):
    """A YAML loader for run configs that refuses aliases (``*name``).

    Run configs never need them, and nested aliases expand exponentially: a kilobyte of YAML can
    stand for billions of values (an "alias bomb").
    """

    # Dates stay text, checked by parse_as_of and the quality settings (min_date): YAML's own date
    # conversion fails with a bare ValueError on a date such as 2024-06-31.
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise ConfigError(
                f"The run config {mark.name} uses a YAML alias (*name) on line {mark.line + 1}; run configs "
                "do not support aliases or anchors. Write the values out."
            )
        return super().compose_node(parent, index)


def parse_as_of(value: Any, *, what: str = "as_of") -> dt.date | None:
    """Check an as_of date and return the day (None and empty text stay None).

    Parameters
    ----------
    value
        A ``datetime.date``, a ``datetime.datetime`` or ``pandas.Timestamp`` (converted to UTC
        when it has a time zone), or ISO 8601 text such as ``2024-06-30``.
    what
        How the value is named in the error message, e.g. ``"--as-of"``.

    Raises
    ------
    ConfigError
        The value is not a date, or it lies outside :data:`AS_OF_RANGE`.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        day = (value.astimezone(dt.timezone.utc) if value.tzinfo is not None else value).date()
    elif isinstance(value, dt.date):
        day = value
    else:
        text = str(value).strip()
        try:
            stamp = dt.datetime.fromisoformat(text)  # 2024-06-30, 20240630, 2024-06-30T10:00+02:00, ...
            day = (stamp.astimezone(dt.timezone.utc) if stamp.tzinfo is not None else stamp).date()
        except (ValueError, OverflowError):
            day = None
        if day is None:
            raise ConfigError(f"{what} is {value!r}, which is not a date; write it as YYYY-MM-DD, e.g. 2024-06-30.")
    first, last = AS_OF_RANGE
    if not first <= day <= last:
        raise ConfigError(f"{what} is {day.isoformat()}, outside the dates clc can compute with "
                          f"({first.isoformat()} to {last.isoformat()}).")
    return day



def merge_options(section: str, defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict:
    """Merge user ``overrides`` into a copy of ``defaults``, refusing unknown keys.

    Nested mappings merge key by key; every key must exist in ``defaults``. The option sections of
    a run config are validated by :mod:`clc_lib.settings`; this serves a table's ``csv:`` options.
    """
    merged = copy.deepcopy(dict(defaults))
    for key, value in (overrides or {}).items():
        if key not in merged:
            raise ConfigError(
                f"Unknown option '{key}' in section '{section}'.{suggest(key, tuple(merged))} "
                f"Known options: {', '.join(sorted(merged))}."
            )
        if isinstance(merged[key], Mapping) and isinstance(value, Mapping) and merged[key]:
            merged[key] = merge_options(f"{section}.{key}", merged[key], value)
        else:
            merged[key] = value
    return merged


def expand_env(text: str, *, what: str) -> str:
    """Replace ``${NAME}`` with the environment variable ``NAME``; a missing variable is an error."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{what} refers to the environment variable ${{{name}}}, which is not set.")
        return os.environ[name]

    return ENV_REFERENCE.sub(replace, text)


def check_no_literal_secret(url: str, *, what: str) -> None:
    """Refuse a connection URL whose password is written out instead of taken from ``${VAR}``."""
    match = re.match(r"^[A-Za-z0-9+.\-]+://[^:/@]+:([^@]+)@", url)
    if match and not ENV_REFERENCE.fullmatch(match.group(1)):
        raise ConfigError(
            f"{what} contains a password. Secrets never go in the config file: write it as "
            "${SOME_ENV_VAR} and set that variable in the environment of the run."
        )


@dataclass(frozen=True)
class TableSpec:
    """Where one table comes from and how its columns map onto the data contract (frozen).

    ``columns`` (contract name -> source column), ``csv`` and ``options`` are read-only mappings.
    """

    name: str
    path: str | None = None
    format: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    csv: Mapping[str, Any] = field(default_factory=dict)
    connection: str | None = None
    table: str | None = None
    sql: str | None = None
    data: Any = None
    options: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path.cwd)

    def __post_init__(self) -> None:
        for name in ("columns", "csv", "options"):
            object.__setattr__(self, name, read_only(dict(getattr(self, name) or {})))

    @property
    def resolved_path(self) -> Path | None:
        if self.path is None:
            return None
        path = Path(os.path.expanduser(self.path))
        return path if path.is_absolute() else (self.base_dir / path)

    def describe(self) -> str:
        """Human-readable name of the source (used in error messages; never contains secrets)."""
        if self.data is not None:
            return f"<DataFrame given for {self.name}>"
        if self.path is not None:
            return str(self.path)
        if self.sql is not None:
            return f"SQL query for {self.name}"
        return f"table {self.table!r}"


#: Section of a run config -> what validates it into its settings (see :mod:`clc_lib.settings`).
SECTION_SETTINGS = {
    "engine": engine_settings,
    "quality": quality_settings,
    "stages": StageSettings.from_mapping,
    "rfm": RfmSettings.from_mapping,
    "clv": ClvSettings.from_mapping,
    "report": ReportSettings.from_mapping,
    "margin": margin_settings,
    "acquisition": acquisition_settings,
}
_SETTINGS_TYPES = {"stages": StageSettings, "rfm": RfmSettings, "clv": ClvSettings, "report": ReportSettings}


@dataclass(frozen=True)
class RunConfig:
    """A parsed, validated run config; frozen, so one instance can be shared (:func:`load_config`).

    Attributes
    ----------
    name
        Name of the run (report folders).
    as_of
        The cut-off day, or None: the day of the last transaction, resolved by :func:`clc_lib.run.load_run`.
    period
        The reporting :class:`~clc_lib.periods.Period` (months or weeks).
    currency
        Currency code of the amounts (text, may be empty).
    tables
        Table name -> :class:`TableSpec` (read-only).
    engine, quality, margin, acquisition
        The sections as validated read-only mappings (:mod:`clc_lib.settings`).
    stages, rfm, clv, report
        The sections as :class:`~clc_lib.settings.StageSettings`, :class:`~clc_lib.settings.RfmSettings`,
        :class:`~clc_lib.settings.ClvSettings` and :class:`~clc_lib.settings.ReportSettings`.
    source
        The YAML file read, or None for a config built in Python.

    Every section is validated on construction (also by :func:`dataclasses.replace`): an unknown
    key, a wrong type or an out-of-range value is a :class:`~clc_lib.errors.ConfigError` naming the
    file and the key.
    """

    name: str = "run"
    as_of: dt.date | None = None
    period: Period = field(default_factory=lambda: Period.parse("M"))
    currency: str = ""
    tables: Mapping[str, TableSpec] = field(default_factory=dict)
    engine: Mapping[str, Any] = field(default_factory=dict)
    quality: Mapping[str, Any] = field(default_factory=dict)
    stages: StageSettings = field(default_factory=StageSettings)
    rfm: RfmSettings = field(default_factory=RfmSettings)
    clv: ClvSettings = field(default_factory=ClvSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    margin: Mapping[str, Any] = field(default_factory=dict)
    acquisition: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None

    def __post_init__(self) -> None:
        where = f"run config {self.source}" if self.source else "run config"
        object.__setattr__(self, "period", Period.parse(self.period, what=f"'period' in the {where}"))
        object.__setattr__(self, "as_of", parse_as_of(self.as_of, what=f"'as_of' in the {where}"))
        object.__setattr__(self, "tables", read_only(dict(self.tables)))
        for section, validate in SECTION_SETTINGS.items():
            value = getattr(self, section)
            settings_type = _SETTINGS_TYPES.get(section)
            if settings_type is not None and isinstance(value, settings_type):
                continue
            try:
                object.__setattr__(self, section, validate(value, where=where))
            except ConfigError as exc:
                if where in str(exc):
                    raise
                raise ConfigError(f"{exc} (in the {where})") from None

    @property
    def base_dir(self) -> Path:
        return self.source.parent if self.source is not None else Path.cwd()

    def has(self, table: str) -> bool:
        return table in self.tables

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, base_dir: Path | str | None = None,
                  source: Path | None = None) -> RunConfig:
        """Validate a mapping (as read from YAML, or built in Python with DataFrames as ``data``)."""
        if not isinstance(raw, Mapping):
            raise ConfigError(f"The run config {source or ''} must be a mapping of keys to values.")
        where = f"run config {source}" if source else "run config"
        for key in raw:
            if key not in TOP_LEVEL_KEYS:
                raise ConfigError(
                    f"Unknown key '{key}' in the {where}.{suggest(str(key), TOP_LEVEL_KEYS)} "
                    f"Known keys: {', '.join(TOP_LEVEL_KEYS)}."
                )
        if "transactions" not in raw:
            raise ConfigError(f"The {where} has no 'transactions' table; it is the one required table.")
        base = Path(base_dir) if base_dir is not None else (source.parent if source else Path.cwd())
        tables = {}
        for name in TABLE_NAMES:
            if raw.get(name) is None:
                continue
            tables[name] = parse_table_spec(name, raw[name], base, where)
        sections = {section: raw.get(section) for section in OPTION_SECTIONS}
        return cls(
            name=str(raw.get("name") or (source.stem if source else "run")),
            as_of=raw.get("as_of"),
            period=raw.get("period", "M"),
            currency=str(raw.get("currency") or ""),
            tables=tables,
            source=source,
            **sections,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        path = Path(path).expanduser()
        if not path.is_absolute() and not path.is_file():
            from clc_lib.paths import project_root

            path = project_root() / path  # e.g. "data/raw/demo/run.yaml" from inside notebooks/
        path = path.resolve()
        if path.is_dir():
            found = sorted(p.name for p in path.glob("*.y*ml"))[:5]
            raise ConfigError(f"The run config {path} is a folder; give the YAML file of the run"
                              + (f", e.g. {path / found[0]} (found: {', '.join(found)})." if found else "."))
        if not path.exists():
            raise ConfigError(f"The run config {path} does not exist.")
        if not path.is_file():
            raise ConfigError(f"The run config {path} is not a regular file; give the YAML file of the run.")
        stat = path.stat()
        size = stat.st_size
        key = (path, size, stat.st_mtime_ns)
        cached = _LOADED_CONFIGS.get(key)
        if cached is not None:
            return cached
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"The run config {path} is {size:,} bytes; a run config is a short YAML file "
                              f"(at most {MAX_CONFIG_BYTES:,} bytes). Check that --config names the config, "
                              "not a data file.")
        try:
            data = _read_config_bytes(path)
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise ConfigError(f"The run config {path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} on "
                              f"line {line}). Save it as UTF-8 (the data files may keep their own encoding, "
                              "set with csv: {encoding: ...}).") from None
        except OSError as exc:
            raise ConfigError(f"The run config {path} cannot be read: {exc.strerror}.") from None
        try:
            raw = yaml.load(text, Loader=_named_loader(path))  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise ConfigError(f"The run config {path} is not valid YAML: {exc}") from None
        except (ValueError, OverflowError) as exc:  # a value YAML recognises but cannot build
            raise ConfigError(f"The run config {path} has a value that cannot be read: {exc}.") from None
        except RecursionError:
            raise ConfigError(f"The run config {path} nests its values too deeply to be a run config.") from None
        config = cls.from_dict(raw or {}, source=path)
        _LOADED_CONFIGS.clear()  # one file at a time is the usual case; keep the cache small
        _LOADED_CONFIGS[key] = config
        return config


#: The config last read from a file, by (resolved path, size, modification time in ns).
_LOADED_CONFIGS: dict[tuple[Path, int, int], RunConfig] = {}


def _read_config_bytes(path: Path) -> bytes:
    """The bytes of a run config file (the one place a run config is read from disk)."""
    return path.read_bytes()


def _named_loader(path: Path):
    """A :class:`_RunConfigLoader` factory whose marks name ``path`` (for error messages)."""

    def loader(stream):
        instance = _RunConfigLoader(stream)
        instance.name = str(path)
        return instance

    return loader


def parse_table_spec(name: str, raw: Any, base: Path, where: str) -> TableSpec:
    """The :class:`TableSpec` of table ``name`` from its config entry (a path, a mapping or a DataFrame)."""
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, Mapping):
        # A DataFrame (or anything frame-like) given directly in a Python-built config.
        return TableSpec(name=name, data=raw, base_dir=base)
    for key in raw:
        if key not in TABLE_SPEC_KEYS:
            raise ConfigError(
                f"Unknown key '{key}' under '{name}' in the {where}.{suggest(str(key), TABLE_SPEC_KEYS)} "
                f"Known keys: {', '.join(TABLE_SPEC_KEYS)}."
            )
    sources = [k for k in ("path", "data", "table", "sql") if raw.get(k) is not None]
    if len(sources) != 1 or (raw.get("table") is not None and raw.get("sql") is not None):
        raise ConfigError(
            f"'{name}' in the {where} needs exactly one source: 'path' (file or glob), 'data' "
            f"(a DataFrame), or 'table'/'sql' with a 'connection'."
        )
    if (raw.get("table") is not None or raw.get("sql") is not None) and not raw.get("connection"):
        raise ConfigError(f"'{name}' in the {where} reads a database table or query but names no 'connection'.")
    if raw.get("connection"):
        check_no_literal_secret(str(raw["connection"]), what=f"The connection of '{name}' in the {where}")
    columns = raw.get("columns") or {}
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) for v in columns.values()):
        raise ConfigError(f"'columns' under '{name}' in the {where} must map contract names to source column names.")
    for key in ("csv", "options"):
        if raw.get(key) is not None and not isinstance(raw[key], Mapping):
            raise ConfigError(f"'{key}' under '{name}' in the {where} must be a mapping of options.")
    return TableSpec(
        name=name,
        path=None if raw.get("path") is None else str(raw["path"]),
        format=raw.get("format"),
        columns=dict(columns),
        csv=dict(raw.get("csv") or {}),
        connection=raw.get("connection"),
        table=raw.get("table"),
        sql=raw.get("sql"),
        data=raw.get("data"),
        options=dict(raw.get("options") or {}),
        base_dir=base,
    )


def load_config(config: str | Path | Mapping[str, Any] | RunConfig | None = None) -> RunConfig:
    """Return a :class:`RunConfig` from a path, a mapping, an existing config or ``None`` (the demo).

    A file is read once per process: while its resolved path, size and modification time stay the
    same, every call returns the same (frozen) config.
    """
    if isinstance(config, RunConfig):
        return config
    if config is None:
        from clc_lib.paths import demo_config_path

        config = demo_config_path()
    if isinstance(config, Mapping):
        return RunConfig.from_dict(config)
    return RunConfig.from_yaml(config)
