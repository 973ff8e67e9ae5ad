"""The Cox model of churn drivers against simulated data with known hazard ratios and statsmodels' PHReg."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.hazard_regression import PHReg

from clc_lib.churn_drivers import CoxModel, cox_drivers
from clc_lib.errors import DataError, ModelFitError


def test_cox_recovers_known_hazard_ratio_from_simulated_exponential_data():
    rng = np.random.default_rng(2024)
    n = 3000
    channel = rng.choice(["store", "web", "app"], n, p=[0.5, 0.3, 0.2])
    true_ratio = {"store": 1.0, "web": 2.0, "app": 1.0}
    hazard = np.array([true_ratio[c] for c in channel]) / 60.0
    event_time = rng.exponential(1 / hazard)
    censor_time = rng.uniform(0, 180, n)
    frame = pd.DataFrame({
        "days": np.minimum(event_time, censor_time).round(1),
        "churned": event_time <= censor_time,
        "channel": channel,
        "noise": rng.normal(size=n),
    })
    table = cox_drivers(frame, "days", "churned", ["channel", "noise"])
    web = table[(table["covariate"] == "channel") & (table["level"] == "web")].iloc[0]
    assert web["reference"] == "store"  # the most frequent level is the default reference
    assert web["lower"] < 2.0 < web["upper"]
    assert web["hazard_ratio"] == pytest.approx(2.0, rel=0.12)
    app = table[table["level"] == "app"].iloc[0]
    assert app["lower"] < 1.0 < app["upper"]
    # same numbers as statsmodels PHReg on the same dummy coding
    design = pd.DataFrame({"app": (channel == "app") * 1.0, "web": (channel == "web") * 1.0,
                           "noise": frame["noise"]})
    direct = PHReg(frame["days"], design, status=frame["churned"].astype(int), ties="efron").fit()
    np.testing.assert_allclose(table["coef"], direct.params, rtol=1e-6)
    np.testing.assert_allclose(table["p_value"], direct.pvalues, rtol=1e-6)


def test_cox_reference_level_can_be_chosen_and_booleans_compare_to_false():
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({"d": rng.exponential(30, n), "e": rng.random(n) < 0.7,
                          "channel": rng.choice(["a", "b"], n), "vip": rng.random(n) < 0.3})
    model = CoxModel(["channel", "vip"], reference={"channel": "b"}).fit(frame, "d", "e")
    assert model.reference_levels_ == {"channel": "b", "vip": False}
    assert model.summary_["level"].tolist() == ["a", True]
    assert model.n_customers_ == n and model.n_events_ == int(frame["e"].sum())


def test_cox_explains_unusable_input():
    frame = pd.DataFrame({"d": [1.0, 2, 3, 4], "e": [1, 0, 1, 1], "x": [1.0, 1, 1, 1], "y": [1.0, None, 2, 3]})
    with pytest.raises(ModelFitError, match="single value"):
        cox_drivers(frame, "d", "e", ["x"])
    with pytest.raises(DataError, match="missing covariate"):
        cox_drivers(frame, "d", "e", ["y"])
