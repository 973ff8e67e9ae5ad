"""Shared machinery of the customer-base models: input checks, pattern compression, maximum likelihood.

Every model is fitted by maximum likelihood on per-customer summaries. Identical summary rows are
compressed into weighted patterns first (``np.unique`` over rows), so the cost of one likelihood
evaluation grows with the number of *distinct* rows, not with the number of customers.

Parameters are optimised on the log scale (they are all positive) with L-BFGS-B. Standard errors
come from the Hessian of the negative log-likelihood at the optimum, taken numerically on the log
parameters and carried to the natural parameters with the delta method (at the optimum this equals
the Hessian on the natural scale). The 95% intervals are built on the log scale,
``exp(log(theta) +- 1.96 se_log)``, so they stay positive and are asymmetric around the estimate.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from clc_lib.errors import DataError, ModelFitError


#: Log-parameter box used by the optimiser; an estimate that ends on it is reported as divergent.
LOG_PARAM_BOUND = 18.0
#: Largest absolute gradient of the mean penalised negative log-likelihood (log parameters) at
#: which a fit counts as converged.
GRADIENT_TOLERANCE = 1e-4
_Z95 = stats.norm.ppf(0.975)
#: Above this many distinct patterns the optimiser starts from a fit on a thinned sample of customers.
WARM_START_PATTERNS = 20_000
WARM_START_CUSTOMERS = 20_000


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------

def _examples(index: pd.Index, values: np.ndarray, mask: np.ndarray, n: int = 5) -> list[tuple[Any, Any]]:
    where = np.flatnonzero(mask)[:n]
    return [(index[i], values[i].item() if hasattr(values[i], "item") else values[i]) for i in where]


def as_summary_frame(
    data: pd.DataFrame | None = None,
    columns: Sequence[str] = ("x", "t_x", "T"),
    arrays: dict[str, Any] | None = None,
    *,
    source: str = "customer summary",
) -> pd.DataFrame:
    """Return a float frame with ``columns`` from a DataFrame or from keyword arrays.

    Raises
    ------
    DataError
        When a column is missing, holds NaN/infinite or negative values, or cannot be read as numbers.
    """
    if data is None:
        if arrays is None or any(arrays.get(c) is None for c in columns):
            raise DataError(f"Give the {source} as a DataFrame with columns {', '.join(columns)} "
                            "or give every one of them as an array.", source=source)
        frame = pd.DataFrame({c: np.asarray(arrays[c]) for c in columns})
    else:
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"The {source} must be a pandas DataFrame, got {type(data).__name__}.", source=source)
        missing = [c for c in columns if c not in data.columns]
        if missing:
            raise DataError(
                f"The {source} lacks the column(s) {', '.join(missing)}.", source=source, column=missing[0],
                hint=f"Expected columns {', '.join(columns)} (see clc_lib.summary.customer_summary).",
            )
        frame = data.loc[:, list(columns)]
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        raw = frame[column]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"The {source} has missing, non-numeric or infinite values in '{column}'.", source=source,
                column=column, n_rows=int(bad.sum()), examples=_examples(frame.index, raw.to_numpy(), bad),
                hint="Drop or repair these customers before fitting; the models need a value for every one.",
            )
        negative = values < 0
        if negative.any():
            raise DataError(
                f"The {source} has negative values in '{column}'.", source=source, column=column,
                n_rows=int(negative.sum()), examples=_examples(frame.index, values, negative),
                hint="Counts and durations are >= 0; check how the summary was built.",
            )
        out[column] = values
    if len(out) == 0:
        raise DataError(f"The {source} has no rows.", source=source, n_rows=0)
    return out


def check_counts(frame: pd.DataFrame, column: str, *, source: str) -> None:
    """Refuse non-integer counts."""
    values = frame[column].to_numpy()
    bad = values != np.round(values)
    if bad.any():
        raise DataError(f"'{column}' in the {source} must be whole numbers (a count).", source=source,
                        column=column, n_rows=int(bad.sum()), examples=_examples(frame.index, values, bad))


def check_recency(frame: pd.DataFrame, *, source: str, tolerance: float = 1e-9) -> None:
    """Refuse ``t_x > T`` and a positive ``t_x`` without repeat purchases."""
    x, t_x, T = (frame[c].to_numpy() for c in ("x", "t_x", "T"))
    after = t_x > T * (1 + tolerance) + tolerance
    if after.any():
        raise DataError(
            "t_x (time of the last repeat purchase) is later than T (end of observation) for some customers.",
            source=source, column="t_x", n_rows=int(after.sum()),
            examples=_examples(frame.index, np.column_stack([t_x, T]).tolist(), after),
            hint="t_x and T must be measured from the first purchase in the same time unit; "
                 "check the as_of date and that rows after it were removed.",
        )
    zero_with_recency = (x == 0) & (t_x > 0)
    if zero_with_recency.any():
        raise DataError(
            "Customers with no repeat purchase (x = 0) must have t_x = 0.", source=source, column="t_x",
            n_rows=int(zero_with_recency.sum()), examples=_examples(frame.index, t_x, zero_with_recency),
        )


def compress(*columns: np.ndarray, weights: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Unique rows of the given columns with their summed weights and the inverse index.

    Hash-based (``pandas.factorize`` per column, then on the combined codes), which is far faster
    than ``np.unique(..., axis=0)`` on millions of rows. Patterns come out in order of first
    appearance.

    Returns
    -------
    patterns, weights, inverse
        ``patterns[k][inverse]`` reproduces ``columns[k]``.
    """
    arrays = [np.asarray(c, dtype=float).ravel() for c in columns]
    codes, _ = pd.factorize(arrays[0])
    for array in arrays[1:]:
        column_codes, column_uniques = pd.factorize(array)
        codes, _ = pd.factorize(codes.astype(np.int64) * len(column_uniques) + column_codes)
    n_patterns = int(codes.max()) + 1 if len(codes) else 0
    first = np.full(n_patterns, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    w = np.ones(len(codes)) if weights is None else np.asarray(weights, dtype=float).ravel()
    pattern_weights = np.bincount(codes, weights=w, minlength=n_patterns)
    return [array[first] for array in arrays], pattern_weights, codes


def dot(a: np.ndarray, b: np.ndarray) -> Any:
    """Matrix product by multiply-and-sum.

    Avoids BLAS, whose threads make small products very slow when the cores are busy (a 1-D dot of
    100,000 values took milliseconds on a shared 2-core machine). Handles vector-vector,
    matrix-vector and vector-matrix products.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim == 1 and b.ndim == 1:
        return float(np.sum(a * b))
    if a.ndim == 2 and b.ndim == 1:
        return np.sum(a * b[None, :], axis=1)
    if a.ndim == 1 and b.ndim == 2:
        return np.sum(a[:, None] * b, axis=0)
    return a @ b


def logaddexp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log(exp(a) + exp(b))`` for ``a`` finite and ``b`` finite or ``-inf`` (faster than np.logaddexp)."""
    high = np.maximum(a, b)
    return high + np.log1p(np.exp(-np.abs(a - b)))


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and the index mapping each element to its value (for per-value precomputation)."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=float))
    return np.asarray(uniques, dtype=float), codes


# --------------------------------------------------------------------------------------------------
# Maximum likelihood
# --------------------------------------------------------------------------------------------------

@dataclass
class _Optimum:
    log_params: np.ndarray
    log_likelihood: float
    converged: bool
    message: str
    n_iterations: int


def _central_gradient(fun: Callable[[np.ndarray], float], z: np.ndarray, step: float = 1e-6) -> np.ndarray:
    grad = np.empty_like(z)
    for k in range(len(z)):
        e = np.zeros_like(z)
        e[k] = step
        grad[k] = (fun(z + e) - fun(z - e)) / (2 * step)
    return grad


def _newton_polish(objective_and_gradient: Callable[[np.ndarray], tuple[float, np.ndarray]], z: np.ndarray,
                   *, bounds: float, max_steps: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps with backtracking from where L-BFGS-B stopped; returns the point and its gradient.

    L-BFGS-B stops on a relative change of the objective, which on a flat ridge (nearly unidentified
    parameter combinations) can leave a gradient above :data:`GRADIENT_TOLERANCE` in the
    well-determined directions. A few Newton steps on the curvature (the Hessian from central
    differences of the gradient, its eigenvalues floored so that every step goes downhill) finish
    the job; a step is kept only if it lowers the objective.
    """
    value, gradient = objective_and_gradient(z)
    for _ in range(max_steps):
        if np.max(np.abs(gradient)) < GRADIENT_TOLERANCE * 1e-2:
            break
        step = 1e-5
        hessian = np.array([(objective_and_gradient(z + step * e)[1] - objective_and_gradient(z - step * e)[1])
                            / (2 * step) for e in np.eye(len(z))])
        eigenvalues, vectors = np.linalg.eigh((hessian + hessian.T) / 2)
        floor = max(1e-10, 1e-8 * float(np.max(np.abs(eigenvalues))))
        direction = -vectors @ ((vectors.T @ gradient) / np.maximum(np.abs(eigenvalues), floor))
        for scale in 0.5 ** np.arange(30):
            candidate = np.clip(z + scale * direction, -bounds, bounds)
            candidate_value, candidate_gradient = objective_and_gradient(candidate)
            if candidate_value < value:
                break
        else:
            break  # no step lowers the objective: this is as good as the arithmetic allows
        z, value, gradient = candidate, candidate_value, candidate_gradient
    return z, gradient


def numerical_hessian(fun: Callable[[np.ndarray], float], z: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of a scalar function."""
    k = len(z)
    hess = np.empty((k, k))
    f0 = fun(z)
    eye = np.eye(k) * step
    for i in range(k):
        hess[i, i] = (fun(z + eye[i]) - 2 * f0 + fun(z - eye[i])) / step**2
        for j in range(i + 1, k):
            value = (fun(z + eye[i] + eye[j]) - fun(z + eye[i] - eye[j])
                     - fun(z - eye[i] + eye[j]) + fun(z - eye[i] - eye[j])) / (4 * step**2)
            hess[i, j] = hess[j, i] = value
    return hess


class BaseModel:
    """Common fit/report machinery; subclasses define the likelihood on compressed patterns.

    Subclasses set ``param_names`` and implement ``_prepare(data, **arrays)`` (validate, compress,
    return the pattern arrays and weights), ``_loglik(params, *patterns)`` (log-likelihood of each
    pattern, natural parameters) and optionally ``_loglik_grad(params, *patterns)`` (a ``(k, n)``
    array of derivatives with respect to the natural parameters).
    """

    param_names: tuple[str, ...] = ()
    input_columns: tuple[str, ...] = ("x", "t_x", "T")
    model_name: str = "model"

    def __init__(self, penalizer: float = 0.0, *, strict: bool = True, tol: float = 1e-10,
                 max_iterations: int = 2000) -> None:
        if penalizer < 0:
            from clc_lib.errors import ConfigError

            raise ConfigError(f"penalizer must be >= 0, got {penalizer}.")
        self.penalizer = float(penalizer)
        self.strict = strict
        self.tol = tol
        self.max_iterations = max_iterations

    # ---- to implement -----------------------------------------------------------------------
    def _prepare(self, data: pd.DataFrame | None, arrays: dict[str, Any], weights: Any) -> tuple[list[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def _loglik(self, params: np.ndarray, *patterns: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    _loglik_grad: Callable[..., np.ndarray] | None = None

    @property
    def _has_gradient(self) -> bool:
        return self._loglik_grad is not None or type(self)._loglik_grad_cached is not BaseModel._loglik_grad_cached

    def _weighted_total(self, params: np.ndarray, cache: Any, weights: np.ndarray,
                        gradient: bool) -> tuple[float, np.ndarray | None]:
        """Weighted sum of the pattern log-likelihoods and, if asked, of their gradients (natural scale).

        Models override it when the sums can be formed with less work per pattern.
        """
        total = float((weights * self._loglik_cached(params, cache)).sum())
        if not gradient:
            return total, None
        return total, dot(self._loglik_grad_cached(params, cache), weights)

    def _fit_cache(self, patterns: list[np.ndarray]) -> Any:
        """What the optimiser passes to :meth:`_weighted_total` (default: :meth:`_precompute`)."""
        return self._precompute(patterns)

    def _precompute(self, patterns: list[np.ndarray]) -> Any:
        """Whatever the likelihood can reuse across evaluations (default: the pattern arrays)."""
        return patterns

    def _loglik_cached(self, params: np.ndarray, cache: Any) -> np.ndarray:
        return self._loglik(params, *cache)

    def _loglik_grad_cached(self, params: np.ndarray, cache: Any) -> np.ndarray:
        return self._loglik_grad(params, *cache)

    def _initial_log_params(self, patterns: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
        return np.zeros(len(self.param_names))

    # ---- fitting ------------------------------------------------------------------------------
    def _fit_patterns(self, patterns: list[np.ndarray], weights: np.ndarray, n_customers: int,
                      initial: Sequence[float] | None = None) -> BaseModel:
        total_weight = float(weights.sum())
        penalizer = self.penalizer
        cache = self._fit_cache(patterns)

        def objective(z: np.ndarray) -> float:
            total, _ = self._weighted_total(np.exp(z), cache, weights, gradient=False)
            value = -total / total_weight + penalizer * float(np.dot(z, z))
            return value if np.isfinite(value) else 1e300

        def objective_and_gradient(z: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(z)
            if not self._has_gradient:
                return objective(z), _central_gradient(objective, z)
            total, grad_total = self._weighted_total(params, cache, weights, gradient=True)
            value = -total / total_weight + penalizer * float(np.dot(z, z))
            grad = -grad_total / total_weight * params + 2 * penalizer * z
            if not (np.isfinite(value) and np.all(np.isfinite(grad))):
                return 1e300, np.zeros_like(z)
            return value, grad

        z0 = (np.log(np.asarray(initial, dtype=float)) if initial is not None
              else self._initial_log_params(patterns, weights))
        starts = [z0]
        if initial is None and len(weights) > WARM_START_PATTERNS:
            # Both the warm start and the moment-based one: on a flat ridge (e.g. Gamma-Gamma q and
            # gamma), the optimiser can stop wherever it enters the ridge, so the better end wins.
            starts.insert(0, self._warm_start(patterns, weights, z0))
        if not np.isfinite(objective(starts[0])):
            raise ModelFitError(f"{self.model_name}: the log-likelihood is not finite at the starting values "
                                f"{dict(zip(self.param_names, np.exp(starts[0]).round(4)))}; pass other initial values.")
        bounds = [(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * len(z0)
        options = {"maxiter": self.max_iterations, "ftol": self.tol * 1e-2, "gtol": self.tol, "maxcor": 20}
        result = None
        for start in starts:
            if not np.isfinite(objective(start)):
                continue
            first = optimize.minimize(objective_and_gradient, start, jac=True, method="L-BFGS-B", bounds=bounds,
                                      options=options)
            # A second start from the first optimum sharpens flat directions (e.g. Pareto/NBD beta).
            second = optimize.minimize(objective_and_gradient, first.x, jac=True, method="L-BFGS-B",
                                       bounds=bounds, options=options)
            for candidate in (first, second):
                if result is None or candidate.fun < result.fun:
                    result = candidate
        z = result.x
        gradient = objective_and_gradient(z)[1]
        if np.max(np.abs(gradient)) >= GRADIENT_TOLERANCE:
            z, gradient = _newton_polish(objective_and_gradient, z, bounds=LOG_PARAM_BOUND)
        at_bound = np.abs(z) >= LOG_PARAM_BOUND - 1e-3
        grad_ok = bool(np.max(np.abs(gradient)) < GRADIENT_TOLERANCE)
        converged = bool((result.success or grad_ok) and grad_ok and not at_bound.any())
        message = str(result.message)
        limit_note = self._limit_of_ridge(np.exp(z), cache, weights)
        if limit_note:
            converged = True
            warnings.warn(limit_note, stacklevel=3)
        elif at_bound.any():
            names = [n for n, b in zip(self.param_names, at_bound) if b]
            message = (f"{self.model_name}: the estimate of {', '.join(names)} diverged to "
                       f"{'0' if z[at_bound][0] < 0 else 'infinity'}: the data do not identify the model "
                       "(too few repeat buyers, or a degenerate pattern). Try a penalizer (e.g. penalizer=0.01), "
                       "more customers, or a longer calibration period.")
        elif not converged:
            message = (f"{self.model_name}: the optimiser did not converge ({result.message}; largest gradient "
                       f"{np.max(np.abs(gradient)):.2g}). Try a penalizer (e.g. penalizer=0.001), other initial "
                       "values, or check the time unit of t_x and T (very large T in days can be badly scaled).")
        if not converged:
            if self.strict:
                raise ModelFitError(message)
            warnings.warn(message, stacklevel=3)

        params = np.exp(z)
        self._store(params, cache, weights, n_customers, converged, int(result.nit), objective, z)
        return self

    def _limit_of_ridge(self, params: np.ndarray, cache: Any, weights: np.ndarray) -> str | None:
        """A note when the fit sits on a ridge whose limit is a simpler model that fits as well.

        Some models reach their best fit only as parameters run off to infinity along a ridge (the
        gradient never quite vanishes there, so the optimiser may or may not call it converged). A
        model that knows its limit overrides this and returns what the estimate means; the fit then
        counts as converged. ``None`` (the default) leaves the convergence verdict as it is.
        """
        return None

    def _warm_start(self, patterns: list[np.ndarray], weights: np.ndarray, z0: np.ndarray) -> np.ndarray:
        """Starting values from a fit on a random thinning of the customers (fewer distinct patterns).

        Only the starting point depends on the (seeded) subsample; the final estimate is the optimum on
        all customers.
        """
        rng = np.random.default_rng(0)
        fraction = min(1.0, WARM_START_CUSTOMERS / float(weights.sum()))
        # Draws in the patterns' sorted order, so the sample (and the fit) do not depend on row order.
        order = np.lexsort(patterns[::-1])
        thinned = np.empty(len(weights))
        thinned[order] = rng.binomial(np.round(weights[order]).astype(np.int64), fraction)
        keep = thinned > 0
        if keep.sum() < 50 or not np.any(patterns[0][keep] > 0):
            return z0
        sub_patterns = [p[keep] for p in patterns]
        sub_cache = self._fit_cache(sub_patterns)
        sub_weights = thinned[keep] / thinned[keep].sum()

        def objective(z: np.ndarray) -> float:
            value = -self._weighted_total(np.exp(z), sub_cache, sub_weights, gradient=False)[0]
            return value if np.isfinite(value) else 1e300

        def objective_and_gradient(z: np.ndarray) -> tuple[float, np.ndarray]:
            if not self._has_gradient:
                return objective(z), _central_gradient(objective, z)
            params = np.exp(z)
            total, grad_total = self._weighted_total(params, sub_cache, sub_weights, gradient=True)
            value, grad = -total, -grad_total * params
            return (value, grad) if np.isfinite(value) and np.all(np.isfinite(grad)) else (1e300, np.zeros_like(z))

        bounds = [(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * len(z0)
        result = optimize.minimize(objective_and_gradient, z0, jac=True, method="L-BFGS-B", bounds=bounds,
                                   options={"maxiter": 500, "gtol": 1e-6})
        return result.x if np.all(np.isfinite(result.x)) and np.all(np.abs(result.x) < LOG_PARAM_BOUND - 1) else z0

    def _store(self, params: np.ndarray, cache: Any, weights: np.ndarray, n_customers: int,
               converged: bool, n_iterations: int, objective: Callable[[np.ndarray], float], z: np.ndarray) -> None:
        names = list(self.param_names)
        self.params_ = pd.Series(params, index=names, name="estimate")
        self.log_likelihood_ = float(self._weighted_total(params, cache, weights, gradient=False)[0])
        self.n_customers_ = int(n_customers)
        self.n_patterns_ = int(len(weights))
        self.converged_ = converged
        self.n_iterations_ = n_iterations
        total_weight = float(weights.sum())
        if self._has_gradient:
            # Central differences of the analytic gradient of the penalised objective (log scale).
            def gradient(v: np.ndarray) -> np.ndarray:
                total, grad_total = self._weighted_total(np.exp(v), cache, weights, gradient=True)
                return -grad_total * np.exp(v) + 2 * self.penalizer * total_weight * v
            step = 1e-5
            columns = [(gradient(z + step * e) - gradient(z - step * e)) / (2 * step) for e in np.eye(len(z))]
            hessian_log = np.array(columns)
            hessian_log = (hessian_log + hessian_log.T) / 2
        else:
            hessian_log = numerical_hessian(lambda v: objective(v) * total_weight, z)
        try:
            cov_log = np.linalg.inv(hessian_log)
            with np.errstate(invalid="ignore"):
                se_log = np.sqrt(np.diag(cov_log))
        except np.linalg.LinAlgError:
            cov_log = np.full((len(z), len(z)), np.nan)
            se_log = np.full(len(z), np.nan)
        # A fit that is the limit of a ridge has said so in its note; its Hessian is singular by nature.
        if converged and not np.all(np.isfinite(se_log)) and not getattr(self, "limit_note_", None):
            warnings.warn(f"{self.model_name}: the Hessian at the optimum is not positive definite; standard "
                          "errors are NaN (a parameter is not identified by these data).", stacklevel=3)
        self.covariance_ = pd.DataFrame(cov_log * np.outer(params, params), index=names, columns=names)
        self.standard_errors_ = pd.Series(params * se_log, index=names, name="standard_error")
        with np.errstate(over="ignore"):  # an unidentified parameter's interval is (0, inf)
            self.confidence_intervals_ = pd.DataFrame(
                {"lower": params * np.exp(-_Z95 * se_log), "upper": params * np.exp(_Z95 * se_log)}, index=names)

    # ---- reporting ----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise ModelFitError(f"This {self.model_name} model is not fitted yet; call fit(data) first.")

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def aic(self) -> float:
        self._check_fitted()
        return 2 * self.n_params - 2 * self.log_likelihood_

    @property
    def bic(self) -> float:
        self._check_fitted()
        return self.n_params * np.log(self.n_customers_) - 2 * self.log_likelihood_

    def summary(self) -> pd.DataFrame:
        """Estimates with standard errors and 95% intervals (log-scale Wald intervals)."""
        self._check_fitted()
        return pd.DataFrame({
            "estimate": self.params_,
            "standard_error": self.standard_errors_,
            "lower_95": self.confidence_intervals_["lower"],
            "upper_95": self.confidence_intervals_["upper"],
        })

    def _params(self, params: Any = None) -> np.ndarray:
        if params is None:
            self._check_fitted()
            return self.params_.to_numpy()
        if isinstance(params, pd.Series):
            return params[list(self.param_names)].to_numpy(dtype=float)
        if isinstance(params, dict):
            return np.array([params[n] for n in self.param_names], dtype=float)
        return np.asarray(params, dtype=float)

    @classmethod
    def from_params(cls, params: dict[str, float] | Sequence[float] | pd.Series, **kwargs: Any):
        """A model with given parameters (no fit), e.g. published values for prediction."""
        model = cls(**kwargs)
        values = model._params(params)
        model.params_ = pd.Series(values, index=list(cls.param_names), name="estimate")
        return model

    def __repr__(self) -> str:
        if not hasattr(self, "params_"):
            return f"{type(self).__name__}(penalizer={self.penalizer}) [not fitted]"
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        if hasattr(self, "log_likelihood_"):
            return (f"{type(self).__name__}({shown}; log-likelihood={self.log_likelihood_:,.3f}, "
                    f"customers={self.n_customers_:,}, patterns={self.n_patterns_:,}, converged={self.converged_})")
        return f"{type(self).__name__}({shown}) [given parameters]"


def log_beta(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    from scipy.special import betaln

    return betaln(a, b)


def discount_factors(horizon: float, discount_rate: float, step: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Period end times ``step, 2 step, ..., horizon`` and their discount factors ``1/(1+d)^(t/step)``.

    ``discount_rate`` is per ``step`` of model time.
    """
    if horizon <= 0 or step <= 0:
        from clc_lib.errors import ConfigError

        raise ConfigError(f"horizon and step must be positive, got horizon={horizon}, step={step}.")
    n_steps = int(np.ceil(horizon / step - 1e-9))
    ends = np.minimum(np.arange(1, n_steps + 1) * step, horizon)
    return ends, (1.0 + discount_rate) ** (-(ends / step))


# --------------------------------------------------------------------------------------------------
# Continuous-time purchase models (BG/NBD, MBG/NBD, Pareto/NBD): shared input handling and CLV
# --------------------------------------------------------------------------------------------------

class PurchaseModel(BaseModel):
    """Base of the continuous-time models fitted on ``(x, t_x, T)``.

    ``x`` is the number of repeat purchase days (the first purchase is not counted), ``t_x`` the time
    from the first to the last purchase and ``T`` the time from the first purchase to the end of
    observation, both in the model's time unit. Every prediction is in that time unit.
    """

    input_columns = ("x", "t_x", "T")

    def _inputs(self, data: pd.DataFrame | None, x: Any, t_x: Any, T: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.Index | None]:
        if data is None and x is not None and np.ndim(x) == 0 and np.ndim(t_x) == 0 and np.ndim(T) == 0:
            frame = as_summary_frame(None, self.input_columns, {"x": [x], "t_x": [t_x], "T": [T]})
            index = None
        else:
            frame = as_summary_frame(data, self.input_columns, {"x": x, "t_x": t_x, "T": T})
            index = frame.index if data is not None else None
        check_counts(frame, "x", source="customer summary")
        check_recency(frame, source="customer summary")
        return frame["x"].to_numpy(), frame["t_x"].to_numpy(), frame["T"].to_numpy(), index

    @staticmethod
    def _output(values: np.ndarray, index: pd.Index | None, name: str, scalar: bool) -> Any:
        if index is not None:
            return pd.Series(values, index=index, name=name)
        return float(values[0]) if scalar else values

    def _prepare(self, data: pd.DataFrame | None, arrays: dict[str, Any], weights: Any) -> tuple[list[np.ndarray], np.ndarray]:
        x, t_x, T, _ = self._inputs(data, arrays.get("x"), arrays.get("t_x"), arrays.get("T"))
        if weights is not None:
            weights = np.asarray(weights, dtype=float)
            if weights.shape != x.shape or np.any(~np.isfinite(weights)) or np.any(weights < 0):
                raise DataError("weights must be one finite, non-negative number per customer.", source="weights")
        repeat_weight = np.sum(weights * (x > 0)) if weights is not None else np.sum(x > 0)
        if repeat_weight == 0:
            raise ModelFitError(
                f"{self.model_name}: no customer has a repeat purchase (x > 0 for none of {len(x):,}), so the "
                "purchase rate and dropout cannot be estimated. Use a longer calibration period or check that "
                "repeat purchases are counted (x = purchase days after the first one)."
            )
        patterns, pattern_weights, _ = compress(x, t_x, T, weights=weights)
        return patterns, pattern_weights

    def fit(self, data: pd.DataFrame | None = None, *, x: Any = None, t_x: Any = None, T: Any = None,
            weights: Any = None, initial: Sequence[float] | dict[str, float] | None = None):
        """Fit by maximum likelihood.

        Parameters
        ----------
        data
            Customer summary with columns ``x`` (repeat purchase days), ``t_x`` and ``T`` (in the
            model's time unit, measured from each customer's first purchase). Alternatively give
            ``x``, ``t_x`` and ``T`` as arrays.
        weights
            Optional number of customers per row (for data already compressed into patterns).
        initial
            Optional starting values of the parameters (natural scale).

        Returns
        -------
        self
        """
        patterns, pattern_weights = self._prepare(data, {"x": x, "t_x": t_x, "T": T}, weights)
        if isinstance(initial, dict):
            initial = [initial[n] for n in self.param_names]
        return self._fit_patterns(patterns, pattern_weights, int(round(pattern_weights.sum())), initial)

    # ---- per-pattern formulas, natural parameters ---------------------------------------------
    def _expected_if_alive(self, params: np.ndarray, t: float | np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[X(t) | x, T, alive at T]: depends on (x, T) only, so it is evaluated per distinct pair."""
        raise NotImplementedError

    def _expected(self, params: np.ndarray, t: float | np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """E[X(t) | x, t_x, T] = E[X(t) | x, T, alive] * P(alive | x, t_x, T)."""
        if np.ndim(t) == 0:
            (x_pair, T_pair), _, inverse = compress(x, T)
            if_alive = self._expected_if_alive(params, t, x_pair, T_pair)[inverse]
        else:
            if_alive = self._expected_if_alive(params, t, x, T)
        return self._checked(if_alive * self._p_alive(params, x, t_x, T), params, "expected purchases")

    def _checked(self, values: np.ndarray, params: np.ndarray, what: str) -> np.ndarray:
        """``values`` when all are finite; otherwise a ModelFitError instead of a silent NaN or zero total."""
        bad = ~np.isfinite(values)
        if np.any(bad):
            shown = ", ".join(f"{name}={value:.6g}" for name, value in zip(self.param_names, params))
            raise ModelFitError(
                f"{self.model_name}: {what} cannot be evaluated at {shown} ({int(bad.sum()):,} of {bad.size:,} "
                "customer patterns give no finite value); parameters this large are outside what the "
                "formulas can evaluate. Fit with a penalizer or a simpler model.")
        return values

    def expected_purchases(self, t: float, data: pd.DataFrame | None = None, *, x: Any = None, t_x: Any = None,
                           T: Any = None, params: Any = None):
        """Expected number of repeat purchase days in the next ``t`` time units, given each history.

        Returns a Series indexed like ``data``, an array for array input, or a float for scalars.
        """
        xs, txs, Ts, index = self._inputs(data, x, t_x, T)
        if np.ndim(t) != 0 or t < 0:
            from clc_lib.errors import ConfigError

            raise ConfigError(f"t must be one non-negative duration in model time units, got {t!r}.")
        patterns, _, inverse = compress(xs, txs, Ts)
        values = self._expected(self._params(params), float(t), *patterns)[inverse]
        return self._output(values, index, "expected_purchases", data is None and np.ndim(x) == 0)

    def expected_purchases_new_customer(self, t: Any, params: Any = None):
        """Unconditional E[X(t)]: expected repeat purchase days of a customer ``t`` time units after the first."""
        ts = np.asarray(t, dtype=float).ravel()
        if np.any(~np.isfinite(ts)) or np.any(ts < 0):
            from clc_lib.errors import ConfigError

            raise ConfigError("t must hold non-negative durations in model time units.")
        zeros = np.zeros_like(ts)
        values = self._expected(self._params(params), ts, zeros, zeros, zeros)
        return float(values[0]) if np.ndim(t) == 0 else values.reshape(np.shape(t))

    def discounted_expected_purchases(self, horizon: float, data: pd.DataFrame | None = None, *,
                                      discount_rate: float = 0.0, step: float = 1.0, x: Any = None,
                                      t_x: Any = None, T: Any = None, params: Any = None):
        """Sum over periods of the expected purchases in each period times its discount factor.

        Periods are ``step`` time units long; period k ends at ``k * step`` and is discounted by
        ``1 / (1 + discount_rate) ** k`` (``discount_rate`` per step, end-of-period convention).
        """
        xs, txs, Ts, index = self._inputs(data, x, t_x, T)
        patterns, _, inverse = compress(xs, txs, Ts)
        theta = self._params(params)
        ends, factors = discount_factors(horizon, discount_rate, step)
        # Only the alive part depends on the horizon, and it depends on (x, T) alone.
        (x_pair, T_pair), _, pair_of_pattern = compress(patterns[0], patterns[2])
        total = np.zeros(len(x_pair))
        previous = np.zeros(len(x_pair))
        for end, factor in zip(ends, factors):
            current = self._expected_if_alive(theta, float(end), x_pair, T_pair)
            total += factor * (current - previous)
            previous = current
        values = self._checked(total[pair_of_pattern] * self._p_alive(theta, *patterns), theta,
                               "discounted expected purchases")
        return self._output(values[inverse], index, "discounted_expected_purchases", data is None and np.ndim(x) == 0)

    def _p_alive(self, params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def probability_alive(self, data: pd.DataFrame | None = None, *, x: Any = None, t_x: Any = None,
                          T: Any = None, params: Any = None):
        """Probability that each customer is still active at T (the end of observation)."""
        xs, txs, Ts, index = self._inputs(data, x, t_x, T)
        patterns, _, inverse = compress(xs, txs, Ts)
        theta = self._params(params)
        values = self._checked(self._p_alive(theta, *patterns), theta, "P(alive)")[inverse]
        return self._output(values, index, "p_alive", data is None and np.ndim(x) == 0)

    def individual_log_likelihood(self, data: pd.DataFrame | None = None, *, x: Any = None, t_x: Any = None,
                                  T: Any = None, params: Any = None):
        """Log-likelihood of each customer's (x, t_x, T) in Hardie's form (no normalising constants)."""
        xs, txs, Ts, index = self._inputs(data, x, t_x, T)
        values = self._loglik(self._params(params), xs, txs, Ts)
        return self._output(values, index, "log_likelihood", data is None and np.ndim(x) == 0)

    def _initial_log_params(self, patterns: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
        x, _, T = patterns
        rate = max(float(np.dot(weights, x)) / float(np.dot(weights, T)), 1e-6)
        start = {"r": 1.0, "alpha": 1.0 / rate, "a": 1.0, "b": 1.0, "s": 1.0, "beta": float(np.average(T, weights=weights))}
        return np.log([start[n] for n in self.param_names])
