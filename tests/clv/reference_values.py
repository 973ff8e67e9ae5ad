"""Reference values for the customer-value models, with their sources.

Data: the CDNOW 1/10 sample (2,357 customers, first purchases in Q1 1997; Fader & Hardie 2001,
Interfaces 31(3)), 39-week calibration to 1997-09-30, time in weeks; and the donations data of
Fader, Hardie & Shang (2010), Marketing Science 29(6). Log-likelihoods are sums over customers of
ln L in Hardie's form (no normalising constants).

"High-precision" maximum-likelihood values are those two independent implementations agree on
(R CLVTools, tests/testthat/test_correctness_*.R, and lifetimes 0.11.3 / an independent scipy
re-computation reported in the project's research notes on the CDNOW reference values).
"""

# --- BG/NBD -----------------------------------------------------------------------------------
# Fader, Hardie & Lee (2005) "Counting your customers the easy way", Marketing Science 24(2):
# r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4 (published, rounded).
BGNBD_PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
# High-precision MLE (CLVTools: 0.2425945, 4.4136019, 0.7929199, 2.4258881; lifetimes to 6 digits).
BGNBD_MLE = {"r": 0.242593, "alpha": 4.413532, "a": 0.792886, "b": 2.425753}
BGNBD_LOG_LIKELIHOOD = -9582.4256
# Standard errors (lifetimes 0.11.3, Hessian of the negative log-likelihood).
BGNBD_STANDARD_ERRORS = {"r": 0.01256, "alpha": 0.3782, "a": 0.1857, "b": 0.7053}
# Hardie note 004 spreadsheet (bgnbd.xls): CDNOW customer 1 (x=2, t_x=30.43, T=38.86).
BGNBD_CUSTOMER_1 = {"x": 2, "t_x": 30.43, "T": 38.86, "expected_39": 1.226, "p_alive": 0.7266}
# Unconditional E[X(t)] at the full-precision MLE (Hardie spreadsheet; last value recomputed at MLE).
BGNBD_NEW_CUSTOMER = {0.1429: 0.0078, 1: 0.0532, 3: 0.1506, 31.8571: 1.0405, 32: 1.0437, 78: 1.8580}
# R BTYD documentation (bgnbd.pmf) at the published rounded parameters.
BGNBD_P_ZERO_IN_39 = 0.5737864
BGNBD_P_TEN_IN_2 = 1.07869e-07
BGNBD_PMF_30 = {11: 0.0019995214, 12: 0.0015170236, 13: 0.0011633150, 14: 0.0009003148, 15: 0.0007023638,
                16: 0.0005517902, 17: 0.0004361913, 18: 0.0003467171, 19: 0.0002769613, 20: 0.0002222260}

# --- Numerical stability (Hardie 2013, note 027; asserted by pymc-marketing test_numerically_stable_logp)
STABILITY_PARAMS = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
STABILITY_T = 40.0
BGNBD_STABLE_LL = {(0, 0.0): -0.59947382, (200, 38.0): 100.7957}
MBGNBD_STABLE_LL = {(0, 0.0): -0.41792826, (200, 38.0): 100.7869}

# --- MBG/NBD (Batislam, Denizel & Filiztekin 2007; CDNOW values from R BTYDplus as used by lifetimes
# TestModifiedBetaGeoFitter and pymc-marketing): r=0.525, alpha=6.183, a=0.891, b=1.614.
MBGNBD_MLE = {"r": 0.5248, "alpha": 6.1830, "a": 0.8914, "b": 1.6140}
MBGNBD_LOG_LIKELIHOOD = -9582.1327

