"""One vocabulary: lapsed, churned and at risk mean the run's stage rules on every chart and page."""

from __future__ import annotations

import html
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import yaml

from clc_lib.definitions import RECENCY_RULES, recency_rule
from clc_lib.errors import ConfigError
from clc_lib.paths import project_root
from clc_lib.plots.recovery import plot_lapsed_counts

DEMO_DIR = project_root() / "data" / "raw" / "demo"
THRESHOLDS = {"at_risk_days": 117, "dormant_days": 197, "churn_days": 292, "reactivation_gap_days": 150}


def test_recency_rules_state_the_stage_rule_thresholds():
    assert recency_rule("lapsed_customer", THRESHOLDS) == (
        "Lapsed customers: no purchase for more than 117 days, up to 292")
    assert recency_rule("churned_customer", THRESHOLDS) == "Churned customers: no purchase for more than 292 days"
    assert recency_rule("at_risk_customer", THRESHOLDS) == (
        "At-risk customers: no purchase for more than 117 days, up to 197")
    assert recency_rule("lapsed_or_churned", {"at_risk_days": 117.0}).endswith("more than 117 days")
    for key in RECENCY_RULES:
        assert "{" not in recency_rule(key, THRESHOLDS)


def test_recency_rule_names_what_is_missing():
    with pytest.raises(ConfigError, match="churn_days"):
        recency_rule("churned_customer", {"at_risk_days": 117})
    with pytest.raises(ConfigError, match="no recency rule"):
        recency_rule("customer", THRESHOLDS)


def test_the_lapsed_chart_states_the_thresholds_it_was_counted_with():
    counts = pd.DataFrame({"period_end": pd.to_datetime(["2024-01-31", "2024-02-29"]),
                           "active": [10, 11], "lapsed": [2, 3], "churned": [1, 2]})
    counts.attrs.update(lapse_days=117, churn_days=292)
    ax = plot_lapsed_counts(counts)
    title = " ".join(ax.get_title().split())
    plt.close(ax.figure)
    assert "Lapsed customers: no purchase for more than 117 days, up to 292" in title
    assert "Churned customers: no purchase for more than 292 days" in title


def _page_text(page) -> str:
    markup = re.sub(r"<style.*?</style>|<script.*?</script>", " ", page.read_text(), flags=re.S)
    markup = re.sub(r'<img[^>]*alt="([^"]*)"[^>]*>', r" \1 ", markup)  # chart titles reach the text via alt
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", markup)))


# The nearest (then longest) of these phrases before "more than N days" says which threshold N must be.
_CONTEXT_THRESHOLD = [("lapsed or churned", "at_risk_days"), ("at-risk, dormant or churned", "at_risk_days"), ("lapsed", "at_risk_days"),
                      ("at risk", "at_risk_days"), ("at-risk", "at_risk_days"), ("churned", "churn_days"),
                      ("reactivat", "reactivation_gap_days"), ("away", "reactivation_gap_days"),
                      ("gap", "reactivation_gap_days")]


def _expected_threshold(before: str) -> str | None:
    before = before.lower()
    positions = [(before.rfind(word) + len(word), len(word), name) for word, name in _CONTEXT_THRESHOLD if word in before]
    return max(positions)[2] if positions else None


@pytest.mark.slow
def test_every_lapsed_and_churned_day_count_on_the_recovery_page_is_a_stage_rule(tmp_path):
    from clc_lib.report import run_report
    from clc_lib.run import load_run

    config = yaml.safe_load((DEMO_DIR / "run.yaml").read_text())
    for table in ("transactions", "customers", "spend", "events", "campaigns", "surveys"):
        config[table]["path"] = str(DEMO_DIR / config[table]["path"])
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    run = run_report(path, out=tmp_path / "reports", only=["05"], jobs=1, echo=None)
    assert run.ok, [(n.name, n.error) for n in run.notebooks if n.status != "ok"]
    text = _page_text(next(run.path.glob("05_*.html")))
    thresholds = {name: int(float(value)) for name, value in load_run(path).stage_rules().thresholds.items()}

    checked = []
    for match in re.finditer(r"more than (\d+) days", text):
        before = text[max(0, match.start() - 90):match.start()]
        expected = _expected_threshold(before)
        if expected is None:
            continue
        if before.endswith("not "):  # the upper end of the at-risk band (dormant) or of the lapsed band (churn)
            expected = {"at_risk_days": "dormant_days"}.get(expected, expected)
        assert int(match.group(1)) == thresholds[expected], (expected, text[match.start() - 90:match.end()])
        checked.append(expected)
    assert {"at_risk_days", "churn_days"} <= set(checked), checked


