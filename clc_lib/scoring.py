"""The customer scoring table: one row per customer with summary, stage, RFM and model columns.

``clc score`` writes it for CRM tools. Columns come from *column providers*: functions
``provider(run, scores) -> pandas.DataFrame`` (index ``customer_id``) called in order, each seeing
the columns built so far. The built-in providers add the summary, the lifecycle stage and the RFM
scores and segment; model columns (e.g. CLV predictions) are added by registering one more
provider with :func:`register_score_provider` or by passing ``extra=`` to :func:`score_customers`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from clc_lib.errors import ConfigError, DataError
from clc_lib.rfm import rfm_scores, rfm_segments
from clc_lib.stages import classify_stages
from clc_lib.summary import customer_summary

__all__ = ["FORMULA_PREFIXES", "SCORE_PROVIDERS", "escape_formula_text", "register_score_provider",
           "score_customers", "write_scores"]

ScoreProvider = Callable[[Any, pd.DataFrame], pd.DataFrame]


def _summary_columns(run: Any, scores: pd.DataFrame) -> pd.DataFrame:
    return customer_summary(run.transactions, run.as_of, time_unit="W")


def _stage_columns(run: Any, scores: pd.DataFrame) -> pd.DataFrame:
    stages = classify_stages(run.transactions, run.as_of, rules=run.config.stages)
    return stages[["stage", "days_since_reactivation"]]


def _rfm_columns(run: Any, scores: pd.DataFrame) -> pd.DataFrame:
    options = run.config.rfm
    rfm = rfm_scores(scores, bins=options.bins, edges=options.edges, recency=options.recency,
                     frequency=options.frequency, monetary=options.monetary)
    segmented = rfm_segments(rfm, options.segment_map)
    return segmented[["r_score", "f_score", "m_score", "rfm_code", "segment"]].rename(
        columns={"segment": "rfm_segment"})


def _clv_columns(run: Any, scores: pd.DataFrame) -> pd.DataFrame:
    from clc_lib.clv import predict_run_value

    options = run.config.clv
    if not options.enabled:
        return pd.DataFrame(index=scores.index)
    predictions = predict_run_value(run, scores if options.time_unit == "W" else None)
    return predictions[["p_alive", "expected_purchases", "expected_spend", "clv"]]


#: Built-in column providers, in the order they run. Append to add model columns for every run.
SCORE_PROVIDERS: list[ScoreProvider] = [_summary_columns, _stage_columns, _rfm_columns, _clv_columns]


def register_score_provider(provider: ScoreProvider) -> ScoreProvider:
    """Add ``provider(run, scores) -> DataFrame`` (index ``customer_id``) to every scoring run.

    Usable as a decorator. Its columns are left-joined onto the table; a column name that already
    exists is an error.
    """
    if provider not in SCORE_PROVIDERS:
        SCORE_PROVIDERS.append(provider)
    return provider


def score_customers(run: Any, *, extra: Sequence[ScoreProvider] = ()) -> pd.DataFrame:
    """One row per customer with a purchase: summary, stage, RFM scores and segment (+ providers).

    Parameters
    ----------
    run
        A ``RunData`` from :func:`clc_lib.run.load_run` (uses ``transactions``, ``as_of`` and the
        config's ``stages:`` and ``rfm:`` sections).
    extra
        More column providers for this call only, run after :data:`SCORE_PROVIDERS`.

    Returns
    -------
    pandas.DataFrame
        Index ``customer_id``; the columns of :func:`clc_lib.summary.customer_summary`
        (``t_x``/``T`` in weeks), ``stage``, ``days_since_reactivation``, ``r_score``,
        ``f_score``, ``m_score``, ``rfm_code``, ``rfm_segment``, the model columns ``p_alive``,
        ``expected_purchases`` and ``clv`` over the ``clv:`` horizon (``expected_spend`` per purchase
        day; see :class:`clc_lib.settings.ClvSettings`), then provider columns.
        Customers whose only rows are returns stay in the table with no stage and segment "Other".
        ``attrs`` holds ``as_of`` and ``currency``.
    """
    scores: pd.DataFrame | None = None
    for provider in [*SCORE_PROVIDERS, *extra]:
        columns = provider(run, scores if scores is not None else pd.DataFrame())
        if scores is None:
            scores = columns.copy()
            continue
        clash = sorted(set(columns.columns) & set(scores.columns))
        if clash:
            raise ConfigError(
                f"Score provider {getattr(provider, '__name__', provider)!r} returns column(s) already in the "
                f"table: {', '.join(clash)}; rename them."
            )
        unknown = columns.index.difference(scores.index)
        if len(unknown):
            raise DataError(
                f"Score provider {getattr(provider, '__name__', provider)!r} returns customers that are not in "
                "the summary.", source="scoring", column="customer_id", n_rows=len(unknown),
                examples=[(i + 1, v) for i, v in enumerate(unknown[:5])],
            )
        scores = scores.join(columns, how="left")
    assert scores is not None
    scores.attrs["as_of"] = run.as_of
    scores.attrs["currency"] = getattr(run, "currency", "")
    return scores


_WRITERS = {
    ".parquet": lambda frame, path: frame.to_parquet(path, index=True),
    # CRLF line ends (RFC 4180) also make the writer quote text holding a carriage return, which a
    # reader would otherwise take for the end of the line.
    ".csv": lambda frame, path: escape_formula_text(frame).to_csv(path, index=True, date_format="%Y-%m-%d",
                                                                  float_format="%.10g", lineterminator="\r\n"),
}

#: First characters that make a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a
#: formula or a command, and that CRM tools pass on when they open a CSV.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _escape_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_formula_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas (for CSV output).

    Text (in the index and in text or Categorical columns) that starts with one of
    :data:`FORMULA_PREFIXES` gets a leading apostrophe, which spreadsheets show as text:
    ``=1+1`` becomes ``'=1+1``. Numbers are left alone, so negative values stay numbers.
    """
    escaped = frame.copy()
    for column in escaped.columns:
        values = escaped[column]
        if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object or pd.api.types.is_string_dtype(values):
            escaped[column] = values.astype(object).map(_escape_text)
    index = escaped.index
    if index.dtype == object or pd.api.types.is_string_dtype(index) or isinstance(index.dtype, pd.CategoricalDtype):
        escaped.index = pd.Index(index.astype(object).map(_escape_text), name=index.name)
    return escaped


def write_scores(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the scoring table to ``.parquet`` or ``.csv`` atomically and return the path.

    The file is written with :func:`clc_lib.files.atomic_write` (a temporary name in the same folder,
    moved into place with :func:`os.replace`), so readers never see a half-written file and a
    replaced file keeps its permissions. ``customer_id`` is written as a column; Categorical
    columns are written as text in CSV. In CSV, text that a spreadsheet would run as a formula is
    escaped (see :func:`escape_formula_text`); Parquet keeps every value as it is.
    """
    from clc_lib.files import atomic_write

    target = Path(path)
    writer = _WRITERS.get(target.suffix.lower())
    if writer is None:
        raise ConfigError(f"Cannot write scores to {target.name}: use a .parquet or .csv file name.")
    frame = frame.copy(deep=False)
    frame.attrs = {}  # run metadata (Timestamps, rules) is not part of the file
    _remove_abandoned_scoring_files(target)
    with atomic_write(target) as temporary:
        writer(frame, temporary)
    return target


def _remove_abandoned_scoring_files(target: Path) -> None:
    """Remove ``.<stem>-<random><suffix>`` files that earlier versions of :func:`write_scores` used
    as temporary names and left behind when killed."""
    if not target.parent.is_dir():
        return
    pattern = re.compile(rf"^\.{re.escape(target.stem)}-[a-z0-9_]{{8}}{re.escape(target.suffix)}$")
    for candidate in target.parent.iterdir():
        if pattern.match(candidate.name) and candidate.is_file():
            candidate.unlink(missing_ok=True)
