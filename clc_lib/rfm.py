"""RFM scores, segment maps as data, segment profiles and migration between two dates.

Input is the per-customer summary of :func:`clc_lib.summary.customer_summary` (pandas, index
``customer_id``): recency is ``recency_days`` (days from the last purchase date to ``as_of``),
frequency ``purchase_days`` (same-day purchases count once) and monetary ``net_revenue``
(purchases plus negative returns, run currency) unless other columns are named.

Scores run from 1 to ``bins`` (5 by default), higher is better: more recent, more frequent, more
spend. Quantile scores are rank based and tie-consistent, so they never depend on row order:
a customer's score is ``1 + floor(bins * share of scored customers with a strictly worse value)``.
Equal values always share a score; when one value holds many customers (typically one purchase
day) the scores above it are skipped rather than split arbitrarily. Fixed ``edges`` give business
thresholds instead. Segment maps (``rfm_segments.yaml``) are ordered lists of score ranges with
first-match precedence and an explicit ``Other``; see ``docs/rfm.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import Period, resolve_as_of
from clc_lib.settings import RfmSettings
from clc_lib.summary import customer_summary

__all__ = [
    "rfm_segment_maps",
    "rfm_scores",
    "rfm_segments",
    "segment_profiles",
    "attribute_profiles",
    "segment_migration",
    "rfm_table",
    "rfm_migration",
]

SCORE_COLUMNS = {"r": "r_score", "f": "f_score", "m": "m_score"}
NEW_ROW = "(new)"
GONE_COLUMN = "(gone)"


@cache
def _presets() -> dict[str, Any]:
    return yaml.safe_load((Path(__file__).parent / "rfm_segments.yaml").read_text(encoding="utf-8"))


def rfm_segment_maps() -> dict[str, dict[str, Any]]:
    """The packaged segment-map presets (``classic``, ``rf_grid``) as a new dict."""
    return copy.deepcopy(_presets())


def _check_columns(frame: pd.DataFrame, columns: Sequence[str], what: str, hint: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"The {what} lacks the column(s) {', '.join(missing)}.", source=what,
                        column=", ".join(missing), n_rows=len(frame), hint=hint)


def _quantile_scores(values: pd.Series, bins: int) -> pd.Series:
    """1..bins from the share of values strictly below each value (ties share a score)."""
    below = values.rank(method="min") - 1
    scores = 1 + np.floor(bins * below / values.count())
    return scores.clip(upper=bins)


def _edge_scores(values: pd.Series, cut_points: Sequence[float], bins: int, name: str) -> pd.Series:
    cuts = np.asarray(cut_points, dtype="float64")
    if len(cuts) != bins - 1 or np.any(np.diff(cuts) <= 0):
        raise ConfigError(
            f"rfm edges for {name} must be {bins - 1} increasing cut points for {bins} bins; got {list(cut_points)}."
        )
    # Right-closed bins: (-inf, c1], (c1, c2], ..., (c_last, inf) -> 1..bins.
    return pd.Series(1 + np.searchsorted(cuts, values.to_numpy(), side="left"), index=values.index, dtype="float64")


def rfm_scores(summary: pd.DataFrame, *, bins: int = 5, edges: Mapping[str, Sequence[float]] | None = None,
               recency: str = "recency_days", frequency: str = "purchase_days",
               monetary: str = "net_revenue") -> pd.DataFrame:
    """R, F and M scores per customer.

    Parameters
    ----------
    summary
        Per-customer frame (e.g. :func:`clc_lib.summary.customer_summary`) with the recency
        (days), frequency (count) and monetary (run currency) columns named below.
    bins
        Number of score levels (5 = quintiles).
    edges
        Optional fixed cut points per dimension, ``{"recency": [...], "frequency": [...],
        "monetary": [...]}`` with ``bins - 1`` increasing values each; bins are right-closed
        (``frequency: [1, 2, 4, 8]`` gives 1 purchase day -> F=1, 2 -> F=2, 3-4 -> F=3, ...).
        For recency the lowest bin (most recent) gets the highest score. Dimensions without edges
        use quantile scores.
    recency, frequency, monetary
        Column names of the three measures.

    Returns
    -------
    pandas.DataFrame
        The three measure columns plus ``r_score``, ``f_score``, ``m_score`` (nullable Int64) and
        ``rfm_code`` (e.g. ``"545"``), same index. Customers without a purchase (missing recency,
        frequency 0) get missing scores and are left out of the quantile ranking.
    """
    _check_columns(summary, (recency, frequency, monetary), "summary",
                   "Pass the output of clc.customer_summary or name the columns with recency=, frequency=, monetary=.")
    if not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ConfigError(f"rfm bins must be an integer of at least 2; got {bins!r}.")
    edges = dict(edges or {})
    unknown = set(edges) - {"recency", "frequency", "monetary"}
    if unknown:
        raise ConfigError(f"rfm edges has unknown key(s) {sorted(unknown)}; use recency, frequency, monetary.")
    out = summary[[recency, frequency, monetary]].copy()
    scored = out[recency].notna() & (out[frequency].fillna(0) > 0)
    measures = {"r": (recency, -1.0), "f": (frequency, 1.0), "m": (monetary, 1.0)}
    for key, (column, direction) in measures.items():
        values = out.loc[scored, column].astype("float64")
        name = {"r": "recency", "f": "frequency", "m": "monetary"}[key]
        if name in edges and edges[name] is not None:
            scores = _edge_scores(values, edges[name], bins, name)
            if key == "r":
                scores = bins + 1 - scores
        else:
            scores = _quantile_scores(direction * values, bins)
        out[SCORE_COLUMNS[key]] = scores.reindex(out.index).astype("Int64")
    r, f, m = (out[c].astype("string") for c in SCORE_COLUMNS.values())
    out["rfm_code"] = (r + f + m).where(scored, pd.NA)
    return out


def _resolve_map(segment_map: str | Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> dict[str, Any]:
    presets = _presets()
    if isinstance(segment_map, str):
        if segment_map not in presets:
            raise ConfigError(f"Unknown RFM segment map {segment_map!r}; presets: {', '.join(presets)}, "
                              "or pass a list of {segment, r, f, m} rules.")
        return presets[segment_map]
    if isinstance(segment_map, Mapping):
        return {"other": "Other", "bins": None, **segment_map}
    return {"segments": list(segment_map), "other": "Other", "bins": None}


def rfm_segments(scores: pd.DataFrame,
                 segment_map: str | Sequence[Mapping[str, Any]] | Mapping[str, Any] = "classic") -> pd.DataFrame:
    """Name each customer's segment from their scores (first matching rule wins).

    Parameters
    ----------
    scores
        Output of :func:`rfm_scores` (``r_score``, ``f_score``, ``m_score``).
    segment_map
        ``"classic"`` (11 segments on R, F and M), ``"rf_grid"`` (10 cells on R and F), or your
        own ordered list of rules ``{"segment": name, "r": [lo, hi], "f": [lo, hi], "m": [lo, hi]}``
        (inclusive ranges; a left-out dimension accepts any score), or a mapping with
        ``segments`` and ``other`` (the name for customers no rule matches; default "Other").

    Returns
    -------
    pandas.DataFrame
        ``scores`` with a ``segment`` column: a Categorical in rule order followed by the
        ``other`` name. Customers without scores (no purchase) get the ``other`` name.
    """
    _check_columns(scores, tuple(SCORE_COLUMNS.values()), "scores", "Pass the output of clc.rfm_scores.")
    spec = _resolve_map(segment_map)
    rules = spec.get("segments") or []
    if not rules:
        raise ConfigError("The RFM segment map has no segments.")
    other = str(spec.get("other") or "Other")
    top = max(int(scores[c].max()) if scores[c].notna().any() else 1 for c in SCORE_COLUMNS.values())
    if spec.get("bins") and top > int(spec["bins"]):
        raise ConfigError(
            f"The segment map is written for scores 1-{spec['bins']} but the scores reach {top}; "
            f"score with bins={spec['bins']} or pass your own segment_map."
        )
    conditions, names = [], []
    for position, rule in enumerate(rules):
        if "segment" not in rule:
            raise ConfigError(f"RFM segment rule {position + 1} has no 'segment' name: {rule!r}.")
        unknown = set(rule) - {"segment", "r", "f", "m"}
        if unknown:
            raise ConfigError(f"RFM segment rule {rule['segment']!r} has unknown key(s) {sorted(unknown)}; "
                              "use segment, r, f, m.")
        condition = pd.Series(True, index=scores.index)
        for key, column in SCORE_COLUMNS.items():
            if rule.get(key) is None:
                continue
            low, high = rule[key]
            values = scores[column]
            condition &= (values >= low).fillna(False) & (values <= high).fillna(False)
        conditions.append(condition.to_numpy(dtype=bool))
        names.append(str(rule["segment"]))
    labels = np.select(conditions, names, default=other)
    categories = list(dict.fromkeys([*names, other]))
    out = scores.copy()
    out["segment"] = pd.Categorical(labels, categories=categories)
    return out


def segment_profiles(summary_with_segments: pd.DataFrame, *, segment: str = "segment",
                     recency: str = "recency_days", frequency: str = "purchase_days",
                     monetary: str = "net_revenue") -> pd.DataFrame:
    """Size and typical customer of each segment.

    Parameters
    ----------
    summary_with_segments
        One row per customer with a ``segment`` column and the recency (days), frequency and
        monetary (run currency) columns.

    Returns
    -------
    pandas.DataFrame
        Index ``segment``; columns ``customers``, ``customer_share``, ``revenue`` (sum of the
        monetary column), ``revenue_share``, ``median_recency_days``, ``median_frequency`` and
        ``median_monetary``. Sorted by the segment order (Categorical) or by size.
    """
    _check_columns(summary_with_segments, (segment, recency, frequency, monetary), "segment frame",
                   "Join the summary with the output of clc.rfm_segments first.")
    grouped = summary_with_segments.groupby(segment, observed=True)
    profile = pd.DataFrame({
        "customers": grouped.size(),
        "revenue": grouped[monetary].sum(),
        "median_recency_days": grouped[recency].median(),
        "median_frequency": grouped[frequency].median(),
        "median_monetary": grouped[monetary].median(),
    })
    profile["customer_share"] = profile["customers"] / profile["customers"].sum()
    total = profile["revenue"].sum()
    profile["revenue_share"] = profile["revenue"] / total if total != 0 else np.nan
    if not isinstance(summary_with_segments[segment].dtype, pd.CategoricalDtype):
        profile = profile.sort_values("customers", ascending=False)
    profile.index.name = "segment"
    return profile[["customers", "customer_share", "revenue", "revenue_share",
                    "median_recency_days", "median_frequency", "median_monetary"]]


#: Attribute levels made by :func:`clc_lib.survival.customer_attributes`, shown after the real levels.
TRAILING_LEVELS = ("other", "unknown")
COUNT_COLUMN = "customers"


def attribute_profiles(frame: pd.DataFrame, attribute: str, *, by: str = "segment") -> pd.DataFrame:
    """How the customers of each segment (or stage) split over the levels of one customer attribute.

    Parameters
    ----------
    frame
        One row per customer with the ``by`` column and the attribute's grouping column, e.g.
        :attr:`clc_lib.survival.CustomerAttributes.frame` with its ``groups[name]`` column.
    attribute
        The grouping column of the attribute (categorical levels or numeric bands).
    by
        The column to profile: ``"segment"`` (RFM) or ``"stage"`` (lifecycle).

    Returns
    -------
    pandas.DataFrame
        Index ``by`` (its Categorical order, else by size; customers without a value form a row
        of their own); column ``customers`` (count), then one
        column per attribute level with the share of the row's customers in it (rows sum to 1).
        Levels are ordered by size, ``"other"`` and ``"unknown"`` last; a level named
        ``customers`` is shown as ``customers (level)``.
    """
    _check_columns(frame, (by, attribute), "profile frame",
                   "Pass CustomerAttributes.frame joined with the segment or stage of each customer.")
    labels = frame[attribute].astype("object").where(frame[attribute].notna(), "unknown").astype(str)
    counts = frame.groupby([frame[by], labels], observed=True, dropna=False).size().unstack(fill_value=0)
    totals = counts.sum(axis=0)
    trailing_rank = {level: rank for rank, level in enumerate(TRAILING_LEVELS, 1)}
    levels = sorted(counts.columns, key=lambda level: (trailing_rank.get(level, 0), -totals[level], level))
    shares = counts[levels].div(counts.sum(axis=1), axis=0)
    shares.columns = [f"{level} (level)" if level == COUNT_COLUMN else level for level in levels]
    shares.insert(0, COUNT_COLUMN, counts.sum(axis=1).astype("int64"))
    if not isinstance(frame[by].dtype, pd.CategoricalDtype):
        shares = shares.sort_values(COUNT_COLUMN, ascending=False, kind="mergesort")
    shares.index.name = by
    shares.columns.name = None
    return shares


def _segment_series(frame: pd.DataFrame | pd.Series, name: str) -> pd.Series:
    if isinstance(frame, pd.DataFrame):
        _check_columns(frame, ("segment",), name, "Pass the output of clc.rfm_segments.")
        frame = frame["segment"]
    if frame.index.has_duplicates:
        duplicated = frame.index[frame.index.duplicated()]
        raise DataError(f"The {name} segments list some customers more than once.", source=name,
                        column="customer_id", n_rows=len(duplicated),
                        examples=[(i + 1, v) for i, v in enumerate(duplicated[:5])])
    return frame.astype("object")


def segment_migration(segments_before: pd.DataFrame | pd.Series, segments_after: pd.DataFrame | pd.Series, *,
                      normalize: bool = False) -> pd.DataFrame:
    """Crosstab of segments at two dates (rows: before, columns: after).

    Parameters
    ----------
    segments_before, segments_after
        Outputs of :func:`rfm_segments` (or Series of segment names) indexed by ``customer_id``.
    normalize
        Row shares (each row sums to 1) instead of counts.

    Returns
    -------
    pandas.DataFrame
        Index ``before`` with an extra ``"(new)"`` row for customers only present at the second
        date; columns ``after`` with a ``"(gone)"`` column if some customers are only present at
        the first date. Segment order follows the inputs' categories where given.
    """
    before = _segment_series(segments_before, "before")
    after = _segment_series(segments_after, "after")
    ids = before.index.union(after.index)
    rows = before.reindex(ids).fillna(NEW_ROW)
    columns = after.reindex(ids).fillna(GONE_COLUMN)
    table = pd.crosstab(rows.rename("before"), columns.rename("after"))

    def order(series, extra):
        source = series if isinstance(series.dtype, pd.CategoricalDtype) else None
        names = list(source.cat.categories) if source is not None else sorted(series.dropna().unique())
        return [*names, extra]

    row_order = [r for r in order(segments_before if isinstance(segments_before, pd.Series)
                                  else segments_before["segment"], NEW_ROW) if r in table.index]
    col_order = [c for c in order(segments_after if isinstance(segments_after, pd.Series)
                                  else segments_after["segment"], GONE_COLUMN) if c in table.columns]
    table = table.reindex(index=row_order, columns=col_order, fill_value=0)
    if normalize:
        table = table.div(table.sum(axis=1), axis=0)
    return table


def rfm_table(summary: pd.DataFrame, options: RfmSettings | Mapping[str, Any] | None = None) -> pd.DataFrame:
    """The summary with RFM scores and segment, using the run config's ``rfm:`` options.

    Parameters
    ----------
    summary
        Output of :func:`clc_lib.summary.customer_summary`.
    options
        The run's ``rfm:`` settings (``run.config.rfm``), or a mapping of some of its keys (``bins``,
        ``edges``, ``segment_map``, column names) validated by :meth:`RfmSettings.from_mapping`;
        missing keys take the defaults of :class:`~clc_lib.settings.RfmSettings`.

    Returns
    -------
    pandas.DataFrame
        ``summary`` plus ``r_score``, ``f_score``, ``m_score``, ``rfm_code`` and ``segment``.
    """
    chosen = RfmSettings.coerce(options)
    scores = rfm_scores(summary, bins=chosen.bins, edges=chosen.edges, recency=chosen.recency,
                        frequency=chosen.frequency, monetary=chosen.monetary)
    segmented = rfm_segments(scores, chosen.segment_map)
    added = [c for c in segmented.columns if c not in summary.columns]
    return summary.join(segmented[added])


def rfm_migration(transactions, as_of, *, period: str = "M", options: RfmSettings | Mapping[str, Any] | None = None,
                  normalize: bool = False, summary: pd.DataFrame | None = None) -> pd.DataFrame:
    """Segment migration from the end of the previous period to ``as_of``.

    The previous date is the last day of the period before the one containing ``as_of`` (month
    end, or Sunday for ``"W"``). Both dates are scored separately (quantile scores are relative
    to the customers of each date), then :func:`segment_migration` crosstabs them; customers whose
    first purchase falls between the two dates form the ``(new)`` row. ``summary``, when given,
    is the customer summary as of ``as_of`` already at hand (e.g. ``run.summary()``); it saves
    computing it again.
    """
    period = Period.parse(period)
    as_of_ts = resolve_as_of(as_of)
    previous = period.end_of_previous(as_of_ts)
    before = customer_summary(transactions, previous)
    after = customer_summary(transactions, as_of_ts) if summary is None else summary
    before = before[before["purchase_days"] > 0]
    after = after[after["purchase_days"] > 0]
    table = segment_migration(rfm_table(before, options), rfm_table(after, options), normalize=normalize)
    table.attrs["from_date"], table.attrs["to_date"] = previous, as_of_ts
    return table
