"""Customer value: a purchase model and the Gamma-Gamma spend model combined into per-customer CLV.

CLV over a horizon ``H`` (model time units) is::

    CLV_i = margin * E(M_i | x_i, zbar_i) * sum_{k=1..K} [E X_i(t_k) - E X_i(t_{k-1})] / (1 + d)^k

with ``t_k = k * step`` (the last period ends at ``H``), ``E X_i(t)`` the expected repeat purchase
days in the next ``t`` time units given the customer's history, ``E(M_i | ...)`` the Gamma-Gamma
expected value of a purchase day and ``d`` the discount rate *per step*. The discount rate is
given either per model time unit (``discount_rate``) or per year (``annual_discount_rate``),
converted explicitly with ``(1 + annual) ** (step_days / 365.25) - 1``; no month length is
assumed anywhere. Revenue is in the currency of ``zbar`` (the run currency), net of returns as in
the customer summary. A customer whose net revenue so far is zero or less (everything bought was
returned or cancelled) gets an expected spend, and so a CLV, of 0. CLV here is the *residual*
value of existing customers over the horizon, the first purchase excluded.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import pandas as pd

from clc_lib.clv._base import PurchaseModel, as_summary_frame
from clc_lib.clv.bgnbd import BetaGeoModel, ModifiedBetaGeoModel
from clc_lib.clv.gamma_gamma import GammaGammaModel
from clc_lib.clv.pareto_nbd import ParetoNBDModel
from clc_lib.errors import ConfigError, DataError
from clc_lib.i18n import format_count, ngettext
from clc_lib.periods import DAYS_PER_YEAR, TimeUnit
from clc_lib.settings import ClvSettings

__all__ = ["PURCHASE_MODELS", "CustomerValueModel", "predict_customer_value",
           "predict_run_value", "per_step_discount_rate"]

#: Purchase models by the name used in the run config (``clv: {model: ...}``); the names are
#: :data:`clc_lib.settings.CLV_MODEL_NAMES`.
PURCHASE_MODELS: dict[str, type[PurchaseModel]] = {
    "bgnbd": BetaGeoModel,
    "mbgnbd": ModifiedBetaGeoModel,
    "pareto_nbd": ParetoNBDModel,
}


def per_step_discount_rate(*, time_unit: str, step: float = 1.0, discount_rate: float | None = None,
                           annual_discount_rate: float | None = None) -> float:
    """Discount rate per ``step`` model time units from a rate per time unit or per year.

    ``discount_rate`` is per one time unit and is compounded over ``step`` units;
    ``annual_discount_rate`` is per 365.25 days. Give at most one (neither means no discounting).
    """
    if discount_rate is not None and annual_discount_rate is not None:
        raise ConfigError("Give either discount_rate (per model time unit) or annual_discount_rate, not both.")
    unit_days = TimeUnit.parse(time_unit).days
    if annual_discount_rate is not None:
        if annual_discount_rate <= -1:
            raise ConfigError(f"annual_discount_rate must be > -1, got {annual_discount_rate}.")
        return (1.0 + annual_discount_rate) ** (step * unit_days / DAYS_PER_YEAR) - 1.0
    rate = 0.0 if discount_rate is None else float(discount_rate)
    if rate <= -1:
        raise ConfigError(f"discount_rate must be > -1, got {rate}.")
    return (1.0 + rate) ** step - 1.0


class CustomerValueModel:
    """Fit a purchase model and the Gamma-Gamma spend model on a customer summary, then score customers.

    Parameters
    ----------
    model
        Purchase model name: "bgnbd" (default), "mbgnbd" or "pareto_nbd" (see ``PURCHASE_MODELS``).
    time_unit
        Unit of ``t_x`` and ``T`` in the summary ("D", "W" or "M"); horizons are in this unit.
    penalizer, spend_penalizer
        L2 penalties of the purchase and spend models (see :class:`BetaGeoModel`).

    Attributes
    ----------
    purchase_model_, spend_model_
        The fitted models.
    n_without_purchase_
        Customers of the fitted summary without any purchase day (left out of the fits).
    """

    def __init__(self, model: str = "bgnbd", *, time_unit: str = "W", penalizer: float = 0.0,
                 spend_penalizer: float = 0.0) -> None:
        if model not in PURCHASE_MODELS:
            raise ConfigError(f"Unknown purchase model {model!r}; use one of {', '.join(PURCHASE_MODELS)}.")
        TimeUnit.parse(time_unit)
        self.model = model
        self.time_unit = time_unit
        self.penalizer = penalizer
        self.spend_penalizer = spend_penalizer

    @classmethod
    def from_options(cls, options: ClvSettings | Mapping[str, Any] | None = None) -> CustomerValueModel:
        """The unfitted model that a run config's ``clv:`` section describes (model, time unit, penalizer).

        ``options`` is the run's settings (``run.config.clv``) or a mapping of ``clv:`` keys,
        validated by :meth:`ClvSettings.from_mapping`; the reports validate this model on a
        holdout, so that what is checked is what scores the customers.
        """
        options = ClvSettings.coerce(options)
        return cls(options.model, time_unit=options.time_unit, penalizer=options.penalizer)

    @staticmethod
    def _with_purchases(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """Rows with a purchase day; customers with only returns have NaN T and no model applies."""
        if not isinstance(summary, pd.DataFrame):
            raise DataError(f"The customer summary must be a pandas DataFrame, got {type(summary).__name__}.",
                            source="customer summary")
        missing = [c for c in ("x", "t_x", "T", "zbar") if c not in summary.columns]
        if missing:
            raise DataError(f"The customer summary lacks the column(s) {', '.join(missing)}.",
                            source="customer summary", column=missing[0],
                            hint="Build it with clc_lib.summary.customer_summary(transactions, as_of).")
        no_purchase = summary["T"].isna()
        if "purchase_days" in summary.columns:
            no_purchase |= summary["purchase_days"].fillna(0) == 0
        return summary.loc[~no_purchase], no_purchase

    @staticmethod
    def _spend_inputs(summary: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        """Inputs of the spend model: repeat buyers whose repeat days net to zero or less (zero-value
        purchases, returns) carry no spend information, so they count as x = 0 there (population mean)."""
        no_spend = (summary["x"] > 0) & (summary["zbar"] <= 0)
        if not no_spend.any():
            return summary, 0
        spend_inputs = summary.copy()
        spend_inputs.loc[no_spend, "x"] = 0
        spend_inputs.loc[no_spend, "zbar"] = 0.0
        return spend_inputs, int(no_spend.sum())

    def fit(self, summary: pd.DataFrame) -> CustomerValueModel:
        """Fit both models on a customer summary (``x``, ``t_x``, ``T``, ``zbar``; index customer_id).

        The warnings of the fits are raised as usual and kept as texts in ``notes_``; predictions
        carry them in ``attrs["notes"]``, so a report can show them next to the figures.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self._fit(summary)
        self.notes_ = [str(warning.message) for warning in caught if issubclass(warning.category, UserWarning)]
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        return self

    def _fit(self, summary: pd.DataFrame) -> None:
        usable, no_purchase = self._with_purchases(summary)
        self.n_without_purchase_ = int(no_purchase.sum())
        if self.n_without_purchase_:
            warnings.warn(ngettext(
                "{count} customer has no purchase day (only returns); it is left out of the model fits and "
                "gets NaN predictions.",
                "{count} customers have no purchase day (only returns); they are left out of the model fits and "
                "get NaN predictions.", self.n_without_purchase_).format(count=format_count(self.n_without_purchase_)),
                stacklevel=2)
        self.purchase_model_ = PURCHASE_MODELS[self.model](penalizer=self.penalizer).fit(usable)
        spend_inputs, self.n_without_spend_ = self._spend_inputs(usable)
        if self.n_without_spend_:
            warnings.warn(ngettext(
                "{count} repeat buyer has a mean repeat value of zero or less; the spend model leaves it out and "
                "gives it the population mean spend.",
                "{count} repeat buyers have a mean repeat value of zero or less; the spend model leaves them out "
                "and gives them the population mean spend.", self.n_without_spend_).format(
                    count=format_count(self.n_without_spend_)),
                stacklevel=2)
        self.spend_model_ = GammaGammaModel(penalizer=self.spend_penalizer).fit(spend_inputs)

    def predict(self, summary: pd.DataFrame, *, horizon: float, discount_rate: float | None = None,
                annual_discount_rate: float | None = None, margin: float = 1.0, step: float = 1.0) -> pd.DataFrame:
        """Score customers over ``horizon`` time units.

        Parameters
        ----------
        summary
            Customer summary (``x``, ``t_x``, ``T``, ``zbar``), usually the one the models were fitted on.
        horizon
            Forecast horizon in model time units (e.g. 52 for one year in weeks).
        discount_rate, annual_discount_rate
            Discount rate per model time unit, or per year (converted explicitly); default none.
        margin
            Share of revenue kept as profit (1.0 gives revenue CLV).
        step
            Length of a discounting period in time units (default 1).

        Returns
        -------
        pandas.DataFrame
            Index as ``summary``; ``p_alive`` (at the summary date), ``expected_purchases`` (repeat
            purchase days over the horizon, undiscounted), ``expected_spend`` (per purchase day,
            run currency; the population mean for x = 0; 0 when the summary has ``net_revenue``
            and it is zero or less), ``clv`` (discounted, run currency). Customers without a
            purchase day get NaN.
        """
        if not hasattr(self, "purchase_model_"):
            from clc_lib.errors import ModelFitError

            raise ModelFitError("CustomerValueModel is not fitted; call fit(summary) first.")
        if not horizon > 0:
            raise ConfigError(f"horizon must be a positive number of {self.time_unit} time units, got {horizon!r}.")
        per_step = per_step_discount_rate(time_unit=self.time_unit, step=step, discount_rate=discount_rate,
                                          annual_discount_rate=annual_discount_rate)
        usable, _ = self._with_purchases(summary)
        frame = as_summary_frame(usable, ("x", "t_x", "T", "zbar"))
        purchases = self.purchase_model_
        out = pd.DataFrame(index=summary.index, columns=["p_alive", "expected_purchases", "expected_spend", "clv"],
                           dtype=float)
        spend = self.spend_model_.expected_spend(self._spend_inputs(frame)[0])
        if "net_revenue" in usable.columns:
            spend = spend.where(usable.loc[frame.index, "net_revenue"].to_numpy() > 0, 0.0)
        discounted = purchases.discounted_expected_purchases(horizon, frame, discount_rate=per_step, step=step)
        out.loc[frame.index, "p_alive"] = purchases.probability_alive(frame).to_numpy()
        out.loc[frame.index, "expected_purchases"] = purchases.expected_purchases(horizon, frame).to_numpy()
        out.loc[frame.index, "expected_spend"] = spend.to_numpy()
        out.loc[frame.index, "clv"] = margin * spend.to_numpy() * discounted.to_numpy()
        out.attrs.update({"model": self.model, "time_unit": self.time_unit, "horizon": horizon,
                          "discount_rate_per_step": per_step, "step": step, "margin": margin,
                          "notes": list(getattr(self, "notes_", []))})
        return out

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "purchase_model_") else "not fitted"
        return f"CustomerValueModel(model={self.model!r}, time_unit={self.time_unit!r}) [{state}]"


