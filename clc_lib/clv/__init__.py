"""Predictive customer-value models: BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma and BG/BB.

Written from the published likelihoods and fitted by maximum likelihood with scipy on compressed
(x, t_x, T) patterns. Time is in the unit of the customer summary (``time_unit``, weeks by
default); see ``docs/clv.md`` for the definitions, units and the validation against the
published CDNOW and donations results.
"""

from __future__ import annotations

from clc_lib.clv.bgbb import BetaGeoBetaBinomModel
from clc_lib.clv.bgnbd import BetaGeoModel, ModifiedBetaGeoModel
from clc_lib.clv.evaluation import (
    compare_models,
    cumulative_tracking,
    frequency_recency_matrix,
    holdout_by_frequency,
    holdout_errors,
)
from clc_lib.clv.gamma_gamma import FrequencySpendCorrelationWarning, GammaGammaModel
from clc_lib.clv.holdout import (
    HOLDOUT_MAX_SHARE,
    HoldoutPeriod,
    ShortHistoryError,
    calibration_holdout_split,
    holdout_period,
)
from clc_lib.clv.pareto_nbd import ParetoNBDModel
from clc_lib.clv.simulate import (
    simulate_bgbb,
    simulate_bgnbd,
    simulate_gamma_gamma,
    simulate_mbgnbd,
    simulate_pareto_nbd,
)
from clc_lib.clv.value import (
    PURCHASE_MODELS,
    CustomerValueModel,
    per_step_discount_rate,
    predict_customer_value,
    predict_run_value,
)

__all__ = [
    "BetaGeoModel",
    "ModifiedBetaGeoModel",
    "ParetoNBDModel",
    "GammaGammaModel",
    "BetaGeoBetaBinomModel",
    "FrequencySpendCorrelationWarning",
    "CustomerValueModel",
    "PURCHASE_MODELS",
    "predict_customer_value",
    "predict_run_value",
    "per_step_discount_rate",
    "calibration_holdout_split",
    "holdout_period",
    "HoldoutPeriod",
    "HOLDOUT_MAX_SHARE",
    "ShortHistoryError",
    "holdout_by_frequency",
    "holdout_errors",
    "cumulative_tracking",
    "frequency_recency_matrix",
    "compare_models",
    "simulate_bgnbd",
    "simulate_mbgnbd",
    "simulate_pareto_nbd",
    "simulate_gamma_gamma",
    "simulate_bgbb",
]
