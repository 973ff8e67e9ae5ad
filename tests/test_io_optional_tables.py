"""Optional tables in the loader (`clc_lib.loading.load_other_table`): the as_of cut and campaigns without a group."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from clc_lib.errors import DataError
from clc_lib.run import load_run


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _shop(folder: Path, campaigns: str) -> Path:
    """Transactions up to 2024-03-10; spend, campaigns and surveys on both sides of 2024-02-10."""
    _write(folder, "tx.csv", "customer_id,order_id,timestamp,amount\n"
                             "A,1,2024-01-05,10\nB,2,2024-02-10,20\nA,3,2024-03-10,30\n")
    _write(folder, "spend.csv", "period_start,channel,spend\n2024-01-01,search,100\n2024-02-01,search,80\n"
                                "2024-03-01,search,90\n")
    _write(folder, "campaigns.csv", campaigns)
    _write(folder, "surveys.csv", "customer_id,responded_at,score\nA,2024-01-20,9\nB,2024-02-10 18:00,7\n"
                                  "A,2024-02-11 08:00,3\n")
    return _write(folder, "run.yaml", "name: shop\ncurrency: EUR\ntransactions: tx.csv\nspend: spend.csv\n"
                                      "campaigns: campaigns.csv\nsurveys: surveys.csv\n")


CAMPAIGNS = ("customer_id,campaign_id,sent_at,group\nA,W1,2024-02-10 09:00,treatment\nB,W1,2024-02-10 09:00,control\n"
             "A,W2,2024-02-11 09:00,treatment\nB,W2,2024-02-11 09:00,control\n")


def test_dated_optional_tables_are_cut_at_as_of_and_the_cut_is_counted(tmp_path):
    run = load_run(_shop(tmp_path, CAMPAIGNS), as_of="2024-02-10")
    # The whole as_of day is kept; the next day's campaign, survey answer and month of spend are not.
    assert run.campaigns["campaign_id"].tolist() == ["W1", "W1"]
    assert run.surveys["score"].tolist() == [9.0, 7.0]
    assert run.spend["period_start"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]
    for table, rows in (("campaigns", 2), ("surveys", 1), ("spend", 1)):
        quality = run.quality[table]
        assert quality.rule("after_as_of").rows == rows and quality.rule("after_as_of").action == "exclude"
        assert quality.rows_in - rows == quality.rows_out
    assert "sent_at after the as_of day" in run.quality.to_frame()["description"].tolist()


def test_without_as_of_nothing_after_the_last_transaction_is_cut_from_earlier_tables(tmp_path):
    run = load_run(_shop(tmp_path, CAMPAIGNS))  # as_of = 2024-03-10, the last transaction
    assert len(run.campaigns) == 4 and len(run.surveys) == 3 and len(run.spend) == 3
    assert run.quality["campaigns"].rule("after_as_of").rows == 0


def test_campaigns_without_a_group_column_load_as_contacted_customers(tmp_path):
    no_group = "customer_id,campaign_id,sent_at\nA,W1,2024-02-10 09:00\nB,W1,2024-02-10 09:00\n"
    run = load_run(_shop(tmp_path, no_group))
    assert run.campaigns.columns.tolist() == ["customer_id", "campaign_id", "sent_at"]
    assert run.campaigns["customer_id"].tolist() == ["A", "B"]


def test_a_mapped_group_column_is_still_checked(tmp_path):
    bad_group = "customer_id,campaign_id,sent_at,group\nA,W1,2024-02-10,test\nB,W1,2024-02-10,control\n"
    with pytest.raises(DataError, match="outside {treatment, control}") as error:
        load_run(_shop(tmp_path, bad_group))
    assert "campaigns.csv" in str(error.value) and "'test'" in str(error.value)
