"""Pareto/NBD: repeat purchases with an exponential lifetime (Schmittlein, Morrison & Colombo 1987).

While active a customer buys at Poisson rate ``lambda ~ Gamma(r, alpha)``; the unobserved lifetime
is exponential with rate ``mu ~ Gamma(s, beta)``. ``alpha`` and ``beta`` are in the time unit of
``t_x`` and ``T``; ``r`` and ``s`` are unitless. Inputs as for the BG/NBD: ``x`` repeat purchase
days (first purchase not counted, same-day purchases merged, returns excluded), ``t_x`` and ``T``
measured from the first purchase.

Likelihood (Fader, Hardie & Lee 2005, "A note on deriving the Pareto/NBD model and related
expressions", eq. 18)::

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) * A0 ]

where ``A0`` is a difference of two Gaussian hypergeometric terms. With ``m = max(alpha, beta)``,
``A0 = F(t_x) - F(T)`` and ``F(y) = 2F1(r+s+x, c; r+s+x+1; |alpha-beta|/(m+y)) / (m+y)^(r+s+x)``,
``c = s+1`` when ``alpha >= beta`` and ``c = r+x`` otherwise (the ordering matters: it keeps the
argument in [0, 1)). Here everything is evaluated in logs: Euler's transformation
``2F1(A, c; A+1; z) = (1-z)^(1-c) 2F1(1, A+1-c; A+1; z)`` leaves a series bounded by ``1/(1-z)``, so
nothing overflows for large ``x``, and ``log(F(t_x) - F(T))`` is taken as
``log F(t_x) + log(-expm1(log F(T) - log F(t_x)))`` (``-inf`` when t_x = T, which is harmless).
The gradient is analytic except for the derivatives of the hypergeometric terms, which are central
finite differences evaluated once per distinct (x, t_x) and (x, T) pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize, special

from clc_lib.clv._base import LOG_PARAM_BOUND, PurchaseModel, dot, compress, logaddexp, unique_inverse

__all__ = ["ParetoNBDModel", "COMMON_RATE_MIN_SHAPE", "LIMIT_TOLERANCE"]

#: r (or s) above which a fit is checked against the limit where every customer has the same
#: purchase (or dropout) rate: the gamma mixing's shape then makes the rates differ by under 1%.
COMMON_RATE_MIN_SHAPE = 1e4
#: Log-likelihood per customer (nats) within which the estimate and the limit count as the same fit.
LIMIT_TOLERANCE = 1e-6
_LEGENDRE_NODES, _LEGENDRE_WEIGHTS = np.polynomial.legendre.leggauss(96)


def _log_dropout_integral(log_slow: Any, fast_rate: float, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """ln of the integral over (start, stop) of ``exp(-fast_rate * tau) * exp(log_slow(tau))``.

    The exponential factor is taken out by the substitution ``v = 1 - exp(-fast_rate (tau - start))``,
    which leaves the smooth, slowly varying factor ``exp(log_slow)`` for Gauss-Legendre quadrature.
    """
    start, stop = np.asarray(start, dtype=float)[:, None], np.asarray(stop, dtype=float)[:, None]
    top = -np.expm1(-fast_rate * (stop - start))
    v = top * (_LEGENDRE_NODES + 1.0) / 2.0
    tau = start - np.log1p(-v) / fast_rate
    log_values = log_slow(tau)  # exp(-fast_rate tau) dtau = exp(-fast_rate start) dv / fast_rate
    with np.errstate(divide="ignore"):
        log_scale = -fast_rate * start[:, 0] - np.log(fast_rate) + np.log(top[:, 0] / 2.0)
    peak = np.max(log_values, axis=1, keepdims=True)
    total = np.log(np.exp(log_values - peak) @ _LEGENDRE_WEIGHTS) + peak[:, 0]
    return np.where(top[:, 0] > 0, log_scale + total, -np.inf)


def _log_hyp2f1_c_eq_a_plus_1(a: np.ndarray, c: np.ndarray, z: np.ndarray) -> np.ndarray:
    """ln 2F1(a, c; a+1; z) for a > 0, c > 0, 0 <= z < 1, via Euler's transformation."""
    return (1.0 - c) * np.log1p(-z) + np.log(special.hyp2f1(1.0, a + 1.0 - c, a + 1.0, z))


