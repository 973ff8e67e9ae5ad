"""What drives churn: a Cox proportional-hazards model of time to churn on customer attributes.

The durations and churn events come from :func:`clc_lib.survival.customer_lifetimes` (days,
right-censored at ``as_of``), the attributes from :func:`clc_lib.survival.customer_attributes`
(categorical and numeric attributes that exist in the customers table, rare levels pooled). The
model is statsmodels' ``PHReg``; a hazard ratio above 1 means a customer churns sooner than the
reference, other attributes held fixed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.duration.hazard_regression import PHReg

from clc_lib.errors import ConfigError, DataError, ModelFitError
from clc_lib.survival import validated_durations

__all__ = [
    "CoxModel",
    "cox_drivers",
]


@dataclass
class CoxModel:
    """Cox proportional-hazards model of what drives the event (statsmodels ``PHReg``).

    Numeric covariates enter as they are (the hazard ratio is per unit). Text, categorical and
    boolean covariates are dummy-coded: each level other than the **reference level** gets a hazard
    ratio relative to it. The reference is the most frequent level (ties: the first in sorted order;
    ``False`` for booleans) unless given in ``reference``.

    Parameters
    ----------
    covariates
        Column names to model.
    reference
        Optional reference level per categorical covariate, e.g. ``{"channel": "organic"}``.
    ties
        ``"efron"`` (default, accurate with many tied durations, as with whole days) or ``"breslow"``.
    alpha
        1 - confidence level of the hazard-ratio intervals.

    Attributes
    ----------
    summary_ : pandas.DataFrame
        One row per model term: ``covariate``, ``level`` (None for numeric), ``reference``,
        ``coef`` (log hazard ratio), ``hazard_ratio``, ``lower``, ``upper``, ``p_value``.
    result_ : statsmodels PHRegResults
    reference_levels_ : dict
        The reference level used for each categorical covariate.
    n_customers_, n_events_ : int
    """

    covariates: Sequence[str]
    reference: Mapping[str, object] | None = None
    ties: str = "efron"
    alpha: float = 0.05
    summary_: pd.DataFrame = field(init=False, repr=False)
    result_: object = field(init=False, repr=False)
    reference_levels_: dict = field(init=False, repr=False)
    n_customers_: int = field(init=False, repr=False)
    n_events_: int = field(init=False, repr=False)

    def fit(self, frame: pd.DataFrame, duration_col: str, event_col: str) -> CoxModel:
        """Fit on a per-customer frame with a duration (days), an event flag and the covariates."""
        covariates = list(self.covariates)
        missing = [c for c in (duration_col, event_col, *covariates) if c not in frame.columns]
        if missing:
            raise DataError("The frame lacks columns named for the Cox model.", source="cox_drivers frame",
                            column=", ".join(missing), hint=f"Available columns: {', '.join(map(str, frame.columns))}.")
        if not covariates:
            raise ConfigError("cox_drivers needs at least one covariate.")
        checked = validated_durations(frame[duration_col], frame[event_col])
        null_rows = frame[covariates].isna().any(axis=1).to_numpy()
        if null_rows.any():
            first_bad = np.flatnonzero(null_rows)[:5]
            raise DataError("Some customers have missing covariate values.", source="cox_drivers frame",
                            column=", ".join(c for c in covariates if frame[c].isna().any()),
                            n_rows=int(null_rows.sum()),
                            examples=[(i + 1, frame.index[i]) for i in first_bad],
                            hint="Fill them (e.g. an 'unknown' level) or filter those customers out explicitly.")
        design, terms, self.reference_levels_ = _design_matrix(frame[covariates], self.reference or {})
        constant = [name for name in design.columns if design[name].nunique() < 2]
        if constant:
            raise ModelFitError(f"The Cox model cannot estimate {', '.join(constant)}: the column has a single value.",)
        if checked["event"].sum() == 0:
            raise ModelFitError("No events were observed, so no hazard ratio can be estimated; "
                                "lengthen the follow-up or lower the churn threshold.")
        try:
            model = PHReg(checked["duration"].to_numpy(), design.astype(float), status=checked["event"].to_numpy(),
                          ties=self.ties)
            result = model.fit()
        except (np.linalg.LinAlgError, ValueError) as exc:
            raise ModelFitError(f"The Cox model did not fit ({exc}). Drop covariates that duplicate each other "
                                "or merge rare levels.") from None
        if not np.all(np.isfinite(result.bse)):
            raise ModelFitError("The Cox model's standard errors are not finite: some level has no events or "
                                "covariates are collinear. Merge rare levels or drop a covariate.")
        interval = np.exp(result.conf_int(alpha=self.alpha))
        self.summary_ = terms.assign(
            coef=result.params,
            hazard_ratio=np.exp(result.params),
            lower=interval[:, 0],
            upper=interval[:, 1],
            p_value=result.pvalues,
        )
        self.result_ = result
        self.n_customers_ = len(checked)
        self.n_events_ = int(checked["event"].sum())
        return self


def _design_matrix(covariates: pd.DataFrame, reference: Mapping[str, object]):
    columns, term_rows, references = {}, [], {}
    for name in covariates.columns:
        values = covariates[name]
        if pd.api.types.is_bool_dtype(values):
            columns[name] = values.astype(float).to_numpy()
            references[name] = False
            term_rows.append({"covariate": name, "level": True, "reference": False})
        elif pd.api.types.is_numeric_dtype(values):
            columns[name] = values.astype(float).to_numpy()
            term_rows.append({"covariate": name, "level": None, "reference": None})
        else:
            counts = values.astype(str).value_counts()
            levels = sorted(counts.index)
            chosen = reference.get(name)
            if chosen is None:
                chosen = sorted(counts[counts == counts.max()].index)[0]
            elif str(chosen) not in levels:
                raise ConfigError(f"The reference level {chosen!r} of {name!r} does not occur; "
                                  f"levels: {', '.join(levels)}.")
            references[name] = str(chosen)
            for level in levels:
                if level == str(chosen):
                    continue
                columns[f"{name}[{level}]"] = (values.astype(str) == level).astype(float).to_numpy()
                term_rows.append({"covariate": name, "level": level, "reference": str(chosen)})
    unknown = set(reference) - set(covariates.columns)
    if unknown:
        raise ConfigError(f"reference names columns that are not covariates: {', '.join(sorted(unknown))}.")
    return pd.DataFrame(columns, index=covariates.index), pd.DataFrame(term_rows), references


def cox_drivers(
    frame: pd.DataFrame,
    duration_col: str,
    event_col: str,
    covariates: Sequence[str],
    *,
    reference: Mapping[str, object] | None = None,
    ties: str = "efron",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Hazard ratios of the event (e.g. churn) by customer attributes, from a Cox model.

    A hazard ratio above 1 means customers with that attribute (level, or one more unit) have the
    event sooner -- e.g. churn sooner -- than the reference, holding the other covariates fixed.
    See :class:`CoxModel` for the coding of categorical covariates and the reference levels.

    Parameters
    ----------
    frame
        One row per customer with ``duration_col`` (days), ``event_col`` (bool) and the covariates,
        e.g. :func:`customer_lifetimes` joined to customer attributes.

    Returns
    -------
    pandas.DataFrame
        ``CoxModel.summary_``: ``covariate``, ``level``, ``reference``, ``coef``, ``hazard_ratio``,
        ``lower``, ``upper`` (confidence interval of the hazard ratio), ``p_value``.
    """
    model = CoxModel(covariates=list(covariates), reference=reference, ties=ties, alpha=alpha)
    model.fit(frame, duration_col, event_col)
    table = model.summary_.copy()
    table.attrs.update(n_customers=model.n_customers_, n_events=model.n_events_,
                       reference_levels=model.reference_levels_)
    return table
