"""The option sections of a run config as frozen, validated settings, with their defaults.

Every section is checked once, when the config is loaded (so ``clc check`` refuses a typo in any
section): an unknown key is named with a did-you-mean suggestion, and a value of the wrong type or
out of range is named with the section and key. The analyses read the typed settings
(``run.config.clv.horizon``, ``run.config.rfm.bins``); functions that analysts call by hand also
accept a plain mapping, converted by the same validation (:meth:`RfmSettings.coerce`, ...).

``rfm``, ``clv``, ``report`` and ``stages`` are frozen dataclasses whose field defaults are the
defaults of the section (those of ``stages`` are the packaged ``stage_rules.yaml``). ``quality``,
``engine`` and ``margin`` are read-only mappings (:class:`ReadOnlyMapping`) of the section
merged over :data:`QUALITY_DEFAULTS`, :data:`ENGINE_DEFAULTS` and :data:`MARGIN_DEFAULTS`.

This module is the bottom layer: it imports no analysis.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from clc_lib.errors import ConfigError
from clc_lib.periods import TimeUnit

__all__ = [
    "CLV_MODEL_NAMES",
    "ENGINE_DEFAULTS",
    "MARGIN_COLUMNS",
    "MARGIN_DEFAULTS",
    "QUALITY_ACTIONS",
    "QUALITY_DEFAULTS",
    "STAGE_THRESHOLDS",
    "ReadOnlyMapping",
    "ClvSettings",
    "ReportSettings",
    "RfmSettings",
    "StageDerivation",
    "StageSettings",
    "engine_settings",
    "margin_settings",
    "ACQUISITION_DEFAULTS",
    "acquisition_settings",
    "plain",
    "quality_settings",
    "read_only",
    "suggest",
]

_PACKAGE = Path(__file__).resolve().parent


def suggest(key: str, allowed: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the allowed name closest to ``key`` (empty when none is close)."""
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _where(where: str | None) -> str:
    return f" of the {where}" if where else ""


def _check_known(section: str, raw: Mapping[str, Any], allowed: Sequence[str], where: str | None) -> None:
    for key in raw:
        if key not in allowed:
            raise ConfigError(
                f"Unknown option '{key}' in section '{section}'{_where(where)}.{suggest(str(key), allowed)} "
                f"Known options: {', '.join(sorted(allowed))}."
            )


def _section(section: str, raw: Any, where: str | None) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"'{section}'{_where(where)} must be a mapping of options, got {type(raw).__name__}.")
    return raw


class ReadOnlyMapping(Mapping):
    """A mapping that cannot be changed after it is made; unlike :class:`types.MappingProxyType` it
    can be pickled and deep-copied (the run cache and pandas ``attrs`` need both)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)

    def __reduce__(self):
        return (ReadOnlyMapping, (self._items,))


def read_only(value: Any) -> Any:
    """``value`` with every mapping made a :class:`ReadOnlyMapping` and every list a tuple."""
    if isinstance(value, Mapping):
        return ReadOnlyMapping({key: read_only(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(read_only(item) for item in value)
    return value


def plain(value: Any) -> Any:
    """Settings as plain Python data (dicts, lists, scalars), e.g. for JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(name: str, value: Any, *, above: float | None = None, at_least: float | None = None,
            at_most: float | None = None, whole: bool = False, hint: str = "") -> Any:
    """``value`` checked as a number (``whole``: an integer) within the given bounds."""
    ok = isinstance(value, int) and not isinstance(value, bool) if whole else _is_number(value)
    if ok:
        ok = ((above is None or value > above) and (at_least is None or value >= at_least)
              and (at_most is None or value <= at_most))
    if not ok:
        kind = "a whole number" if whole else "a number"
        bounds = [f"{words} {bound:g}" for words, bound in (("above", above), ("at least", at_least),
                                                             ("at most", at_most)) if bound is not None]
        raise ConfigError(f"{name} is {value!r}; give {kind}" + (f" {' and '.join(bounds)}" if bounds else "")
                          + (f" ({hint})" if hint else "") + ".")
    return value


