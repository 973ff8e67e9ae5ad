"""Surveys: Net Promoter Score and answers by what respondents did after answering (churned,
retained), with the follow-up window in days.

The conventions are those of :mod:`clc_lib.recovery`: a respondent churned when they made no
purchase within ``survey_window_days`` after answering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import stats

from clc_lib.errors import ConfigError, DataError
from clc_lib.periods import resolve_as_of
from clc_lib.recovery import RECOVERY_DEFAULTS
from clc_lib.summary import check_transactions

__all__ = ["NPS_BANDS", "SurveySummary", "survey_summary", "SURVEY_STATUSES"]

#: Survey status of respondents whose follow-up after answering is shorter than the window.
TOO_RECENT = "too recent"
SURVEY_STATUSES = ("churned", "retained", "unknown", TOO_RECENT)

#: NPS bands on the 0-10 scale: band -> (lowest score, highest score), both inclusive.
NPS_BANDS: dict[str, tuple[float, float]] = {"detractor": (0, 6), "passive": (7, 8), "promoter": (9, 10)}


@dataclass
class SurveySummary:
    """NPS and scores of churned vs retained customers.

    Attributes
    ----------
    by_status : pandas.DataFrame
        Index ``status`` (churned, retained; ``unknown`` = respondent without a churn flag;
        ``too recent`` = answered less than the window before ``as_of``): columns
        ``respondents``, ``mean_score``, ``promoters``, ``passives``, ``detractors`` (shares) and
        ``nps`` (promoters - detractors, in points from -100 to 100).
    reasons : pandas.DataFrame
        ``status``, ``reason``, ``respondents``, ``share`` (of the status' respondents).
    test : pandas.DataFrame
        One row: the two-sided Mann-Whitney U test of the scores of churned vs retained
        respondents: ``test``, ``statistic``, ``p_value``, ``n_churned``, ``n_retained``,
        ``mean_difference`` (churned minus retained, score points).
    responses : pandas.DataFrame
        The responses used: ``customer_id``, ``responded_at``, ``score``, ``band``, ``status``
        (+ ``reason`` when present).
    n_responses, n_used : int
        Responses received and used (with ``latest_only`` earlier answers of the same customer
        are set aside).
    basis : str
        How respondents were labelled: ``"purchases after the response"`` or ``"churn flags"``.
    window_days : int or None
        With the purchases after the response: the follow-up window in days.
    """

    by_status: pd.DataFrame
    reasons: pd.DataFrame
    test: pd.DataFrame
    responses: pd.DataFrame
    n_responses: int
    n_used: int
    basis: str = "churn flags"
    window_days: int | None = None


def _churn_status(flags: pd.Series | pd.DataFrame, churned_stages: Sequence[str]) -> pd.Series:
    """Per customer: 'churned' or 'retained' from a boolean Series, a 'churned' column or a 'stage' column."""
    if isinstance(flags, pd.DataFrame):
        frame = flags.set_index("customer_id") if "customer_id" in flags.columns else flags
        if "churned" in frame.columns:
            churned = frame["churned"]
        elif "stage" in frame.columns:
            churned = frame["stage"].astype(str).isin(list(churned_stages))
        else:
            raise DataError("The churn flags need a 'churned' (bool) or 'stage' column.", source="churn flags",
                            hint="Pass clc.classify_stages(...) output or a boolean Series indexed by customer_id.")
    else:
        churned = flags
    if churned.isna().any():
        raise DataError("Some churn flags are missing.", source="churn flags", column="churned",
                        n_rows=int(churned.isna().sum()),
                        examples=[(cid, None) for cid in churned.index[churned.isna()][:5]],
                        hint="Give every customer True or False.")
    status = pd.Series(np.where(churned.astype(bool), "churned", "retained"), index=churned.index.astype(str))
    return status[~status.index.duplicated(keep="last")]


def _nps_band(scores: pd.Series) -> pd.Series:
    band = pd.Series(pd.NA, index=scores.index, dtype="object")
    for name, (low, high) in NPS_BANDS.items():
        # Fractional scores (e.g. averaged answers) fall in the band whose range contains their floor.
        band[(np.floor(scores) >= low) & (np.floor(scores) <= high)] = name
    return band


def survey_summary(
    surveys: pd.DataFrame,
    stages_or_churn_flags: pd.Series | pd.DataFrame | None = None,
    *,
    transactions: ir.Table | None = None,
    as_of=None,
    window_days: int = RECOVERY_DEFAULTS["survey_window_days"],
    churned_stages: Sequence[str] = ("churned",),
    latest_only: bool = True,
) -> SurveySummary:
    """NPS, mean score and reasons of churned vs retained customers, with a test of the difference.

    Respondents are labelled in one of two ways:

    * **by what they did after answering** (pass ``transactions``): ``churned`` when they made no
      purchase in the ``window_days`` after their response, ``retained`` when they did. Only
      responses followed up for the whole window (``responded_at + window_days`` on or before the
      end of the ``as_of`` day) are compared; later ones are ``too recent``. This is the question a
      survey can answer: do customers who are about to leave say so?
    * **by given flags** (``stages_or_churn_flags``), e.g. the lifecycle stage on ``as_of``. A
      stage on ``as_of`` mixes what happened before and long after the answer, so it describes the
      respondents' present, not what followed the response.

    Parameters
    ----------
    surveys
        Contract surveys table (pandas): ``customer_id``, ``responded_at``, ``score`` (0-10), and
        optional ``reason``.
    stages_or_churn_flags
        Per customer: a boolean Series (True = churned) indexed by ``customer_id``, a frame with a
        boolean ``churned`` column, or a frame with a ``stage`` column (e.g. from
        ``clc.classify_stages``), where ``churned_stages`` count as churned. Not used with
        ``transactions``.
    transactions
        The contract's transactions table (Ibis): label respondents by their purchases after the
        response (purchases are non-return rows).
    as_of
        Cut-off date of the follow-up (the whole day is included); ``None`` = the date of the last
        transaction.
    window_days
        Follow-up window after the response, in days.
    churned_stages
        Stages that count as churned when a ``stage`` column is given.
    latest_only
        Use each customer's latest response only (default), so that frequent respondents do not
        weigh more and the test's independence assumption holds; ``False`` uses every response.
        With ``transactions`` it is the latest response with a complete follow-up.

    Returns
    -------
    SurveySummary
        NPS bands: detractors 0-6, passives 7-8, promoters 9-10 (:data:`NPS_BANDS`);
        NPS = % promoters - % detractors.
    """
    needed = [c for c in ("customer_id", "responded_at", "score") if c not in surveys.columns]
    if needed:
        raise DataError("The surveys table lacks contract columns.", source="surveys", column=", ".join(needed),
                        hint="Map them in the run config (surveys: columns: ...).")
    responses = surveys.reset_index(drop=True).copy()
    responses["customer_id"] = responses["customer_id"].astype(str)
    score = pd.to_numeric(responses["score"], errors="coerce")
    bad = score.isna() | (score < 0) | (score > 10)
    if bad.any():
        raise DataError("Survey scores must be numbers from 0 to 10.", source="surveys", column="score",
                        n_rows=int(bad.sum()),
                        examples=[(i + 1, responses.loc[i, "score"]) for i in np.flatnonzero(bad)[:5]],
                        hint="Check the score column mapping; NPS answers are on a 0-10 scale.")
    responses["score"] = score.astype(float)
    responses["responded_at"] = pd.to_datetime(responses["responded_at"]).astype("datetime64[us]")
    n_responses = len(responses)
    if transactions is not None:
        if int(window_days) <= 0:
            raise ConfigError(f"window_days is {window_days}; use a positive number of days, e.g. 365.")
        check_transactions(transactions, needed=("customer_id", "timestamp", "is_return"))
        as_of = resolve_as_of(as_of, transactions)
        responses["status"] = _status_after_response(responses, transactions, as_of, int(window_days))
        basis, window = "purchases after the response", int(window_days)
    elif stages_or_churn_flags is not None:
        status = _churn_status(stages_or_churn_flags, churned_stages)
        responses["status"] = responses["customer_id"].map(status).fillna("unknown")
        basis, window = "churn flags", None
    else:
        raise ConfigError("survey_summary needs the transactions (to label respondents by their purchases "
                          "after the response) or churn flags.")
    if latest_only:
        # A too-recent answer does not hide an earlier one that was followed up long enough.
        followed_up = responses.assign(_recent=responses["status"] == TOO_RECENT)
        responses = (followed_up.sort_values(["customer_id", "_recent", "responded_at"], ascending=[True, False, True],
                                             kind="mergesort")
                     .drop_duplicates("customer_id", keep="last").drop(columns="_recent"))
    responses["band"] = _nps_band(responses["score"])
    keep = ["customer_id", "responded_at", "score", "band", "status"] + (["reason"] if "reason" in responses else [])
    responses = responses[keep].sort_values(["responded_at", "customer_id"], kind="mergesort").reset_index(drop=True)

    order = [s for s in SURVEY_STATUSES if (responses["status"] == s).any()]
    grouped = responses.groupby("status")
    band_shares = (pd.crosstab(responses["status"], responses["band"], normalize="index")
                   .reindex(index=order, columns=list(NPS_BANDS), fill_value=0.0))
    by_status = pd.DataFrame({
        "respondents": grouped.size().reindex(order),
        "mean_score": grouped["score"].mean().reindex(order),
        "promoters": band_shares["promoter"],
        "passives": band_shares["passive"],
        "detractors": band_shares["detractor"],
    })
    by_status["nps"] = 100 * (by_status["promoters"] - by_status["detractors"])
    by_status.index.name = "status"

    if "reason" in responses:
        reasons = (responses.assign(reason=responses["reason"].fillna("(no reason given)"))
                   .groupby(["status", "reason"]).size().rename("respondents").reset_index())
        reasons["share"] = reasons["respondents"] / reasons["status"].map(grouped.size())
        reasons = reasons.sort_values(["status", "respondents"], ascending=[True, False]).reset_index(drop=True)
    else:
        reasons = pd.DataFrame(columns=["status", "reason", "respondents", "share"])

    churned_scores = responses.loc[responses["status"] == "churned", "score"]
    retained_scores = responses.loc[responses["status"] == "retained", "score"]
    if len(churned_scores) and len(retained_scores):
        test = stats.mannwhitneyu(churned_scores, retained_scores, alternative="two-sided")
        statistic, p_value = float(test.statistic), float(test.pvalue)
    else:
        statistic, p_value = np.nan, np.nan
    test_row = pd.DataFrame([{
        "test": "Mann-Whitney U (two-sided)", "statistic": statistic, "p_value": p_value,
        "n_churned": len(churned_scores), "n_retained": len(retained_scores),
        "mean_difference": churned_scores.mean() - retained_scores.mean()
        if len(churned_scores) and len(retained_scores) else np.nan,
    }])
    return SurveySummary(by_status=by_status, reasons=reasons, test=test_row, responses=responses,
                         n_responses=n_responses, n_used=len(responses), basis=basis, window_days=window)


def _status_after_response(responses: pd.DataFrame, transactions: ir.Table, as_of: pd.Timestamp,
                           window_days: int) -> np.ndarray:
    """Per response: churned (no purchase in the window after it), retained, or too recent (in the engine)."""
    follow_up_end = as_of + pd.Timedelta(days=1)
    window = pd.Timedelta(days=window_days)
    answers = responses[["customer_id", "responded_at"]].reset_index(drop=True)
    answers["response"] = np.arange(len(answers), dtype="int64")
    asked = ibis.memtable(answers)
    purchases = transactions.filter(~transactions.is_return.fill_null(False))
    purchases = purchases.select(buyer=purchases.customer_id, bought_at=purchases.timestamp)
    joined = asked.join(
        purchases,
        (asked.customer_id == purchases.buyer) & (purchases.bought_at > asked.responded_at)
        & (purchases.bought_at <= asked.responded_at + ibis.interval(days=window_days)),
    )
    bought = set(joined.select("response").distinct().execute()["response"].astype("int64"))
    complete = (answers["responded_at"] + window < follow_up_end).to_numpy()
    returned = answers["response"].isin(bought).to_numpy()
    # A purchase within the window is known even when the window has not ended; only its absence is not.
    return np.where(returned & complete, "retained", np.where(complete, "churned", TOO_RECENT))
