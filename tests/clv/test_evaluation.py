"""Holdout comparison, cumulative tracking, frequency/recency matrices and the model comparison table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clc_lib.clv import (
    BetaGeoModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    calibration_holdout_split,
    compare_models,
    cumulative_tracking,
    frequency_recency_matrix,
    holdout_by_frequency,
)
from clc_lib.errors import ConfigError

from . import reference_values as ref


@pytest.fixture(scope="module")
def split(cdnow_transactions):
    return calibration_holdout_split(cdnow_transactions, ref.CDNOW_CALIBRATION_END, ref.CDNOW_HOLDOUT_END)


@pytest.fixture(scope="module")
def fitted(split):
    return {"bgnbd": BetaGeoModel().fit(split), "mbgnbd": ModifiedBetaGeoModel().fit(split),
            "pareto_nbd": ParetoNBDModel().fit(split)}


def test_cumulative_tracking_reaches_the_cdnow_week_78_total(fitted, cdnow_transactions):
    tracking = cumulative_tracking(fitted["bgnbd"], cdnow_transactions, calibration_end=ref.CDNOW_CALIBRATION_END,
                                   holdout_end=ref.CDNOW_HOLDOUT_END)
    last = tracking.iloc[-1]
    assert last["period"] == 78 and last["date"] == pd.Timestamp(ref.CDNOW_HOLDOUT_END)
    assert last["actual_cumulative"] == ref.CDNOW_CUMULATIVE_WEEK_78
    assert last["expected_cumulative"] == pytest.approx(ref.CDNOW_CUMULATIVE_WEEK_78, rel=0.05)
    assert last["expected_cumulative"] == pytest.approx(ref.CDNOW_BGNBD_WEEK_78, abs=0.5)
    at_calibration_end = tracking.loc[tracking["date"] == pd.Timestamp(ref.CDNOW_CALIBRATION_END)].iloc[0]
    assert at_calibration_end["actual_cumulative"] == ref.CDNOW_REPEATS_CALIBRATION
    assert tracking["actual"].sum() == ref.CDNOW_CUMULATIVE_WEEK_78
    assert np.all(np.diff(tracking["expected_cumulative"]) >= 0)


def test_pareto_tracks_week_78_within_two_percent_as_fhl_report(fitted, cdnow_transactions):
    tracking = cumulative_tracking(fitted["pareto_nbd"], cdnow_transactions,
                                   calibration_end=ref.CDNOW_CALIBRATION_END, holdout_end=ref.CDNOW_HOLDOUT_END)
    error = tracking.iloc[-1]["expected_cumulative"] / ref.CDNOW_CUMULATIVE_WEEK_78 - 1
    assert -0.025 < error < 0


def test_holdout_by_frequency_groups_and_totals(fitted, split):
    table = holdout_by_frequency(fitted["bgnbd"], split, max_x=7)
    assert list(table.index) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert table["customers"].sum() == 2357 and table["actual_total"].sum() == ref.CDNOW_REPEATS_HOLDOUT
    assert table.loc["0", "actual"] == pytest.approx(334 / 1411)
    assert table.loc["0", "predicted"] == pytest.approx(0.2251, abs=5e-4)  # FHL 2005 report 0.23
    assert table["predicted_total"].sum() == pytest.approx(1653.4, abs=0.5)


def test_compare_models_table(fitted, split):
    table = compare_models(fitted, split)
    assert list(table.index) == ["bgnbd", "mbgnbd", "pareto_nbd"]
    row = table.loc["bgnbd"]
    assert row["aic"] == pytest.approx(8 - 2 * row["log_likelihood"])
    assert row["bic"] == pytest.approx(4 * np.log(2357) - 2 * row["log_likelihood"])
    predicted = fitted["bgnbd"].expected_purchases(39, split)
    assert row["holdout_mae"] == pytest.approx((predicted - split["x_holdout"]).abs().mean())
    assert row["holdout_rmse"] == pytest.approx(np.sqrt(((predicted - split["x_holdout"]) ** 2).mean()))
    assert row["holdout_actual_total"] == ref.CDNOW_REPEATS_HOLDOUT
    assert table.loc["pareto_nbd", "holdout_predicted_total"] == pytest.approx(1665.5, abs=0.5)


def test_frequency_recency_matrix_cells_equal_direct_predictions(fitted):
    model = fitted["bgnbd"]
    matrix = frequency_recency_matrix(model, "p_alive", T=39.0, max_x=4, n_recency=3)
    assert matrix.shape == (5, 4) and matrix.index.name == "x" and matrix.columns.name == "t_x"
    assert np.isnan(matrix.loc[0, 13.0]) and matrix.loc[0, 0.0] == 1.0
    assert matrix.loc[3, 26.0] == pytest.approx(model.probability_alive(x=3, t_x=26.0, T=39.0))
    expected = frequency_recency_matrix(model, "expected_purchases", T=39.0, t=10.0, max_x=4, n_recency=3)
    assert expected.loc[2, 39.0] == pytest.approx(model.expected_purchases(10.0, x=2, t_x=39.0, T=39.0))
    # More recent buyers are more likely alive.
    assert (np.diff(matrix.loc[1:].to_numpy(), axis=1) > 0).all()


def test_frequency_recency_matrix_needs_a_horizon_for_expectations(fitted):
    with pytest.raises(ConfigError, match="horizon"):
        frequency_recency_matrix(fitted["bgnbd"], "expected_purchases", T=39.0)