# --- Pareto/NBD --------------------------------------------------------------------------------
# FHL (2005): r=0.553, alpha=10.578, s=0.606, beta=11.669, LL=-9595.0.
# High-precision MLE (CLVTools r=0.55315, alpha=10.57633, s=0.60625, beta=11.67150, LL=-9594.976).
PARETO_MLE = {"r": 0.55328, "alpha": 10.57761, "s": 0.60621, "beta": 11.66791}
PARETO_LOG_LIKELIHOOD = -9594.974
PARETO_STANDARD_ERRORS = {"r": 0.0476, "alpha": 0.8427, "s": 0.1873, "beta": 6.2105}  # CLVTools
# R BTYD walkthrough (cdnowSummary$est.params) and its spot values for x=26, t_x=30.86, T=31.
PARETO_BTYD_PARAMS = {"r": 0.5534, "alpha": 10.5802, "s": 0.6061, "beta": 11.6562}
PARETO_BTYD_CUSTOMER = {"x": 26, "t_x": 30.86, "T": 31, "expected_52": 25.46, "p_alive": 0.9979}
# BTYD docs: E[X(t)] for a new customer, t = 0..9 (asserted by lifetimes at atol 0.01).
PARETO_NEW_CUSTOMER = [0, 0.05077821, 0.09916088, 0.14542507, 0.18979930, 0.23247466, 0.27361274,
                       0.31335159, 0.35181024, 0.38909211]
# Customer 1 (x=2, t_x=30.43, T=38.86) at the MLE (lifetimes 0.11.3 agrees).
PARETO_CUSTOMER_1 = {"expected_39": 1.455, "p_alive": 0.869}

# --- Gamma-Gamma (Fader & Hardie 2013, note 025): p=6.25, q=3.74, gamma=15.44 on the 946 repeat buyers.
GG_PUBLISHED = {"p": 6.25, "q": 3.74, "gamma": 15.44}
GG_MLE = {"p": 6.2488, "q": 3.7446, "gamma": 15.4477}
GG_LOG_LIKELIHOOD = -4055.923  # on zbar as stored (2 decimals); CLVTools reports -4055.9177
GG_N_CUSTOMERS = 946
# Note 025 spreadsheet: E(M | x, zbar) of the first 10 CDNOW customers (lifetimes asserts atol 0.1).
GG_EXPECTED_SPEND_FIRST_10 = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]

# --- BG/BB (Fader, Hardie & Shang 2010; Hardie note 010, BGBB_2011-01-20.xlsx) ----------------------
BGBB_PUBLISHED = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
BGBB_MLE = {"alpha": 1.2035, "beta": 0.7497, "gamma": 0.6567, "delta": 2.7834}
BGBB_LOG_LIKELIHOOD = -33225.58
# FHS 2010 Table 6: P(alive in 2002) for (x, t_x) = (0, 0), (2, 4), (6, 6), n = 6.
BGBB_P_ALIVE_2002 = {(0, 0): 0.11, (2, 4): 0.59, (6, 6): 0.93}
# xlsx "Conditional Expectations (II)": sum over donors of E[X(n, n+5) | data].
BGBB_SUM_CONDITIONAL_5 = 12884.2
# xlsx "In-Sample Fit": expected donors with x = 0 and x = 6 (of 6).
BGBB_EXPECTED_DONORS = {0: 3454.9, 6: 1253.1}
# xlsx "Tracking Plot" B7:B17: E[X(n)] for a new donor, n = 1..11.
BGBB_NEW_CUSTOMER = [0.4985, 0.9233, 1.2969, 1.6323, 1.9381, 2.2202, 2.4826, 2.7285, 2.9603, 3.1798, 3.3887]

# --- CDNOW calibration/holdout (FHL 2005; counts from CDNOW_sample.txt) ----------------------------
CDNOW_CALIBRATION_END = "1997-09-30"
CDNOW_HOLDOUT_END = "1998-06-30"
CDNOW_REPEATS_CALIBRATION = 2457
CDNOW_REPEATS_HOLDOUT = 1882
CDNOW_ZERO_CLASS_HOLDOUT = 334
CDNOW_CUMULATIVE_WEEK_78 = 4339
# FHL (2005): the BG/NBD under-forecasts week-78 cumulative repeat purchases by about 4%.
CDNOW_BGNBD_WEEK_78 = 4160.6  # recomputed: sum over customers of E[X(T_i + 39)]
