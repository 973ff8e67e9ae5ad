"""Simulate customer summaries from the models' generative stories (parameter recovery, benchmarks).

Each simulator draws per-customer latent rates from the mixing distributions and then the
observed summary exactly, without looping over customers:

* BG/NBD and MBG/NBD: with ``N ~ Poisson(lambda T)`` purchase events in (0, T] had the customer
  stayed, and ``K`` the repeat purchase after which they drop out (geometric; MBG/NBD may drop out
  at 0), ``x = min(N, K)``. Given N, the purchase times are uniform order statistics on (0, T], so
  the x-th of them is ``T * Beta(x, N - x + 1)``.
* Pareto/NBD: lifetime ``tau ~ Exp(mu)``; ``x ~ Poisson(lambda min(tau, T))`` and
  ``t_x = min(tau, T) * Beta(x, 1)``.
* Gamma-Gamma: ``zbar = Gamma(p x, scale 1/nu) / x`` with ``nu ~ Gamma(q, scale 1/gamma)``.
* BG/BB: alive opportunities ``min(Geometric(theta) - 1, n)``, a Bernoulli(p) transaction at each.

Times are in whatever unit the parameters are in; ``resolution`` rounds ``t_x`` and ``T`` to a
grid (e.g. ``1/7`` for weeks measured in whole days) as real summaries are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "simulate_bgnbd",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
    "simulate_gamma_gamma",
    "simulate_bgbb",
]


def _rng(seed: Any) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _observation_lengths(T: Any, n_customers: int, rng: np.random.Generator) -> np.ndarray:
    """``T`` as one value, an array of length n_customers, or (low, high) for uniform draws."""
    if isinstance(T, tuple) and len(T) == 2:
        return rng.uniform(T[0], T[1], n_customers)
    values = np.broadcast_to(np.asarray(T, dtype=float), (n_customers,))
    return values.copy()


def _round_to(values: np.ndarray, resolution: float | None) -> np.ndarray:
    return values if resolution is None else np.round(values / resolution) * resolution


def _beta_geo(n_customers: int, r: float, alpha: float, a: float, b: float, T: Any, seed: Any,
              resolution: float | None, dropout_at_zero: bool) -> pd.DataFrame:
    rng = _rng(seed)
    T_values = _round_to(_observation_lengths(T, n_customers, rng), resolution)
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    dropout = rng.beta(a, b, n_customers)
    n_events = rng.poisson(rate * T_values)
    # numpy's geometric counts trials up to and including the first success (>= 1).
    last_repeat = rng.geometric(dropout) - (1 if dropout_at_zero else 0)
    x = np.minimum(n_events, last_repeat)
    t_x = np.zeros(n_customers)
    buyers = x > 0
    t_x[buyers] = T_values[buyers] * rng.beta(x[buyers], n_events[buyers] - x[buyers] + 1)
    t_x = np.minimum(_round_to(t_x, resolution), T_values)
    return pd.DataFrame({"x": x.astype(float), "t_x": t_x, "T": T_values},
                        index=pd.Index([f"{i:07d}" for i in range(n_customers)], name="customer_id"))


def simulate_bgnbd(n_customers: int, r: float, alpha: float, a: float, b: float, *, T: Any = 52.0,
                   seed: Any = None, resolution: float | None = None) -> pd.DataFrame:
    """Simulate ``x, t_x, T`` from the BG/NBD.

    Parameters
    ----------
    T
        Observation length per customer: a number, an array, or ``(low, high)`` for uniform draws.
    resolution
        Round ``t_x`` and ``T`` to multiples of this (None keeps them continuous).
    """
    return _beta_geo(n_customers, r, alpha, a, b, T, seed, resolution, dropout_at_zero=False)


def simulate_mbgnbd(n_customers: int, r: float, alpha: float, a: float, b: float, *, T: Any = 52.0,
                    seed: Any = None, resolution: float | None = None) -> pd.DataFrame:
    """Simulate ``x, t_x, T`` from the MBG/NBD (dropout possible right after the first purchase)."""
    return _beta_geo(n_customers, r, alpha, a, b, T, seed, resolution, dropout_at_zero=True)


def simulate_pareto_nbd(n_customers: int, r: float, alpha: float, s: float, beta: float, *, T: Any = 52.0,
                        seed: Any = None, resolution: float | None = None) -> pd.DataFrame:
    """Simulate ``x, t_x, T`` from the Pareto/NBD (arguments as :func:`simulate_bgnbd`)."""
    rng = _rng(seed)
    T_values = _round_to(_observation_lengths(T, n_customers, rng), resolution)
    rate = rng.gamma(r, 1.0 / alpha, n_customers)
    death_rate = rng.gamma(s, 1.0 / beta, n_customers)
    active_for = np.minimum(rng.exponential(1.0 / death_rate), T_values)
    x = rng.poisson(rate * active_for)
    t_x = np.zeros(n_customers)
    buyers = x > 0
    t_x[buyers] = active_for[buyers] * rng.beta(x[buyers], 1.0)
    t_x = np.minimum(_round_to(t_x, resolution), T_values)
    return pd.DataFrame({"x": x.astype(float), "t_x": t_x, "T": T_values},
                        index=pd.Index([f"{i:07d}" for i in range(n_customers)], name="customer_id"))


def simulate_gamma_gamma(x: Any, p: float, q: float, gamma: float, *, seed: Any = None) -> np.ndarray:
    """Mean value ``zbar`` of ``x`` transactions per customer (0 where x = 0), in currency units."""
    rng = _rng(seed)
    counts = np.asarray(x, dtype=float)
    scale_rate = rng.gamma(q, 1.0 / gamma, counts.shape)
    zbar = np.zeros(counts.shape)
    buyers = counts > 0
    zbar[buyers] = rng.gamma(p * counts[buyers], 1.0 / scale_rate[buyers]) / counts[buyers]
    return zbar


def simulate_bgbb(n_customers: int, alpha: float, beta: float, gamma: float, delta: float, *, n: int = 6,
                  seed: Any = None) -> pd.DataFrame:
    """Simulate ``x, t_x, n`` from the BG/BB with ``n`` transaction opportunities."""
    rng = _rng(seed)
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    alive_opportunities = np.minimum(rng.geometric(theta) - 1, n)
    x = np.zeros(n_customers)
    t_x = np.zeros(n_customers)
    for opportunity in range(1, n + 1):  # a loop over the few opportunities, vectorised over customers
        buys = (opportunity <= alive_opportunities) & (rng.random(n_customers) < p)
        x += buys
        t_x[buys] = opportunity
    return pd.DataFrame({"x": x, "t_x": t_x, "n": float(n)},
                        index=pd.Index([f"{i:07d}" for i in range(n_customers)], name="customer_id"))
