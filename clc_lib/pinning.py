"""Pinned lifecycle definitions: the stage thresholds a config's report runs keep from run to run.

Thresholds derived from the data (``churn_days`` as a quantile of the gaps between purchase days,
say) move with ``as_of``: 292 days in one run, 256 in the next, and the index would compare
figures made under different definitions. The first published run of a config therefore writes
``<out>/<config name>/definitions.json`` (:data:`DEFINITIONS_FILE`) with the thresholds it used,
and later runs use those instead of deriving them again; ``clc report --rederive-definitions``
derives them from the new run's data and rewrites the file, ``report: {pin_definitions: false}``
derives them at every run. Thresholds fixed in the config's ``stages:`` section always follow the
config. See ``docs/stages.md`` ("Pinned definitions") and ``docs/reports.md``.

The file (format 1)::

    {"format": 1, "config_name": "shop", "stages_sha256": "<SHA-256 of the stages: section>",
     "as_of": "2024-05-31", "run_id": "20240601-060000_2024-05-31",
     "thresholds": {"churn_days": {"value": 292, "origin": "data", "source": "...",
                                   "as_of": "2024-05-31", "run_id": "20240601-060000_2024-05-31"}, ...},
     "changes": [{"run_id": "...", "as_of": "...", "changes": ["churn_days: ..."]}]}

``origin`` is ``data`` (derived from the data up to that ``as_of``, then pinned) or ``config``
(fixed by the ``stages:`` section when the file was written).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clc_lib.errors import ConfigError
from clc_lib.settings import StageSettings, plain
from clc_lib.stages import SOURCE_TEMPLATES, THRESHOLDS, config_fixed_thresholds

__all__ = [
    "DEFINITIONS_FILE",
    "PinnedThreshold",
    "PinnedDefinitions",
    "DefinitionsPlan",
    "stages_fingerprint",
    "read_definitions",
    "plan_definitions",
    "describe_threshold",
    "compare_definitions",
]

DEFINITIONS_FILE = "definitions.json"
DEFINITIONS_FORMAT = 1
ORIGIN_DATA = "data"
ORIGIN_CONFIG = "config"

#: How each threshold reads in the index ("churned after 292 days without a purchase").
THRESHOLD_WORDING: dict[str, str] = {
    "new_window_days": "new for {} days after the first purchase",
    "at_risk_days": "at risk after {} days without a purchase",
    "dormant_days": "dormant after {} days without a purchase",
    "churn_days": "churned after {} days without a purchase",
    "loyal_min_purchase_days": "loyal from {} purchase days",
    "reactivation_gap_days": "reactivated after a silence of more than {} days",
    "reactivated_window_days": "reactivated for {} days after coming back",
}

#: Modes of a run's definitions, as run.json records them.
MODE_PINNED = "pinned"  # thresholds derived from data come from definitions.json
MODE_FIRST = "first"  # no definitions.json yet: derived from this run's data, pinned if the run publishes
MODE_REDERIVED = "rederived"  # --rederive-definitions: derived from this run's data, definitions.json rewritten
MODE_DERIVED = "derived"  # report.pin_definitions: false: derived from this run's data, nothing pinned


def stages_fingerprint(stages: StageSettings | Mapping[str, Any] | None) -> str:
    """SHA-256 of the config's ``stages:`` section as written (keys sorted): changes when the section does."""
    written = stages.written if isinstance(stages, StageSettings) else (stages or {})
    text = json.dumps(plain(written), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _number_text(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def describe_threshold(name: str, value: float) -> str:
    """``churn_days``, 292 -> "churned after 292 days without a purchase"."""
    return THRESHOLD_WORDING.get(name, name + " {}").format(_number_text(value))


@dataclass(frozen=True)
class PinnedThreshold:
    """One threshold of ``definitions.json``: its value (days; purchase days for
    ``loyal_min_purchase_days``), whether it came from the data or the config, how it was set, and
    the as_of and run it was set at."""

    value: float
    origin: str
    source: str
    as_of: str
    run_id: str

    def to_json(self) -> dict[str, Any]:
        value = int(self.value) if float(self.value).is_integer() else self.value
        return {"value": value, "origin": self.origin, "source": self.source, "as_of": self.as_of,
                "run_id": self.run_id}


@dataclass(frozen=True)
class PinnedDefinitions:
    """The content of a ``definitions.json`` (see the module docstring)."""

    thresholds: dict[str, PinnedThreshold]
    as_of: str
    run_id: str
    stages_sha256: str
    config_name: str = ""
    changes: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"format": DEFINITIONS_FORMAT, "config_name": self.config_name,
                "stages_sha256": self.stages_sha256, "as_of": self.as_of, "run_id": self.run_id,
                "thresholds": {name: self.thresholds[name].to_json() for name in THRESHOLDS},
                "changes": list(self.changes)}


def _invalid(path: Path, problem: str) -> ConfigError:
    return ConfigError(
        f"{path} cannot be read as the pinned stage definitions of this config: {problem}. The file is "
        "written by clc report; restore it from a backup, or run clc report --rederive-definitions to "
        "derive the thresholds from the new run's data and write it again.")


def read_definitions(path: str | Path) -> PinnedDefinitions | None:
    """The pinned definitions in ``path``, or None when there is no such file.

    Raises
    ------
    ConfigError
        The file is not JSON, lacks a field, names an unknown threshold, holds a value that is not
        a number of at least 1, or thresholds out of order (at_risk < dormant < churn days); the
        message names the file and the field.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _invalid(path, f"it is not valid JSON ({error})") from None
    if not isinstance(content, dict):
        raise _invalid(path, f"it holds a {type(content).__name__}, not an object")
    if content.get("format") != DEFINITIONS_FORMAT:
        raise _invalid(path, f"format is {content.get('format')!r}, expected {DEFINITIONS_FORMAT}")
    for key in ("stages_sha256", "as_of", "run_id"):
        if not isinstance(content.get(key), str) or not content[key]:
            raise _invalid(path, f"the field {key!r} is missing or not a text")
    recorded = content.get("thresholds")
    if not isinstance(recorded, dict):
        raise _invalid(path, "the field 'thresholds' is missing or not an object")
    unknown = sorted(set(recorded) - set(THRESHOLDS))
    missing = [name for name in THRESHOLDS if name not in recorded]
    if unknown or missing:
        raise _invalid(path, "thresholds " + "; ".join(
            part for part in (f"unknown: {', '.join(unknown)}" if unknown else "",
                              f"missing: {', '.join(missing)}" if missing else "") if part))
    thresholds = {}
    for name in THRESHOLDS:
        entry = recorded[name]
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
            raise _invalid(path, f"thresholds.{name}.value is {value!r}, not a number of days of at least 1")
        origin = entry.get("origin")
        if origin not in (ORIGIN_DATA, ORIGIN_CONFIG):
            raise _invalid(path, f"thresholds.{name}.origin is {origin!r}; expected {ORIGIN_DATA!r} or "
                                 f"{ORIGIN_CONFIG!r}")
        thresholds[name] = PinnedThreshold(
            value=float(value), origin=origin, source=str(entry.get("source") or ""),
            as_of=str(entry.get("as_of") or content["as_of"]), run_id=str(entry.get("run_id") or content["run_id"]))
    order = [thresholds[name].value for name in ("at_risk_days", "dormant_days", "churn_days")]
    if not order[0] < order[1] < order[2]:
        raise _invalid(path, f"at_risk_days < dormant_days < churn_days does not hold ({order})")
    changes = content.get("changes", [])
    if not isinstance(changes, list):
        raise _invalid(path, "the field 'changes' is not a list")
    return PinnedDefinitions(thresholds=thresholds, as_of=content["as_of"], run_id=content["run_id"],
                             stages_sha256=content["stages_sha256"], config_name=str(content.get("config_name", "")),
                             changes=tuple(changes))


@dataclass
class DefinitionsPlan:
    """How one report run gets its stage thresholds.

    Attributes
    ----------
    mode
        ``pinned``, ``first``, ``rederived`` or ``derived`` (see the ``MODE_`` constants).
    pinned
        The definitions read from ``definitions.json`` (``pinned`` mode only).
    stage_rules
        What the runner passes to :func:`clc_lib.run.load_run` and the notebooks: the pinned
        thresholds that were derived from data and are not fixed by the config now, with their
        sources; None when everything is derived from this run's data.
    fixed
        Thresholds the config's ``stages:`` section fixes now (name -> value).
    stages_sha256
        Fingerprint of the config's ``stages:`` section now.
    """

    mode: str
    stages_sha256: str
    fixed: dict[str, float]
    pinned: PinnedDefinitions | None = None
    stage_rules: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def config_changed(self) -> bool:
        """Whether the ``stages:`` section differs from the one the pinned definitions were written with."""
        return self.pinned is not None and self.pinned.stages_sha256 != self.stages_sha256

    def definitions(self, thresholds: Mapping[str, float], sources: Mapping[str, str], *, as_of: str,
                    run_id: str, config_name: str) -> tuple[PinnedDefinitions, list[str]]:
        """The definitions this run used, as ``definitions.json`` would hold them, and the changes
        of the config's ``stages:`` section since pinning (texts; empty when it did not change).

        ``thresholds`` and ``sources`` are those the run resolved (:class:`clc_lib.stages.StageRules`).
        """
        pinned = self.pinned.thresholds if self.pinned is not None else {}
        entries: dict[str, PinnedThreshold] = {}
        changes: list[str] = []
        for name in THRESHOLDS:
            value = float(thresholds[name])
            before = pinned.get(name)
            if name in self.fixed:
                entries[name] = PinnedThreshold(value, ORIGIN_CONFIG, "run config", as_of, run_id)
                if before is not None and (before.origin != ORIGIN_CONFIG or before.value != value):
                    changes.append(f"{name}: {_number_text(value)}, now fixed by the config's stages: section "
                                   f"(was {_number_text(before.value)}, "
                                   + ("derived from the data up to " + before.as_of if before.origin == ORIGIN_DATA
                                      else "fixed by the config") + ")")
            elif before is not None and before.origin == ORIGIN_DATA:
                entries[name] = before
            else:
                entries[name] = PinnedThreshold(value, ORIGIN_DATA, str(sources.get(name, "")), as_of, run_id)
                if before is not None:
                    changes.append(f"{name}: {_number_text(value)}, derived from this run's data: the config's "
                                   f"stages: section no longer fixes it (was {_number_text(before.value)})")
        if self.config_changed and not changes:
            changes.append("the stages: section changed without changing a pinned threshold (e.g. the derive: "
                           "quantiles); the pinned thresholds are kept, --rederive-definitions derives them anew")
        history = tuple(self.pinned.changes) if self.pinned is not None else ()
        if changes:
            history += ({"run_id": run_id, "as_of": as_of, "changes": changes},)
        first_as_of, first_run = (self.pinned.as_of, self.pinned.run_id) if self.pinned is not None else (as_of, run_id)
        return PinnedDefinitions(thresholds=entries, as_of=first_as_of, run_id=first_run,
                                 stages_sha256=self.stages_sha256, config_name=config_name,
                                 changes=history), changes


def plan_definitions(definitions_file: Path, stages: StageSettings | Mapping[str, Any] | None, *, pin: bool,
                     rederive: bool) -> DefinitionsPlan:
    """Decide where this run's thresholds come from (see :class:`DefinitionsPlan`).

    ``pin`` is ``report.pin_definitions``; ``rederive`` is ``--rederive-definitions``. The file is
    read only in ``pinned`` mode (a damaged one is a :class:`ConfigError` naming it).
    """
    fixed = config_fixed_thresholds(stages)
    fingerprint = stages_fingerprint(stages)
    if not pin:
        return DefinitionsPlan(MODE_DERIVED, fingerprint, fixed)
    if rederive:
        return DefinitionsPlan(MODE_REDERIVED, fingerprint, fixed)
    pinned = read_definitions(definitions_file)
    if pinned is None:
        return DefinitionsPlan(MODE_FIRST, fingerprint, fixed)
    kept = {name: entry for name, entry in pinned.thresholds.items()
            if entry.origin == ORIGIN_DATA and name not in fixed}
    stage_rules: dict[str, Any] | None = None
    if kept:
        stage_rules = {name: entry.value for name, entry in kept.items()}
        stage_rules["sources"] = {name: SOURCE_TEMPLATES["pinned"].format(date=entry.as_of, source=entry.source)
                                  if entry.source else f"pinned since {entry.as_of}" for name, entry in kept.items()}
    return DefinitionsPlan(MODE_PINNED, fingerprint, fixed, pinned=pinned, stage_rules=stage_rules)


def compare_definitions(current: Mapping[str, float],
                        previous: Mapping[str, Any] | None) -> list[dict[str, Any]] | None:
    """The thresholds that differ between two runs' definitions (as run.json records them).

    Returns a list of ``{"threshold", "value", "previous", "text"}`` (empty: same definitions), or
    None when ``previous`` did not record its thresholds (runs of earlier versions).
    """
    if not isinstance(previous, Mapping) or not isinstance(previous.get("thresholds"), Mapping):
        return None
    before = previous["thresholds"]
    differences = []
    for name in THRESHOLDS:
        now, then = current.get(name), before.get(name)
        if now is None or then is None or float(now) == float(then):
            continue
        differences.append({"threshold": name, "value": now, "previous": then,
                            "text": f"{describe_threshold(name, float(now))} (was {_number_text(float(then))})"})
    return differences