def predict_customer_value(summary: pd.DataFrame, *, horizon: float, time_unit: str = "W",
                           discount_rate: float | None = None, annual_discount_rate: float | None = None,
                           model: str = "bgnbd", margin: float = 1.0, penalizer: float = 0.0,
                           step: float = 1.0) -> pd.DataFrame:
    """Fit the models on ``summary`` and return per-customer p_alive, expected purchases, spend and CLV.

    A shortcut for ``CustomerValueModel(model, time_unit=...).fit(summary).predict(summary, ...)``;
    use :class:`CustomerValueModel` to keep the fitted models. See
    :meth:`CustomerValueModel.predict` for the columns and units. Example: one year ahead in
    weeks with 10% a year: ``predict_customer_value(summary, horizon=52, annual_discount_rate=0.10)``.
    """
    fitted = CustomerValueModel(model, time_unit=time_unit, penalizer=penalizer).fit(summary)
    return fitted.predict(summary, horizon=horizon, discount_rate=discount_rate,
                          annual_discount_rate=annual_discount_rate, margin=margin, step=step)



def predict_run_value(run, summary: pd.DataFrame | None = None, *, horizon: float | None = None) -> pd.DataFrame:
    """Per-customer P(alive), expected purchases, spend and CLV with the run config's ``clv:`` options.

    Parameters
    ----------
    run
        A ``RunData`` (:func:`clc_lib.run.load_run`); its config's ``clv:`` section gives the model,
        time unit, horizon, discount rate and margin (defaults in :class:`~clc_lib.settings.ClvSettings`).
    summary
        The customer summary in the configured time unit. When omitted, the run's own summary
        (``run.summary()``) is used and the fitted result is kept on the run (``run.result``), so
        the notebooks of one report fit the model once per horizon.
    horizon
        Overrides the configured horizon (in the configured time unit).

    Returns
    -------
    pandas.DataFrame
        As :func:`predict_customer_value`; ``attrs`` records the options used.
    """
    options = run.config.clv
    horizon = options.horizon if horizon is None else horizon

    def predict(frame: pd.DataFrame) -> pd.DataFrame:
        return predict_customer_value(
            frame, horizon=horizon, time_unit=options.time_unit, model=options.model,
            annual_discount_rate=options.annual_discount_rate or None, margin=options.margin,
            penalizer=options.penalizer)

    if summary is not None:
        return predict(summary)
    return run.result(f"customer_value_{horizon:g}", lambda: predict(run.summary()))