def test_customers_by_lifecycle_stage_stacks_customers_only_and_states_the_prospects_apart():
    from matplotlib.collections import PolyCollection

    from clc_lib.plots.stages import plot_stage_counts

    ends = pd.to_datetime(["2024-01-31", "2024-02-29"])
    people = {"aware": (400, 420), "engaged": (100, 110), "new": (5, 6), "active": (20, 22),
              "at_risk": (7, 8), "churned": (3, 4)}
    counts = pd.DataFrame([{"period_end": end, "stage": stage, "customers": values[i]}
                           for stage, values in people.items() for i, end in enumerate(ends)])
    customers_at_end = 6 + 22 + 8 + 4  # the customer stages; 530 prospects are not customers
    ax = plot_stage_counts(counts)
    last = ax.get_xlim()[1]
    tops = [vertices[:, 1].max() for collection in ax.collections if isinstance(collection, PolyCollection)
            for path in collection.get_paths() for vertices in [path.vertices[path.vertices[:, 0] == last]]
            if len(vertices)]
    title = " ".join(ax.get_title().split())
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    plt.close(ax.figure)
    assert last and max(tops) == pytest.approx(customers_at_end)
    assert title.startswith("Customers by lifecycle stage")
    assert "Prospects (not customers, not drawn): 530 at the last period end" in title
    assert not {"aware", "engaged"} & set(legend)


def test_the_two_per_period_rates_have_their_own_titles_from_the_definitions():
    from clc_lib.definitions import TERMS
    from clc_lib.plots.cohorts import plot_churn_rate

    rates = pd.DataFrame({"period_start": pd.to_datetime(["2024-02-01", "2024-03-01"]), "churn_rate": [0.75, 0.7]})
    dropoff_title = " ".join(plot_churn_rate(rates).get_title().split())
    churn = rates.assign(churn_rate=[0.05, 0.04])
    churn.attrs["inactivity_days"] = 292
    churn_title = " ".join(plot_churn_rate(churn).get_title().split())
    plt.close("all")
    assert dropoff_title.startswith(TERMS["buyer_dropoff_rate"].label + " per period")
    assert "churn" not in dropoff_title.lower()
    assert churn_title.startswith(TERMS["churn_rate"].label + " per period") and "292 days" in churn_title
    assert dropoff_title != churn_title


def test_paid_channels_cac_leaves_out_the_configured_unpaid_channels():
    from clc_lib.acquisition import BLENDED_CAC_LABEL, PAID_CAC_LABEL, cac_by_channel

    month = pd.Timestamp("2024-01-01")
    spend = pd.DataFrame({"period_start": month, "channel": ["search", "social", "organic"],
                          "spend": [1000.0, 600.0, 400.0]})
    new = pd.DataFrame({"period_start": month, "channel": ["search", "social", "organic", "direct"],
                        "new_customers": [10, 20, 50, 20]})
    cac = cac_by_channel(spend, new, by_period=False, unpaid_channels=["organic", "direct"]).set_index("channel")
    assert cac.loc[BLENDED_CAC_LABEL, "cac"] == pytest.approx(2000 / 100)  # all spend / all new customers
    assert cac.loc[PAID_CAC_LABEL, "cac"] == pytest.approx(1600 / 30)  # search + social only
    assert cac.loc[PAID_CAC_LABEL, "spend"] == pytest.approx(1600)
    assert not cac.loc["organic", "paid"] and pd.isna(cac.loc["organic", "cac"])
    assert cac.loc["search", "cac"] == pytest.approx(100)
    everything_paid = cac_by_channel(spend, new, by_period=False).set_index("channel")
    assert everything_paid.loc[PAID_CAC_LABEL, "cac"] == pytest.approx(2000 / 80)


def test_unpaid_channels_are_validated_in_the_run_config():
    from clc_lib.config import OPTION_SECTIONS, SECTION_SETTINGS
    from clc_lib.settings import acquisition_settings

    assert "acquisition" in OPTION_SECTIONS and SECTION_SETTINGS["acquisition"] is acquisition_settings
    assert acquisition_settings({"unpaid_channels": ["organic", " direct "]})["unpaid_channels"] == ("organic", "direct")
    assert acquisition_settings(None)["unpaid_channels"] == ()
    with pytest.raises(ConfigError, match="unpaid_channels of the run config x.yaml must be a list of channel names"):
        acquisition_settings({"unpaid_channels": "organic"}, where="run config x.yaml")
    with pytest.raises(ConfigError, match="Unknown option 'unpaid' in section 'acquisition'"):
        acquisition_settings({"unpaid": ["organic"]})