def _boolean(name: str, value: Any, meaning: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} is {value!r}; write true or false ({meaning}).")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} is {value!r}; give a name (text).")
    return value


def _from_section(cls, section: str, raw: Any, where: str | None, convert: Mapping[str, Any]):
    """An instance of the settings dataclass ``cls`` from ``raw``; ``convert[key](value)`` checks each value."""
    raw = _section(section, raw, where)
    names = [f.name for f in dataclasses.fields(cls) if f.init and f.repr]
    _check_known(section, raw, names, where)
    return cls(**{key: convert[key](value) for key, value in raw.items()})


# ------------------------------------------------------------------------------------------ rfm

RFM_SCORE_NAMES = ("recency", "frequency", "monetary")


@cache
def _rfm_presets() -> tuple[str, ...]:
    return tuple(yaml.safe_load((_PACKAGE / "rfm_segments.yaml").read_text(encoding="utf-8")))


def _rfm_edges(value: Any) -> Mapping[str, tuple[float, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"rfm.edges is {value!r}; give inner cut points per score, e.g. "
                          "{recency: [30, 90, 180, 365]}.")
    _check_known("rfm.edges", value, RFM_SCORE_NAMES, None)
    for name, cuts in value.items():
        if cuts is not None and (not isinstance(cuts, list | tuple) or not all(_is_number(c) for c in cuts)):
            raise ConfigError(f"rfm.edges.{name} is {cuts!r}; give a list of numbers (the inner cut points).")
    return read_only(value)


def _rfm_segment_map(value: Any) -> str | tuple[Mapping[str, Any], ...] | Mapping[str, Any]:
    if isinstance(value, str):
        if value not in _rfm_presets():
            raise ConfigError(f"rfm.segment_map is {value!r}; use a preset ({', '.join(_rfm_presets())})"
                              f"{suggest(value, _rfm_presets())} or a list of {{segment, r, f, m}}.")
        return value
    if isinstance(value, Mapping) or (
            isinstance(value, list | tuple) and value and all(isinstance(row, Mapping) for row in value)):
        return read_only(value)
    raise ConfigError(f"rfm.segment_map is {value!r}; use a preset ({', '.join(_rfm_presets())}) or a list "
                      "of {segment, r, f, m}.")


@dataclass(frozen=True)
class RfmSettings:
    """The ``rfm:`` section: how customers are scored and segmented (see ``docs/rfm.md``).

    Attributes
    ----------
    bins
        Score levels per dimension (quantile bins), at least 2.
    edges
        Inner cut points per score (``recency``, ``frequency``, ``monetary``) instead of quantiles;
        recency in days, frequency in purchase days, monetary in the run currency. None = quantiles.
    segment_map
        A preset name from ``rfm_segments.yaml`` (``classic``, ``rf_grid``), rows ``{segment, r, f, m}``
        or a map in the presets' form (``{segments: [...], other: ..., bins: ...}``).
    recency, frequency, monetary
        Customer-summary columns scored for R, F and M.
    """

    bins: int = 5
    edges: Mapping[str, tuple[float, ...]] | None = None
    segment_map: str | tuple[Mapping[str, Any], ...] | Mapping[str, Any] = "classic"
    recency: str = "recency_days"
    frequency: str = "purchase_days"
    monetary: str = "net_revenue"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, *, where: str | None = None) -> RfmSettings:
        """Validate an ``rfm:`` section (missing keys take the defaults)."""
        return _from_section(cls, "rfm", raw, where, {
            "bins": lambda v: _number("rfm.bins", v, at_least=2, whole=True),
            "edges": _rfm_edges,
            "segment_map": _rfm_segment_map,
            "recency": lambda v: _text("rfm.recency", v),
            "frequency": lambda v: _text("rfm.frequency", v),
            "monetary": lambda v: _text("rfm.monetary", v),
        })

    @classmethod
    def coerce(cls, value: RfmSettings | Mapping[str, Any] | None) -> RfmSettings:
        """``value`` if it is already settings, else the validated mapping (None: the defaults)."""
        return value if isinstance(value, cls) else cls.from_mapping(value)


