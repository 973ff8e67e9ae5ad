"""Opening a table's source on the engine, the first step after the run config.

Flow: config (:mod:`clc_lib.config`) -> **sources** -> parsing (:mod:`clc_lib.parsing`) -> quality
rules (:mod:`clc_lib.loading`) -> the run (:mod:`clc_lib.run`) -> analyses.

A source is a file or a glob of files (CSV and whitespace-separated text, gzip-compressed or not,
or Parquet), a pandas DataFrame, or a table or SQL query of a database or of the engine itself.
Text files are read with every column as text; their encoding and dialect are detected from the
head of the first file unless configured (:data:`CSV_DEFAULTS`), and files that are not text
(workbooks, archives, binaries) are refused. Raw files are never modified. This module also maps
the contract's column names to the source's (:func:`resolve_columns`) and turns engine read
errors into :class:`~clc_lib.errors.DataError` (:func:`execute_query`).
"""

from __future__ import annotations

import codecs
import csv as _csv
import difflib
import glob as _glob
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from clc_lib.config import TableSpec, expand_env, merge_options
from clc_lib.contract import CONTRACTS, TableContract
from clc_lib.engines import engine_for, unique_table_name
from clc_lib.errors import ConfigError, DataError
from clc_lib.files import atomic_write
from clc_lib.paths import processed_dir

__all__ = ["CSV_DEFAULTS"]

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


#: Internal column of the 1-based data row number (within its file for a glob), for error examples.
ROW_COLUMN = "__clc_row"
#: Internal column naming the file a row comes from (globs of several files).
FILE_COLUMN = "__clc_file"
_LINE = "__clc_line"
#: Internal column: whether a line of a whitespace-separated file has as many fields as the header.
FIELDS_OK_COLUMN = "__clc_fields_ok"


@dataclass
class Source:
    """A source opened on the engine, with its raw columns (source names)."""

    table: Any  # ibis.Table
    description: str
    columns: list[str]  # the source's data columns (internal columns excluded)
    multi_file: bool = False
    structural_check: bool = False  # has a FIELDS_OK_COLUMN column (whitespace-separated files)
    csv_options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    duplicate_columns: dict[str, str] = field(default_factory=dict)  # column name -> repeated header text


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


def open_source(spec: TableSpec, con) -> Source:
    """Open the source of a table on the engine ``con``: its files, DataFrame or database table."""
    description = _describe(spec)
    if spec.data is not None:
        return _open_frame(spec, con, description)
    if spec.path is not None:
        return _open_files(spec, con, description)
    return _open_database(spec, con, description)


def _open_frame(spec: TableSpec, con, description: str) -> Source:
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
        frame_table = temp_table_from_memory(con, spec.name, frame)
    return Source(frame_table, description, list(frame_table.columns))


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


def _open_files(spec: TableSpec, con, description: str) -> Source:
    files, multi = _resolve_files(spec, description)
    empty = [f for f in files if f.stat().st_size == 0]
    if empty:
        raise DataError(f"The '{spec.name}' file is empty (0 bytes).", source=str(empty[0]), n_rows=0)
    paths = [str(f) for f in files]
    engine = engine_for(con)
    if not engine.reads_files:
        raise ConfigError(f"'{spec.name}' is a file, but " + engine.no_files_message()[4:])
    file_format = _file_format(spec, files)
    if file_format == "csv":
        _refuse_binary(spec, files)
    if file_format == "parquet":
        try:
            table = engine.read_parquet(paths, unique_table_name(spec.name), FILE_COLUMN if multi else None)
        except Exception as exc:
            raise DataError(f"Could not read '{spec.name}' as Parquet: {first_error_line(exc)}",
                            source=description) from None
        columns = [c for c in table.columns if c != FILE_COLUMN]
        return Source(table, description, columns, multi_file=multi)
    return _open_csv(spec, con, description, files, multi)


def first_error_line(exc: Exception) -> str:
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


