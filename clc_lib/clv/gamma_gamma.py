"""Gamma-Gamma model of the value of repeat transactions (Fader & Hardie 2013, note 025).

Each transaction value ``z ~ Gamma(p, nu)`` with the customer's scale ``nu ~ Gamma(q, gamma)``.
The model is fitted on the customers with at least one repeat purchase day (``x > 0``) from
``zbar``: the mean value of their repeat purchase days in the run currency (same-day purchases
summed into one, the first purchase excluded; returns are netted in by the customer summary,
so a customer whose repeat days net to 0 or less has no usable value and is refused).

It assumes spend per transaction is independent of purchase frequency. The fit reports the
correlation between ``x`` and ``zbar`` (``frequency_spend_correlation_``) and warns when it is
not small (``|corr| > SPEND_CORRELATION_WARNING``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from clc_lib.clv._base import BaseModel, dot, as_summary_frame, check_counts, compress, unique_inverse
from clc_lib.errors import DataError, ModelFitError

__all__ = ["GammaGammaModel", "SPEND_CORRELATION_WARNING", "FrequencySpendCorrelationWarning"]

#: Above this absolute Pearson correlation between x and zbar the independence assumption is doubtful.
SPEND_CORRELATION_WARNING = 0.3
#: q above which a fit is checked against the no-heterogeneity limit (q -> infinity):
#: the customers' scales then vary by 1/sqrt(q) < 1%.
RIDGE_MIN_Q = 1e4
#: Log-likelihood per customer (nats) within which the estimate and the limit count as the same fit.
RIDGE_TOLERANCE = 1e-6
#: Relative spread of the repeat buyers' mean spends (max/min - 1) up to which spend counts as constant.
CONSTANT_SPEND_TOLERANCE = 1e-9


class FrequencySpendCorrelationWarning(UserWarning):
    """Purchase frequency and spend per transaction are correlated: Gamma-Gamma spend may be biased."""


class GammaGammaModel(BaseModel):
    """Gamma-Gamma spend model.

    Parameters
    ----------
    penalizer, strict
        As for :class:`clc_lib.clv.BetaGeoModel`.

    Attributes
    ----------
    params_ : pandas.Series
        ``p``, ``q`` (unitless) and ``gamma`` (currency).
    frequency_spend_correlation_ : float
        Pearson correlation of ``x`` and ``zbar`` over the fitted customers.
    n_customers_ : int
        Customers with x > 0 used in the fit; ``n_excluded_`` customers with x = 0 were left out.
    constant_spend_ : float or None
        The common mean spend when every repeat buyer has the same ``zbar`` (the constant-spend
        limit: ``p``, ``q`` and ``gamma`` are infinite and every expected spend is this value);
        None for an ordinary fit.
    limit_note_ : str or None
        What the estimate means when the fit is a limit of the model (constant spend, or customers
        whose mean spends vary no more than single transactions do); None otherwise.
    standard_errors_, confidence_intervals_, log_likelihood_, converged_
        As for the purchase models.
    """

    param_names = ("p", "q", "gamma")
    input_columns = ("x", "zbar")
    model_name = "Gamma-Gamma"

    def _frame(self, data: pd.DataFrame | None, x: Any, zbar: Any) -> tuple[pd.DataFrame, pd.Index | None]:
        scalar = data is None and np.ndim(x) == 0
        arrays = {"x": [x] if scalar else x, "zbar": [zbar] if scalar else zbar}
        frame = as_summary_frame(data, self.input_columns, arrays, source="customer summary")
        check_counts(frame, "x", source="customer summary")
        return frame, (frame.index if data is not None else None)

    def _loglik(self, params: np.ndarray, x: np.ndarray, zbar: np.ndarray) -> np.ndarray:
        p, q, gamma = params
        px = p * x
        return (special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q) + q * np.log(gamma)
                + (px - 1) * np.log(zbar) + px * np.log(x) - (px + q) * np.log(gamma + x * zbar))

    def _loglik_grad(self, params: np.ndarray, x: np.ndarray, zbar: np.ndarray) -> np.ndarray:
        p, q, gamma = params
        px = p * x
        spend_total = gamma + x * zbar
        d_px_q = special.digamma(px + q)
        d_p = x * (d_px_q - special.digamma(px) + np.log(zbar) + np.log(x) - np.log(spend_total))
        d_q = d_px_q - special.digamma(q) + np.log(gamma) - np.log(spend_total)
        d_gamma = q / gamma - (px + q) / spend_total
        return np.vstack([d_p, d_q, d_gamma])

    def _fit_cache(self, patterns: list[np.ndarray]) -> dict:
        x, zbar = patterns
        ux, ix = unique_inverse(x)
        return {"x": x, "zbar": zbar, "ux": ux, "ix": ix, "log_zbar": np.log(zbar), "x_log_x": x * np.log(x),
                "x_zbar": x * zbar}

    def _weighted_total(self, params: np.ndarray, cache: Any, weights: np.ndarray,
                        gradient: bool) -> tuple[float, np.ndarray | None]:
        """Weighted log-likelihood: Gamma functions once per distinct x, data-only sums computed once."""
        if not isinstance(cache, dict):
            return super()._weighted_total(params, cache, weights, gradient)
        if cache.get("weights") is not weights:
            x = cache["x"]
            cache.update({
                "weights": weights, "weighted_x": weights * x, "n": weights.sum(),
                "weight_x": np.bincount(cache["ix"], weights=weights, minlength=len(cache["ux"])),
                "sum_w_log_z": dot(weights, cache["log_zbar"]), "sum_wx_log_z": dot(weights * x, cache["log_zbar"]),
                "sum_wx_log_x": dot(weights, cache["x_log_x"]),
            })
        p, q, gamma = params
        ux, weight_x, n = cache["ux"], cache["weight_x"], cache["n"]
        spend = gamma + cache["x_zbar"]
        log_spend = np.log(spend)
        sum_w_log_spend, sum_wx_log_spend = dot(weights, log_spend), dot(cache["weighted_x"], log_spend)
        per_x = special.gammaln(p * ux + q) - special.gammaln(p * ux)
        total = float(dot(weight_x, per_x) - n * special.gammaln(q) + n * q * np.log(gamma)
                      + p * cache["sum_wx_log_z"] - cache["sum_w_log_z"] + p * cache["sum_wx_log_x"]
                      - p * sum_wx_log_spend - q * sum_w_log_spend)
        if not gradient:
            return total, None
        d_px_q = special.digamma(p * ux + q)
        inverse_spend = 1.0 / spend
        grad = np.array([
            dot(weight_x, ux * (d_px_q - special.digamma(p * ux))) + cache["sum_wx_log_z"] + cache["sum_wx_log_x"]
            - sum_wx_log_spend,
            dot(weight_x, d_px_q) - n * special.digamma(q) + n * np.log(gamma) - sum_w_log_spend,
            n * q / gamma - p * (dot(cache["weighted_x"], inverse_spend)) - q * (dot(weights, inverse_spend)),
        ])
        return total, grad

    def _initial_log_params(self, patterns: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
        x, zbar = patterns
        mean = float(np.average(zbar, weights=weights))
        # p = 1 and q = 2 put the population mean p * gamma / (q - 1) at the observed mean.
        return np.log([1.0, 2.0, mean])

    def fit(self, data: pd.DataFrame | None = None, *, x: Any = None, zbar: Any = None,
            initial: Sequence[float] | dict[str, float] | None = None) -> GammaGammaModel:
        """Fit on the customers with ``x > 0``.

        Parameters
        ----------
        data
            Customer summary with ``x`` (repeat purchase days) and ``zbar`` (mean value of the repeat
            purchase days, run currency); or give both as arrays.
        """
        frame, _ = self._frame(data, x, zbar)
        repeat = frame[frame["x"] > 0]
        self.n_excluded_ = int(len(frame) - len(repeat))
        if len(repeat) < 3:
            raise ModelFitError(
                f"Gamma-Gamma needs customers with repeat purchases; only {len(repeat)} of {len(frame):,} have "
                "x > 0. Use a longer calibration period or fall back to the observed mean spend."
            )
        non_positive = repeat["zbar"] <= 0
        if non_positive.any():
            raise DataError(
                "Customers with repeat purchases must have a positive mean repeat value zbar "
                "(returns can net a customer's repeat days to 0 or less).",
                source="customer summary", column="zbar", n_rows=int(non_positive.sum()),
                examples=list(repeat.loc[non_positive, "zbar"].head(5).items()),
                hint="Exclude these customers from the spend model (and say so) or give them zbar from "
                     "gross purchase values.",
            )
        self.constant_spend_ = None
        self.limit_note_ = None
        zbar_values = repeat["zbar"].to_numpy()
        if zbar_values.max() / zbar_values.min() - 1 <= CONSTANT_SPEND_TOLERANCE:
            self._store_constant_spend(float(np.average(zbar_values, weights=repeat["x"].to_numpy())), len(repeat))
            return self
        if repeat["x"].nunique() > 1 and repeat["zbar"].nunique() > 1:
            correlation = float(np.corrcoef(repeat["x"], repeat["zbar"])[0, 1])
        else:
            correlation = float("nan")
        self.frequency_spend_correlation_ = correlation
        if np.isfinite(correlation) and abs(correlation) > SPEND_CORRELATION_WARNING:
            warnings.warn(
                f"Purchase frequency and spend per transaction are correlated (Pearson r = {correlation:.2f}, "
                f"above {SPEND_CORRELATION_WARNING}); the Gamma-Gamma model assumes independence, so its "
                "expected spend may be biased. Consider segmenting customers or using observed spend.",
                FrequencySpendCorrelationWarning, stacklevel=2,
            )
        patterns, weights, _ = compress(repeat["x"].to_numpy(), repeat["zbar"].to_numpy())
        if isinstance(initial, dict):
            initial = [initial[n] for n in self.param_names]
        self._fit_patterns(patterns, weights, len(repeat), initial)
        if self.limit_note_:
            # On the no-heterogeneity ridge q and gamma are not identified, only their ratio is.
            self.standard_errors_[["q", "gamma"]] = np.nan
            self.confidence_intervals_.loc[["q", "gamma"]] = np.nan
        return self

    def _store_constant_spend(self, spend: float, n_customers: int) -> None:
        """The constant-spend limit: no variation between customers or transactions to estimate.

        When every repeat buyer's mean spend is the same, the likelihood grows without bound as
        ``p``, ``q`` and ``gamma`` go to infinity with the mean fixed: transaction values are then
        certain. The estimate is that limit; the fit is recorded as converged, with a note.
        """
        names = list(self.param_names)
        infinite = pd.Series(np.inf, index=names)
        self.constant_spend_ = spend
        self.params_ = infinite.rename("estimate")
        self.log_likelihood_ = float("nan")
        self.n_customers_ = int(n_customers)
        self.n_patterns_ = 1
        self.converged_ = True
        self.n_iterations_ = 0
        self.covariance_ = pd.DataFrame(np.nan, index=names, columns=names)
        self.standard_errors_ = pd.Series(np.nan, index=names, name="standard_error")
        self.confidence_intervals_ = pd.DataFrame({"lower": np.nan, "upper": np.nan}, index=names)
        self.limit_note_ = (
            f"{self.model_name}: every repeat buyer has the same mean spend ({spend:,.4g} per repeat purchase "
            f"day), so spend does not vary between customers; the spend model is its constant-spend limit "
            "(p, q, gamma -> infinity) and every customer's expected spend is that value.")
        warnings.warn(self.limit_note_, stacklevel=3)

    def _limit_of_ridge(self, params: np.ndarray, cache: Any, weights: np.ndarray) -> str | None:
        """Customers' mean spends that vary no more than transaction noise implies: q, gamma -> infinity.

        With ``q/gamma`` fixed and ``q -> infinity`` every customer has the same scale ``nu``, so
        ``zbar ~ Gamma(p x, nu x)``. When that limit, fitted by maximum likelihood, fits at least as
        well as the estimate (to ``RIDGE_TOLERANCE`` nats per customer), the estimate is the limit up
        to rounding: expected spend is the population mean for every customer.
        """
        p, q, _ = params
        if q < RIDGE_MIN_Q or self.penalizer > 0 or not isinstance(cache, dict):
            return None
        x, zbar = cache["x"], cache["zbar"]
        n = float(weights.sum())
        sum_wx, sum_wx_zbar = dot(weights, x), dot(weights, x * zbar)

        def negative_loglik(log_p: float) -> float:
            shape = np.exp(log_p) * x
            rate = np.exp(log_p) * sum_wx / sum_wx_zbar * x
            return -dot(weights, shape * np.log(rate) + (shape - 1) * cache["log_zbar"] - rate * zbar
                         - special.gammaln(shape))

        limit = optimize.minimize_scalar(negative_loglik, bracket=(np.log(p) - 0.5, np.log(p) + 0.5))
        fitted = self._weighted_total(params, cache, weights, gradient=False)[0]
        if not limit.success or -limit.fun < fitted - RIDGE_TOLERANCE * n:
            return None  # a finite q fits better: the customers do differ; the fit is genuinely unconverged
        if -limit.fun - fitted > RIDGE_TOLERANCE * n:
            return None  # the estimate stopped too far from the limit for its predictions to equal it
        mean = sum_wx_zbar / sum_wx
        self.limit_note_ = (f"{self.model_name}: the customers' mean spends vary no more than single transactions do "
                f"(q = {q:.3g} -> infinity); the estimate is that limit, so every customer's expected spend "
                f"is the population mean ({mean:,.4g} per repeat purchase day). Standard errors of q and "
                "gamma are not meaningful.")
        return self.limit_note_

    def population_mean_spend(self, params: Any = None) -> float:
        """Mean transaction value in the population, ``p * gamma / (q - 1)`` (needs q > 1).

        In the constant-spend limit (``constant_spend_``) it is that constant.
        """
        if params is None and getattr(self, "constant_spend_", None) is not None:
            return float(self.constant_spend_)
        p, q, gamma = self._params(params)
        if q <= 1:
            raise ModelFitError(
                f"Gamma-Gamma q = {q:.3g} <= 1: the population mean spend is infinite. The spend data are "
                "very heavy-tailed; check for outliers or use the observed mean spend instead."
            )
        return float(p * gamma / (q - 1))

    def expected_spend(self, data: pd.DataFrame | None = None, *, x: Any = None, zbar: Any = None,
                       params: Any = None):
        """Conditional mean transaction value ``E(M | x, zbar) = p (gamma + x zbar) / (p x + q - 1)``.

        A weighted average of the population mean and the customer's own mean; for ``x = 0`` it is the
        population mean. Same currency as ``zbar``.
        """
        frame, index = self._frame(data, x, zbar)
        xs, zs = frame["x"].to_numpy(), frame["zbar"].to_numpy()
        if params is None and getattr(self, "constant_spend_", None) is not None:
            values = np.full(len(xs), float(self.constant_spend_))
            if index is not None:
                return pd.Series(values, index=index, name="expected_spend")
            return float(values[0]) if data is None and np.ndim(x) == 0 else values
        p, q, gamma = self._params(params)
        population = self.population_mean_spend(params)
        values = np.where(xs > 0, p * (gamma + xs * zs) / (p * xs + q - 1), population)
        if index is not None:
            return pd.Series(values, index=index, name="expected_spend")
        return float(values[0]) if data is None and np.ndim(x) == 0 else values

    def individual_log_likelihood(self, data: pd.DataFrame | None = None, *, x: Any = None, zbar: Any = None,
                                  params: Any = None):
        """Log density of each zbar given x (customers with x > 0 only)."""
        frame, index = self._frame(data, x, zbar)
        values = self._loglik(self._params(params), frame["x"].to_numpy(), frame["zbar"].to_numpy())
        if index is not None:
            return pd.Series(values, index=index, name="log_likelihood")
        return float(values[0]) if data is None and np.ndim(x) == 0 else values