# ------------------------------------------------------------------------------------------ clv

#: The purchase models a ``clv:`` section may name (``clc_lib.clv.value.PURCHASE_MODELS``).
CLV_MODEL_NAMES = ("bgnbd", "mbgnbd", "pareto_nbd")


def _clv_model(value: Any) -> str:
    if value not in CLV_MODEL_NAMES:
        raise ConfigError(f"clv.model is {value!r}; use one of {', '.join(CLV_MODEL_NAMES)}."
                          + (suggest(value, CLV_MODEL_NAMES) if isinstance(value, str) else ""))
    return value


@dataclass(frozen=True)
class ClvSettings:
    """The ``clv:`` section: the customer-value model of ``clc score`` and the reports (``docs/clv.md``).

    Attributes
    ----------
    enabled
        Add the model columns to ``clc score``; false for data too small to fit.
    model
        Purchase model: ``bgnbd``, ``mbgnbd`` or ``pareto_nbd``.
    time_unit
        Unit of ``x``, ``t_x``, ``T`` and of the horizon: ``D``, ``W`` or ``M`` (30.4375 days).
    horizon
        Forecast horizon in time units (52 weeks = one year), above 0.
    annual_discount_rate
        Discount rate per year (e.g. 0.10), above -1; converted to the time unit explicitly.
    margin
        Share of revenue kept, in (0, 1]; 1.0 gives revenue CLV.
    penalizer
        L2 penalty on the purchase model's log-parameters, 0 or more.
    """

    enabled: bool = True
    model: str = "bgnbd"
    time_unit: str = "W"
    horizon: float = 52
    annual_discount_rate: float = 0.0
    margin: float = 1.0
    penalizer: float = 0.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, *, where: str | None = None) -> ClvSettings:
        """Validate a ``clv:`` section (missing keys take the defaults)."""
        return _from_section(cls, "clv", raw, where, {
            "enabled": lambda v: _boolean("clv.enabled", v, "false leaves the model columns out of clc score"),
            "model": _clv_model,
            "time_unit": lambda v: TimeUnit.parse(v, what="clv.time_unit").code,
            "horizon": lambda v: _number("clv.horizon", v, above=0, hint="in clv.time_unit"),
            "annual_discount_rate": lambda v: _number("clv.annual_discount_rate", v, above=-1, hint="e.g. 0.10"),
            "margin": lambda v: _number("clv.margin", v, above=0, at_most=1, hint="the share of revenue kept"),
            "penalizer": lambda v: _number("clv.penalizer", v, at_least=0),
        })

    @classmethod
    def coerce(cls, value: ClvSettings | Mapping[str, Any] | None) -> ClvSettings:
        """``value`` if it is already settings, else the validated mapping (None: the defaults)."""
        return value if isinstance(value, cls) else cls.from_mapping(value)


# --------------------------------------------------------------------------------------- report

