"""BG/NBD and MBG/NBD: repeat purchases with dropout after purchases (continuous time).

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science 24(2)):
while active, a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; after each *repeat*
purchase they drop out with probability ``p ~ Beta(a, b)``. A customer without repeat purchases is
therefore always alive (P(alive) = 1 when x = 0).

MBG/NBD (Batislam, Denizel & Filiztekin 2007, IJRM 24(3)): the same, but the customer may also
drop out right after the first purchase, so P(alive) < 1 for x = 0.

Inputs are the customer summary ``x`` (repeat purchase *days*: same-day purchases are one purchase,
the first purchase is not counted, returns are not purchases), ``t_x`` (first to last purchase) and
``T`` (first purchase to the end of observation), ``t_x`` and ``T`` in one time unit (weeks in
the CDNOW reference). Parameters ``r`` and ``a``, ``b`` are unitless; ``alpha`` is in that time unit.

The log-likelihood is evaluated as a log-sum-exp of its two terms (Hardie 2013, note 027,
"Overcoming the BG/NBD model's #NUM! error problem"), and its gradient is analytic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, special, stats

from clc_lib.clv._base import LOG_PARAM_BOUND, PurchaseModel, dot, compress, logaddexp, unique_inverse

__all__ = ["BetaGeoModel", "ModifiedBetaGeoModel", "COMMON_DROPOUT_MIN_AB", "COMMON_DROPOUT_TOLERANCE",
           "COMMON_RATE_MIN_R", "QUADRATURE_MIN_PARAMETER"]

#: a and b above which a fit is checked against the common-dropout limit (a, b -> infinity with
#: a / (a + b) fixed): the customers' dropout probabilities then differ by less than about 1%.
COMMON_DROPOUT_MIN_AB = 1e4
#: Log-likelihood per customer (nats) within which the estimate and the limit count as the same fit.
COMMON_DROPOUT_TOLERANCE = 1e-6
#: r above which a fit is checked against the common-purchase-rate limit (r, alpha -> infinity with
#: r / alpha fixed, the Poisson limit of the gamma mixing): the rates then differ by less than 1%.
COMMON_RATE_MIN_R = 1e4

#: r, a or b above which E[X(t) | alive] is integrated numerically over the dropout probability
#: instead of through the Gaussian hypergeometric function: scipy's ``hyp2f1`` loses all accuracy
#: (NaN, or a value near zero) once its parameters reach the hundreds or thousands.
QUADRATURE_MIN_PARAMETER = 100.0

# Double-exponential (tanh-sinh) rule on the quantile scale u of the dropout probability's Beta
# posterior: u = expit(pi sinh w), trapezoid in w; the weights fall off doubly exponentially
# towards u = 0 and 1, which absorbs the end-point behaviour of the Beta quantile function.
_TANH_SINH_W = np.linspace(-3.5, 3.5, 241)
_QUADRATURE_U = special.expit(np.pi * np.sinh(_TANH_SINH_W))
_QUADRATURE_WEIGHTS = ((_TANH_SINH_W[1] - _TANH_SINH_W[0]) * np.pi * np.cosh(_TANH_SINH_W)
                       * _QUADRATURE_U * (1.0 - _QUADRATURE_U))


def _expected_if_alive_by_quadrature(r: float, alpha: float, a: float, b_alive: np.ndarray, t: float | np.ndarray,
                                     x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[X(t) | alive] as an integral over the dropout probability ``p ~ Beta(a, b_alive)``.

    Given ``p`` and the rate posterior ``Gamma(r + x, alpha + T)``, the expected purchases are
    ``(1 - (1 + p t / (alpha + T))^-(r + x)) / p``, bounded and smooth in ``p``; the integral is
    taken on the Beta quantile scale, so it stays accurate however concentrated the Beta is.
    ``r = inf`` is the Poisson limit with rate ``alpha`` (then passed as the rate ``r / alpha``).
    """
    # The Beta quantiles depend on b_alive = b + x (+1) alone, which takes few distinct values: the
    # inverse incomplete beta function, by far the costliest step, runs once per value.
    b_alive = np.asarray(b_alive, dtype=float)
    distinct_b, which = unique_inverse(b_alive.ravel())
    p = special.betaincinv(a, distinct_b[:, None], _QUADRATURE_U)[which].reshape(*b_alive.shape, -1)
    t = np.asarray(t, dtype=float)[..., None]
    if np.isinf(r):
        exponent = -alpha * p * t
    else:
        exponent = -(r + np.asarray(x, dtype=float)[..., None]) * np.log1p(p * t / (alpha + np.asarray(T)[..., None]))
    # (1 - exp(e)) / p, with the p -> 0 value t * rate where the Beta puts mass at 0.
    values = -np.expm1(exponent) / np.where(p > 0, p, 1.0)
    if np.isinf(r):
        at_zero = alpha * t
    else:
        at_zero = (r + np.asarray(x, dtype=float)[..., None]) * t / (alpha + np.asarray(T)[..., None])
    values = np.where(p > 0, values, at_zero)
    return values @ _QUADRATURE_WEIGHTS


