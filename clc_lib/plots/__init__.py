"""Plotting functions: each takes ``data=`` (and ``ax=``) and returns the Axes, seaborn-style."""

from clc_lib.plots._theme import (
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