def _log_f(params: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ln of 2F1(r+s+x, c; r+s+x+1; |alpha-beta|/(m+y)) / (m+y)^(r+s+x), m = max(alpha, beta)."""
    r, alpha, s, beta = params
    big = r + s + x
    shift, c = (alpha, s + 1.0 + 0.0 * x) if alpha >= beta else (beta, r + x)
    return _log_hyp2f1_c_eq_a_plus_1(big, c, abs(alpha - beta) / (shift + y)) - big * np.log(shift + y)


def _log_f_gradient(params: np.ndarray, x: np.ndarray, y: np.ndarray, relative_step: float = 1e-6) -> np.ndarray:
    """Central-difference derivatives of :func:`_log_f` with respect to (r, alpha, s, beta)."""
    out = np.empty((4, len(x)))
    for k in range(4):
        step = relative_step * params[k]
        up, down = params.copy(), params.copy()
        up[k] += step
        down[k] -= step
        out[k] = (_log_f(up, x, y) - _log_f(down, x, y)) / (2 * step)
    return out


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD model of repeat purchases and exponential lifetimes.

    Parameters, attributes and methods as :class:`clc_lib.clv.BetaGeoModel`; the parameters are
    ``r``, ``alpha`` (purchase rate heterogeneity) and ``s``, ``beta`` (dropout rate heterogeneity).
    ``beta`` is often weakly identified (CDNOW: SE about 6 on an estimate of 11.7).
    """

    param_names = ("r", "alpha", "s", "beta")
    model_name = "Pareto/NBD"

    def _precompute(self, patterns: list[np.ndarray]) -> tuple:
        # The hypergeometric terms depend on (x, t_x) and on (x, T) only, the other terms on x or on T
        # only: each is evaluated per distinct value or pair and gathered.
        x, t_x, T = patterns
        pairs_tx, _, inverse_tx = compress(x, t_x)
        pairs_T, _, inverse_T = compress(x, T)
        return (*unique_inverse(x), *unique_inverse(T), pairs_tx, inverse_tx, pairs_T, inverse_T)

    def _fit_cache(self, patterns: list[np.ndarray]) -> dict:
        x, t_x, T = patterns
        pairs_tx, _, inverse_tx = compress(x, t_x)
        pairs_T, _, inverse_T = compress(x, T)
        ux, ix = unique_inverse(x)
        return {"ux": ux, "ix": ix, "pairs_tx": pairs_tx, "inverse_tx": inverse_tx, "pairs_T": pairs_T,
                "inverse_T": inverse_T}

    def _weighted_total(self, params: np.ndarray, cache: Any, weights: np.ndarray,
                        gradient: bool) -> tuple[float, np.ndarray | None]:
        """Weighted log-likelihood and gradient with the per-pattern work reduced to a few vector operations.

        ``ln L = c(x) + alive(x, T) + softplus(dead - alive)``; ``c`` is evaluated per distinct x,
        ``alive`` and the hypergeometric terms per distinct (x, T) and (x, t_x) pair, and the weighted
        shares are accumulated per pair with ``bincount``.
        """
        if not isinstance(cache, dict):
            return super()._weighted_total(params, cache, weights, gradient)
        r, alpha, s, beta = params
        ux, ix = cache["ux"], cache["ix"]
        (x_t, t_x), inverse_tx = cache["pairs_tx"], cache["inverse_tx"]
        (x_T, T), inverse_T = cache["pairs_T"], cache["inverse_T"]
        log_common = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x_T) * np.log(alpha + T) - s * np.log(beta + T)
        dead_x = np.log(s) - np.log(r + s + ux)
        log_f_tx = _log_f(params, x_t, t_x)
        log_f_T = _log_f(params, x_T, T)
        gap = np.minimum(np.take(log_f_T, inverse_T) - np.take(log_f_tx, inverse_tx), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            one_minus_ratio = -np.expm1(gap)
            diff = np.take(dead_x, ix) + np.take(log_f_tx, inverse_tx) + np.log(one_minus_ratio) - np.take(alive, inverse_T)
            softplus = logaddexp(0.0, diff)  # log(1 + exp(diff)), stable
        weight_x = np.bincount(ix, weights=weights, minlength=len(ux))
        weight_T = np.bincount(inverse_T, weights=weights, minlength=len(T))
        total = float(dot(weight_x, log_common) + dot(weight_T, alive) + dot(weights, softplus))
        if not gradient:
            return total, None
        usable = one_minus_ratio > 0
        weighted_dead = weights * np.exp(diff - softplus)  # weight times the share of the dead term
        scaled = np.where(usable, weighted_dead / np.where(usable, one_minus_ratio, 1.0), 0.0)
        coef_tx = np.bincount(inverse_tx, weights=scaled, minlength=len(t_x))
        coef_fT = -np.bincount(inverse_T, weights=scaled * np.exp(gap), minlength=len(T))
        coef_alive = weight_T - np.bincount(inverse_T, weights=weighted_dead, minlength=len(T))
        coef_dead_x = np.bincount(ix, weights=weighted_dead, minlength=len(ux))
        d_f_tx = _log_f_gradient(params, x_t, t_x)
        d_f_T = _log_f_gradient(params, x_T, T)
        inv_rsx = 1.0 / (r + s + ux)
        grad = np.array([
            dot(weight_x, special.digamma(r + ux) - special.digamma(r) + np.log(alpha))
            - dot(coef_alive, np.log(alpha + T)) - dot(coef_dead_x, inv_rsx),
            weight_x.sum() * r / alpha - dot(coef_alive, (r + x_T) / (alpha + T)),
            weight_x.sum() * np.log(beta) - dot(coef_alive, np.log(beta + T)) + dot(coef_dead_x, (1.0 / s - inv_rsx)),
            weight_x.sum() * s / beta - dot(coef_alive, (s / (beta + T))),
        ]) + dot(d_f_tx, coef_tx) + dot(d_f_T, coef_fT)
        return total, grad

    def _log_terms(self, params: np.ndarray, cache: tuple, with_parts: bool = False):
        """The two log terms inside the bracket of L, without the common factor."""
        r, alpha, s, beta = params
        ux, ix, uT, iT, (x_tx, t_x), inverse_tx, (x_T, T_pair), inverse_T = cache
        term_alive = -(r + ux)[ix] * np.log(alpha + uT)[iT] - (s * np.log(beta + uT))[iT]
        log_f_tx = _log_f(params, x_tx, t_x)[inverse_tx]
        log_f_T = _log_f(params, x_T, T_pair)[inverse_T]
        log_one_minus_ratio = np.log(-np.expm1(np.minimum(log_f_T - log_f_tx, 0.0)))  # -inf when t_x = T
        term_dead = (np.log(s) - np.log(r + s + ux))[ix] + log_f_tx + log_one_minus_ratio
        if with_parts:
            return term_alive, term_dead, log_f_tx, log_f_T
        return term_alive, term_dead

    def _loglik_cached(self, params: np.ndarray, cache: tuple) -> np.ndarray:
        r, alpha, s, beta = params
        ux, ix = cache[0], cache[1]
        log_common = special.gammaln(r + ux) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        with np.errstate(divide="ignore"):
            term_alive, term_dead = self._log_terms(params, cache)
        return log_common[ix] + logaddexp(term_alive, term_dead)

    def _loglik_grad_cached(self, params: np.ndarray, cache: tuple) -> np.ndarray:
        """Analytic gradient, except for the hypergeometric terms, differentiated numerically per pair."""
        r, alpha, s, beta = params
        ux, ix, uT, iT, (x_tx, t_x), inverse_tx, (x_T, T_pair), inverse_T = cache
        with np.errstate(divide="ignore", invalid="ignore"):
            term_alive, term_dead, log_f_tx, log_f_T = self._log_terms(params, cache, with_parts=True)
            total = logaddexp(term_alive, term_dead)
            share_alive = np.exp(term_alive - total)
            share_dead = np.exp(term_dead - total)
            ratio = np.exp(np.minimum(log_f_T - log_f_tx, 0.0))
            one_minus_ratio = -np.expm1(np.minimum(log_f_T - log_f_tx, 0.0))
            usable = one_minus_ratio > 0
        d_log_f_tx = _log_f_gradient(params, x_tx, t_x)[:, inverse_tx]
        d_log_f_T = _log_f_gradient(params, x_T, T_pair)[:, inverse_T]
        d_log_a0 = np.where(usable, (d_log_f_tx - ratio * d_log_f_T) / np.where(usable, one_minus_ratio, 1.0), 0.0)
        log_aT, log_bT = np.log(alpha + uT)[iT], np.log(beta + uT)[iT]
        r_x = (r + ux)[ix]
        inv_rsx = (1.0 / (r + s + ux))[ix]
        d_r = ((special.digamma(r + ux) - special.digamma(r) + np.log(alpha))[ix]
               - share_alive * log_aT + share_dead * (d_log_a0[0] - inv_rsx))
        d_alpha = r / alpha - share_alive * r_x / (alpha + uT)[iT] + share_dead * d_log_a0[1]
        d_s = np.log(beta) - share_alive * log_bT + share_dead * (1.0 / s - inv_rsx + d_log_a0[2])
        d_beta = s / beta - share_alive * s / (beta + uT)[iT] + share_dead * d_log_a0[3]
        return np.vstack([d_r, d_alpha, d_s, d_beta])

    def _loglik(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        return self._loglik_cached(params, self._precompute([x, t_x, T]))

    # ---- the common-rate limits ---------------------------------------------------------------
    def fit(self, data=None, *, x: Any = None, t_x: Any = None, T: Any = None, weights: Any = None,
            initial: Any = None):
        """Fit by maximum likelihood (see :meth:`PurchaseModel.fit`).

        When the customers' purchase rates do not differ, ``r`` and ``alpha`` run off to infinity
        with ``r / alpha`` fixed (the Poisson limit of the gamma mixing); when their dropout rates do
        not differ, ``s`` and ``beta`` do so with ``s / beta`` fixed. If such a limit, fitted by
        maximum likelihood, fits as well, the estimate is the limit: those parameters are infinite
        without standard errors, ``common_rate_`` holds the common purchase rate and
        ``common_dropout_rate_`` the common dropout rate (per time unit), predictions use the
        limit's formulas, and a warning (also in ``limit_note_``) says so.
        """
        self.limit_note_ = None
        self.common_rate_ = None
        self.common_dropout_rate_ = None
        self._limit = None
        super().fit(data, x=x, t_x=t_x, T=T, weights=weights, initial=initial)
        if self._limit is not None:
            params, rate, dropout_rate, log_likelihood = self._limit
            self.params_[:] = params
            self.common_rate_, self.common_dropout_rate_ = rate, dropout_rate
            self.log_likelihood_ = log_likelihood
            off = [name for name, value in zip(self.param_names, params) if np.isinf(value)]
            self.standard_errors_[off] = np.nan
            self.confidence_intervals_.loc[off] = np.nan
        return self

    def _limit_log_terms(self, params: np.ndarray, rate: float | None, dropout_rate: float | None, x: np.ndarray,
                         t_x: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Common factor, alive and dropped-out log terms of a limit (at least one of the rates given)."""
        r, alpha, s, beta = params
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        if rate is None:
            common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
            alive = -(r + x) * np.log(alpha + T)
        else:
            common = x * np.log(rate)
            alive = -rate * T
        if dropout_rate is None:
            common = common + s * np.log(beta)
            alive = alive - s * np.log(beta + T)
        with np.errstate(divide="ignore"):
            if rate is not None and dropout_rate is not None:
                total = rate + dropout_rate
                alive = alive - dropout_rate * T
                dead = (np.log(dropout_rate / total) - total * t_x
                        + np.log(-np.expm1(-total * (T - t_x))))
            elif rate is not None:
                dead = np.log(s) + _log_dropout_integral(
                    lambda tau: -(s + 1.0) * np.log(beta + tau), rate, t_x, T)
            else:
                alive = alive - dropout_rate * T
                m = (r + x)[:, None]
                dead = np.log(dropout_rate) + _log_dropout_integral(
                    lambda tau: -m * np.log(alpha + tau), dropout_rate, t_x, T)
        return common, alive, dead

    def _limit_of_ridge(self, params: np.ndarray, cache: Any, weights: np.ndarray) -> str | None:
        r, alpha, s, beta = params
        rate_off, dropout_off = r >= COMMON_RATE_MIN_SHAPE, s >= COMMON_RATE_MIN_SHAPE
        if not (rate_off or dropout_off) or self.penalizer > 0 or not isinstance(cache, dict):
            return None
        x = cache["ux"][cache["ix"]]
        t_x = cache["pairs_tx"][1][cache["inverse_tx"]]
        T = cache["pairs_T"][1][cache["inverse_T"]]
        n = float(weights.sum())

        def unpack(v: np.ndarray, rate_off: bool, dropout_off: bool) -> tuple[np.ndarray, float | None, float | None]:
            if rate_off:
                rate, rest, full = float(np.exp(v[0])), v[1:], [np.inf, np.inf]
            else:
                rate, rest, full = None, v[2:], [np.exp(v[0]), np.exp(v[1])]
            if dropout_off:
                return np.array(full + [np.inf, np.inf]), rate, float(np.exp(rest[0]))
            return np.array(full + [np.exp(rest[0]), np.exp(rest[1])]), rate, None

        def negative_loglik(v: np.ndarray, rate_off: bool, dropout_off: bool) -> float:
            full, rate, dropout_rate = unpack(v, rate_off, dropout_off)
            common, alive, dead = self._limit_log_terms(full, rate, dropout_rate, x, t_x, T)
            value = dot(weights, common + logaddexp(alive, dead))
            return -value if np.isfinite(value) else 1e300

        # Fitting one limit may send the other shape off to infinity too; then both limits are fitted.
        current = np.asarray(params, dtype=float)
        for _ in range(2):
            r, alpha, s, beta = current
            start = ([np.log(r / alpha)] if rate_off else [np.log(r), np.log(alpha)]) + (
                [np.log(s / beta)] if dropout_off else [np.log(s), np.log(beta)])
            limit = optimize.minimize(negative_loglik, np.array(start), args=(rate_off, dropout_off),
                                      method="Nelder-Mead",
                                      options={"xatol": 1e-10, "fatol": 1e-10 * n, "maxiter": 20_000})
            full, rate, dropout_rate = unpack(limit.x, rate_off, dropout_off)
            grown_rate = not rate_off and full[0] >= COMMON_RATE_MIN_SHAPE
            grown_dropout = not dropout_off and full[2] >= COMMON_RATE_MIN_SHAPE
            if not (grown_rate or grown_dropout):
                break
            current = np.where(np.isinf(full), current, full)
            rate_off, dropout_off = rate_off or grown_rate, dropout_off or grown_dropout
        fitted = self._weighted_total(params, cache, weights, gradient=False)[0]
        if np.isfinite(fitted) and -limit.fun < fitted - LIMIT_TOLERANCE * n:
            return None  # finite parameters fit better: the customers do differ
        if np.any(np.abs(limit.x) >= LOG_PARAM_BOUND - 1e-3):
            return None  # the limit diverges too: no identified estimate
        self._limit = (full, rate, dropout_rate, float(-limit.fun))
        parts = []
        if rate_off:
            parts.append(f"the customers' purchase rates do not differ (r, alpha -> infinity); every customer "
                         f"buys at the same rate {rate:.3g} per time unit while active. r and alpha are not estimated")
        if dropout_off:
            parts.append(f"the customers' dropout rates do not differ (s, beta -> infinity); every customer "
                         f"drops out at the same rate {dropout_rate:.3g} per time unit. s and beta are not estimated")
        self.limit_note_ = f"{self.model_name}: " + "; ".join(parts) + ". The estimate is that limit."
        return self.limit_note_

    def _limit_values(self, params: np.ndarray) -> tuple[float | None, float | None]:
        """The common purchase and dropout rates when ``params`` are a fitted limit."""
        rate = getattr(self, "common_rate_", None) if np.isinf(params[0]) and np.isinf(params[1]) else None
        dropout_rate = (getattr(self, "common_dropout_rate_", None)
                        if np.isinf(params[2]) and np.isinf(params[3]) else None)
        return rate, dropout_rate

    # ---- predictions --------------------------------------------------------------------------
    def _p_alive(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        rate, dropout_rate = self._limit_values(params)
        if rate is not None or dropout_rate is not None:
            _, alive, dead = self._limit_log_terms(params, rate, dropout_rate, x, t_x, T)
            return np.exp(alive - logaddexp(alive, dead))
        with np.errstate(divide="ignore"):
            term_alive, term_dead = self._log_terms(params, self._precompute([x, t_x, T]))
        return np.exp(term_alive - np.logaddexp(term_alive, term_dead))

    def _expected_if_alive(self, params: np.ndarray, t: float | np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, s, beta = params
        rate, dropout_rate = self._limit_values(params)
        purchase_rate = rate + 0.0 * x if rate is not None else (r + x) / (alpha + T)
        if dropout_rate is not None:
            # Exponential lifetime with one rate: the expected active time in (T, T+t] is (1 - e^(-mu t)) / mu.
            return purchase_rate * -np.expm1(-dropout_rate * np.asarray(t, dtype=float)) / dropout_rate
        # E[X(t) | alive at T] = (r+x)/(alpha+T) * integral of the survival over (T, T+t]
        #                      = (r+x)(beta+T)/(alpha+T) * [1 - ((beta+T)/(beta+T+t))^(s-1)] / (s-1),
        # written with expm1 so that s -> 1 gives the limit log((beta+T+t)/(beta+T)).
        log_ratio = np.log1p(t / (beta + T))
        if abs(s - 1.0) < 1e-9:
            lifetime_part = log_ratio
        else:
            lifetime_part = -np.expm1(-(s - 1.0) * log_ratio) / (s - 1.0)
        return purchase_rate * (beta + T) * lifetime_part