def _seconds(name: str, value: Any, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    return _number(name, value, above=0, hint="seconds" + (", or leave it empty for no limit" if optional else ""))


@dataclass(frozen=True)
class ReportSettings:
    """The ``report:`` section: how ``clc report`` runs and keeps report runs (``docs/reports.md``).

    Attributes
    ----------
    keep
        Run folders kept per config (complete and failed), 1 or more; older ones are deleted.
    cell_timeout
        Seconds a notebook cell may run before it fails; None = no limit.
    start_timeout
        Seconds to wait for a notebook kernel to start.
    pseudonymise_ids
        Customer ids shown as salted pseudonyms; false only for internal runs.
    pin_definitions
        Keep the stage thresholds of the first run (``definitions.json``); false = derive every run.
    pdf
        Also write a PDF of each report and of the index into the run folder, printed by headless
        Chromium (needs the ``chromium`` browser and the Python package ``playwright``).
    """

    keep: int = 10
    cell_timeout: float | None = None
    start_timeout: float = 120
    pseudonymise_ids: bool = True
    pin_definitions: bool = True
    pdf: bool = False

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, *, where: str | None = None) -> ReportSettings:
        """Validate a ``report:`` section (missing keys take the defaults)."""
        return _from_section(cls, "report", raw, where, {
            "keep": lambda v: _number("report.keep", v, at_least=1, whole=True,
                                      hint="the number of runs to keep, default 10"),
            "cell_timeout": lambda v: _seconds("report.cell_timeout", v, optional=True),
            "start_timeout": lambda v: _seconds("report.start_timeout", v, optional=False),
            "pseudonymise_ids": lambda v: _boolean(
                "report.pseudonymise_ids", v, "true, the default: stakeholders see pseudonyms; false: internal "
                "runs show real ids"),
            "pin_definitions": lambda v: _boolean(
                "report.pin_definitions", v, "true, the default: stage thresholds stay those of the first run; "
                "false: derived from each run's data"),
            "pdf": lambda v: _boolean(
                "report.pdf", v, "true: also write a PDF of each report and of the index; false, the default: "
                "HTML only"),
        })

    @classmethod
    def coerce(cls, value: ReportSettings | Mapping[str, Any] | None) -> ReportSettings:
        """``value`` if it is already settings, else the validated mapping (None: the defaults)."""
        return value if isinstance(value, cls) else cls.from_mapping(value)


# --------------------------------------------------------------------------------------- stages

#: The stage thresholds (days, except ``loyal_min_purchase_days`` which counts purchase days).
STAGE_THRESHOLDS = ("new_window_days", "at_risk_days", "dormant_days", "churn_days", "loyal_min_purchase_days",
                    "reactivation_gap_days", "reactivated_window_days")
_FALLBACK_THRESHOLDS = ("at_risk_days", "dormant_days", "churn_days", "loyal_min_purchase_days")


@cache
def _stage_defaults() -> Mapping[str, Any]:
    """The packaged ``stage_rules.yaml``, read-only: the defaults of :class:`StageSettings`."""
    return read_only(yaml.safe_load((_PACKAGE / "stage_rules.yaml").read_text(encoding="utf-8")))


def _stage_default(*path: str):
    def default():
        value = _stage_defaults()
        for key in path:
            value = value[key]
        return value

    return default


def _quantile(name: str):
    return lambda v: float(_number(name, v, above=0, at_most=1, hint="a quantile, e.g. 0.9"))


def _fallback(value: Any) -> Mapping[str, float]:
    section = _section("stages.derive.fallback", value, None)
    _check_known("stages.derive.fallback", section, _FALLBACK_THRESHOLDS, None)
    merged = {**_stage_defaults()["derive"]["fallback"], **section}
    return read_only({key: _number(f"stages.derive.fallback.{key}", item, above=0) for key, item in merged.items()})