def test_the_demo_config_names_its_unpaid_channels():
    from clc_lib.demo import _run_yaml

    assert _run_yaml(pd.Timestamp("2024-12-31"))["acquisition"] == {"unpaid_channels": ["organic"]}


def test_value_figures_state_their_horizon():
    from clc_lib.definitions import TERMS, horizon_text
    from clc_lib.plots.acquisition import plot_ltv_cac

    data = pd.DataFrame({"channel": ["search", "social"], "ltv": [90.0, 60.0], "cac": [30.0, 40.0],
                         "ltv_cac_ratio": [3.0, 1.5]})
    ax = plot_ltv_cac(data, currency="EUR", horizon=horizon_text(52, "W"))
    title = " ".join(ax.get_title().split())
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    plt.close(ax.figure)
    assert title.startswith("12-month customer value (LTV) vs CAC")
    assert "12-month customer value (LTV) per customer" in legend
    at_risk_value = TERMS["at_risk_value"].resolved({"clv_horizon_text": horizon_text(26, "W"), "clv_horizon": 26,
                                                     "clv_time_unit_words": "weeks", "currency": "EUR"})
    assert at_risk_value.label == "Predicted 26-week value of at-risk customers"


def test_the_recovery_key_figures_carry_the_winback_uplift_of_the_demo_campaign():
    import json

    from clc_lib.index import SUMMARY_TERMS
    from clc_lib.keyfigures import _winback_uplift
    from clc_lib.run import load_run

    truth = json.loads((DEMO_DIR / "truth.json").read_text())["campaign"]
    uplift, detail = _winback_uplift(load_run(DEMO_DIR / "run.yaml"))
    found = re.fullmatch(r"95% interval ([+-]\d+\.\d) to ([+-]\d+\.\d) points · campaign (\w+)", detail)
    assert found, detail
    lower, upper = float(found.group(1)), float(found.group(2))
    assert found.group(3) == truth["campaign_id"]
    assert lower < 100 * truth["true_uplift"] < upper and lower < 100 * uplift < upper
    assert "winback_uplift" in SUMMARY_TERMS


def test_the_acquisition_key_figures_name_the_best_paid_channel_by_ltv_cac():
    from clc_lib.index import SUMMARY_TERMS
    from clc_lib.keyfigures import _best_channel_ltv_cac
    from clc_lib.run import load_run

    run = load_run(DEMO_DIR / "run.yaml")
    text = _best_channel_ltv_cac(run)
    found = re.fullmatch(r"(\w+), (\d+\.\d):1", text)
    assert found, text
    assert found.group(1) not in run.config.acquisition["unpaid_channels"]
    assert found.group(1) in set(run.spend["channel"])
    assert float(found.group(2)) > 0
    assert "best_channel_ltv_cac" in SUMMARY_TERMS


def test_stage_charts_show_stage_labels_not_code_names():
    from clc_lib.definitions import STAGE_LABELS
    from clc_lib.plots.stages import plot_stage_backtest, plot_stage_counts, plot_stage_metrics, plot_transition_matrix
    from clc_lib.stages import STAGES

    customer_stages = ["new", "active", "loyal", "at_risk", "dormant", "churned", "reactivated"]
    ends = pd.to_datetime(["2024-01-31", "2024-02-29"])
    counts = pd.DataFrame([{"period_end": end, "stage": stage, "customers": 5 + i}
                           for end in ends for i, stage in enumerate(STAGES)])
    metrics = pd.DataFrame({"stage": customer_stages, "customers": range(1, 8)}).set_index("stage")
    backtest = pd.DataFrame({"stage": customer_stages, "buy_rate": [0.1] * 7}).set_index("stage")
    matrix = pd.DataFrame(0.1, index=pd.Index(customer_stages, name="from_stage"),
                          columns=pd.Index(customer_stages, name="to_stage"))
    axes = [plot_stage_counts(counts), plot_stage_metrics(metrics, "customers"), plot_stage_backtest(backtest),
            plot_transition_matrix(matrix)]
    texts = []
    for ax in axes:
        texts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        if ax.get_legend() is not None:
            texts += [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")
    assert "At risk" in texts and "Reactivated" in texts
    assert not [text for text in texts if "_" in text]
    assert set(STAGE_LABELS) == set(STAGES)
