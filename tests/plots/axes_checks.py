"""The check every chart test makes: an Axes with a title, labelled axes and the expected words."""

from __future__ import annotations

import matplotlib.pyplot as plt


def assert_labelled(ax: plt.Axes, *words: str, y_label: bool = True, currency_in: str | None = None) -> None:
    """Assert that ``ax`` is a titled Axes with axis labels.

    Parameters
    ----------
    ax
        Axes a chart function returned.
    *words
        Words that must appear (any case) in the title or an axis label.
    y_label
        Whether the y axis must be labelled (False for charts whose y ticks name the rows).
    currency_in
        ``"x"`` or ``"y"``: that axis label must name the currency EUR.
    """
    assert isinstance(ax, plt.Axes)
    assert ax.get_title()
    assert ax.get_xlabel()
    if y_label:
        assert ax.get_ylabel()
    if currency_in == "y":
        assert "EUR" in ax.get_ylabel()
    elif currency_in == "x":
        assert "EUR" in ax.get_xlabel()
    text = " ".join([ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]).lower()
    for word in words:
        assert word.lower() in text