@dataclass(frozen=True)
class StageDerivation:
    """``stages.derive``: how thresholds left null are derived from the data (``docs/stages.md``).

    Attributes
    ----------
    at_risk_gap_quantile, dormant_gap_quantile, churn_gap_quantile
        Quantiles of the gaps in days between consecutive purchase days, in (0, 1].
    loyal_purchase_days_quantile
        Quantile of purchase days per customer, in (0, 1].
    loyal_min_purchase_days_floor
        Least ``loyal_min_purchase_days`` derived (purchase days).
    min_gaps
        Fewer observed gaps than this: the ``fallback`` thresholds apply.
    fallback
        Threshold -> value used with too few gaps (``at_risk_days``, ``dormant_days``,
        ``churn_days``, ``loyal_min_purchase_days``).
    """

    at_risk_gap_quantile: float = field(default_factory=_stage_default("derive", "at_risk_gap_quantile"))
    dormant_gap_quantile: float = field(default_factory=_stage_default("derive", "dormant_gap_quantile"))
    churn_gap_quantile: float = field(default_factory=_stage_default("derive", "churn_gap_quantile"))
    loyal_purchase_days_quantile: float = field(
        default_factory=_stage_default("derive", "loyal_purchase_days_quantile"))
    loyal_min_purchase_days_floor: float = field(
        default_factory=_stage_default("derive", "loyal_min_purchase_days_floor"))
    min_gaps: int = field(default_factory=_stage_default("derive", "min_gaps"))
    fallback: Mapping[str, float] = field(default_factory=lambda: _fallback({}))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, *, where: str | None = None) -> StageDerivation:
        """Validate a ``stages.derive`` mapping (missing keys take the defaults)."""
        return _from_section(cls, "stages.derive", raw, where, {
            "at_risk_gap_quantile": _quantile("stages.derive.at_risk_gap_quantile"),
            "dormant_gap_quantile": _quantile("stages.derive.dormant_gap_quantile"),
            "churn_gap_quantile": _quantile("stages.derive.churn_gap_quantile"),
            "loyal_purchase_days_quantile": _quantile("stages.derive.loyal_purchase_days_quantile"),
            "loyal_min_purchase_days_floor": lambda v: _number("stages.derive.loyal_min_purchase_days_floor", v,
                                                               at_least=1),
            "min_gaps": lambda v: _number("stages.derive.min_gaps", v, at_least=1, whole=True),
            "fallback": _fallback,
        })


def _threshold(name: str):
    return lambda v: None if v is None else float(_number(f"stages.{name}", v, at_least=0,
                                                          hint="days, or null to derive it from the data"))


def _names(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError(f"{name} is {value!r}; give a list of names.")
    return tuple(value)


def _sources(value: Any) -> Mapping[str, str]:
    section = _section("stages.sources", value, None)
    _check_known("stages.sources", section, STAGE_THRESHOLDS, None)
    return read_only({key: str(text) for key, text in section.items()})


def _precedence(value: Any) -> tuple[tuple[str, str], ...]:
    rows = []
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError(f"stages.precedence is {value!r}; give a list of {{stage, when}} rows.")
    for position, row in enumerate(value, start=1):
        if isinstance(row, list | tuple) and len(row) == 2:
            row = {"stage": row[0], "when": row[1]}
        if not isinstance(row, Mapping):
            raise ConfigError(f"stages.precedence row {position} is {row!r}; write it as {{stage: ..., when: ...}}.")
        _check_known(f"stages.precedence row {position}", row, ("stage", "when"), None)
        if not row.get("stage") or not row.get("when"):
            raise ConfigError(f"stages.precedence row {position} needs both 'stage' and 'when'.")
        rows.append((str(row["stage"]), str(row["when"])))
    return tuple(rows)


def _next_stage(value: Any) -> Mapping[str, tuple[str, ...]]:
    section = _section("stages.next_stage", value, None)
    return read_only({str(stage): _names(f"stages.next_stage.{stage}", targets) for stage, targets in section.items()})


@dataclass(frozen=True)
class StageSettings:
    """The ``stages:`` section: thresholds and rules of the lifecycle stages (``docs/stages.md``).

    The defaults are the packaged ``stage_rules.yaml``. Thresholds are in days (``loyal_min_purchase_days``
    counts purchase days); None means derived from the data (:class:`StageDerivation`).

    Attributes
    ----------
    new_window_days, at_risk_days, dormant_days, churn_days, loyal_min_purchase_days, reactivation_gap_days, \
reactivated_window_days
        Thresholds fixed by the config, or None.
    sources
        Threshold -> where its fixed value comes from, as the reports show it (default "run config").
    derive
        How null thresholds are derived.
    engaged_event_types
        Event types that make a prospect ``engaged`` rather than ``aware``.
    precedence
        Ordered ``(stage, condition)`` pairs; the first condition that holds wins.
    next_stage
        Stage -> the stages that count as converting to the next stage.
    written
        The section as written in the config (read-only), which the pinned definitions fingerprint.
    """

    new_window_days: float | None = None
    at_risk_days: float | None = None
    dormant_days: float | None = None
    churn_days: float | None = None
    loyal_min_purchase_days: float | None = None
    reactivation_gap_days: float | None = None
    reactivated_window_days: float | None = None
    sources: Mapping[str, str] = field(default_factory=lambda: read_only({}))
    derive: StageDerivation = field(default_factory=StageDerivation)
    engaged_event_types: tuple[str, ...] = field(default_factory=_stage_default("engaged_event_types"))
    precedence: tuple[tuple[str, str], ...] = field(
        default_factory=lambda: _precedence(_stage_defaults()["precedence"]))
    next_stage: Mapping[str, tuple[str, ...]] = field(default_factory=_stage_default("next_stage"))
    written: Mapping[str, Any] = field(default_factory=lambda: read_only({}), repr=False, compare=False)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None, *, where: str | None = None) -> StageSettings:
        """Validate a ``stages:`` section (missing keys take the packaged defaults)."""
        convert: dict[str, Any] = {name: _threshold(name) for name in STAGE_THRESHOLDS}
        convert.update({
            "sources": _sources,
            "derive": lambda v: StageDerivation.from_mapping(v, where=where),
            "engaged_event_types": lambda v: _names("stages.engaged_event_types", v),
            "precedence": _precedence,
            "next_stage": _next_stage,
        })
        settings = _from_section(cls, "stages", raw, where, convert)
        return dataclasses.replace(settings, written=read_only(dict(raw or {})))

    @classmethod
    def coerce(cls, value: StageSettings | Mapping[str, Any] | None) -> StageSettings:
        """``value`` if it is already settings, else the validated mapping (None: the defaults)."""
        return value if isinstance(value, cls) else cls.from_mapping(value)

    def threshold(self, name: str) -> float | None:
        """The value the config fixes for threshold ``name`` (one of :data:`STAGE_THRESHOLDS`), or None."""
        if name not in STAGE_THRESHOLDS:
            raise ConfigError(f"{name!r} is not a stage threshold; use one of {', '.join(STAGE_THRESHOLDS)}.")
        return getattr(self, name)


