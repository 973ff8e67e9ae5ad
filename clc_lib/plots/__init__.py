"""Plotting functions: each takes ``data=`` (and ``ax=``) and returns the Axes, seaborn-style."""

from __future__ import annotations

import importlib

from clc_lib.plots.theme import (
    format_count_axis,
    format_currency_axis,
    format_percent_axis,
    get_ax,
    label_axes,
    set_theme,
)

__all__ = [
    "format_count_axis",
    "format_currency_axis",
    "format_percent_axis",
    "get_ax",
    "label_axes",
    "set_theme",
]

for _name in ("stages", "rfm", "acquisition", "monetisation", "cohorts", "survival", "recovery", "clv"):
    try:
        _module = importlib.import_module(f"clc_lib.plots.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"clc_lib.plots.{_name}":
            raise
        continue
    for _public in getattr(_module, "__all__", ()):
        globals()[_public] = getattr(_module, _public)
        __all__.append(_public)
