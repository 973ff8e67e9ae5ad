"""Parameter recovery: fits on 50,000 simulated customers put the true values inside the 95% intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clc_lib.clv import (
    BetaGeoBetaBinomModel,
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)

N_CUSTOMERS = 50_000
# Observation lengths like the CDNOW cohort: first purchases over 12 weeks, 39 weeks to the end.
COHORT_T = (273 + np.arange(84)) / 7


def _ages(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(COHORT_T, N_CUSTOMERS)


def _assert_inside_intervals(model, truth: dict[str, float]) -> None:
    intervals = model.confidence_intervals_
    for name, value in truth.items():
        assert intervals.loc[name, "lower"] < value < intervals.loc[name, "upper"], (name, value, intervals.loc[name])


@pytest.mark.parametrize(("simulate", "model_class", "truth"), [
    (simulate_bgnbd, BetaGeoModel, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}),
    (simulate_mbgnbd, ModifiedBetaGeoModel, {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}),
    (simulate_pareto_nbd, ParetoNBDModel, {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}),
])
def test_purchase_models_recover_their_parameters(simulate, model_class, truth):
    data = simulate(N_CUSTOMERS, *truth.values(), T=_ages(1), seed=2)
    model = model_class().fit(data)
    _assert_inside_intervals(model, truth)
    assert model.converged_ and model.n_customers_ == N_CUSTOMERS


def test_gamma_gamma_recovers_its_parameters():
    truth = {"p": 6.25, "q": 3.74, "gamma": 15.44}
    data = simulate_bgnbd(N_CUSTOMERS, 0.25, 4.0, 0.8, 2.5, T=_ages(3), seed=4)
    data["zbar"] = simulate_gamma_gamma(data["x"], *truth.values(), seed=5)
    _assert_inside_intervals(GammaGammaModel().fit(data), truth)


def test_bgbb_recovers_its_parameters():
    truth = {"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.78}
    data = simulate_bgbb(N_CUSTOMERS, *truth.values(), n=6, seed=6)
    _assert_inside_intervals(BetaGeoBetaBinomModel().fit(data), truth)


def test_simulated_bgnbd_counts_have_the_model_mean():
    """Mean of simulated x at a fixed T equals the unconditional E[X(T)] (independent of the fit)."""
    params = [0.25, 4.0, 0.8, 2.5]
    data = simulate_bgnbd(200_000, *params, T=39.0, seed=8)
    expected = BetaGeoModel.from_params(params).expected_purchases_new_customer(39.0)
    standard_error = data["x"].std() / np.sqrt(len(data))
    assert abs(data["x"].mean() - expected) < 4 * standard_error
    assert (data["t_x"] <= data["T"]).all() and (data.loc[data.x == 0, "t_x"] == 0).all()


def test_resolution_rounds_times_and_compresses_patterns():
    data = simulate_bgnbd(20_000, 0.25, 4.0, 0.8, 2.5, T=_ages(9)[:20_000], seed=10, resolution=1 / 7)
    assert np.allclose(data["t_x"] * 7, np.round(data["t_x"] * 7))
    model = BetaGeoModel().fit(data)
    assert model.n_patterns_ < len(data) / 2


def test_simulators_are_reproducible_with_a_seed():
    first = simulate_pareto_nbd(1000, 0.5, 10.0, 0.6, 12.0, seed=3)
    pd.testing.assert_frame_equal(first, simulate_pareto_nbd(1000, 0.5, 10.0, 0.6, 12.0, seed=3))