# -------------------------------------------------------------------- quality, engine and margin

#: Actions allowed for each quality rule that has a configurable action (``docs/data-quality.md``).
QUALITY_ACTIONS: Mapping[str, tuple[str, ...]] = ReadOnlyMapping({
    "unparseable_values": ("error", "drop"),
    "missing_values": ("error", "drop"),
    "missing_customer_id": ("drop", "error"),
    "above_max_amount": ("error", "drop"),
    "zero_amount": ("keep", "drop"),
    "returns": ("keep", "drop"),
    "duplicate_rows": ("drop", "keep", "error"),
    "duplicates_without_order_id": ("keep", "drop"),
    "shared_order_ids": ("error", "keep"),
})

#: The ``quality:`` section of a run config, with its defaults (see ``docs/data-quality.md``).
QUALITY_DEFAULTS: Mapping[str, Any] = ReadOnlyMapping({
    "unparseable_values": "error",
    "missing_values": "error",
    "missing_customer_id": "drop",
    "above_max_amount": "error",
    "max_line_amount": 1e7,
    "zero_amount": "keep",
    "returns": "keep",
    "cancellation_prefixes": ("C",),
    "duplicate_rows": "drop",
    "duplicates_without_order_id": "keep",
    # Checks on the kept rows, after the rules (always errors; see docs/data-quality.md):
    "min_date": "1970-01-02",  # earlier timestamps are placeholders (1900-01-01, Unix time 0); null = no check
    "shared_order_ids": "error",  # an order id used by two customers: error, or keep (orders are per customer)
    # An as_of this many days after the last transaction is refused (a typo such as 2204 for 2024 would
    # make nearly every customer churned); null allows any as_of.
    "max_days_after_last_transaction": 365,
})


def _min_date(value: Any) -> Any:
    if value is None or value == "":
        return value
    try:
        stamp = pd.Timestamp(str(value))
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ConfigError(f"quality.min_date is {value!r}; give a date such as 1970-01-02, "
                          "or null to switch the check off.")
    return value


