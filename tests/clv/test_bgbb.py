"""BG/BB against Fader, Hardie & Shang (2010) and Hardie's BG/BB spreadsheet (donations data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clc_lib.clv import BetaGeoBetaBinomModel
from clc_lib.errors import DataError

from . import reference_values as ref


@pytest.fixture(scope="module")
def bgbb(donations):
    return BetaGeoBetaBinomModel().fit(donations, weights=donations["weights"])


def test_bgbb_matches_published_parameters_and_log_likelihood(bgbb):
    np.testing.assert_allclose(bgbb.params_, pd.Series(ref.BGBB_MLE), rtol=1e-3)
    np.testing.assert_allclose(bgbb.params_, pd.Series(ref.BGBB_PUBLISHED), atol=1e-3)
    assert bgbb.log_likelihood_ == pytest.approx(ref.BGBB_LOG_LIKELIHOOD, abs=0.01)
    assert bgbb.n_customers_ == 11104


def test_bgbb_p_alive_in_2002_matches_table_6(bgbb):
    histories = list(ref.BGBB_P_ALIVE_2002)
    values = bgbb.probability_alive(x=[h[0] for h in histories], t_x=[h[1] for h in histories], n=[6] * 3,
                                    future_periods=1)
    np.testing.assert_allclose(values, list(ref.BGBB_P_ALIVE_2002.values()), atol=5e-3)


def test_bgbb_conditional_expectations_sum_to_the_spreadsheet_total(bgbb, donations):
    total = (bgbb.expected_purchases(5, donations) * donations["weights"]).sum()
    assert total == pytest.approx(ref.BGBB_SUM_CONDITIONAL_5, abs=0.5)


def test_bgbb_in_sample_fit_and_tracking(bgbb):
    expected = bgbb.probability_of_purchases(list(ref.BGBB_EXPECTED_DONORS), 6) * 11104
    np.testing.assert_allclose(expected, list(ref.BGBB_EXPECTED_DONORS.values()), atol=0.1)
    np.testing.assert_allclose(bgbb.expected_purchases_new_customer(np.arange(1, 12)), ref.BGBB_NEW_CUSTOMER,
                               atol=2e-4)


def test_bgbb_pmf_is_a_distribution_whose_mean_is_the_expectation(bgbb):
    pmf = bgbb.probability_of_purchases(np.arange(7), 6)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert (np.arange(7) * pmf).sum() == pytest.approx(bgbb.expected_purchases_new_customer(6), rel=1e-10)


def test_bgbb_likelihood_matches_enumeration_of_lifetimes():
    """Build L for one observed sequence by enumerating how long the customer stayed alive.

    For an alive spell of ``k`` opportunities the sequence has probability ``p^x (1-p)^(k-x)`` and the
    spell ``(1-theta)^k theta`` (``(1-theta)^n`` for the full window); the Beta expectations of these
    monomials are ratios of Beta functions, checked here against numerical integration too.
    """
    from scipy import integrate, special, stats

    alpha, beta, gamma, delta = 1.2, 0.75, 0.66, 2.8
    model = BetaGeoBetaBinomModel.from_params([alpha, beta, gamma, delta])
    n = 5

    def beta_moment(a, b, k, m):
        numeric = integrate.quad(lambda u: u**k * (1 - u) ** m * stats.beta.pdf(u, a, b), 0, 1,
                                 epsabs=0, epsrel=1e-12, limit=200)[0]
        assert numeric == pytest.approx(np.exp(special.betaln(a + k, b + m) - special.betaln(a, b)), rel=1e-8)
        return numeric

    for x, t_x in [(0, 0), (1, 2), (2, 3), (3, 5), (5, 5)]:
        total = 0.0
        for alive_for in range(t_x, n + 1):  # the spell must cover the last transaction
            dies = 1 if alive_for < n else 0
            total += beta_moment(alpha, beta, x, alive_for - x) * beta_moment(gamma, delta, dies, alive_for)
        assert model.individual_log_likelihood(x=x, t_x=t_x, n=n) == pytest.approx(np.log(total), abs=1e-9)


def test_bgbb_refuses_impossible_histories():
    with pytest.raises(DataError, match="x <= t_x <= n"):
        BetaGeoBetaBinomModel().fit(pd.DataFrame({"x": [2, 1], "t_x": [1, 1], "n": [6, 6]}))
