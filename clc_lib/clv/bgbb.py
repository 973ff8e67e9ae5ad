"""BG/BB: repeat transactions at discrete opportunities (Fader, Hardie & Shang 2010, Marketing Science 29(6)).

For businesses where a transaction can happen only at fixed occasions (an annual donation, an
event per season). After the first transaction at occasion 0 there are ``n`` further opportunities.
While alive a customer transacts at each with probability ``p ~ Beta(alpha, beta)``; before each
opportunity an alive customer drops out with probability ``theta ~ Beta(gamma, delta)``.

Inputs per customer: ``x`` repeat transactions (0..n), ``t_x`` the opportunity of the last one
(0 when x = 0, else x <= t_x <= n) and ``n`` opportunities observed. Time is counted in
opportunities. All four parameters are unitless. The likelihood is (FHS 2010, eq. 5)::

    L = B(a+x, b+n-x)/B(a,b) * B(g, d+n)/B(g,d)
        + sum_{i=0}^{n-t_x-1} B(a+x, b+t_x-x+i)/B(a,b) * B(g+1, d+t_x+i)/B(g,d)

evaluated as one log-sum-exp over all terms; the gradient is a central finite difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from clc_lib.clv._base import BaseModel, as_summary_frame, check_counts, compress
from clc_lib.errors import DataError, ModelFitError

__all__ = ["BetaGeoBetaBinomModel"]


class BetaGeoBetaBinomModel(BaseModel):
    """BG/BB model for discrete transaction opportunities.

    Parameters, attributes (``params_`` = alpha, beta, gamma, delta) and error behaviour as for
    :class:`clc_lib.clv.BetaGeoModel`. ``fit`` accepts ``weights`` (customers per row), e.g. for
    data given as (x, t_x, n) patterns with counts.
    """

    param_names = ("alpha", "beta", "gamma", "delta")
    input_columns = ("x", "t_x", "n")
    model_name = "BG/BB"

    def _inputs(self, data: pd.DataFrame | None, x: Any, t_x: Any, n: Any):
        scalar = data is None and np.ndim(x) == 0
        arrays = {"x": [x] if scalar else x, "t_x": [t_x] if scalar else t_x, "n": [n] if scalar else n}
        frame = as_summary_frame(data, self.input_columns, arrays, source="customer summary")
        for column in self.input_columns:
            check_counts(frame, column, source="customer summary")
        xs, txs, ns = (frame[c].to_numpy() for c in self.input_columns)
        bad = (xs > txs) | (txs > ns) | ((xs == 0) & (txs > 0)) | ((xs > 0) & (txs == 0))
        if bad.any():
            where = np.flatnonzero(bad)[:5]
            raise DataError(
                "BG/BB inputs must satisfy x <= t_x <= n, with t_x = 0 exactly when x = 0.",
                source="customer summary", column="t_x", n_rows=int(bad.sum()),
                examples=[(frame.index[i], (xs[i], txs[i], ns[i])) for i in where],
                hint="x counts repeat transactions, t_x is the opportunity of the last one, n the opportunities.",
            )
        return xs, txs, ns, (frame.index if data is not None else None), scalar

    @staticmethod
    def _output(values: np.ndarray, index: pd.Index | None, name: str, scalar: bool) -> Any:
        if index is not None:
            return pd.Series(values, index=index, name=name)
        return float(values[0]) if scalar else values

    def _log_terms(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, n: np.ndarray):
        alpha, beta, gamma, delta = params
        log_b_ab, log_b_gd = special.betaln(alpha, beta), special.betaln(gamma, delta)
        alive = (special.betaln(alpha + x, beta + n - x) - log_b_ab
                 + special.betaln(gamma, delta + n) - log_b_gd)
        n_dead = (n - t_x).astype(int)
        width = int(n_dead.max()) if len(n_dead) else 0
        i = np.arange(width)[None, :]
        valid = i < n_dead[:, None]
        dead = np.where(
            valid,
            special.betaln(alpha + x[:, None], beta + t_x[:, None] - x[:, None] + i) - log_b_ab
            + special.betaln(gamma + 1, delta + t_x[:, None] + i) - log_b_gd,
            -np.inf,
        )
        return alive, dead

    def _loglik(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, n: np.ndarray) -> np.ndarray:
        alive, dead = self._log_terms(params, x, t_x, n)
        return special.logsumexp(np.column_stack([alive, dead]), axis=1)

    def _initial_log_params(self, patterns: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
        return np.zeros(4)

    def fit(self, data: pd.DataFrame | None = None, *, x: Any = None, t_x: Any = None, n: Any = None,
            weights: Any = None, initial: Sequence[float] | dict[str, float] | None = None) -> BetaGeoBetaBinomModel:
        """Fit by maximum likelihood on ``x``, ``t_x``, ``n`` (columns of ``data`` or arrays)."""
        xs, txs, ns, _, _ = self._inputs(data, x, t_x, n)
        if weights is not None:
            weights = np.asarray(weights, dtype=float)
            if weights.shape != xs.shape or np.any(~np.isfinite(weights)) or np.any(weights < 0):
                raise DataError("weights must be one finite, non-negative number per row.", source="weights")
        positive = xs > 0 if weights is None else (xs > 0) & (weights > 0)
        if not positive.any():
            raise ModelFitError("BG/BB: no customer has a repeat transaction, so the model cannot be identified. "
                                "Use more opportunities (a longer period) or check the counts.")
        patterns, pattern_weights, _ = compress(xs, txs, ns, weights=weights)
        if isinstance(initial, dict):
            initial = [initial[k] for k in self.param_names]
        return self._fit_patterns(patterns, pattern_weights, int(round(pattern_weights.sum())), initial)

    def individual_log_likelihood(self, data: pd.DataFrame | None = None, *, x: Any = None, t_x: Any = None,
                                  n: Any = None, params: Any = None):
        xs, txs, ns, index, scalar = self._inputs(data, x, t_x, n)
        return self._output(self._loglik(self._params(params), xs, txs, ns), index, "log_likelihood", scalar)

    def probability_alive(self, data: pd.DataFrame | None = None, *, x: Any = None, t_x: Any = None,
                          n: Any = None, future_periods: int = 0, params: Any = None):
        """P(alive at opportunity n + future_periods | x, t_x, n).

        With ``future_periods=1`` this is the probability of being alive at the next opportunity
        (FHS 2010, Table 6 reports it for the donors' 2002 opportunity).
        """
        xs, txs, ns, index, scalar = self._inputs(data, x, t_x, n)
        alpha, beta, gamma, delta = theta = self._params(params)
        log_numerator = (special.betaln(alpha + xs, beta + ns - xs) - special.betaln(alpha, beta)
                         + special.betaln(gamma, delta + ns + future_periods) - special.betaln(gamma, delta))
        values = np.exp(log_numerator - self._loglik(theta, xs, txs, ns))
        return self._output(values, index, "p_alive", scalar)

    def expected_purchases(self, future_periods: int, data: pd.DataFrame | None = None, *, x: Any = None,
                           t_x: Any = None, n: Any = None, params: Any = None):
        """Expected transactions in opportunities n+1 .. n+future_periods given the history (FHS 2010 eq. 13)."""
        xs, txs, ns, index, scalar = self._inputs(data, x, t_x, n)
        alpha, beta, gamma, delta = theta = self._params(params)
        log_rest = (special.betaln(alpha + xs + 1, beta + ns - xs) - special.betaln(alpha, beta)
                    + special.gammaln(gamma + delta) - special.gammaln(1 + delta)
                    - self._loglik(theta, xs, txs, ns))
        bracket = (np.exp(special.gammaln(1 + delta + ns) - special.gammaln(gamma + delta + ns))
                   - np.exp(special.gammaln(1 + delta + ns + future_periods)
                            - special.gammaln(gamma + delta + ns + future_periods)))
        values = np.exp(log_rest) * delta / (gamma - 1) * bracket
        return self._output(values, index, "expected_purchases", scalar)

    def expected_purchases_new_customer(self, n: Any, params: Any = None):
        """Unconditional expected repeat transactions in the first ``n`` opportunities (FHS 2010 eq. 7)."""
        alpha, beta, gamma, delta = self._params(params)
        ns = np.asarray(n, dtype=float)
        ratio = np.exp(special.gammaln(gamma + delta) - special.gammaln(gamma + delta + ns)
                       + special.gammaln(1 + delta + ns) - special.gammaln(1 + delta))
        values = alpha / (alpha + beta) * delta / (gamma - 1) * (1 - ratio)
        return float(values) if np.ndim(n) == 0 else values

    def probability_of_purchases(self, x: Any, n: int, params: Any = None):
        """P(X(n) = x): probability that a new customer makes ``x`` repeat transactions in ``n`` opportunities."""
        alpha, beta, gamma, delta = self._params(params)
        xs = np.atleast_1d(np.asarray(x, dtype=float))
        log_b_ab, log_b_gd = special.betaln(alpha, beta), special.betaln(gamma, delta)
        log_choose = special.gammaln(n + 1) - special.gammaln(xs + 1) - special.gammaln(n - xs + 1)
        values = np.exp(log_choose + special.betaln(alpha + xs, beta + n - xs) - log_b_ab
                        + special.betaln(gamma, delta + n) - log_b_gd)
        i = np.arange(n)[None, :]
        valid = i >= xs[:, None]
        log_choose_i = (special.gammaln(i + 1) - special.gammaln(xs[:, None] + 1)
                        - special.gammaln(np.maximum(i - xs[:, None], 0) + 1))
        dead = np.where(valid, np.exp(log_choose_i + special.betaln(alpha + xs[:, None], beta + np.maximum(i - xs[:, None], 0))
                                      - log_b_ab + special.betaln(gamma + 1, delta + i) - log_b_gd), 0.0)
        values = values + dead.sum(axis=1)
        return float(values[0]) if np.ndim(x) == 0 else values
