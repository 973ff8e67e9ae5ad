"""The CLV charts follow the plot convention: data=, ax=, Axes back, title and labelled axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clc_lib.clv import BetaGeoModel, frequency_recency_matrix, simulate_bgnbd  # noqa: E402
from clc_lib.errors import DataError  # noqa: E402
from clc_lib.plots.clv import (  # noqa: E402
    plot_clv_distribution,
    plot_clv_holdout_by_frequency,
    plot_clv_matrix,
    plot_clv_tracking,
)


@pytest.fixture(scope="module")
def model():
    return BetaGeoModel.from_params([0.25, 4.0, 0.8, 2.5])


def _check(ax):
    assert isinstance(ax, plt.Axes) and ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close(ax.figure)


def test_tracking_plot_draws_both_series_on_the_given_axes():
    data = pd.DataFrame({"period": [0.0, 1, 2, 3], "actual_cumulative": [0.0, 2, 5, 7],
                         "expected_cumulative": [0.0, 2.5, 4.5, 6.8], "actual": [0.0, 2, 3, 2],
                         "expected": [0.0, 2.5, 2.0, 2.3], "in_holdout": [False, False, True, True]})
    data.attrs["time_unit"] = "W"
    _, ax = plt.subplots()
    returned = plot_clv_tracking(data=data, ax=ax)
    assert returned is ax and len(ax.lines) == 3 and "weeks" in ax.get_xlabel()
    _check(ax)


def test_holdout_plot(model):
    data = pd.DataFrame({"customers": [10, 5], "actual": [0.2, 1.1], "predicted": [0.25, 0.9],
                         "actual_total": [2.0, 5.5], "predicted_total": [2.5, 4.5]},
                        index=pd.Index(["0", "1+"], name="x_group"))
    ax = plot_clv_holdout_by_frequency(data=data)
    assert len(ax.patches) >= 4
    _check(ax)


def test_matrix_plot(model):
    ax = plot_clv_matrix(data=frequency_recency_matrix(model, T=30.0, max_x=5, n_recency=5))
    assert "T = 30" in ax.get_title()
    _check(ax)
    with pytest.raises(DataError):
        plot_clv_matrix(data=pd.DataFrame({"a": [1]}))


def test_distribution_plot_labels_the_currency(model):
    data = simulate_bgnbd(500, 0.25, 4.0, 0.8, 2.5, T=30.0, seed=1)
    scores = pd.DataFrame({"clv": model.expected_purchases(52, data) * 30.0})
    scores.attrs.update({"horizon": 52, "time_unit": "W"})
    ax = plot_clv_distribution(data=scores, currency="EUR")
    assert "EUR" in ax.get_xlabel() and "52 weeks" in ax.get_title()
    _check(ax)
