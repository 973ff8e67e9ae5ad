"""Pareto/NBD against FHL (2005), CLVTools and R BTYD, plus an integral check of the likelihood."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special

from clc_lib.clv import ParetoNBDModel

from . import reference_values as ref


@pytest.fixture(scope="module")
def pareto(cdnow_summary):
    return ParetoNBDModel().fit(cdnow_summary)


def test_pareto_matches_high_precision_mle_and_log_likelihood(pareto):
    expected = pd.Series(ref.PARETO_MLE)
    np.testing.assert_allclose(pareto.params_[["r", "alpha", "s"]], expected[["r", "alpha", "s"]], rtol=1e-3)
    assert pareto.params_["beta"] == pytest.approx(expected["beta"], rel=2e-3)
    assert pareto.log_likelihood_ == pytest.approx(ref.PARETO_LOG_LIKELIHOOD, abs=0.01)


def test_pareto_standard_errors_match_clvtools(pareto):
    expected = pd.Series(ref.PARETO_STANDARD_ERRORS)
    np.testing.assert_allclose(pareto.standard_errors_[expected.index], expected, rtol=5e-3)


def test_pareto_btyd_spot_values():
    model = ParetoNBDModel.from_params(ref.PARETO_BTYD_PARAMS)
    c = ref.PARETO_BTYD_CUSTOMER
    assert model.expected_purchases(52, x=c["x"], t_x=c["t_x"], T=c["T"]) == pytest.approx(c["expected_52"], abs=0.01)
    assert model.probability_alive(x=c["x"], t_x=c["t_x"], T=c["T"]) == pytest.approx(c["p_alive"], abs=1e-3)


def test_pareto_new_customer_expectations_match_btyd(pareto):
    np.testing.assert_allclose(pareto.expected_purchases_new_customer(np.arange(10)), ref.PARETO_NEW_CUSTOMER,
                               atol=0.01)


def test_pareto_customer_one(pareto):
    assert pareto.expected_purchases(39, x=2, t_x=30.43, T=38.86) == pytest.approx(
        ref.PARETO_CUSTOMER_1["expected_39"], abs=5e-4)
    assert pareto.probability_alive(x=2, t_x=30.43, T=38.86) == pytest.approx(ref.PARETO_CUSTOMER_1["p_alive"], abs=5e-4)


def _log_likelihood_by_quadrature(params, x, t_x, T):
    """ln L from the integral form of FHL's note: no hypergeometric function involved."""
    r, alpha, s, beta = params
    integral = integrate.quad(lambda y: (alpha + y) ** -(r + x) * (beta + y) ** -(s + 1), t_x, T,
                              epsabs=0, epsrel=1e-12)[0]
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    return common + np.log((alpha + T) ** -(r + x) * (beta + T) ** -s + s * integral)


@pytest.mark.parametrize("params", [(0.55, 10.6, 0.6, 11.7), (0.55, 12.0, 0.6, 5.0), (2.0, 3.0, 1.5, 8.0),
                                    (1.0, 7.0, 1.0, 7.0)])
def test_pareto_log_likelihood_equals_the_integral_form_on_both_sides_of_alpha_equals_beta(params):
    model = ParetoNBDModel.from_params(params)
    for x, t_x, T in [(0, 0.0, 30.0), (3, 10.0, 30.0), (20, 29.0, 30.0), (5, 30.0, 30.0)]:
        assert model.individual_log_likelihood(x=x, t_x=t_x, T=T) == pytest.approx(
            _log_likelihood_by_quadrature(params, x, t_x, T), abs=1e-9)


def test_pareto_stays_finite_and_right_for_very_frequent_buyers():
    """x up to 1000 (lifetimes overflowed above x = 300): P(alive) against quadrature on a rescaled integrand."""
    r, alpha, s, beta = params = ref.PARETO_BTYD_PARAMS.values()
    model = ParetoNBDModel.from_params(list(params))
    T = 30.0
    for x, t_x in [(300, 29.9), (1000, 29.99), (1000, 29.5)]:
        assert np.isfinite(model.individual_log_likelihood(x=x, t_x=t_x, T=T))
        # Both terms divided by (alpha + T)^-(r + x) so that nothing underflows.
        alive = (beta + T) ** -s
        dead = s * integrate.quad(lambda y: ((alpha + y) / (alpha + T)) ** -(r + x) * (beta + y) ** -(s + 1),
                                  t_x, T, epsabs=0, epsrel=1e-12)[0]
        assert model.probability_alive(x=x, t_x=t_x, T=T) == pytest.approx(alive / (alive + dead), rel=1e-8)


def test_pareto_unconditional_expectation_has_a_smooth_limit_at_s_equal_one():
    below = ParetoNBDModel.from_params([0.5, 10.0, 1 - 1e-7, 12.0]).expected_purchases_new_customer(20.0)
    at_one = ParetoNBDModel.from_params([0.5, 10.0, 1.0, 12.0]).expected_purchases_new_customer(20.0)
    # r beta / alpha * ln((beta + t) / beta) at s = 1.
    assert at_one == pytest.approx(0.5 * 12 / 10 * np.log(32 / 12), rel=1e-12)
    assert below == pytest.approx(at_one, rel=1e-5)