def quality_settings(raw: Mapping[str, Any] | None, *, where: str | None = None) -> Mapping[str, Any]:
    """The ``quality:`` section merged over :data:`QUALITY_DEFAULTS`, checked, as a read-only mapping.

    Raises
    ------
    ConfigError
        Unknown option, an action the rule does not allow, or a bad limit.
    """
    raw = _section("quality", raw, where)
    _check_known("quality", raw, tuple(QUALITY_DEFAULTS), where)
    options = {**QUALITY_DEFAULTS, **raw}
    for key, allowed in QUALITY_ACTIONS.items():
        if options[key] not in allowed:
            raise ConfigError(f"quality.{key} is {options[key]!r}{_where(where)}; use one of {', '.join(allowed)}.")
    limit = options["max_line_amount"]
    if isinstance(limit, str):
        try:
            limit = float(limit)
        except ValueError:
            pass
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:  # .inf: no limit
        raise ConfigError(f"quality.max_line_amount is {options['max_line_amount']!r}{_where(where)}; "
                          "use a positive number.")
    options["max_line_amount"] = float(limit)
    prefixes = options["cancellation_prefixes"]
    if isinstance(prefixes, str):
        prefixes = [prefixes]
    if not isinstance(prefixes, list | tuple) or not all(isinstance(p, str) and p for p in prefixes):
        raise ConfigError("quality.cancellation_prefixes must be a list of non-empty strings, e.g. ['C'].")
    options["cancellation_prefixes"] = tuple(prefixes)
    allowance = options["max_days_after_last_transaction"]
    if allowance is not None and (isinstance(allowance, bool) or not isinstance(allowance, int) or allowance < 0):
        raise ConfigError(f"quality.max_days_after_last_transaction is {allowance!r}; give a whole number of days "
                          "(0 or more), or null to allow any as_of.")
    options["min_date"] = _min_date(options["min_date"])
    return read_only(options)


#: The ``engine:`` section of a run config, with its defaults (see ``docs/engines.md``).
ENGINE_DEFAULTS: Mapping[str, Any] = ReadOnlyMapping({
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
    "settings": ReadOnlyMapping({}),  # Spark configuration, e.g. {spark.sql.shuffle.partitions: 64}
    "url": None,  # Ibis connection URL of a database engine; passwords as ${ENV_VAR}
})


def engine_settings(raw: Mapping[str, Any] | None, *, where: str | None = None) -> Mapping[str, Any]:
    """The ``engine:`` section merged over :data:`ENGINE_DEFAULTS`, checked, as a read-only mapping.

    Which ``backend`` names an engine is checked when the engine starts (engines register there).
    """
    raw = _section("engine", raw, where)
    _check_known("engine", raw, tuple(ENGINE_DEFAULTS), where)
    options = {**ENGINE_DEFAULTS, **raw}
    for key in ("backend", "app_name"):
        _text(f"engine.{key}", options[key])
    for key in ("database", "memory_limit", "temp_directory", "master", "url"):
        if options[key] is not None and not isinstance(options[key], str | int | float | Path):
            raise ConfigError(f"engine.{key} is {options[key]!r}; give text, or leave it empty.")
    if options["threads"] is not None:
        _number("engine.threads", options["threads"], at_least=1, whole=True, hint="or leave it empty for all cores")
    _boolean("engine.cache", options["cache"], "keep the cleaned events as an engine table")
    _boolean("engine.materialize", options["materialize"], "also write the cleaned transactions as Parquet")
    if not isinstance(options["settings"] or {}, Mapping):
        raise ConfigError(f"engine.settings is {options['settings']!r}; give Spark settings as a mapping, "
                          "e.g. {spark.sql.shuffle.partitions: 64}.")
    options["settings"] = options["settings"] or {}
    return read_only(options)


