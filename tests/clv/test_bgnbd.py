"""BG/NBD and MBG/NBD against the published CDNOW results and Hardie's numerical-stability cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from clc_lib.clv import BetaGeoModel, ModifiedBetaGeoModel
from clc_lib.errors import DataError, ModelFitError

from . import reference_values as ref


@pytest.fixture(scope="module")
def bgnbd(cdnow_summary):
    return BetaGeoModel().fit(cdnow_summary)


@pytest.fixture(scope="module")
def mbgnbd(cdnow_summary):
    return ModifiedBetaGeoModel().fit(cdnow_summary)


def test_bgnbd_matches_high_precision_mle_and_log_likelihood(bgnbd):
    expected = pd.Series(ref.BGNBD_MLE)
    np.testing.assert_allclose(bgnbd.params_[expected.index], expected, rtol=1e-3)
    assert bgnbd.log_likelihood_ == pytest.approx(ref.BGNBD_LOG_LIKELIHOOD, abs=0.01)
    assert bgnbd.converged_ and bgnbd.n_customers_ == 2357


def test_bgnbd_is_close_to_the_published_rounded_values(bgnbd):
    published = pd.Series(ref.BGNBD_PUBLISHED)
    np.testing.assert_allclose(bgnbd.params_[published.index], published, atol=5e-3)


def test_bgnbd_standard_errors_match_the_hessian_of_lifetimes(bgnbd):
    expected = pd.Series(ref.BGNBD_STANDARD_ERRORS)
    np.testing.assert_allclose(bgnbd.standard_errors_[expected.index], expected, rtol=2e-3)
    summary = bgnbd.summary()
    assert list(summary.columns) == ["estimate", "standard_error", "lower_95", "upper_95"]
    assert (summary["lower_95"] < summary["estimate"]).all() and (summary["estimate"] < summary["upper_95"]).all()


def test_bgnbd_customer_one_expectation_and_p_alive(bgnbd):
    c = ref.BGNBD_CUSTOMER_1
    assert bgnbd.expected_purchases(39, x=c["x"], t_x=c["t_x"], T=c["T"]) == pytest.approx(c["expected_39"], abs=5e-4)
    assert bgnbd.probability_alive(x=c["x"], t_x=c["t_x"], T=c["T"]) == pytest.approx(c["p_alive"], abs=5e-5)


def test_bgnbd_new_customer_expectations(bgnbd):
    times = np.array(list(ref.BGNBD_NEW_CUSTOMER))
    expected = np.array(list(ref.BGNBD_NEW_CUSTOMER.values()))
    np.testing.assert_allclose(bgnbd.expected_purchases_new_customer(times), expected, atol=5e-4)


def test_bgnbd_pmf_at_published_parameters_matches_r_btyd():
    model = BetaGeoModel.from_params(ref.BGNBD_PUBLISHED)
    assert model.probability_of_purchases(0, 39) == pytest.approx(ref.BGNBD_P_ZERO_IN_39, abs=1e-7)
    assert model.probability_of_purchases(10, 2) == pytest.approx(ref.BGNBD_P_TEN_IN_2, rel=1e-4)
    np.testing.assert_allclose(model.probability_of_purchases(list(ref.BGNBD_PMF_30), 30),
                               list(ref.BGNBD_PMF_30.values()), rtol=1e-5)


def test_bgnbd_pmf_sums_to_one_and_its_mean_is_the_unconditional_expectation():
    model = BetaGeoModel.from_params(ref.BGNBD_PUBLISHED)
    n = np.arange(0, 400)
    pmf = model.probability_of_purchases(n, 39)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert (n * pmf).sum() == pytest.approx(model.expected_purchases_new_customer(39), rel=1e-6)


@pytest.mark.parametrize(("model_class", "reference"), [(BetaGeoModel, ref.BGNBD_STABLE_LL),
                                                        (ModifiedBetaGeoModel, ref.MBGNBD_STABLE_LL)])
def test_log_likelihood_is_numerically_stable_for_extreme_histories(model_class, reference):
    model = model_class.from_params(ref.STABILITY_PARAMS)
    for (x, t_x), value in reference.items():
        assert model.individual_log_likelihood(x=x, t_x=t_x, T=ref.STABILITY_T) == pytest.approx(value, abs=1e-4)


def test_bgnbd_likelihood_equals_the_integral_over_the_latent_rates():
    """Independent check: integrate the individual-level likelihood over lambda ~ Gamma and p ~ Beta.

    The two latent variables are independent, so each term is a product of two 1-D integrals.
    """
    r, alpha, a, b = 0.7, 3.0, 1.3, 2.2
    model = BetaGeoModel.from_params([r, alpha, a, b])

    def over_lambda(x, duration):
        return integrate.quad(lambda lam: lam**x * np.exp(-lam * duration) * stats.gamma.pdf(lam, r, scale=1 / alpha),
                              0, np.inf, epsabs=0, epsrel=1e-11, limit=200)[0]

    def over_p(f):
        return integrate.quad(lambda p: f(p) * stats.beta.pdf(p, a, b), 0, 1, epsabs=0, epsrel=1e-11, limit=200)[0]

    for x, t_x, T in [(0, 0.0, 10.0), (3, 6.5, 10.0), (1, 2.0, 4.0)]:
        alive = over_lambda(x, T) * over_p(lambda p: (1 - p) ** x)
        dead = over_lambda(x, t_x) * over_p(lambda p: p * (1 - p) ** (x - 1)) if x > 0 else 0.0
        assert model.individual_log_likelihood(x=x, t_x=t_x, T=T) == pytest.approx(np.log(alive + dead), abs=1e-7)


def test_bgnbd_conditional_expectation_agrees_with_simulation_of_the_posterior():
    """E[X(t)|data] against a Monte Carlo estimate from the posterior of (lambda, p, alive)."""
    r, alpha, a, b = 0.8, 5.0, 1.5, 3.0
    x, t_x, T, t = 3, 8.0, 12.0, 10.0
    model = BetaGeoModel.from_params([r, alpha, a, b])
    rng = np.random.default_rng(7)
    lam = rng.gamma(r, 1 / alpha, 2_000_000)
    p = rng.beta(a, b, 2_000_000)
    alive_weight = (1 - p) ** x * lam**x * np.exp(-lam * T)
    dead_weight = p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x)
    # Alive at T: purchases continue until dropout; E[X(t) | lam, p, alive] = (1 - exp(-lam p t)) / p.
    per_draw = alive_weight * (1 - np.exp(-lam * p * t)) / p
    estimate = per_draw.sum() / (alive_weight + dead_weight).sum()
    assert model.expected_purchases(t, x=x, t_x=t_x, T=T) == pytest.approx(estimate, rel=0.01)


def test_mbgnbd_matches_btydplus_values(mbgnbd):
    expected = pd.Series(ref.MBGNBD_MLE)
    np.testing.assert_allclose(mbgnbd.params_[expected.index], expected, rtol=1e-3)
    assert mbgnbd.log_likelihood_ == pytest.approx(ref.MBGNBD_LOG_LIKELIHOOD, abs=0.01)


def test_mbgnbd_gives_one_time_buyers_p_alive_below_one(mbgnbd, bgnbd):
    assert bgnbd.probability_alive(x=0, t_x=0, T=30) == 1.0
    a, b = mbgnbd.params_["a"], mbgnbd.params_["b"]
    # At T = 0 only the dropout right after the first purchase matters: P(alive) = b / (a + b).
    assert mbgnbd.probability_alive(x=0, t_x=0, T=0) == pytest.approx(b / (a + b), rel=1e-12)
    assert mbgnbd.probability_alive(x=0, t_x=0, T=30) < b / (a + b)


def test_mbgnbd_pmf_is_a_distribution_with_the_model_mean(mbgnbd):
    n = np.arange(0, 400)
    pmf = mbgnbd.probability_of_purchases(n, 52)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert (n * pmf).sum() == pytest.approx(mbgnbd.expected_purchases_new_customer(52), rel=1e-6)


def test_predictions_keep_the_index_and_compress_identical_rows(bgnbd, cdnow_summary):
    head = cdnow_summary.head(50)
    p_alive = bgnbd.probability_alive(head)
    assert p_alive.index.equals(head.index) and p_alive.between(0, 1).all()
    one_by_one = [bgnbd.probability_alive(x=row.x, t_x=row.t_x, T=row.T) for row in head.itertuples()]
    np.testing.assert_allclose(p_alive.to_numpy(), one_by_one, rtol=1e-12)


def test_weights_give_the_same_fit_as_repeated_rows(cdnow_summary):
    patterns = cdnow_summary.groupby(["x", "t_x", "T"]).size().rename("weight").reset_index()
    weighted = BetaGeoModel().fit(patterns, weights=patterns["weight"])
    np.testing.assert_allclose(weighted.params_, pd.Series(ref.BGNBD_MLE), rtol=1e-3)
    assert weighted.n_customers_ == 2357


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"x": [1, 2], "t_x": [5.0, 12.0], "T": [10.0, 10.0]}), "later than T"),
        (pd.DataFrame({"x": [1, -2], "t_x": [5.0, 1.0], "T": [10.0, 10.0]}), "negative"),
        (pd.DataFrame({"x": [1, np.nan], "t_x": [5.0, 1.0], "T": [10.0, 10.0]}), "missing"),
        (pd.DataFrame({"x": [1.5, 2], "t_x": [5.0, 1.0], "T": [10.0, 10.0]}), "whole numbers"),
        (pd.DataFrame({"x": [0, 2], "t_x": [5.0, 1.0], "T": [10.0, 10.0]}), "x = 0"),
        (pd.DataFrame({"x": [1], "T": [10.0]}), "lacks the column"),
    ],
)
def test_bad_input_raises_data_error_naming_the_problem(frame, message):
    with pytest.raises(DataError, match=message):
        BetaGeoModel().fit(frame)


def test_data_without_repeat_buyers_cannot_be_fitted():
    frame = pd.DataFrame({"x": [0, 0, 0], "t_x": [0.0, 0.0, 0.0], "T": [5.0, 8.0, 9.0]})
    with pytest.raises(ModelFitError, match="no customer has a repeat purchase"):
        BetaGeoModel().fit(frame)


def test_degenerate_data_raise_a_fit_error_that_suggests_a_penalizer():
    # Every customer buys at every opportunity and never drops out: dropout probability -> 0.
    frame = pd.DataFrame({"x": [10, 10, 10, 10], "t_x": [10.0, 10.0, 10.0, 10.0], "T": [10.0] * 4})
    with pytest.raises(ModelFitError, match="penalizer"):
        BetaGeoModel().fit(frame)
    with pytest.warns(UserWarning, match="penalizer"):
        loose = BetaGeoModel(strict=False).fit(frame)
    assert not loose.converged_


def test_penalizer_shrinks_log_parameters_towards_zero(cdnow_summary):
    plain = BetaGeoModel().fit(cdnow_summary)
    shrunk = BetaGeoModel(penalizer=0.1).fit(cdnow_summary)
    assert np.abs(np.log(shrunk.params_)).sum() < np.abs(np.log(plain.params_)).sum()
    assert shrunk.log_likelihood_ < plain.log_likelihood_


def test_repr_and_unfitted_model():
    assert "not fitted" in repr(BetaGeoModel())
    with pytest.raises(ModelFitError, match="not fitted"):
        BetaGeoModel().probability_alive(x=1, t_x=1, T=2)


def test_gradient_is_the_derivative_of_the_log_likelihood():
    model = BetaGeoModel()
    x, t_x, T = np.array([0.0, 1, 4, 30]), np.array([0.0, 2, 7.5, 29]), np.array([10.0, 10, 12, 30])
    params = np.array([0.4, 3.0, 0.9, 2.0])
    analytic = model._loglik_grad(params, x, t_x, T)
    for k in range(4):
        step = np.zeros(4)
        step[k] = 1e-6 * params[k]
        numeric = (model._loglik(params + step, x, t_x, T) - model._loglik(params - step, x, t_x, T)) / (2 * step[k])
        np.testing.assert_allclose(analytic[k], numeric, rtol=1e-5, atol=1e-8)
    assert special.gammaln(1.0) == 0.0  # scipy sanity for the closed forms used above


def test_a_common_dropout_probability_is_the_limit_of_the_fit_with_a_note():
    # Every customer leaves with probability 0.3 after a purchase (a, b huge with a / (a + b) = 0.3).
    from clc_lib.clv import simulate_bgnbd

    data = simulate_bgnbd(2000, 0.5, 4.0, 0.3e7, 0.7e7, T=(20, 52), seed=3)
    with pytest.warns(UserWarning, match="dropout probabilities do not differ") as caught:
        model = BetaGeoModel().fit(data)  # strict: a divergent fit would raise
    assert model.limit_note_ in [str(w.message) for w in caught]
    assert model.converged_ and np.isinf(model.params_[["a", "b"]]).all()
    assert model.common_dropout_ == pytest.approx(0.3, abs=0.03)
    assert model.standard_errors_[["a", "b"]].isna().all() and np.isfinite(model.standard_errors_[["r", "alpha"]]).all()
    # The limit's predictions are those of the full model with a and b large on the same ratio.
    r, alpha = model.params_[["r", "alpha"]]
    p = model.common_dropout_
    # The full model approaches the limit as a + b grows (its hypergeometric series fails beyond ~1e4).
    def near(scale: float) -> BetaGeoModel:
        return BetaGeoModel.from_params([r, alpha, scale * p, scale * (1 - p)])

    gaps = [np.max(np.abs(model.probability_alive(data) - near(scale).probability_alive(data))) for scale in (1e3, 1e4)]
    assert gaps[1] < 1e-3 and gaps[1] < gaps[0] / 5
    expected = model.expected_purchases(26, data)
    relative = [np.max(np.abs(near(scale).expected_purchases(26, data) / expected - 1)) for scale in (1e3, 2e3)]
    assert relative[1] < 0.015 and relative[1] < relative[0] * 0.6
    assert near(2e3).expected_purchases(26, data).sum() == pytest.approx(expected.sum(), rel=2e-3)
    assert (model.probability_alive(data)[data.x == 0] == 1).all()


def test_customers_whose_dropout_differs_are_not_taken_for_the_limit():
    from clc_lib.clv import simulate_bgnbd

    model = BetaGeoModel().fit(simulate_bgnbd(2000, 0.5, 4.0, 2.0, 5.0, T=(20, 52), seed=3))
    assert model.common_dropout_ is None and model.limit_note_ is None
    assert np.isfinite(model.params_).all()


def test_mbgnbd_reaches_the_same_limit_with_dropout_at_the_first_purchase_too():
    from clc_lib.clv import simulate_mbgnbd

    data = simulate_mbgnbd(2000, 0.5, 4.0, 0.3e7, 0.7e7, T=(20, 52), seed=2)
    with pytest.warns(UserWarning, match="MBG/NBD: the customers' dropout probabilities do not differ"):
        model = ModifiedBetaGeoModel().fit(data)
    assert model.common_dropout_ == pytest.approx(0.3, abs=0.03) and np.isinf(model.params_[["a", "b"]]).all()
    r, alpha = model.params_[["r", "alpha"]]
    p = model.common_dropout_
    gaps = [np.max(np.abs(model.probability_alive(data) - ModifiedBetaGeoModel.from_params(
        [r, alpha, scale * p, scale * (1 - p)]).probability_alive(data))) for scale in (1e3, 2e3)]
    assert gaps[1] < 2e-3 and gaps[1] < gaps[0] * 0.6
    assert (model.probability_alive(data)[data.x == 0] < 1).all()  # dropout is possible right after the first purchase


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_expected_purchases_converge_to_the_poisson_limit_as_r_grows(model_class):
    # r, alpha -> infinity with r / alpha = 0.1 per week: every customer buys at that one rate.
    rate, a, b, t = 0.1, 0.8, 2.4, 52.0
    x, t_x, T = np.array([0.0, 2.0, 5.0, 30.0]), np.array([0.0, 10.0, 30.0, 39.0]), np.full(4, 40.0)
    k = model_class._k
    limit = []
    for xi, txi, Ti in zip(x, t_x, T):
        # Poisson limit by hand: P(alive) from the two likelihood terms with lambda fixed, and
        # E[X(t) | alive] = E_p[(1 - exp(-rate p t)) / p] with p ~ Beta(a, b + x + k).
        alive = np.exp(special.betaln(a, b + xi + k) - rate * Ti)
        dead = np.exp(special.betaln(a + 1, b + xi + k - 1) - rate * txi) if (xi > 0 or k) else 0.0
        if_alive = integrate.quad(lambda p: -np.expm1(-rate * p * t) / p * stats.beta.pdf(p, a, b + xi + k),
                                  0, 1, epsabs=1e-12)[0]
        limit.append(alive / (alive + dead) * if_alive)
    errors = []
    for r in (1e3, 1e4, 1e5, 1e6):
        predicted = model_class.from_params([r, r / rate, a, b]).expected_purchases(t, x=x, t_x=t_x, T=T)
        assert np.all(np.isfinite(predicted))
        errors.append(np.max(np.abs(predicted / np.array(limit) - 1)))
    assert errors[-1] < 1e-4
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_expected_purchases_are_continuous_across_the_quadrature_threshold(model_class):
    from clc_lib.clv.bgnbd import QUADRATURE_MIN_PARAMETER as edge

    x, t_x, T = np.array([0.0, 2.0, 5.0, 30.0]), np.array([0.0, 10.0, 30.0, 39.0]), np.full(4, 40.0)
    for below, above in (([edge * (1 - 1e-9), edge * 10, 0.8, 2.4], [edge, edge * 10, 0.8, 2.4]),
                         ([0.5, 5.0, edge / 3, edge * (1 - 1e-9)], [0.5, 5.0, edge / 3, edge])):
        full = model_class.from_params(below).expected_purchases(52.0, x=x, t_x=t_x, T=T)
        integrated = model_class.from_params(above).expected_purchases(52.0, x=x, t_x=t_x, T=T)
        np.testing.assert_allclose(integrated, full, rtol=1e-8)


@pytest.mark.parametrize("model_class", [BetaGeoModel, ModifiedBetaGeoModel])
def test_expected_purchases_stay_right_at_huge_dropout_parameters(model_class):
    # a, b -> infinity with a / (a + b) = 0.25: the common-dropout limit, in closed form.
    x, t_x, T = np.array([0.0, 3.0]), np.array([0.0, 20.0]), np.full(2, 40.0)
    r, alpha, p, t = 2.0, 20.0, 0.25, 52.0
    model = model_class.from_params([r, alpha, 0.25e6, 0.75e6])
    predicted = model.expected_purchases(t, x=x, t_x=t_x, T=T)
    if_alive = -np.expm1(-(r + x) * np.log1p(p * t / (alpha + T))) / p
    np.testing.assert_allclose(predicted / model.probability_alive(x=x, t_x=t_x, T=T), if_alive, rtol=1e-5)


def test_a_common_purchase_rate_is_the_limit_of_the_fit_with_a_note():
    # Every customer buys at 0.1 per week while active (r, alpha huge with r / alpha = 0.1).
    from clc_lib.clv import simulate_bgnbd

    data = simulate_bgnbd(2000, 1e7, 1e8, 0.8, 2.4, T=(20, 52), seed=2)
    with pytest.warns(UserWarning, match="purchase rates do not differ") as caught:
        model = BetaGeoModel().fit(data)
    assert model.limit_note_ in [str(w.message) for w in caught]
    assert model.converged_ and np.isinf(model.params_[["r", "alpha"]]).all()
    assert model.common_rate_ == pytest.approx(0.1, rel=0.05) and model.common_dropout_ is None
    assert model.standard_errors_[["r", "alpha"]].isna().all() and np.isfinite(model.standard_errors_[["a", "b"]]).all()
    # The limit's predictions are those of the full model with r and alpha large on the same ratio.
    a, b = model.params_[["a", "b"]]
    near = BetaGeoModel.from_params([1e7, 1e7 / model.common_rate_, a, b])
    np.testing.assert_allclose(model.probability_alive(data), near.probability_alive(data), atol=1e-5)
    np.testing.assert_allclose(model.expected_purchases(52, data), near.expected_purchases(52, data), rtol=1e-5)


def test_mbgnbd_reaches_the_limit_of_both_a_common_rate_and_a_common_dropout():
    from clc_lib.clv import simulate_mbgnbd

    data = simulate_mbgnbd(2000, 1e7, 1e8, 0.3e7, 0.7e7, T=(20, 52), seed=3)
    with pytest.warns(UserWarning, match="purchase rates do not differ.*dropout probabilities do not differ"):
        model = ModifiedBetaGeoModel().fit(data)
    assert np.isinf(model.params_).all()
    rate, p = model.common_rate_, model.common_dropout_
    assert rate == pytest.approx(0.1, rel=0.05) and p == pytest.approx(0.3, abs=0.03)
    # Hand-computed limit: P(alive) = 1 / (1 + p / (1 - p) * exp(rate (T - t_x))) and
    # E[X(t) | alive] = (1 - exp(-rate p t)) / p.
    x, t_x, T = np.array([0.0, 3.0]), np.array([0.0, 20.0]), np.array([40.0, 40.0])
    p_alive = 1 / (1 + p / (1 - p) * np.exp(rate * (T - t_x)))
    np.testing.assert_allclose(model.probability_alive(x=x, t_x=t_x, T=T), p_alive, rtol=1e-12)
    np.testing.assert_allclose(model.expected_purchases(52.0, x=x, t_x=t_x, T=T),
                               p_alive * -np.expm1(-rate * p * 52.0) / p, rtol=1e-12)
