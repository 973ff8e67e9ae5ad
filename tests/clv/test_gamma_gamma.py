"""Gamma-Gamma spend model against Fader & Hardie (2013, note 025)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from clc_lib.clv import FrequencySpendCorrelationWarning, GammaGammaModel
from clc_lib.errors import DataError, ModelFitError

from . import reference_values as ref


@pytest.fixture(scope="module")
def spend_model(cdnow_summary):
    return GammaGammaModel().fit(cdnow_summary)


def test_gamma_gamma_fits_the_946_repeat_buyers_to_the_reference(spend_model):
    np.testing.assert_allclose(spend_model.params_, pd.Series(ref.GG_MLE), rtol=1e-3)
    assert spend_model.log_likelihood_ == pytest.approx(ref.GG_LOG_LIKELIHOOD, abs=0.01)
    assert spend_model.n_customers_ == ref.GG_N_CUSTOMERS and spend_model.n_excluded_ == 2357 - 946
    np.testing.assert_allclose(spend_model.params_, pd.Series(ref.GG_PUBLISHED), atol=0.01)


def test_gamma_gamma_reports_a_small_frequency_spend_correlation(spend_model, cdnow_summary):
    repeat = cdnow_summary[cdnow_summary.x > 0]
    assert spend_model.frequency_spend_correlation_ == pytest.approx(stats.pearsonr(repeat.x, repeat.zbar)[0])
    assert abs(spend_model.frequency_spend_correlation_) < 0.2


def test_expected_spend_matches_the_note_spreadsheet(spend_model, cdnow_summary):
    expected = spend_model.expected_spend(cdnow_summary.head(10))
    np.testing.assert_allclose(expected, ref.GG_EXPECTED_SPEND_FIRST_10, atol=0.02)
    # One-time buyers get the population mean p * gamma / (q - 1).
    p, q, gamma = spend_model.params_
    assert spend_model.expected_spend(x=0, zbar=0) == pytest.approx(p * gamma / (q - 1))


def test_density_integrates_to_one_and_matches_a_gamma_mixture():
    model = GammaGammaModel.from_params([6.25, 3.74, 15.44])
    x = 3
    total = integrate.quad(lambda z: np.exp(model.individual_log_likelihood(x=x, zbar=z)), 0, np.inf)[0]
    assert total == pytest.approx(1.0, abs=1e-8)
    # Mixture check at one point: zbar | nu ~ Gamma(p x, rate nu x), nu ~ Gamma(q, rate gamma).
    z = 20.0
    mixture = integrate.quad(lambda nu: stats.gamma.pdf(z, 6.25 * x, scale=1 / (nu * x))
                             * stats.gamma.pdf(nu, 3.74, scale=1 / 15.44), 0, np.inf, epsrel=1e-11)[0]
    assert np.exp(model.individual_log_likelihood(x=x, zbar=z)) == pytest.approx(mixture, rel=1e-7)


def test_strong_frequency_spend_correlation_warns():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 9, 2000)
    frame = pd.DataFrame({"x": x, "zbar": 5.0 * x * rng.gamma(4.0, 1 / 4.0, 2000)})  # spend grows with frequency
    with pytest.warns(FrequencySpendCorrelationWarning, match="correlated"):
        model = GammaGammaModel().fit(frame)
    assert model.frequency_spend_correlation_ == pytest.approx(stats.pearsonr(frame.x, frame.zbar)[0])
    assert model.frequency_spend_correlation_ > 0.5


def test_non_positive_spend_of_repeat_buyers_is_refused():
    frame = pd.DataFrame({"x": [1, 2, 3, 0], "zbar": [10.0, 0.0, 12.0, 0.0]}, index=["a", "b", "c", "d"])
    with pytest.raises(DataError, match="positive mean repeat value") as error:
        GammaGammaModel().fit(frame)
    assert "row b: 0.0" in str(error.value)
    frame.loc["b", "zbar"] = -4.0
    with pytest.raises(DataError, match="negative values in 'zbar'"):
        GammaGammaModel().fit(frame)


def test_too_few_repeat_buyers_is_a_fit_error():
    with pytest.raises(ModelFitError, match="repeat purchases"):
        GammaGammaModel().fit(pd.DataFrame({"x": [0, 0, 1], "zbar": [0.0, 0.0, 3.0]}))


def test_infinite_population_mean_is_refused():
    with pytest.raises(ModelFitError, match="q = 0.9"):
        GammaGammaModel.from_params([2.0, 0.9, 10.0]).population_mean_spend()


def _spend_sample(heterogeneous: bool, customers: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """x repeat days and their mean value zbar with transaction values Gamma(p=3, scale 1/nu)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 12, customers)
    nu = rng.gamma(4.0, 1 / 100.0, customers) if heterogeneous else np.full(customers, 0.03)
    zbar = rng.gamma(3.0 * x, 1 / (nu * x))  # the mean of x values Gamma(3, nu)
    return pd.DataFrame({"x": x, "zbar": zbar})


