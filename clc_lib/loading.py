"""Loading one table: its source opened, parsed and checked by the data-quality rules.

Flow: config -> sources (:mod:`clc_lib.sources`) -> parsing (:mod:`clc_lib.parsing`) -> **quality
rules, here** -> the run (:mod:`clc_lib.run`) -> analyses. This module imports no analysis.

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

The other tables get a lighter check: required columns, parseable values, the allowed values of
their contract (``value_checks``) and, for dated tables, the exclusion of rows after the as_of day.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import ibis
import pandas as pd

from clc_lib.config import TableSpec, parse_as_of, parse_table_spec
from clc_lib.contract import CONTRACTS
from clc_lib.engines import connect, engine_for, unique_table_name
from clc_lib.errors import ConfigError, DataError
from clc_lib.files import atomic_write
from clc_lib.i18n import N_
from clc_lib.parsing import Parser, unparseable_message
from clc_lib.paths import processed_dir
from clc_lib.quality import (
    DUPLICATE_RULE_NAME,
    QUALITY_RULES,
    REMOVING_ACTIONS,
    RuleContext,
    RuleResult,
    TableQuality,
    min_date_of,
)
from clc_lib.settings import engine_settings, quality_settings
from clc_lib.sources import (
    FIELDS_OK_COLUMN,
    FILE_COLUMN,
    ROW_COLUMN,
    Source,
    execute_query,
    first_error_line,
    is_encoding_error,
    is_engine_error,
    open_source,
    resolve_columns,
)

__all__ = ["load_table", "read_transactions"]

_AFTER = "__clc_after_as_of"  # flag of the rows of an optional table dated after the as_of day


def _numbered(source: Source):
    """The raw table with 1-based data row numbers (within each file for globs)."""
    raw = source.table
    position = ibis.row_number()
    raw = raw.mutate(**{ROW_COLUMN: position + 1})
    if source.multi_file:
        first_of_file = raw[ROW_COLUMN].min().over(group_by=raw[FILE_COLUMN])
        raw = raw.mutate(**{ROW_COLUMN: raw[ROW_COLUMN] - first_of_file + 1})
    return raw


def _examples(source: Source, build, predicate_builder, value_of, n: int = 5) -> list[tuple]:
    """Up to ``n`` (row label, value) pairs of the rows matching a predicate, in file order.

    ``build(raw) -> (parsed, bad flags, missing flags)`` is the same function that built the counted
    table, applied to the raw table with row numbers.
    """
    parsed, _, _ = build(_numbered(source))
    matches = parsed.filter(predicate_builder(parsed))
    file_column = [parsed[FILE_COLUMN]] if source.multi_file else []
    value = value_of(parsed).name("__value")
    rows = execute_query(matches.select(parsed[ROW_COLUMN], *file_column, value).order_by(ROW_COLUMN).limit(n),
                         source)
    examples = []
    for record in rows.itertuples(index=False):
        row = int(record[0])
        label = f"{row} of {Path(str(record[1])).name}" if source.multi_file else row
        val = record[-1]
        examples.append((label, None if pd.isna(val) else val))
    return examples


@dataclass
class LoadedTable:
    """A cleaned table (Ibis), its data-quality counts and the as_of day it was cut at."""

    table: Any  # ibis.Table
    quality: TableQuality
    as_of: pd.Timestamp | None = None


def _check_structure(source: Source, build, counts: Mapping[str, Any]) -> None:
    if source.structural_check and int(counts.get("__n_fields_bad", 0)) > 0:
        n_fields = len(source.columns)
        examples = _examples(source, build, lambda t: ~t[FIELDS_OK_COLUMN],
                             lambda t: t[FIELDS_OK_COLUMN].cast("string"))
        raise DataError(
            f"Some lines do not have {n_fields} whitespace-separated fields ({', '.join(source.columns)}).",
            source=source.description, n_rows=int(counts["__n_fields_bad"]),
            examples=[(row, "wrong number of fields") for row, _ in examples],
            hint="Values with blanks need another delimiter: set csv: {delimiter: ...} for this table.",
        )


def _raise_bad_values(source: Source, parser: Parser, build, counts: Mapping[str, Any], flags: list[str],
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
            message, hint = unparseable_message(parser, name, n_bad, examples)
        else:
            message = f"{n_bad:,} rows have no value for the required {name!r}."
            hint = "Fill the values in the source, or set quality: {missing_values: drop} to drop such rows."
        raise DataError(message, source=source.description, column=source_column, n_rows=n_bad,
                        examples=examples, hint=hint)


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


def as_of_timestamp(value: Any) -> pd.Timestamp | None:
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


def load_transactions(spec: TableSpec, con, options: Mapping[str, Any], as_of: pd.Timestamp | None,
                      engine: Mapping[str, Any], run_name: str) -> LoadedTable:
    """Load the transactions with every rule of :data:`~clc_lib.quality.QUALITY_RULES` applied and counted.

    ``as_of`` None defaults to the day of the last kept transaction (returned in the result).
    """
    contract = CONTRACTS["transactions"]
    source = open_source(spec, con)
    mapping = resolve_columns(source, spec, contract)
    parser = Parser(source, mapping, contract)
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
        flags["__fields_bad"] = ~parsed[FIELDS_OK_COLUMN]
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
        drop_temp_table(con, flagged)
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
    out = execute_query(cleaned.aggregate(
        rows=cleaned.count(), customers=cleaned.customer_id.nunique(), first=cleaned.timestamp.min(),
        last=cleaned.timestamp.max(), amount=cleaned.amount.sum(),
        **({"distinct_lines": fingerprint.nunique()} if fingerprint is not None else {})), source).iloc[0]
    if fingerprint is None:
        distinct = cleaned.select(*output).distinct()
        out["distinct_lines"] = execute_query(distinct.aggregate(n=distinct.count()), source).iloc[0]["n"]
    n_duplicates = kept_rows - int(out["distinct_lines"])
    if n_duplicates > 0 and fingerprint is not None:
        line = ibis.struct({c: cleaned[c] for c in output})
        n_duplicates = kept_rows - int(execute_query(cleaned.aggregate(n=line.nunique()), source).iloc[0]["n"])
    duplicate_action = options["duplicate_rows"] if has_order_id else options["duplicates_without_order_id"]
    final, dup_amount = cleaned, None
    if duplicate_action == "drop" and n_duplicates > 0:
        final = _engine_table(cleaned.distinct(), con, "transactions_distinct", source)
        deduplicated = execute_query(final.aggregate(rows=final.count(), amount=final.amount.sum()), source).iloc[0]
        dup_amount = _float(out["amount"] - deduplicated["amount"])
        out["rows"], out["amount"] = deduplicated["rows"], deduplicated["amount"]
    if engine.get("materialize"):
        stored = store_table(final, con, engine, run_name, "transactions")
        if final is not cleaned:
            drop_temp_table(con, final)
        final = stored
    if final is not cleaned:  # the flagged table is no longer referenced
        drop_temp_table(con, flagged)
    rows_out = int(out["rows"])
    duplicate_description = (N_("line identical to an earlier one in every mapped column") if has_order_id else
                             N_("identical lines without an order id (kept: may be repeat purchases)"))
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
    return LoadedTable(final, quality, as_of)


def _check_kept_rows(source: Source, build, flagged, removing: list[str], options: Mapping[str, Any],
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
        counts = execute_query(kept.aggregate(**{k: predicate(kept).sum() for k, (predicate, _, _) in checks.items()}),
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
    found = execute_query(shared.aggregate(orders=shared.count(), lines=shared.lines.sum()), source).iloc[0]
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


def _check_rules(source: Source, parser: Parser, build, context: RuleContext, counts: Mapping[str, Any],
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


def drop_temp_table(con, table) -> None:
    """Drop a temporary engine table made while loading."""
    engine_for(con).drop(table)


def _flag_profile(parsed, flags: Mapping[str, Any], source: Source, extra=None) -> pd.DataFrame:
    """Row counts (``__n``) and ``extra`` aggregates per distinct combination of boolean flags.

    A GROUP BY on a handful of booleans is one cheap pass, much faster than one filtered sum per rule.
    """
    keyed = parsed.mutate(**{name: flag.fill_null(False) for name, flag in flags.items()})
    aggregates = {"__n": keyed.count(), **(extra(keyed) if extra else {})}
    profile = execute_query(keyed.group_by(list(flags)).aggregate(**aggregates), source)
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


def _raise_rule_error(source: Source, build, context: RuleContext, rule, n_hit: int, alive_before,
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


def _duplicate_examples(source: Source, build, columns: list[str]) -> list[tuple]:
    parsed, _, _ = build(_numbered(source))
    occurrence = ibis.row_number().over(group_by=[parsed[c] for c in columns], order_by=parsed[ROW_COLUMN])
    ranked = parsed.mutate(__occurrence=occurrence)
    file_column = [ranked[FILE_COLUMN]] if source.multi_file else []
    label = ranked.customer_id.cast("string").concat(" ", ranked.timestamp.cast("string"), " ",
                                                      ranked.amount.cast("string"))
    repeats = ranked.filter(ranked.__occurrence > 0).select(ranked[ROW_COLUMN], *file_column, label.name("v"))
    rows = execute_query(repeats.order_by(ROW_COLUMN).limit(5), source)
    return [(f"{int(r[0])} of {Path(str(r[1])).name}" if source.multi_file else int(r[0]), r[-1])
            for r in rows.itertuples(index=False)]


def _engine_table(expr, con, prefix: str, source: Source):
    """Compute ``expr`` once into a temporary engine table (DuckDB spills it to temp_directory).

    On Spark the cache is filled by the first query that reads it, so read errors surface there
    (``execute_query`` turns them into the same DataError).
    """
    try:
        return engine_for(con).cache(expr, prefix)
    except Exception as exc:
        if not is_engine_error(exc):
            raise
        message = str(exc)
        hint = "Check the csv options (delimiter, quote, header, encoding) of this table in the run config."
        if is_encoding_error(message):
            hint = "The file is not valid UTF-8: set e.g. csv: {encoding: latin-1} (or cp1252)."
        raise DataError(f"Could not read the source: {first_error_line(exc)}", source=source.description,
                        hint=hint) from None


def store_table(table, con, engine: Mapping[str, Any], run_name: str, name: str):
    """Materialise a cleaned table: Parquet under data/processed/<run>/ or an engine cache, else lazy."""
    if engine.get("materialize"):
        if engine_for(con).label != "DuckDB":
            raise ConfigError("engine.materialize writes Parquet through the embedded DuckDB engine; on "
                              f"{engine_for(con).description()} leave it off (cleaned tables are cached there).")
        target = processed_dir() / run_name / f"{name}.parquet"
        with atomic_write(target) as tmp:
            con.to_parquet(table, tmp)
        return con.read_parquet(str(target), table_name=unique_table_name(name))
    if engine.get("cache", True):
        return _engine_table(table, con, name, Source(table, name, []))
    return table


def load_other_table(spec: TableSpec, con, options: Mapping[str, Any], as_of: pd.Timestamp | None,
                     engine: Mapping[str, Any], run_name: str) -> LoadedTable:
    """Light validation of an optional table: required columns, parseable values, allowed values.

    Rows of the dated tables (``excludes_after_as_of`` in their contract) after the as_of day are
    excluded and counted by the transactions' ``after_as_of`` rule, applied to the table's date column.
    """
    name = spec.name
    contract = CONTRACTS[name]
    source = open_source(spec, con)
    mapping = resolve_columns(source, spec, contract)
    parser = Parser(source, mapping, contract)
    parser.detect()
    required_ids = [c for c in contract.required if contract.column(c).dtype == "string"]
    checks = {column: check for column, check in contract.value_checks.items() if column in mapping}
    date_column = contract.date_column
    as_of_end = None if as_of is None else as_of + pd.Timedelta(days=1)
    exclude_after = contract.excludes_after_as_of and as_of_end is not None
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
        aggregates["__n_fields_bad"] = (~parsed[FIELDS_OK_COLUMN]).sum()
    any_bad = _any_flag(parsed, bad_flags)
    any_missing = _any_flag(parsed, missing_flags)
    if exclude_after:
        aggregates["__after"] = (parsed[_AFTER] & ~any_bad & ~any_missing).sum()
    aggregates["__bad_rows"] = any_bad.sum()
    aggregates["__missing_rows"] = (any_missing & ~any_bad).sum()
    counts = execute_query(parsed.aggregate(**aggregates), source).iloc[0]
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
                   description=N_("date or number that does not parse")),
        RuleResult("missing_values", options["missing_values"], int(counts["__missing_rows"]),
                   description=N_("empty required value")),
    ]
    keep = ~any_bad & ~any_missing
    if exclude_after:
        results.append(RuleResult(after_rule.name, after_rule.action(options), int(counts["__after"]),
                                  description=f"{date_column} after the as_of day"))
        keep = keep & ~parsed[_AFTER]
    flags = {*bad_flags, *missing_flags, _AFTER}
    cleaned = parsed.filter(keep).select(*[c for c in parsed.columns if c not in flags and not c.startswith("__clc_")])
    if name == "events":
        cleaned = store_table(cleaned, con, {**engine, "materialize": False}, run_name, name)
    summary = {"rows": cleaned.count()}
    if date_column in cleaned.columns:
        summary.update(first=cleaned[date_column].min(), last=cleaned[date_column].max())
    if "customer_id" in cleaned.columns:
        summary["customers"] = cleaned.customer_id.nunique()
    out = execute_query(cleaned.aggregate(**summary), source).iloc[0]
    quality = TableQuality(
        table=name, source=source.description, rows_in=rows_in, rows_out=int(out["rows"]), rules=results,
        customers=int(out["customers"]) if "customers" in out else None,
        first_timestamp=pd.Timestamp(out["first"]) if "first" in out and not pd.isna(out["first"]) else None,
        last_timestamp=pd.Timestamp(out["last"]) if "last" in out and not pd.isna(out["last"]) else None,
        notes=[*source.notes, *parser.notes],
    )
    return LoadedTable(cleaned, quality, as_of)


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


def _spec_from(spec: TableSpec | Mapping[str, Any] | str | Path | pd.DataFrame, table: str) -> TableSpec:
    if isinstance(spec, TableSpec):
        return spec
    if isinstance(spec, Path):
        spec = str(spec)
    return parse_table_spec(table, spec, Path.cwd(), "table spec")


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
        The engine (from :func:`clc_lib.engines.connect`); a new in-memory DuckDB when None.
    table
        Contract table name when ``spec`` is not a TableSpec (default ``transactions``).
    as_of, quality
        As in :func:`clc_lib.run.load_run` and the ``quality:`` section.
    return_report
        Also return the table's :class:`~clc_lib.quality.TableQuality`.
    """
    name = spec.name if isinstance(spec, TableSpec) else (table or "transactions")
    if name not in CONTRACTS:
        raise ConfigError(f"No data contract for table {name!r}; known: {', '.join(CONTRACTS)}.")
    table_spec = _spec_from(spec, name)
    con = con if con is not None else connect(None)
    options = quality_settings(quality)
    as_of_value = as_of_timestamp(as_of)
    engine = engine_settings(None)
    loader = load_transactions if name == "transactions" else load_other_table
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