#: The columns a ``margin:`` section may vary its rate by.
MARGIN_COLUMNS = ("category", "channel")
#: The ``margin:`` section of a run config, with its defaults: no margin, figures on revenue.
MARGIN_DEFAULTS: Mapping[str, Any] = ReadOnlyMapping({"rate": None, "by": None, "rates": ReadOnlyMapping({})})


def _margin_rate(value: Any, where: str) -> float:
    if not _is_number(value) or not 0 < value <= 1:
        raise ConfigError(f"{where} is {value!r}; give the gross margin as a share in (0, 1], e.g. 0.4 for 40 %.")
    return float(value)


def margin_settings(raw: Mapping[str, Any] | None, *, where: str | None = None) -> Mapping[str, Any]:
    """The ``margin:`` section merged over :data:`MARGIN_DEFAULTS`, checked, as a read-only mapping.

    ``{rate: 0.4}`` applies 40 % to all net revenue; ``{by: category, rates: {apparel: 0.55,
    books: 0.3}, rate: 0.4}`` applies a rate per category (``channel``: per order channel) and
    ``rate`` to values not listed. ``{}`` (the default) means no margin: figures on revenue.

    Raises
    ------
    ConfigError
        Unknown keys, rates outside (0, 1], a ``by`` other than category or channel, or ``rates``
        without ``by``.
    """
    raw = _section("margin", raw, where)
    _check_known("margin", raw, tuple(MARGIN_DEFAULTS), where)
    options = {**MARGIN_DEFAULTS, **raw}
    if options["rate"] is not None:
        options["rate"] = _margin_rate(options["rate"], "margin.rate")
    rates = options["rates"] or {}
    if not isinstance(rates, Mapping):
        raise ConfigError("margin.rates must map values of margin.by to rates, e.g. {apparel: 0.55}.")
    if options["by"] is None:
        if rates:
            raise ConfigError("margin.rates is given without margin.by; set by: category or by: channel.")
    elif options["by"] not in MARGIN_COLUMNS:
        raise ConfigError(f"margin.by is {options['by']!r}; use one of {', '.join(MARGIN_COLUMNS)}.")
    elif not rates:
        raise ConfigError(f"margin.by is {options['by']!r} but margin.rates is empty; list a rate per "
                          f"{options['by']}, e.g. rates: {{apparel: 0.55}}.")
    options["rates"] = {str(key): _margin_rate(value, f"margin.rates.{key}") for key, value in rates.items()}
    return read_only(options)


ACQUISITION_DEFAULTS: Mapping[str, Any] = ReadOnlyMapping({"unpaid_channels": ()})


def acquisition_settings(raw: Mapping[str, Any] | None, *, where: str | None = None) -> Mapping[str, Any]:
    """The ``acquisition:`` section merged over :data:`ACQUISITION_DEFAULTS`, checked, read-only.

    ``unpaid_channels`` lists the acquisition channels that are not bought (e.g. ``[organic,
    direct, referral]``): their spend rows, if any, still count in the blended CAC, but the
    paid-channels CAC leaves them out (:func:`clc_lib.acquisition.cac_by_channel`). Empty (the
    default): every channel with rows in the spend table counts as paid.

    Raises
    ------
    ConfigError
        Unknown keys, or ``unpaid_channels`` that is not a list of non-empty names.
    """
    raw = _section("acquisition", raw, where)
    _check_known("acquisition", raw, tuple(ACQUISITION_DEFAULTS), where)
    channels = raw.get("unpaid_channels") or ()
    if isinstance(channels, str) or not isinstance(channels, (list, tuple)):
        raise ConfigError(f"acquisition.unpaid_channels{_where(where)} must be a list of channel names, e.g. "
                          f"[organic, direct, referral]; got {channels!r}.")
    bad = [name for name in channels if not isinstance(name, (str, int)) or not str(name).strip()]
    if bad:
        raise ConfigError(f"acquisition.unpaid_channels{_where(where)} holds entries that are not channel names: "
                          f"{', '.join(map(repr, bad[:5]))}.")
    return read_only({"unpaid_channels": tuple(dict.fromkeys(str(name).strip() for name in channels))})
