"""One colour per stage and per RFM segment in every chart, and stage colours that colour-blind readers tell apart."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest

from clc_lib.definitions import stage_label
from clc_lib.plots import theme
from clc_lib.plots.colour_vision import (
    DEFICIENCIES,
    ciede2000,
    simulate_deficiency,
    smallest_difference,
    srgb_to_lab,
)
from clc_lib.plots.monetisation import plot_revenue_by
from clc_lib.plots.recovery import plot_lapsed_counts, plot_survey_scores
from clc_lib.plots.rfm import plot_segment_sizes
from clc_lib.plots.stages import (
    plot_stage_backtest,
    plot_stage_counts,
    plot_stage_flows,
    plot_stage_metrics,
)
from clc_lib.stages import PROSPECT_STAGES, STAGES

CUSTOMER_STAGES = [s for s in STAGES if s not in PROSPECT_STAGES]
#: Smallest CIEDE2000 difference between two category colours. About 1 is the smallest difference
#: noticed side by side; from about 10 two colours read as different at a glance, also as small
#: patches of a legend.
MIN_DIFFERENCE = 10.0


def _hex(color) -> str:
    return mcolors.to_hex(color).lower()


def _expected(stage: str) -> str:
    return _hex(theme.STAGE_COLORS[stage])


def test_every_stage_and_preset_segment_has_a_colour():
    assert set(theme.STAGE_COLORS) == set(STAGES)
    import yaml

    import clc_lib

    presets = yaml.safe_load((Path(clc_lib.__file__).parent / "rfm_segments.yaml").read_text())
    for name, preset in presets.items():
        for row in preset["segments"]:
            assert row["segment"] in theme.SEGMENT_COLORS, (name, row["segment"])
    assert theme.segment_color("My Own Segment") == theme.OTHER_SEGMENT_COLOR


def test_stage_counts_chart_draws_each_stage_in_its_colour():
    ends = pd.to_datetime(["2024-01-31", "2024-02-29"])
    data = pd.DataFrame([{"period_end": end, "stage": stage, "customers": 5 + i}
                         for end in ends for i, stage in enumerate(STAGES)])
    ax = plot_stage_counts(data)
    drawn = {c.get_label(): _hex(c.get_facecolor()[0]) for c in ax.collections}
    assert drawn == {stage_label(stage): _expected(stage) for stage in CUSTOMER_STAGES}  # prospects are not stacked


def test_stage_bar_charts_draw_each_stage_in_its_colour():
    metrics = pd.DataFrame({"stage": CUSTOMER_STAGES, "customers": range(1, 8),
                            "revenue_share": np.linspace(0.05, 0.3, 7)}).set_index("stage")
    backtest = pd.DataFrame({"stage": CUSTOMER_STAGES, "buy_rate": np.linspace(0.1, 0.7, 7)}).set_index("stage")
    by_stage = pd.DataFrame({"stage": CUSTOMER_STAGES, "net_revenue": np.arange(7) * 100.0 + 50,
                             "revenue_share": 1 / 7, "customer_share": 1 / 7})
    for ax in (plot_stage_metrics(metrics, "revenue_share"), plot_stage_backtest(backtest)):
        names = [t.get_text() for t in ax.get_xticklabels()]
        assert names == [stage_label(s) for s in CUSTOMER_STAGES]
        assert [_hex(bar.get_facecolor()) for bar in ax.patches] == [_expected(s) for s in CUSTOMER_STAGES]
    ax = plot_revenue_by(by_stage, by="stage")
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(names) == sorted(stage_label(s) for s in CUSTOMER_STAGES)
    codes = {stage_label(code): code for code in CUSTOMER_STAGES}
    assert [_hex(bar.get_facecolor()) for bar in ax.patches] == [_expected(codes[name]) for name in names]


def test_stage_flows_draw_each_stage_block_in_its_colour():
    flows = pd.DataFrame({
        "period_end": pd.Timestamp("2024-06-30"),
        "from_stage": ["(first seen)", "new", "active", "at_risk", "dormant"],
        "to_stage": ["new", "active", "at_risk", "dormant", "churned"],
        "customers": [10, 20, 30, 40, 50],
    })
    ax = plot_stage_flows(flows)
    blocks = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    checked = set()
    for text in ax.texts:
        label = text.get_text().rsplit(" (", 1)[0]
        stage = {stage_label(code): code for code in theme.STAGE_COLORS}.get(label, label)
        x, y = text.get_position()
        side = [b for b in blocks if b.get_y() <= y <= b.get_y() + b.get_height()
                and abs((b.get_x() if text.get_ha() == "left" else b.get_x() + b.get_width()) - x) < 0.2]
        assert len(side) == 1, stage
        expected = theme.FIRST_SEEN_COLOR if stage == "(first seen)" else theme.STAGE_COLORS[stage]
        assert _hex(side[0].get_facecolor()) == _hex(expected)
        checked.add(stage)
    assert checked == {"(first seen)", "new", "active", "at_risk", "dormant", "churned"}


def test_recovery_charts_use_the_stage_colours_for_active_lapsed_and_churned():
    counts = pd.DataFrame({"period_end": pd.to_datetime(["2024-01-31", "2024-02-29"]), "active": [10, 8],
                           "lapsed": [2, 3], "churned": [1, 2]})
    ax = plot_lapsed_counts(counts)
    assert [_hex(c.get_facecolor()[0]) for c in ax.collections] == [
        _expected("active"), _expected("at_risk"), _expected("churned")]
    responses = pd.DataFrame({"score": [0, 3, 9, 10, 7, 2], "status": ["churned"] * 3 + ["retained"] * 3})
    ax = plot_survey_scores(responses)
    legend = {t.get_text(): _hex(h.get_facecolor())
              for t, h in zip(ax.get_legend().get_texts(), ax.get_legend().legend_handles, strict=True)}
    assert legend == {"churned": _expected("churned"), "retained": _expected("active")}


def test_segment_charts_draw_each_segment_in_the_same_colour():
    names = ["Champions", "Loyalists", "Promising", "Need Attention", "Slipping Regulars", "Lost", "Other"]
    profiles = pd.DataFrame({"customers": [50, 40, 30, 20, 10, 5, 3], "customer_share": 0.1,
                             "revenue_share": 0.1}, index=pd.Index(names, name="segment"))
    by_segment = pd.DataFrame({"segment": names, "net_revenue": [900.0, 700, 500, 300, 200, 100, 50],
                               "revenue_share": 0.1, "customer_share": 0.1})
    for ax in (plot_segment_sizes(profiles), plot_revenue_by(by_segment, by="segment")):
        drawn = {t.get_text(): _hex(bar.get_facecolor())
                 for t, bar in zip(ax.get_yticklabels(), ax.patches, strict=True)}
        assert drawn == {name: _hex(theme.segment_color(name)) for name in names}
    assert theme.segment_color("Champions") != theme.segment_color("Lost")


def test_ciede2000_matches_published_pairs():
    # pairs 1, 7, 17 and 25 of the test data of Sharma, Wu and Dalal (2005)
    pairs = [((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
             ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
             ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
             ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644)]
    for first, second, expected in pairs:
        assert ciede2000(np.array(first), np.array(second)) == pytest.approx(expected, abs=1e-4)
        assert ciede2000(np.array(second), np.array(first)) == pytest.approx(expected, abs=1e-4)


def test_lab_conversion_of_known_colours():
    lab = srgb_to_lab([(1, 1, 1), (0, 0, 0), (1, 0, 0)])
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=1e-3)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.01)


def test_simulation_keeps_greys_and_merges_the_colours_each_deficiency_confuses():
    for deficiency in DEFICIENCIES:
        np.testing.assert_allclose(simulate_deficiency([(0.5, 0.5, 0.5), (1, 1, 1)], deficiency),
                                   [(0.5, 0.5, 0.5), (1, 1, 1)], atol=2e-3)
    red, green, blue, yellow_green = (0.8, 0.2, 0.2), (0.35, 0.55, 0.2), (0.2, 0.3, 0.9), (0.3, 0.7, 0.6)

    def difference(pair, deficiency):
        return smallest_difference(dict(zip("ab", pair, strict=True)), deficiency)[0]

    # red and green look alike to protanopes and deuteranopes, not to tritanopes
    for deficiency in ("protanopia", "deuteranopia"):
        assert difference((red, green), deficiency) < 0.5 * difference((red, green), None)
    assert difference((red, green), "tritanopia") > 0.7 * difference((red, green), None)
    # blue and green-cyan look alike to tritanopes
    assert difference((blue, yellow_green), "tritanopia") < 0.7 * difference((blue, yellow_green), None)


@pytest.mark.parametrize("deficiency", [None, *DEFICIENCIES])
def test_stage_colours_stay_apart_with_each_colour_vision_deficiency(deficiency):
    colours = {stage: mcolors.to_rgb(color) for stage, color in theme.STAGE_COLORS.items()}
    closest, first, second = smallest_difference(colours, deficiency)
    assert closest >= MIN_DIFFERENCE, (deficiency, first, second, closest)


@pytest.mark.parametrize("deficiency", [None, *DEFICIENCIES])
def test_segment_group_colours_stay_apart_with_each_colour_vision_deficiency(deficiency):
    colours = {group: mcolors.to_rgb(color) for group, color in theme.SEGMENT_GROUP_COLORS.items()}
    colours["other"] = mcolors.to_rgb(theme.OTHER_SEGMENT_COLOR)
    closest, first, second = smallest_difference(colours, deficiency)
    assert closest >= MIN_DIFFERENCE, (deficiency, first, second, closest)