def test_pareto_analytic_gradient_matches_finite_differences(cdnow_summary):
    model = ParetoNBDModel()
    head = cdnow_summary.head(300)
    patterns = [head[c].to_numpy(dtype=float) for c in ("x", "t_x", "T")]
    for params in (np.array([0.55, 10.6, 0.6, 11.7]), np.array([0.55, 9.0, 0.6, 12.0])):
        cache = model._precompute(patterns)
        analytic = model._loglik_grad_cached(params, cache).sum(axis=1)
        for k in range(4):
            step = np.zeros(4)
            step[k] = 1e-6 * params[k]
            numeric = (model._loglik_cached(params + step, cache).sum()
                       - model._loglik_cached(params - step, cache).sum()) / (2 * step[k])
            assert analytic[k] == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_predictions_that_cannot_be_evaluated_are_refused_not_nan():
    # At r = 1e4 the hypergeometric terms of P(alive) are not finite; no NaN may reach a report.
    from clc_lib.errors import ModelFitError

    model = ParetoNBDModel.from_params([1e4, 1e5, 0.6, 11.7])
    x, t_x, T = np.array([0.0, 2.0]), np.array([0.0, 10.0]), np.full(2, 40.0)
    with pytest.raises(ModelFitError, match=r"Pareto/NBD: P\(alive\) cannot be evaluated at r=10000"):
        model.probability_alive(x=x, t_x=t_x, T=T)
    with pytest.raises(ModelFitError, match="expected purchases cannot be evaluated"):
        model.expected_purchases(52.0, x=x, t_x=t_x, T=T)


@pytest.mark.slow
def test_common_purchase_and_dropout_rates_are_the_limit_of_the_fit_with_a_note():
    # Every customer buys at 0.1 and drops out at 0.05 per week (r, alpha, s, beta all huge).
    from clc_lib.clv import simulate_pareto_nbd

    data = simulate_pareto_nbd(2000, 1e7, 1e8, 1e7, 2e8, T=(20, 52), seed=1)
    with pytest.warns(UserWarning, match="purchase rates do not differ.*dropout rates do not differ"):
        model = ParetoNBDModel().fit(data)
    assert np.isinf(model.params_).all() and model.standard_errors_.isna().all()
    rate, mu = model.common_rate_, model.common_dropout_rate_
    assert rate == pytest.approx(0.1, rel=0.05) and mu == pytest.approx(0.05, rel=0.3)
    # Hand-computed limit: P(alive) = 1 / (1 + mu / (rate + mu) * (exp((rate + mu)(T - t_x)) - 1)),
    # E[X(t) | alive] = rate * (1 - exp(-mu t)) / mu.
    x, t_x, T = np.array([0.0, 3.0]), np.array([0.0, 20.0]), np.array([40.0, 40.0])
    p_alive = 1 / (1 + mu / (rate + mu) * np.expm1((rate + mu) * (T - t_x)))
    np.testing.assert_allclose(model.probability_alive(x=x, t_x=t_x, T=T), p_alive, rtol=1e-10)
    np.testing.assert_allclose(model.expected_purchases(52.0, x=x, t_x=t_x, T=T),
                               p_alive * rate * -np.expm1(-mu * 52.0) / mu, rtol=1e-10)


@pytest.mark.parametrize("which", ["rate", "dropout"])
def test_one_sided_limit_likelihood_matches_a_direct_integral(which):
    model = ParetoNBDModel()
    r, alpha, s, beta, rate, mu = 0.55, 10.6, 0.6, 11.7, 0.1, 0.05
    for x, t_x, T in ((0.0, 0.0, 40.0), (3.0, 20.0, 40.0), (12.0, 38.0, 40.0)):
        if which == "rate":  # lambda fixed, mu ~ Gamma(s, beta)
            params = np.array([np.inf, np.inf, s, beta])
            alive = rate ** x * np.exp(-rate * T) * (beta / (beta + T)) ** s
            dead = rate ** x * integrate.quad(
                lambda tau: np.exp(-rate * tau) * s * beta ** s * (beta + tau) ** -(s + 1), t_x, T)[0]
            common, term_alive, term_dead = model._limit_log_terms(params, rate, None, np.array([x]),
                                                                    np.array([t_x]), np.array([T]))
        else:  # mu fixed, lambda ~ Gamma(r, alpha)
            params = np.array([r, alpha, np.inf, np.inf])
            gamma_part = np.exp(special.gammaln(r + x) - special.gammaln(r)) * alpha ** r
            alive = gamma_part * (alpha + T) ** -(r + x) * np.exp(-mu * T)
            dead = gamma_part * integrate.quad(lambda tau: (alpha + tau) ** -(r + x) * mu * np.exp(-mu * tau), t_x, T)[0]
            common, term_alive, term_dead = model._limit_log_terms(params, None, mu, np.array([x]),
                                                                    np.array([t_x]), np.array([T]))
        np.testing.assert_allclose(common + np.logaddexp(term_alive, term_dead), np.log(alive + dead), rtol=1e-10)