def _dlogbeta(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Partial derivatives of ln B(a, b) with respect to a and b."""
    both = special.digamma(a + b)
    return special.digamma(a) - both, special.digamma(b) - both


class _BetaGeoFamily(PurchaseModel):
    """BG/NBD-type likelihood ``L = B(a, b+x+k)/B(a,b) * NB_T + [B(a+1, b+x+k-1)/B(a,b) * NB_tx]``.

    ``k`` is 0 for BG/NBD (second term only when x > 0) and 1 for MBG/NBD (second term always).
    """

    param_names = ("r", "alpha", "a", "b")
    _k: int = 0
    _second_term_at_zero: bool = False

    # ---- likelihood ---------------------------------------------------------------------------
    # Terms that depend on x only, on t_x only or on T only are computed once per distinct value
    # and then gathered: with pattern compression this makes one evaluation a few vector operations.
    def _precompute(self, patterns: list[np.ndarray]) -> tuple:
        x, t_x, T = patterns
        return (*unique_inverse(x), *unique_inverse(t_x), *unique_inverse(T))

    def _fit_cache(self, patterns: list[np.ndarray]) -> dict:
        x, t_x, T = patterns
        pairs_T, _, inverse_T = compress(x, T)
        pairs_tx, _, inverse_tx = compress(x, t_x)
        ux, ix = unique_inverse(x)
        return {"per_value": self._precompute(patterns), "x": (ux, ix), "pairs_T": pairs_T, "inverse_T": inverse_T,
                "pairs_tx": pairs_tx, "inverse_tx": inverse_tx}

    def _weighted_total(self, params: np.ndarray, cache: Any, weights: np.ndarray,
                        gradient: bool) -> tuple[float, np.ndarray | None]:
        """Weighted log-likelihood and gradient with per-pattern work reduced to one softplus.

        ``ln L = c(x) + A(x, T) + softplus(B(x, t_x) - A(x, T))``: ``c`` is evaluated per distinct x,
        ``A`` and ``B`` (and their derivatives) per distinct (x, T) and (x, t_x) pair; the weighted
        shares of the two terms are accumulated per pair with ``bincount``.
        """
        if not isinstance(cache, dict):
            return super()._weighted_total(params, cache, weights, gradient)
        r, alpha, a, b = params
        k = self._k
        ux, ix = cache["x"]
        x_T, T = cache["pairs_T"]
        x_t, t_x = cache["pairs_tx"]
        inverse_T, inverse_tx = cache["inverse_T"], cache["inverse_tx"]
        has_second = np.ones_like(x_t, dtype=bool) if self._second_term_at_zero else x_t > 0
        x_second = np.where(has_second, x_t, 1.0)
        log_common = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
        term_T = special.betaln(a, b + x_T + k) - (r + x_T) * np.log(alpha + T)
        term_tx = np.where(has_second,
                           special.betaln(a + 1, b + x_second + k - 1) - (r + x_t) * np.log(alpha + t_x), -np.inf)
        diff = np.take(term_tx, inverse_tx) - np.take(term_T, inverse_T)
        softplus = logaddexp(0.0, diff)  # log(1 + exp(diff)), stable
        weight_x = np.bincount(ix, weights=weights, minlength=len(ux))
        weight_T = np.bincount(inverse_T, weights=weights, minlength=len(T))
        total = float(dot(weight_x, log_common) + dot(weight_T, term_T) + dot(weights, softplus))
        if not gradient:
            return total, None
        weighted_share_tx = weights * np.exp(diff - softplus)
        coef_tx = np.bincount(inverse_tx, weights=weighted_share_tx, minlength=len(t_x))
        coef_T = weight_T - np.bincount(inverse_T, weights=weighted_share_tx, minlength=len(T))
        da0, db0 = _dlogbeta(a, b)
        daT, dbT = _dlogbeta(a, b + x_T + k)
        datx, dbtx = _dlogbeta(a + 1, b + x_second + k - 1)
        coef_tx = np.where(has_second, coef_tx, 0.0)
        n = weights.sum()
        grad = np.array([
            dot(weight_x, special.digamma(r + ux) - special.digamma(r) + np.log(alpha))
            - dot(coef_T, np.log(alpha + T)) - dot(coef_tx, np.log(alpha + t_x)),
            n * r / alpha - dot(coef_T, (r + x_T) / (alpha + T)) - dot(coef_tx, (r + x_t) / (alpha + t_x)),
            -n * da0 + dot(coef_T, daT) + dot(coef_tx, np.where(has_second, datx, 0.0)),
            -n * db0 + dot(coef_T, dbT) + dot(coef_tx, np.where(has_second, dbtx, 0.0)),
        ])
        return total, grad

    def _terms(self, params: np.ndarray, cache: tuple):
        r, alpha, a, b = params
        k = self._k
        ux, ix, utx, itx, uT, iT = cache
        has_second = np.ones_like(ux, dtype=bool) if self._second_term_at_zero else ux > 0
        # For BG/NBD the second term is absent at x = 0, where b + x - 1 may be negative.
        ux_second = np.where(has_second, ux, 1.0)
        log_common = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) - special.betaln(a, b)
        beta_T = special.betaln(a, b + ux + k)
        beta_tx = np.where(has_second, special.betaln(a + 1, b + ux_second + k - 1), -np.inf)
        r_x = (r + ux)[ix]
        term_T = beta_T[ix] - r_x * np.log(alpha + uT)[iT]
        term_tx = beta_tx[ix] - r_x * np.log(alpha + utx)[itx]
        return log_common, term_T, term_tx, has_second, ux_second

    def _loglik_cached(self, params: np.ndarray, cache: tuple) -> np.ndarray:
        log_common, term_T, term_tx, _, _ = self._terms(params, cache)
        return log_common[cache[1]] + np.logaddexp(term_T, term_tx)

    def _loglik_grad_cached(self, params: np.ndarray, cache: tuple) -> np.ndarray:
        r, alpha, a, b = params
        k = self._k
        ux, ix, utx, itx, uT, iT = cache
        _, term_T, term_tx, has_second, ux_second = self._terms(params, cache)
        total = np.logaddexp(term_T, term_tx)
        share_T = np.exp(term_T - total)
        share_tx = np.exp(term_tx - total)  # exp(-inf) = 0 where the second term is absent
        r_x = (r + ux)[ix]
        d_r = ((special.digamma(r + ux) - special.digamma(r) + np.log(alpha))[ix]
               - share_T * np.log(alpha + uT)[iT] - share_tx * np.log(alpha + utx)[itx])
        d_alpha = r / alpha - r_x * (share_T / (alpha + uT)[iT] + share_tx / (alpha + utx)[itx])
        da0, db0 = _dlogbeta(a, b)
        daT, dbT = _dlogbeta(a, b + ux + k)
        datx, dbtx = _dlogbeta(a + 1, b + ux_second + k - 1)
        d_a = -da0 + share_T * daT[ix] + share_tx * datx[ix]
        d_b = -db0 + share_T * dbT[ix] + share_tx * dbtx[ix]
        return np.vstack([d_r, d_alpha, d_a, d_b])

    def _loglik(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return self._loglik_cached(params, self._precompute([x, t_x, T]))

    def _loglik_grad(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return self._loglik_grad_cached(params, self._precompute([x, t_x, T]))

    # ---- the common-dropout and common-purchase-rate limits -----------------------------------
    def fit(self, data=None, *, x: Any = None, t_x: Any = None, T: Any = None, weights: Any = None,
            initial: Any = None):
        """Fit by maximum likelihood (see :meth:`PurchaseModel.fit`).

        When the customers' dropout probabilities do not differ, ``a`` and ``b`` run off to
        infinity with ``a / (a + b)`` fixed; when their purchase rates do not differ, ``r`` and
        ``alpha`` run off to infinity with ``r / alpha`` fixed (the Poisson limit of the gamma
        mixing). If such a limit, fitted by maximum likelihood, fits as well, the estimate is the
        limit: the parameters that ran off are infinite and have no standard error,
        ``common_dropout_`` holds the common dropout probability ``p`` and ``common_rate_`` the
        common purchase rate (per time unit), the predictions use the limit's formulas, and a
        warning (also in ``limit_note_``) says so.
        """
        self.limit_note_ = None
        self.common_dropout_ = None
        self.common_rate_ = None
        self._limit = None
        super().fit(data, x=x, t_x=t_x, T=T, weights=weights, initial=initial)
        if self._limit is not None:
            params, rate, dropout, log_likelihood = self._limit
            self.params_[:] = params
            self.common_rate_ = rate
            self.common_dropout_ = dropout
            self.log_likelihood_ = log_likelihood
            off = [name for name, value in zip(self.param_names, params) if np.isinf(value)]
            self.standard_errors_[off] = np.nan
            self.confidence_intervals_.loc[off] = np.nan
        return self

    def _limit_log_terms(self, params: np.ndarray, rate: float | None, dropout: float | None, x: np.ndarray,
                         t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Common factor and the alive and dropped-out log terms, for the full model or a limit.

        ``rate`` (common purchase rate) replaces ``r`` and ``alpha`` and ``dropout`` (common dropout
        probability) replaces ``a`` and ``b`` when given; the log-likelihood is
        ``common + logaddexp(alive, dropped)`` and P(alive) is ``exp(alive - logaddexp(alive, dropped))``.
        """
        r, alpha, a, b = params
        k = self._k
        has_second = np.ones_like(x, dtype=bool) if self._second_term_at_zero else x > 0
        x_second = np.where(has_second, x, 1.0)
        if rate is None:
            common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
            alive = -(r + x) * np.log(alpha + T)
            dropped = -(r + x) * np.log(alpha + t_x)
        else:
            common = x * np.log(rate)
            alive, dropped = -rate * T, -rate * t_x
        if dropout is None:
            common = common - special.betaln(a, b)
            alive = alive + special.betaln(a, b + x + k)
            dropped = dropped + special.betaln(a + 1, b + x_second + k - 1)
        else:
            stay = np.log1p(-dropout)
            alive = alive + (x + k) * stay
            dropped = dropped + np.log(dropout) + (x_second + k - 1) * stay
        return common, alive, np.where(has_second, dropped, -np.inf)

    def _common_dropout_loglik(self, r: float, alpha: float, dropout: float, x: np.ndarray, t_x: np.ndarray,
                               T: np.ndarray) -> np.ndarray:
        """Log-likelihood per pattern of the limit with one dropout probability for every customer."""
        common, alive, dropped = self._limit_log_terms(np.array([r, alpha, np.inf, np.inf]), None, dropout, x, t_x, T)
        return common + np.logaddexp(alive, dropped)

    def _limit_of_ridge(self, params: np.ndarray, cache: Any, weights: np.ndarray) -> str | None:
        r, alpha, a, b = params
        rate_off = r >= COMMON_RATE_MIN_R
        dropout_off = min(a, b) >= COMMON_DROPOUT_MIN_AB
        if not (rate_off or dropout_off) or self.penalizer > 0 or not isinstance(cache, dict):
            return None
        ux, ix, utx, itx, uT, iT = cache["per_value"]
        x, t_x, T = ux[ix], utx[itx], uT[iT]
        n = float(weights.sum())

        # Free coordinates (log scale): log r, log alpha or log rate; log a, log b or logit p.
        def unpack(v: np.ndarray) -> tuple[np.ndarray, float | None, float | None]:
            if rate_off:
                rate, rest = float(np.exp(v[0])), v[1:]
                full = [np.inf, np.inf]
            else:
                rate, rest = None, v[2:]
                full = [np.exp(v[0]), np.exp(v[1])]
            if dropout_off:
                dropout = float(special.expit(rest[0]))
                full += [np.inf, np.inf]
            else:
                dropout = None
                full += [np.exp(rest[0]), np.exp(rest[1])]
            return np.array(full), rate, dropout

        def negative_loglik(v: np.ndarray) -> float:
            full, rate, dropout = unpack(v)
            common, alive, dropped = self._limit_log_terms(full, rate, dropout, x, t_x, T)
            value = dot(weights, common + np.logaddexp(alive, dropped))
            return -value if np.isfinite(value) else 1e300

        start = ([np.log(r / alpha)] if rate_off else [np.log(r), np.log(alpha)]) + (
            [special.logit(a / (a + b))] if dropout_off else [np.log(a), np.log(b)])
        limit = optimize.minimize(negative_loglik, np.array(start), method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-10 * n, "maxiter": 20_000})
        fitted = self._weighted_total(params, cache, weights, gradient=False)[0]
        if -limit.fun < fitted - COMMON_DROPOUT_TOLERANCE * n:
            return None  # finite parameters fit better: the customers do differ
        if np.any(np.abs(limit.x) >= LOG_PARAM_BOUND - 1e-3):
            return None  # the limit diverges too (e.g. nobody drops out): no identified estimate
        full, rate, dropout = unpack(limit.x)
        self._limit = (full, rate, dropout, float(-limit.fun))
        parts = []
        if rate_off:
            parts.append(f"the customers' purchase rates do not differ (r, alpha -> infinity); every customer "
                         f"buys at the same rate {rate:.3g} per time unit while active. r and alpha are not estimated")
        if dropout_off:
            parts.append(f"the customers' dropout probabilities do not differ (a, b -> infinity); every customer "
                         f"stops buying with the same probability p = {dropout:.3g} after a purchase. "
                         f"a and b are not estimated")
        self.limit_note_ = (f"{self.model_name}: " + "; ".join(parts) + ". The estimate is that limit.")
        return self.limit_note_

    # ---- predictions --------------------------------------------------------------------------
    def _limit_values(self, params: np.ndarray) -> tuple[float | None, float | None]:
        """The common purchase rate and dropout probability when ``params`` are a fitted limit."""
        rate = getattr(self, "common_rate_", None) if np.isinf(params[0]) and np.isinf(params[1]) else None
        dropout = getattr(self, "common_dropout_", None) if np.isinf(params[2]) and np.isinf(params[3]) else None
        return rate, dropout

    def _limit_dropout(self, params: np.ndarray) -> float | None:
        """The common dropout probability when ``params`` are the fitted common-dropout limit."""
        return self._limit_values(params)[1]

    def _p_alive(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        rate, dropout = self._limit_values(params)
        if rate is not None or dropout is not None:
            _, alive, dropped = self._limit_log_terms(params, rate, dropout, x, t_x, T)
            return np.exp(alive - np.logaddexp(alive, dropped))
        _, term_T, term_tx, _, _ = self._terms(params, self._precompute([x, t_x, T]))
        return np.exp(term_T - np.logaddexp(term_T, term_tx))

    def _expected_if_alive(self, params: np.ndarray, t: float | np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        k = self._k
        rate, dropout = self._limit_values(params)
        if rate is not None and dropout is not None:
            # One rate and one dropout probability for everyone: (1 - exp(-rate p t)) / p.
            return -np.expm1(-rate * dropout * np.asarray(t, dtype=float)) / dropout + 0.0 * x
        if rate is not None:
            return _expected_if_alive_by_quadrature(np.inf, rate, a, b + x + k, t, x, T)
        if dropout is not None:
            # Rate posterior Gamma(r + x, alpha + T); each purchase ends the relationship with probability p.
            return (1 - np.exp(-(r + x) * np.log1p(dropout * t / (alpha + T)))) / dropout
        if max(r, a, b) >= QUADRATURE_MIN_PARAMETER:
            return _expected_if_alive_by_quadrature(r, alpha, a, b + x + k, t, x, T)
        # E[X(t) | x, t_x, T] = C/(a-1) * [1 - (1-z)^(r+x) 2F1(r+x, b+x+k; C; z)] * P(alive),
        # C = a+b+x+k-1, z = t/(alpha+T+t). Euler's transformation turns the bracket into
        # 1 - (1-z)^(a-1) 2F1(C-r-x, a-1; C; z), whose series stays bounded for large x.
        c = a + b + x + k - 1
        z = t / (alpha + T + t)
        tail = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(a + b + k - 1 - r, a - 1, c, z)
        return c / (a - 1) * (1 - tail)

    def probability_of_purchases(self, n: Any, t: float, params: Any = None):
        """P(X(t) = n): probability that a new customer makes ``n`` repeat purchase days in ``t`` time units.

        From FHL (2005) eq. 8 (and the MBG analogue, where dropout is also possible at time 0).
        """
        r, alpha, a, b = self._params(params)
        k = self._k
        ns = np.atleast_1d(np.asarray(n, dtype=float))
        success = alpha / (alpha + t)
        alive_term = np.exp(special.betaln(a, b + ns + k) - special.betaln(a, b)) * stats.nbinom.pmf(ns, r, success)
        has_second = np.ones_like(ns, dtype=bool) if self._second_term_at_zero else ns > 0
        n_second = np.where(has_second, ns, 1.0)
        dropped = np.where(
            has_second,
            np.exp(special.betaln(a + 1, b + n_second + k - 1) - special.betaln(a, b))
            * stats.nbinom.sf(ns - 1, r, success),
            0.0,
        )
        values = alive_term + dropped
        return float(values[0]) if np.ndim(n) == 0 else values


class BetaGeoModel(_BetaGeoFamily):
    """BG/NBD model of repeat purchases and dropout (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    penalizer
        Optional L2 penalty on the log-parameters, ``penalizer * sum(log(theta)^2)`` added to the
        mean negative log-likelihood per customer; use it when the fit diverges on sparse data.
    strict
        Raise :class:`~clc_lib.errors.ModelFitError` when the optimiser does not converge (default);
        with ``strict=False`` warn and set ``converged_ = False`` instead.

    Attributes
    ----------
    params_ : pandas.Series
        ``r``, ``alpha`` (in the time unit of t_x and T), ``a``, ``b``.
    standard_errors_, confidence_intervals_, covariance_
        From the Hessian of the negative log-likelihood at the optimum (95% intervals on the log scale).
    log_likelihood_ : float
        Sum over customers of ln L in Hardie's form.
    n_customers_, n_patterns_, converged_
        Customers fitted, distinct (x, t_x, T) rows, and whether the optimiser converged.

    Examples
    --------
    >>> model = BetaGeoModel().fit(summary)            # doctest: +SKIP
    >>> model.expected_purchases(39, summary)          # doctest: +SKIP
    """

    model_name = "BG/NBD"
    _k = 0
    _second_term_at_zero = False


class ModifiedBetaGeoModel(_BetaGeoFamily):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007): BG/NBD with dropout possible at time 0.

    Same parameters, attributes and methods as :class:`BetaGeoModel`; customers without repeat
    purchases get P(alive) < 1.
    """

    model_name = "MBG/NBD"
    _k = 1
    _second_term_at_zero = True