def test_spends_without_customer_heterogeneity_converge_to_the_limit_with_a_note():
    data = _spend_sample(heterogeneous=False)
    with pytest.warns(UserWarning) as caught:
        model = GammaGammaModel().fit(data)  # strict: an unconverged fit would raise
    notes = [str(w.message) for w in caught]
    assert any("vary no more than single transactions do" in note for note in notes)
    assert model.limit_note_ in notes
    assert model.converged_ and model.params_["q"] > 1e4
    # On the ridge only q/gamma is identified: q and gamma have no standard error, whatever the
    # platform's rounding makes of the Hessian there.
    assert model.standard_errors_[["q", "gamma"]].isna().all()
    assert np.isfinite(model.standard_errors_["p"])
    # Every customer's expected spend is the population mean p/nu = 100, whatever their own zbar.
    expected = model.expected_spend(data)
    assert model.population_mean_spend() == pytest.approx(3.0 / 0.03, rel=0.01)
    assert expected.max() / expected.min() - 1 < 1e-3


def test_heterogeneous_spends_converge_without_the_limit_note(recwarn):
    model = GammaGammaModel().fit(_spend_sample(heterogeneous=True))
    assert model.converged_ and model.params_["q"] == pytest.approx(4.0, rel=0.15)
    assert not [w for w in recwarn if "vary no more" in str(w.message)]


def test_large_fits_do_not_depend_on_row_order():
    # More distinct patterns than WARM_START_PATTERNS: the fit starts from a fit on a thinned sample,
    # which must be the same sample whatever the order of the rows.
    from clc_lib.clv._base import compress

    data = _spend_sample(heterogeneous=True, customers=30_000)
    shuffled = data.sample(frac=1, random_state=5)
    model = GammaGammaModel()
    starts = []
    for frame in (data, shuffled):
        patterns, weights, _ = compress(frame["x"].to_numpy(), frame["zbar"].to_numpy())
        assert len(weights) > 20_000
        starts.append(model._warm_start(patterns, weights, np.log([1.0, 1.0, 1.0])))
    np.testing.assert_allclose(starts[1], starts[0], rtol=1e-9)
    fitted, refitted = GammaGammaModel().fit(data).params_, GammaGammaModel().fit(shuffled).params_
    np.testing.assert_allclose(refitted.to_numpy(), fitted.to_numpy(), rtol=1e-6)


def test_newton_polish_finishes_a_fit_that_stopped_short():
    from clc_lib.clv._base import GRADIENT_TOLERANCE, _newton_polish

    def rosenbrock(z):  # minimum 0 at (1, 1), a curved narrow valley
        value = (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2
        gradient = np.array([-2 * (1 - z[0]) - 400 * z[0] * (z[1] - z[0] ** 2), 200 * (z[1] - z[0] ** 2)])
        return value, gradient

    z, gradient = _newton_polish(rosenbrock, np.array([0.9, 0.8]), bounds=18.0)
    np.testing.assert_allclose(z, [1.0, 1.0], atol=1e-6)
    assert np.max(np.abs(gradient)) < GRADIENT_TOLERANCE * 1e-2


def test_identical_spends_are_the_constant_spend_limit_with_a_note():
    # A fixed-price product: every repeat purchase day is worth the same, whatever the customer.
    frame = pd.DataFrame({"x": [1, 2, 3, 5, 0, 1], "zbar": [25.0, 25.0, 25.0, 25.0, 0.0, 25.0]},
                         index=list("abcdef"))
    with pytest.warns(UserWarning, match="constant-spend limit") as caught:
        model = GammaGammaModel().fit(frame)  # strict: a divergent fit would raise
    assert model.limit_note_ == str(caught[0].message) and "25" in model.limit_note_
    assert model.converged_ and model.constant_spend_ == 25.0 and model.n_customers_ == 5
    assert np.isinf(model.params_).all() and model.standard_errors_.isna().all()
    assert model.population_mean_spend() == 25.0
    assert (model.expected_spend(frame) == 25.0).all()
    assert model.expected_spend(x=0, zbar=0.0) == 25.0


def test_spends_that_differ_are_not_taken_for_constant():
    frame = pd.DataFrame({"x": [1, 2, 3, 5, 2, 1, 4, 2], "zbar": [25.0, 30.0, 22.0, 27.5, 40.0, 18.0, 26.0, 31.0]})
    model = GammaGammaModel(penalizer=0.01).fit(frame)
    assert model.constant_spend_ is None and model.limit_note_ is None
    assert np.isfinite(model.params_).all()
