"""clc: customer lifecycle analytics.

The public API is what this module exports; notebooks use only these names (``import clc_lib as clc``).
Names are imported from their modules on first use, so ``clc --help`` and small scripts start fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from clc_lib.config import RunConfig, load_config
from clc_lib.errors import ClcError, ConfigError, DataError, ModelFitError
from clc_lib.paths import project_root

__version__ = "0.1.0"

#: Public names by module (each module's ``__all__``; tests/test_api.py keeps the two in step).
EXPORTS: dict[str, tuple[str, ...]] = {
    "settings": (
        "CLV_MODEL_NAMES", "ENGINE_DEFAULTS", "MARGIN_COLUMNS", "MARGIN_DEFAULTS", "QUALITY_ACTIONS",
        "QUALITY_DEFAULTS", "STAGE_THRESHOLDS", "ReadOnlyMapping", "ClvSettings", "ReportSettings", "RfmSettings",
        "StageDerivation", "StageSettings", "engine_settings", "margin_settings", "ACQUISITION_DEFAULTS",
        "acquisition_settings", "plain", "quality_settings", "read_only", "suggest",
    ),
    "engines": (
        "SPARK_DEFAULT_SETTINGS", "Engine", "engine_for", "engine_of", "engine_description",
        "cache_table", "connect_spark", "connect_url", "connect",
    ),
    "files": ("atomic_write",),
    "sources": ("CSV_DEFAULTS",),
    "loading": ("load_table", "read_transactions"),
    "run": ("RunData", "load_run", "save_run_cache"),
    "quality": (
        "QUALITY_RULES", "QualityRule", "RuleResult", "TableQuality",
        "DataQualityReport", "VALUE_CHECKS", "TABLE_KEYS", "TABLE_COUNTS",
    ),
    "demo_model": ("DEMO_CATEGORIES", "DEMO_CHANNELS"),
    "demo": ("DemoData", "generate_demo", "write_demo_data"),
    "periods": (
        "DAYS_PER_YEAR", "DAYS_PER_MONTH", "Period", "PERIODS", "TimeUnit", "TIME_UNITS", "TIME_UNIT_DAYS",
        "resolve_as_of",
    ),
    "summary": (
        "customer_summary", "model_inputs", "customer_period_panel", "net_purchase_days",
    ),
    "stages": (
        "STAGES", "PROSPECT_STAGES", "StageRules", "stage_rule_defaults", "derive_stage_rules",
        "classify_stages", "stage_shares", "mark_advocates",
    ),
    "stage_history": (
        "growth_accounting", "stage_history", "stage_counts", "transition_matrix", "stage_flows", "stage_metrics",
        "stage_backtest",
    ),
    "rfm": (
        "rfm_segment_maps", "rfm_scores", "rfm_segments",
        "segment_profiles", "attribute_profiles", "segment_migration", "rfm_table", "rfm_migration",
    ),
    "scoring": (
        "FORMULA_PREFIXES", "SCORE_PROVIDERS", "escape_formula_text", "register_score_provider", "score_customers",
        "write_scores",
    ),
    "cohorts": (
        "cohort_matrix", "retention_curve", "churn_rate_over_time", "period_is_complete", "mark_complete_periods",
        "COHORT_KINDS", "CHURN_DEFINITIONS",
    ),
    "survival": (
        "customer_lifetimes", "with_customer_attributes", "ATTRIBUTE_RULES", "CustomerAttributes",
        "customer_attributes", "format_p_value", "time_to_second_purchase", "kaplan_meier",
        "median_survival", "restricted_mean_survival_time", "logrank_test", "SurvivalComparison",
        "compare_survival",
    ),
    "churn_drivers": ("CoxModel", "cox_drivers"),
    "acquisition": (
        "ENGAGED_EVENT_TYPES", "LEAD_EVENT_TYPES", "BLENDED_CAC_LABEL",
        "PAID_CAC_LABEL", "customer_acquisition", "acquisition_overview", "new_customers", "funnel",
        "first_order_value", "cac_by_channel", "repeat_rate",
    ),
    "unit_economics": (
        "margin_basis", "apply_margin", "cumulative_revenue_per_customer", "ltv_from_revenue_curve", "ltv_cac",
        "payback_period",
    ),
    "monetisation": (
        "TENURE_BANDS_DAYS", "revenue_over_time", "revenue_by", "lorenz_curve", "gini",
        "top_share", "concentration_summary", "historic_ltv", "historic_vs_predicted", "has_categories",
        "categories_per_customer", "multi_category_share", "category_co_occurrence",
        "aov_by_order_number", "aov_by_tenure",
    ),
    "recovery": (
        "RECOVERY_DEFAULTS", "WINBACK_STAGES", "lapsed_counts_over_time", "ReactivationResult", "reactivation",
        "time_to_return", "winback_candidates",
    ),
    "campaigns": ("campaign_uplift", "campaign_response", "has_control_groups", "holdout_size"),
    "surveys": ("NPS_BANDS", "SurveySummary", "survey_summary", "SURVEY_STATUSES"),
    "clv": (
        "BetaGeoModel", "ModifiedBetaGeoModel", "ParetoNBDModel", "GammaGammaModel",
        "BetaGeoBetaBinomModel", "FrequencySpendCorrelationWarning", "CustomerValueModel",
        "PURCHASE_MODELS", "predict_customer_value", "predict_run_value",
        "per_step_discount_rate", "calibration_holdout_split", "holdout_period", "HoldoutPeriod",
        "HOLDOUT_MAX_SHARE", "ShortHistoryError", "holdout_by_frequency", "holdout_errors",
        "cumulative_tracking", "frequency_recency_matrix", "compare_models", "simulate_bgnbd",
        "simulate_mbgnbd", "simulate_pareto_nbd", "simulate_gamma_gamma", "simulate_bgbb",
    ),
    "alt_text": ("chart_kind", "chart_alt_text"),
    "display": (
        "FIGURE_KINDS", "format_currency", "format_percent", "format_points", "format_count", "format_days",
        "format_date", "format_number", "format_value", "format_duration", "key_figures_html", "figure_change",
        "format_change", "SKIP_CLASS", "SWITCH_ON", "missing_html", "note_html", "skipped_html", "show_key_figures",
        "show_missing", "show_note", "show_skipped", "run_or_skip", "show_model_notes", "show_warnings_as_notes", "add_chart_alt_text", "show_quality",
        "quality_attention", "quality_line",
    ),
    "tables": ("COLUMN_LABELS", "STAGE_COLUMNS", "SEGMENT_COLUMNS", "CHANNEL_SUMMARY_ROWS", "plain_p_value", "plain_interval", "column_label", "table_html",
               "show_table"),
    "definitions": (
        "Term", "TERMS", "POPULATION_TERMS", "RECENCY_RULES", "recency_rule", "STAGE_LABELS", "stage_label", "RFM_SEGMENT_NAMES", "segment_label",
        "horizon_text", "run_terms", "glossary_frame", "members", "share_of_customers",
    ),
    "keyfigures": (
        "KeyFigure", "segmentation_figures", "acquisition_figures", "monetisation_figures", "retention_figures",
        "recovery_figures",
    ),
    "headlines": (
        "HEADLINES", "headline_sentences", "segmentation_headlines", "acquisition_headlines",
        "monetisation_headlines", "retention_headlines", "recovery_headlines", "headlines_html", "show_headlines",
    ),
    "privacy": (
        "SALT_ENV_VAR", "IDENTIFIER_COLUMNS", "PERSONAL_DATA_COLUMNS",
        "PERSONAL_DATA_VALUES", "id_salt", "pseudonymise_ids_enabled", "pseudonymise_id",
        "personal_data_columns", "protect_frame", "mask_personal_values", "redact",
        "config_secret_values", "scrub_local_paths", "example_values", "pseudonymise_examples",
    ),
    "handoff": (
        "PARAMETERS", "KEY_FIGURES_MIME", "RUN_DATA_MIME", "CLC_MIME_TYPES", "declared_parameters", "parameters_for",
        "apply_notebook_parameters", "pseudonymise_ids_setting", "run_cache_folder", "read_key_figures",
        "read_run_data",
    ),
    "i18n": (
        "LANGUAGES", "DEFAULT_LANGUAGE", "BABEL_LOCALES", "CATALOG_FOLDERS", "LANGUAGE_NAMES", "LOCALE_DIR", "DOMAIN",
        "N_", "RUN_STATUS_WORDS", "parse_language", "parse_languages", "set_language", "current_language", "language",
        "catalog", "compile_catalog", "gettext", "_", "pgettext", "ngettext", "page_suffix", "sentence_space",
        "format_period",
        "PERIOD_UNITS",
    ),
    "publishing": ("OutputFolderError", "ReportLockedError", "private_runs_root", "run_folder_name"),
    "report": (
        "NotebookRun", "ReportRun", "report_notebooks", "run_report",
    ),
}

_MODULE_OF = {name: module for module, names in EXPORTS.items() for name in names}
_MODULE_OF["set_theme"] = "plots"

__all__ = ["ClcError", "ConfigError", "DataError", "ModelFitError", "RunConfig", "load_config", "plots",
           "project_root", "__version__", *_MODULE_OF]


def __getattr__(name: str) -> Any:
    if name == "plots":
        return importlib.import_module("clc_lib.plots")
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'clc_lib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"clc_lib.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