def _open_csv(spec: TableSpec, con, description: str, files: list[Path], multi: bool) -> Source:
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
    common = {"table_name": unique_table_name(spec.name), "encoding": duck_encoding}
    if options["max_line_bytes"] is not None:
        limit = options["max_line_bytes"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
            raise ConfigError(f"csv.max_line_bytes of '{spec.name}' is {limit!r}; give a positive whole number of "
                              "bytes, or null for the engine's limit.")
        common["max_line_size"] = limit
    if multi:
        common["filename"] = FILE_COLUMN
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
                **({FILE_COLUMN: lines_table[FILE_COLUMN]} if multi else {}),
                **{FIELDS_OK_COLUMN: parts.length() == len(names)},
            )
            return Source(table, description, names, multi_file=multi, structural_check=True,
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
    columns = [c for c in table.columns if c != FILE_COLUMN]
    return Source(table, description, columns, multi_file=multi,
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


def is_encoding_error(message: str) -> bool:
    """Whether an engine's error message says the text is not in the encoding it was read with."""
    lowered = message.lower()
    return "invalid unicode" in lowered or "not utf-8" in lowered


def _csv_error(exc: Exception, spec: TableSpec, description: str) -> DataError:
    too_long = _line_too_long(exc, description, (spec.csv or {}).get("max_line_bytes"))
    if too_long is not None:
        return too_long
    message = str(exc)
    hint = "Set the csv options of this table (delimiter, quote, header, encoding) in the run config."
    if is_encoding_error(message):
        hint = "The file is not valid UTF-8: set e.g. csv: {encoding: latin-1} (or cp1252) for this table."
    return DataError(f"Could not read the '{spec.name}' file as CSV: {first_error_line(exc)}",
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


def _open_database(spec: TableSpec, con, description: str) -> Source:
    if str(spec.connection).strip().lower() == ENGINE_CONNECTION:
        table = _read_engine_table(spec, con, description)
        return Source(table, description, list(table.columns))
    url = expand_env(str(spec.connection), what=f"The connection of '{spec.name}'")
    db_file = _duckdb_file_from_url(url, spec.base_dir)
    if db_file is not None and engine_for(con).label == "DuckDB":
        table = _read_duckdb_file(spec, con, description, db_file)
    else:
        table = _copy_from_backend(spec, con, description, url)
    return Source(table, description, list(table.columns))


def _read_engine_table(spec: TableSpec, con, description: str):
    """A table (``schema.table`` allowed) or SQL query of the engine itself, read lazily where it is."""
    try:
        return engine_for(con).source_table(spec.table, spec.sql)
    except Exception as exc:
        if spec.sql is not None:
            raise DataError(f"The SQL query of '{spec.name}' failed on the engine: {first_error_line(exc)}",
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
    temp_name = unique_table_name(spec.name)
    con.raw_sql(f"USE {alias}")
    try:
        con.raw_sql(f"CREATE TEMP TABLE {temp_name} AS {spec.sql}")
    except Exception as exc:
        raise DataError(f"The SQL query of '{spec.name}' failed: {first_error_line(exc)}", source=description) from None
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
        raise DataError(f"Could not read '{spec.name}' from the database: {first_error_line(exc)}",
                        source=description) from None
    return temp_table_from_memory(con, spec.name, arrow)


def temp_table_from_memory(con, prefix: str, data):
    """Copy a pandas DataFrame or Arrow table into a temporary engine table (row order kept on DuckDB)."""
    return engine_for(con).table_from_memory(prefix, data)


def resolve_columns(source: Source, spec: TableSpec, contract: TableContract) -> dict[str, str]:
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


def _refuse_unrecognised_file(source: Source, spec: TableSpec, contract: TableContract) -> None:
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


def _refuse_nested_columns(source: Source, spec: TableSpec, mapping: Mapping[str, str]) -> None:
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


# Packages whose exceptions mean "the engine could not read or compute the data" (as opposed to a bug).
ENGINE_ERROR_MODULES = ("duckdb", "_duckdb", "pyspark", "py4j")


def is_engine_error(exc: Exception) -> bool:
    """Whether ``exc`` comes from the engine (:data:`ENGINE_ERROR_MODULES`) rather than from ``clc``."""
    return type(exc).__module__.split(".")[0] in ENGINE_ERROR_MODULES


def execute_query(expr, source: Source) -> pd.DataFrame:
    """Run a query, turning engine read errors (bad CSV lines, encodings) into a DataError."""
    try:
        return expr.to_pandas()
    except DataError:
        raise
    except Exception as exc:
        message = str(exc)
        too_long = (_line_too_long(exc, source.description, source.csv_options.get("max_line_bytes"))
                    if is_engine_error(exc) else None)
        if too_long is not None:
            raise too_long from None
        if is_engine_error(exc):
            hint = "Check the csv options (delimiter, quote, header, encoding) of this table in the run config."
            if is_encoding_error(message):
                hint = "The file is not valid UTF-8: set e.g. csv: {encoding: latin-1} (or cp1252)."
            raise DataError(f"Could not read the source: {first_error_line(exc)}", source=source.description,
                            hint=hint) from None
        raise
