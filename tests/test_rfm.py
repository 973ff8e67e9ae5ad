"""RFM scores, segment presets, profiles and migration."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from clc_lib.errors import ConfigError, DataError
from clc_lib.rfm import (
    attribute_profiles,
    rfm_scores,
    rfm_segment_maps,
    rfm_segments,
    segment_migration,
    segment_profiles,
)
from clc_lib.settings import RfmSettings


def summary_frame(recency, frequency, monetary, ids=None) -> pd.DataFrame:
    ids = ids or [f"c{i:03d}" for i in range(len(recency))]
    return pd.DataFrame({"recency_days": recency, "purchase_days": frequency, "net_revenue": monetary},
                        index=pd.Index(ids, name="customer_id"), dtype="float64")


def all_cells() -> pd.DataFrame:
    cells = pd.DataFrame(list(itertools.product(range(1, 6), repeat=3)), columns=["r_score", "f_score", "m_score"])
    return cells.astype("Int64")


def test_quantile_scores_by_hand_with_ties():
    frame = summary_frame(recency=list(range(1, 11)), frequency=[1, 1, 1, 1, 1, 1, 2, 2, 3, 10],
                          monetary=list(range(10, 110, 10)))
    scores = rfm_scores(frame)
    # recency 1..10 days: most recent two get 5, ... oldest two get 1
    assert list(scores["r_score"]) == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # six customers tie at 1 purchase day: all get 1; 2 days: 6 of 10 strictly below -> 1 + floor(3) = 4
    assert list(scores["f_score"]) == [1, 1, 1, 1, 1, 1, 4, 4, 5, 5]
    assert list(scores["m_score"]) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scores.loc["c006", "rfm_code"] == "244"


def test_quantile_scores_match_pandas_qcut_without_ties():
    rng = np.random.default_rng(11)
    values = rng.permutation(1000).astype(float) + rng.random(1000)
    frame = summary_frame(recency=values, frequency=values + 1, monetary=values * 3)
    scores = rfm_scores(frame)
    reference = pd.qcut(values, 5, labels=[1, 2, 3, 4, 5]).astype(int)
    np.testing.assert_array_equal(scores["m_score"].to_numpy(dtype=int), reference)
    np.testing.assert_array_equal(scores["r_score"].to_numpy(dtype=int), 6 - reference)


def test_scores_do_not_depend_on_row_order():
    rng = np.random.default_rng(5)
    frame = summary_frame(recency=rng.integers(0, 50, 300), frequency=rng.integers(1, 4, 300),
                          monetary=rng.integers(1, 30, 300) * 5.0)
    shuffled = frame.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(rfm_scores(shuffled).loc[frame.index], rfm_scores(frame))


def test_fixed_edges_are_right_closed_and_recency_reversed():
    frame = summary_frame(recency=[10, 30, 31, 400, 90, 200], frequency=[1, 2, 3, 4, 5, 9],
                          monetary=[1, 2, 3, 4, 5, 6])
    scores = rfm_scores(frame, edges={"recency": [30, 90, 180, 365], "frequency": [1, 2, 4, 8]})
    assert list(scores["r_score"]) == [5, 5, 4, 1, 4, 2]
    assert list(scores["f_score"]) == [1, 2, 3, 3, 4, 5]
    with pytest.raises(ConfigError, match="increasing"):
        rfm_scores(frame, edges={"frequency": [1, 2, 2, 8]})
    with pytest.raises(ConfigError, match="unknown"):
        rfm_scores(frame, edges={"freq": [1, 2, 4, 8]})


def test_customers_without_purchases_get_no_score():
    frame = summary_frame(recency=[5, np.nan, 20], frequency=[2, 0, 1], monetary=[50, -10, 20])
    scores = rfm_scores(frame)
    assert scores.loc["c001", ["r_score", "f_score", "m_score"]].isna().all()
    assert pd.isna(scores.loc["c001", "rfm_code"])
    # ranked among the two buyers only: 1 of 2 strictly less recent -> 1 + floor(5 * 1/2) = 3
    assert list(scores["r_score"].dropna()) == [3, 1]
    assert rfm_segments(scores).loc["c001", "segment"] == "Other"


def test_missing_columns_are_reported():
    with pytest.raises(DataError, match="recency_days"):
        rfm_scores(pd.DataFrame({"purchase_days": [1], "net_revenue": [2.0]}))


# Expected cells per documented preset (docs/rfm.md).
CLASSIC_OTHER = {
    "113", "114", "115", "131", "141", "151", "213", "214", "215", "231", "241", "251", "314", "315", "324",
    "325", "341", "342", "351", "352", "414", "415", "424", "425", "441", "442", "451", "452", "514", "515",
    "524", "525", "541", "542", "551", "552",
}
RF_GRID = {  # rows R = 5..1, columns F = 1..5 (the published 10-cell grid)
    5: ["First-Time Buyers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyalists", "Loyalists"],
    3: ["About To Sleep", "About To Sleep", "Need Attention", "Loyalists", "Loyalists"],
    2: ["Hibernating", "Hibernating", "Slipping Regulars", "Slipping Regulars", "Can't Lose"],
    1: ["Hibernating", "Hibernating", "Slipping Regulars", "Slipping Regulars", "Can't Lose"],
}


def test_classic_preset_labels_every_cell_once_and_reaches_every_segment():
    segmented = rfm_segments(all_cells(), "classic")
    assert len(segmented) == 125 and segmented["segment"].notna().all()
    codes = segmented[["r_score", "f_score", "m_score"]].astype(str).agg("".join, axis=1)
    other = set(codes[segmented["segment"] == "Other"])
    assert other == CLASSIC_OTHER
    names = [rule["segment"] for rule in rfm_segment_maps()["classic"]["segments"]]
    assert len(names) == 11
    assert set(segmented["segment"].astype(str)) == {*names, "Other"}  # every segment is reachable
    assert segmented.set_index(codes).loc["555", "segment"] == "Champions"
    assert segmented.set_index(codes).loc["111", "segment"] == "Lost"
    assert segmented.set_index(codes).loc["155", "segment"] == "Can't Lose Them"


def test_rf_grid_preset_is_the_published_partition():
    segmented = rfm_segments(all_cells(), "rf_grid")
    assert (segmented["segment"] != "Other").all()
    for row in segmented.itertuples():
        assert row.segment == RF_GRID[row.r_score][row.f_score - 1], (row.r_score, row.f_score)


def test_first_match_wins_in_a_custom_map():
    custom = [{"segment": "Best", "r": [4, 5], "f": [4, 5]}, {"segment": "Recent", "r": [4, 5]}]
    segmented = rfm_segments(all_cells(), custom)
    codes = segmented[["r_score", "f_score", "m_score"]].astype(str).agg("".join, axis=1)
    by_code = segmented.set_index(codes)["segment"]
    assert by_code["551"] == "Best" and by_code["511"] == "Recent" and by_code["311"] == "Other"
    assert list(segmented["segment"].cat.categories) == ["Best", "Recent", "Other"]
    with pytest.raises(ConfigError, match="unknown key"):
        rfm_segments(all_cells(), [{"segment": "X", "q": [1, 2]}])
    with pytest.raises(ConfigError, match="Unknown RFM segment map"):
        rfm_segments(all_cells(), "klassic")


def test_preset_refuses_scores_on_another_scale():
    scores = all_cells().assign(r_score=lambda f: f["r_score"] + 2)
    with pytest.raises(ConfigError, match="bins=5"):
        rfm_segments(scores, "classic")


def test_a_mapping_of_options_is_validated_into_settings():
    assert RfmSettings.coerce({"bins": 4}).bins == 4 and RfmSettings.coerce(None).segment_map == "classic"
    with pytest.raises(ConfigError, match="Unknown option 'binz' in section 'rfm'"):
        RfmSettings.coerce({"binz": 4})


def test_segment_profiles_by_hand():
    frame = summary_frame(recency=[1, 3, 10, 20], frequency=[5, 3, 1, 1], monetary=[100, 50, 30, 20])
    frame["segment"] = pd.Categorical(["A", "A", "B", "B"], categories=["A", "B", "C"])
    profile = segment_profiles(frame)
    assert list(profile.index) == ["A", "B"]
    assert profile.loc["A", "customers"] == 2 and profile.loc["A", "customer_share"] == 0.5
    assert profile.loc["A", "revenue"] == 150 and profile.loc["A", "revenue_share"] == pytest.approx(0.75)
    assert profile.loc["B", "median_recency_days"] == 15 and profile.loc["A", "median_frequency"] == 4
    assert profile.loc["B", "median_monetary"] == 25


def test_attribute_profiles_split_each_segment_over_the_levels_by_hand():
    frame = pd.DataFrame({
        "segment": pd.Categorical(["Champions", "Champions", "Lost", "Lost", "Lost", "Lost"],
                                  categories=["Champions", "Slipping Regulars", "Lost"]),
        "country": ["FR", "unknown", "DE", "DE", "FR", "other"],
    }, index=pd.Index(list("abcdef"), name="customer_id"))
    profile = attribute_profiles(frame, "country")
    # levels by size (DE 2, FR 2 -> by name), then other and unknown; empty Slipping Regulars is left out
    assert list(profile.columns) == ["customers", "DE", "FR", "other", "unknown"]
    assert list(profile.index) == ["Champions", "Lost"] and profile.index.name == "segment"
    assert profile["customers"].tolist() == [2, 4]
    assert profile.loc["Champions"].tolist()[1:] == [0.0, 0.5, 0.0, 0.5]
    assert profile.loc["Lost"].tolist()[1:] == [0.5, 0.25, 0.25, 0.0]


def test_attribute_profiles_of_stages_from_prepared_attributes():
    from clc_lib.survival import customer_attributes

    people = pd.DataFrame({"stage": ["loyal", "loyal", "churned", "churned", "churned"]},
                          index=pd.Index(["1", "2", "3", "4", "5"], name="customer_id"))
    customers = pd.DataFrame({"customer_id": ["1", "2", "3", "4", "5"],
                              "plan": ["customers", "trial", "customers", "customers", "trial"],
                              "household_size": [1, 2, 3, 4, 5]})
    attributes = customer_attributes(people, customers, rules={"min_level_customers": 1, "min_level_share": 0,
                                                               "numeric_bands": 5})
    assert attributes.groups == {"plan": "plan", "household_size": "household_size band"}
    by_plan = attribute_profiles(attributes.frame, "plan", by="stage")
    # rows by size (churned 3, loyal 2); a level named like the count column is renamed
    assert list(by_plan.columns) == ["customers", "customers (level)", "trial"]
    assert list(by_plan.index) == ["churned", "loyal"] and by_plan["customers"].tolist() == [3, 2]
    assert by_plan.loc["churned"].tolist()[1:] == pytest.approx([2 / 3, 1 / 3])
    by_band = attribute_profiles(attributes.frame, "household_size band", by="stage")
    assert list(by_band.columns) == ["customers", "1", "2", "3", "4", "5"]
    assert by_band.loc["loyal"].tolist() == [2, 0.5, 0.5, 0.0, 0.0, 0.0]


def test_attribute_profiles_keep_customers_without_a_segment_as_their_own_row():
    frame = pd.DataFrame({"segment": ["Lost", None, "Lost"], "country": ["FR", "DE", "DE"]})
    profile = attribute_profiles(frame, "country")
    assert profile["customers"].sum() == 3
    assert profile.loc["Lost"].tolist() == [2, 0.5, 0.5]


def test_attribute_profiles_name_a_missing_column():
    with pytest.raises(DataError, match="lacks the column"):
        attribute_profiles(pd.DataFrame({"segment": ["a"]}), "country")


def test_segment_migration_counts_shares_and_new_customers():
    before = pd.Series(["A", "A", "B"], index=["x", "y", "z"], name="segment")
    after = pd.Series(["A", "B", "B", "A"], index=["x", "y", "z", "w"], name="segment")
    counts = segment_migration(before, after)
    assert list(counts.index) == ["A", "B", "(new)"]
    assert counts.loc["A", "A"] == 1 and counts.loc["A", "B"] == 1 and counts.loc["B", "B"] == 1
    assert counts.loc["(new)", "A"] == 1 and counts.to_numpy().sum() == 4
    shares = segment_migration(before, after, normalize=True)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert shares.loc["A", "B"] == 0.5
    gone = segment_migration(after, before)
    assert "(gone)" in gone.columns and gone.loc["A", "(gone)"] == 1


def test_rfm_table_uses_run_options_and_migration_between_period_ends():
    import ibis

    from clc_lib.rfm import rfm_migration, rfm_table

    frame = summary_frame(recency=[1, 3, 10, 20], frequency=[5, 3, 1, 1], monetary=[100, 50, 30, 20])
    table = rfm_table(frame, {"segment_map": "rf_grid"})
    assert {"r_score", "segment", "net_revenue"} <= set(table.columns) and len(table) == 4
    # best of 4 customers: 3 of 4 strictly worse -> R = F = 1 + floor(5 * 3/4) = 4 -> R4 F4 in the grid
    assert table.loc["c000", "segment"] == "Loyalists"

    transactions = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c"], "order_id": ["1", "2", "3", "4"],
        "timestamp": pd.to_datetime(["2024-01-05", "2024-02-10", "2024-01-20", "2024-02-15"]),
        "amount": [10.0, 20.0, 5.0, 8.0], "is_return": False,
    })
    migration = rfm_migration(ibis.memtable(transactions), "2024-02-20", period="M")
    assert migration.attrs["from_date"] == pd.Timestamp("2024-01-31")
    assert migration.loc["(new)"].sum() == 1  # c first bought in February
    assert migration.to_numpy().sum() == 3
    # A summary already at hand for as_of gives the same table.
    from clc_lib.summary import customer_summary

    given = customer_summary(ibis.memtable(transactions), "2024-02-20")
    pd.testing.assert_frame_equal(
        rfm_migration(ibis.memtable(transactions), "2024-02-20", period="M", summary=given), migration)


def _name_key(name: str) -> str:
    """A name as readers compare it: case, underscores, hyphens and spacing ignored."""
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def test_no_segment_name_is_a_lifecycle_stage_or_a_defined_population():
    from clc_lib.definitions import TERMS
    from clc_lib.stages import STAGES

    taken = set()
    for stage in STAGES:  # "at_risk" reads "at risk", "At-risk", "At risk customers"
        taken |= {_name_key(stage), _name_key(f"{stage} customers")}
    taken |= {_name_key(term.label) for term in TERMS.values() if term.stages}  # "Loyal customers", ...
    assert {"at risk", "at risk customers", "loyal customers", "new customers", "lapsed customers"} <= taken
    for preset, spec in rfm_segment_maps().items():
        names = [rule["segment"] for rule in spec["segments"]] + [spec["other"]]
        clashes = [name for name in names if _name_key(name) in taken]
        assert not clashes, f"{preset}: {clashes}"


def test_the_renamed_segments_keep_their_published_cells():
    classic = {rule["segment"]: rule for rule in rfm_segment_maps()["classic"]["segments"]}
    assert (classic["Slipping Regulars"]["r"], classic["Slipping Regulars"]["f"], classic["Slipping Regulars"]["m"]) \
        == ([1, 2], [2, 5], [2, 5])
    assert classic["Loyalists"]["r"] == [2, 5] and classic["First-Time Buyers"]["f"] == [1, 1]
