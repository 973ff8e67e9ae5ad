"""RFM segment names in the report's language: built-in names translated, a config's own names kept."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from clc_lib.definitions import RFM_MIGRATION_MARKERS, RFM_SEGMENT_NAMES, segment_label, stage_label  # noqa: E402
from clc_lib.paths import project_root  # noqa: E402
from clc_lib.i18n import language  # noqa: E402
from clc_lib.plots import monetisation, rfm  # noqa: E402
from clc_lib.plots.theme import segment_color, use_chart_fonts  # noqa: E402
from clc_lib.rfm import GONE_COLUMN, NEW_ROW  # noqa: E402
from clc_lib.tables import table_html  # noqa: E402


def test_every_built_in_segment_name_is_marked_for_translation():
    import yaml

    presets = yaml.safe_load((project_root() / "clc_lib" / "rfm_segments.yaml").read_text(encoding="utf-8"))
    built_in = {entry["segment"] for preset in presets.values() for entry in preset["segments"]}
    built_in |= {preset["other"] for preset in presets.values()}
    assert built_in <= set(RFM_SEGMENT_NAMES)
    assert RFM_MIGRATION_MARKERS == (NEW_ROW, GONE_COLUMN)


@pytest.mark.parametrize(("tag", "champions", "lost"), [
    ("en", "Champions", "Lost"), ("zh-Hans", "冠军客户", "已失联客户"), ("zh-Hant", "頂尖顧客", "已失聯顧客")])
def test_segment_labels_per_language(tag, champions, lost):
    with language(tag):
        assert (segment_label("Champions"), segment_label("Lost")) == (champions, lost)
        assert segment_label("VIP Gold") == "VIP Gold"  # a config's own name is shown as written
        # a segment never takes a stage's name in any language
        assert {segment_label(n) for n in RFM_SEGMENT_NAMES}.isdisjoint(
            {stage_label(s) for s in ("new", "active", "loyal", "at_risk", "dormant", "churned", "reactivated")})


def test_tables_show_segments_and_channel_total_rows_in_the_language():
    frame = pd.DataFrame({"segment": ["Champions", "VIP Gold"], "customers": [10, 3]})
    channels = pd.DataFrame({"channel": ["all channels (blended)", "social"], "cac": [12.5, 20.0]})
    with language("zh-Hant"):
        segments = table_html(frame, pseudonymise=False)
        totals = table_html(channels, pseudonymise=False)
    assert "頂尖顧客" in segments and "VIP Gold" in segments and "Champions" not in segments
    assert "全部通路" in totals and "social" in totals and "all channels" not in totals


def test_rfm_charts_draw_segment_labels_in_the_segments_colours():
    profiles = pd.DataFrame({"customers": [40, 25], "customer_share": [0.6, 0.4], "revenue_share": [0.8, 0.2]},
                            index=pd.Index(["Champions", "Lost"], name="segment"))
    revenue = pd.DataFrame({"segment": ["Champions", "Lost"], "net_revenue": [800.0, 200.0],
                            "revenue_share": [0.8, 0.2], "customer_share": [0.6, 0.4]})
    with language("zh-Hans"):
        use_chart_fonts()
        try:
            sizes = rfm.plot_segment_sizes(profiles)
            by_segment = monetisation.plot_revenue_by(revenue, by="segment", currency="EUR")
            for ax in (sizes, by_segment):
                ax.figure.canvas.draw()  # a glyph missing from the fonts fails here
        finally:
            use_chart_fonts("en")
    for ax in (sizes, by_segment):
        ticks = [t.get_text() for t in ax.get_yticklabels()]
        assert set(ticks) == {"冠军客户", "已失联客户"}, ticks
        colours = {tick: matplotlib.colors.to_hex(bar.get_facecolor())
                   for tick, bar in zip(ticks, ax.patches, strict=False)}
        assert colours["冠军客户"] == matplotlib.colors.to_hex(segment_color("Champions"))
        assert colours["已失联客户"] == matplotlib.colors.to_hex(segment_color("Lost"))


def test_threshold_sources_are_stored_in_english_and_shown_in_the_language():
    from clc_lib.stages import SOURCE_TEMPLATES, source_text

    pinned = SOURCE_TEMPLATES["pinned"].format(
        date="2024-11-30", source=SOURCE_TEMPLATES["gaps_up_to"].format(date="2024-11-30", share="90%", gaps="51,234"))
    assert source_text(pinned) == pinned  # English: as stored
    with language("zh-Hans"):
        assert source_text(pinned) == "自2024年11月30日起固定：根据截至2024年11月30日的数据推导：51,234 个购买间隔天数的90%分位数"
        assert source_text("fixed by my team") == "fixed by my team"  # a config's own words stay
    with language("zh-Hant"):
        assert source_text(SOURCE_TEMPLATES["fallback"]) == "預設值"
