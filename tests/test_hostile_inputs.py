"""Hostile and careless input: CSV exports for CRMs, config parsing, data loading and chart labels.

Each case is one named test. Bad input must end in a ``ConfigError``/``DataError`` (``clc`` exits 2
with a message and no traceback) that names the file and what was expected, and never quotes a file
that is not a data file.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")

from clc_lib import cli  # noqa: E402
from clc_lib.config import MAX_CONFIG_BYTES, RunConfig  # noqa: E402
from clc_lib.errors import ConfigError, DataError  # noqa: E402
from clc_lib.files import atomic_write, remove_abandoned_temporaries  # noqa: E402
from clc_lib.run import load_run  # noqa: E402
from clc_lib.scoring import escape_formula_text, write_scores  # noqa: E402

TRANSACTIONS = """customer_id,order_id,timestamp,amount
c1,o1,2024-01-05,10.00
c1,o2,2024-02-06,20.00
c2,o3,2024-01-10,15.00
c2,o4,2024-03-01,25.00
c3,o5,2024-03-07,30.00
"""


def _write_run(tmp_path: Path, transactions: str = TRANSACTIONS, **extra) -> Path:
    """A run folder with tx.csv and run.yaml; ``extra`` adds config keys (tables may be (file text, spec))."""
    (tmp_path / "tx.csv").write_text(transactions, encoding="utf-8")
    config: dict = {"name": "hostile", "transactions": {"path": "tx.csv"}, "clv": {"enabled": False}}
    for key, value in extra.items():
        if isinstance(value, tuple):
            text, spec = value
            (tmp_path / spec["path"]).write_text(text, encoding="utf-8")
            value = spec
        config[key] = value
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _clc(argv: list[str], capsys) -> tuple[int, str]:
    """Run ``clc`` in-process; return the exit code and stderr (argparse errors exit through SystemExit)."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# --- CSV exports for a CRM ------------------------------------------------------------------------


def _scores_frame() -> pd.DataFrame:
    ids = ["=1+1", "+31 6 1234", "-5", "@SUM(A1)", "\tcmd", "\rcmd", "c7", "a=b"]
    return pd.DataFrame({"net_revenue": [-12.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                         "rfm_segment": pd.Categorical(["=HYPERLINK(x)", "Lost", "Lost", "Lost", "Lost", "Lost",
                                                        "Lost", "Lost"])},
                        index=pd.Index(ids, name="customer_id"))


def test_scores_csv_escapes_text_that_spreadsheets_run_as_formulas(tmp_path):
    target = write_scores(_scores_frame(), tmp_path / "scores.csv")
    written = pd.read_csv(target, dtype={"customer_id": str}, keep_default_na=False)
    assert written["customer_id"].tolist() == ["'=1+1", "'+31 6 1234", "'-5", "'@SUM(A1)", "'\tcmd", "'\rcmd",
                                               "c7", "a=b"]
    assert written["rfm_segment"].iloc[0] == "'=HYPERLINK(x)"
    assert written["net_revenue"].iloc[0] == -12.5  # numbers are not text: a negative value stays a number


def test_scores_parquet_keeps_text_as_it_is(tmp_path):
    frame = _scores_frame()
    written = pd.read_parquet(write_scores(frame, tmp_path / "scores.parquet"))
    assert written.index.tolist() == frame.index.tolist()
    assert written["rfm_segment"].astype(str).iloc[0] == "=HYPERLINK(x)"


def test_escaping_leaves_the_frame_given_unchanged():
    frame = _scores_frame()
    escape_formula_text(frame)
    assert frame.index[0] == "=1+1" and frame["rfm_segment"].iloc[0] == "=HYPERLINK(x)"


def test_rewriting_scores_keeps_the_mode_of_the_file_replaced(tmp_path):
    target = tmp_path / "scores.csv"
    write_scores(_scores_frame(), target)
    for mode in (0o644, 0o640):
        os.chmod(target, mode)
        write_scores(_scores_frame(), target)
        assert stat.S_IMODE(target.stat().st_mode) == mode


def test_a_new_scores_file_gets_the_umask_default_mode(tmp_path):
    previous = os.umask(0o027)
    try:
        write_scores(_scores_frame(), tmp_path / "scores.csv")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "scores.csv").stat().st_mode) == 0o640


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead_pid = int(finished.stdout)
    target = tmp_path / "scores.csv"
    abandoned = tmp_path / f".scores.csv.{dead_pid}.k3j2h1g0.tmp"
    in_progress = tmp_path / f".scores.csv.{os.getpid()}.a1b2c3d4.tmp"  # a running writer's file stays
    earlier_name = tmp_path / ".scores-x8y7z6w5.csv"  # the temporary name earlier versions used
    for path in (abandoned, in_progress, earlier_name):
        path.write_text("partial", encoding="utf-8")
    write_scores(_scores_frame(), target)
    assert not abandoned.exists() and not earlier_name.exists()
    assert in_progress.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, in_progress.name])


def test_atomic_write_removes_its_temporary_file_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_write(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    assert remove_abandoned_temporaries(target) == []


def test_clc_score_escapes_ids_end_to_end(tmp_path, capsys, monkeypatch):
    data = TRANSACTIONS + "=1+1,o6,2024-03-08,5.00\n@evil,o7,2024-03-08,5.00\n"
    config = _write_run(tmp_path, data)
    code, err = _clc(["score", "--config", str(config), "--out", str(tmp_path / "scores.csv")], capsys)
    assert code == 0, err
    ids = pd.read_csv(tmp_path / "scores.csv", dtype={"customer_id": str})["customer_id"].tolist()
    assert sorted(ids) == sorted(["c1", "c2", "c3", "'=1+1", "'@evil"])


# --- Config parsing -------------------------------------------------------------------------------


def _alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
        previous = name
    return "\n".join([*lines, "name: *i", "transactions: {path: tx.csv}"]) + "\n"


def test_a_yaml_alias_bomb_is_refused_in_well_under_a_second(tmp_path, capsys):
    config = tmp_path / "bomb.yaml"
    config.write_text(_alias_bomb(), encoding="utf-8")
    assert config.stat().st_size < 1024
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"YAML alias \(\*name\) on line 2"):
        RunConfig.from_yaml(config)
    assert time.perf_counter() - started < 0.5
    code, err = _clc(["check", "--config", str(config)], capsys)
    assert code == 2 and "alias" in err


def test_an_oversized_config_is_refused_without_reading_it(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("transactions: {path: tx.csv}\n" + "#" * MAX_CONFIG_BYTES, encoding="utf-8")
    with pytest.raises(ConfigError, match="a run config is a short YAML file"):
        RunConfig.from_yaml(config)


def test_a_latin1_config_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_bytes("name: café\ntransactions: {path: tx.csv}\n".encode("latin-1"))
    code, err = _clc(["check", "--config", str(config)], capsys)
    assert code == 2
    assert "is not UTF-8 text (byte 0xe9 on line 1)" in err and "Save it as UTF-8" in err


def test_a_config_that_is_a_folder_is_named_as_such(tmp_path, capsys):
    _write_run(tmp_path)
    code, err = _clc(["check", "--config", str(tmp_path)], capsys)
    assert code == 2
    assert "is a folder" in err and str(tmp_path / "run.yaml") in err
    assert "does not exist" not in err


@pytest.mark.parametrize("as_of, expected", [
    ("9999-12-31", "outside the dates clc can compute with"),
    ("0001-01-01", "outside the dates clc can compute with"),
    ("2024-02-30", "not a date"),
    ("yesterday", "not a date"),
])
@pytest.mark.parametrize("command", ["check", "score", "report"])
def test_an_unusable_as_of_on_the_command_line_exits_2(tmp_path, capsys, command, as_of, expected):
    config = _write_run(tmp_path)
    argv = [command, "--config", str(config), "--as-of", as_of]
    if command == "score":
        argv += ["--out", str(tmp_path / "scores.csv")]
    code, err = _clc(argv, capsys)
    assert code == 2
    assert "argument --as-of" in err and expected in err


@pytest.mark.parametrize("as_of", ["9999-12-31", "0001-01-01", "2024-06-31"])
def test_an_unusable_as_of_in_the_config_is_a_config_error(tmp_path, as_of):
    config = tmp_path / "run.yaml"
    config.write_text(f"transactions: {{path: tx.csv}}\nas_of: {as_of}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="as_of"):
        RunConfig.from_yaml(config)


def test_an_as_of_far_after_the_last_transaction_is_refused(tmp_path, capsys):
    config = _write_run(tmp_path)
    with pytest.raises(DataError, match=r"as_of 2204-06-30 is 65,[0-9]{3} days after the last transaction "
                                        r"\(2024-03-07\); at most 365 days"):
        load_run(config, as_of="2204-06-30")
    code, err = _clc(["check", "--config", str(config), "--as-of", "2204-06-30"], capsys)
    assert code == 2 and "max_days_after_last_transaction" in err


def test_the_config_can_allow_a_later_as_of_explicitly(tmp_path):
    config = _write_run(tmp_path, quality={"max_days_after_last_transaction": None})
    run = load_run(config, as_of="2204-06-30")
    assert run.as_of == pd.Timestamp("2204-06-30")
    config = _write_run(tmp_path, quality={"max_days_after_last_transaction": 400})
    assert load_run(config, as_of="2025-03-01").as_of == pd.Timestamp("2025-03-01")


@pytest.mark.parametrize("allowance", [-1, 1.5, "a year", True])
def test_the_allowance_for_a_later_as_of_is_validated(tmp_path, allowance):
    config = _write_run(tmp_path, quality={"max_days_after_last_transaction": allowance})
    with pytest.raises(ConfigError, match="max_days_after_last_transaction"):
        load_run(config)


def test_data_older_than_one_period_at_as_of_are_a_warning_in_the_quality_summary(tmp_path):
    run = load_run(_write_run(tmp_path), as_of="2024-06-30")
    warnings = run.quality["transactions"].warnings
    assert len(warnings) == 1 and "the data end 115 days before as_of (2024-03-07 vs 2024-06-30)" in warnings[0]
    frame = run.quality.to_frame()
    flagged = frame[frame["step"] == "warning"]
    assert flagged["action"].tolist() == ["warn"] and flagged["description"].tolist() == warnings
    assert "WARNING: the data end 115 days" in run.quality.render_text()
    recent = load_run(_write_run(tmp_path), as_of="2024-03-31")
    assert recent.quality["transactions"].warnings == []
    weekly = load_run(_write_run(tmp_path, period="W"), as_of="2024-03-20")
    assert "more than one period (week)" in weekly.quality["transactions"].warnings[0]


SECRET_LINE = "root:x:0:0:TOPSECRET-marker:/root:/bin/bash"


@pytest.mark.parametrize("how", ["absolute", "dotdot"])
def test_an_error_about_a_file_that_is_no_data_file_quotes_none_of_it(tmp_path, capsys, how):
    system = tmp_path / "etc"
    system.mkdir()
    (system / "passwd").write_text(f"{SECRET_LINE}\ndaemon:x:1:1:daemon:/usr/sbin\n", encoding="utf-8")
    run_dir = tmp_path / "runs" / "shop"
    run_dir.mkdir(parents=True)
    path = str(system / "passwd") if how == "absolute" else "../../etc/passwd"
    (run_dir / "run.yaml").write_text(f"transactions: {{path: {path}}}\n", encoding="utf-8")
    code, err = _clc(["check", "--config", str(run_dir / "run.yaml")], capsys)
    assert code == 2
    assert "none of the expected columns" in err and "passwd" in err
    assert "TOPSECRET" not in err and "root:x" not in err and "daemon" not in err and "/bin/bash" not in err


def test_an_engine_read_error_does_not_quote_the_line(tmp_path, capsys):
    data = 'customer_id,order_id,timestamp,amount\nc1,"TOPSECRET-marker,2024-01-01,5\nc2,o2,2024-01-02,5\n'
    config = _write_run(tmp_path, data)
    code, err = _clc(["check", "--config", str(config)], capsys)
    assert code == 2
    assert "Line 2 of the file opens a quoted value" in err
    assert "TOPSECRET" not in err


# --- Data -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("ids, kind", [([{"id": 1}, {"id": 2}], "structs"), ([[1], [2]], "lists")])
def test_nested_parquet_ids_are_refused_with_the_column_named(tmp_path, ids, kind):
    pd.DataFrame({"CustomerID": ids, "order_id": ["a", "b"], "timestamp": pd.to_datetime(["2024-01-01"] * 2),
                  "amount": [1.0, 2.0]}).to_parquet(tmp_path / "tx.parquet")
    config = tmp_path / "run.yaml"
    config.write_text("transactions: {path: tx.parquet, columns: {customer_id: CustomerID}}\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"The column 'CustomerID' of 'transactions' holds {kind}") as caught:
        load_run(config)
    assert caught.value.column == "CustomerID"


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "-nan", "nan(ind)"])
def test_non_finite_amounts_are_refused_even_without_an_amount_limit(tmp_path, value):
    data = TRANSACTIONS + f"c4,o9,2024-03-07,{value}\n"
    config = _write_run(tmp_path, data, quality={"max_line_amount": float("inf")})
    with pytest.raises(DataError) as caught:
        load_run(config)
    message = str(caught.value)
    assert "above" not in message
    if value == "nan(ind)":  # not a number at all
        assert "are not valid numbers" in message
    else:
        assert "values of 'amount' are not finite numbers" in message and repr(value) in message


def test_non_finite_amounts_dropped_on_request_are_counted(tmp_path):
    data = TRANSACTIONS + "c4,o8,2024-03-07,inf\nc4,o9,2024-03-07,-nan\n"
    config = _write_run(tmp_path, data, quality={"unparseable_values": "drop"})
    run = load_run(config)
    quality = run.quality["transactions"]
    assert quality.rule("unparseable_values").rows == 2 and quality.rows_out == 5
    assert quality.amount_out == pytest.approx(100.0) and np.isfinite(quality.amount_in)


def test_an_infinite_amount_in_parquet_is_refused(tmp_path):
    pd.DataFrame({"customer_id": ["a", "b", "c"], "order_id": ["1", "2", "3"],
                  "timestamp": pd.to_datetime(["2024-01-01"] * 3),
                  "amount": [1.0, np.inf, 2.0]}).to_parquet(tmp_path / "tx.parquet")
    config = tmp_path / "run.yaml"
    config.write_text("transactions: {path: tx.parquet}\n", encoding="utf-8")
    with pytest.raises(DataError, match="1 values of 'amount' are not finite numbers"):
        load_run(config)


def test_a_quoted_field_over_128kb_in_the_first_lines_loads(tmp_path):
    comment = "x" * 200_000
    data = f'customer_id,order_id,timestamp,amount,note\nc1,o1,2024-01-05,10,"{comment}"\nc2,o2,2024-01-06,5,ok\n'
    run = load_run(_write_run(tmp_path, data))
    assert run.quality["transactions"].rows_out == 2


def test_a_line_over_the_limit_is_named_with_file_and_line(tmp_path):
    big = "y" * 150_000
    data = f'customer_id,order_id,timestamp,amount\nc1,o1,2024-01-05,10\nc2,"{big}",2024-01-06,5\nc3,o3,2024-01-07,5\n'
    config = _write_run(tmp_path, data)
    spec = yaml.safe_load(config.read_text(encoding="utf-8"))
    spec["transactions"]["csv"] = {"max_line_bytes": 100_000}
    config.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_run(config)
    message = str(caught.value)
    assert "of the file" in message and "tx.csv" in message
    assert "Line 3 " in message and "100,000 bytes" in message
    assert big[:100] not in message


def test_a_field_longer_than_the_default_limit_is_named_with_its_line(tmp_path):
    big = "z" * 3_000_000
    data = f'customer_id,order_id,timestamp,amount\nc1,o1,2024-01-05,10\nc2,"{big}",2024-01-06,5\n'
    with pytest.raises(DataError, match=r"Line 3 of the file .*2,000,000 bytes") as caught:
        load_run(_write_run(tmp_path, data))
    assert "tx.csv" in str(caught.value) and len(str(caught.value)) < 2000


def test_max_line_bytes_is_validated(tmp_path):
    config = _write_run(tmp_path)
    spec = yaml.safe_load(config.read_text(encoding="utf-8"))
    spec["transactions"]["csv"] = {"max_line_bytes": "1MB"}
    config.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(ConfigError, match="csv.max_line_bytes"):
        load_run(config)


def test_tabs_around_ids_are_stripped(tmp_path):
    data = TRANSACTIONS + "\t00017,o6,2024-03-01,5\n00017\t,o7,2024-03-02,5\n\u00a000017 ,o8,2024-03-03,5\n"
    run = load_run(_write_run(tmp_path, data))
    ids = run.transactions.customer_id.to_pandas()
    assert set(ids) == {"c1", "c2", "c3", "00017"}


CUSTOMERS = "customer_id,first_seen\nc1,2023-12-01\nc2,2023-12-02\nc3,2023-12-03\n"
CAMPAIGNS = ("customer_id,campaign_id,sent_at,group\nc1,k1,2024-02-01,treatment\nc2,k1,2024-02-01,control\n"
             "c1,k2,2024-02-15,control\n")
SPEND = "period_start,channel,spend\n2024-01-01,search,100\n2024-02-01,search,120\n"


def test_check_refuses_duplicate_rows_in_the_customers_table(tmp_path, capsys):
    config = _write_run(tmp_path, customers=(CUSTOMERS + "c2,2023-12-02\n", {"path": "customers.csv"}))
    with pytest.raises(DataError, match="2 customer ids occur more than once in the customers table") as caught:
        load_run(config)
    assert caught.value.examples == [(2, "c2"), (4, "c2")]
    code, err = _clc(["check", "--config", str(config)], capsys)
    assert code == 2 and "customers.csv" in err


def test_check_refuses_a_customer_in_both_groups_of_one_campaign(tmp_path):
    campaigns = CAMPAIGNS + "c2,k1,2024-02-01,treatment\n"
    config = _write_run(tmp_path, campaigns=(campaigns, {"path": "campaigns.csv"}))
    with pytest.raises(DataError, match="2 customers are in both groups of one campaign") as caught:
        load_run(config)
    assert caught.value.examples == [(2, "k1 / c2 / control"), (4, "k1 / c2 / treatment")]


def test_check_refuses_a_customer_twice_in_one_campaign(tmp_path):
    campaigns = CAMPAIGNS + "c2,k1,2024-02-03,control\n"
    config = _write_run(tmp_path, campaigns=(campaigns, {"path": "campaigns.csv"}))
    with pytest.raises(DataError, match="2 rows repeat a customer within one campaign"):
        load_run(config)


def test_campaign_rows_for_customers_without_transactions_are_counted(tmp_path):
    campaigns = CAMPAIGNS + "ghost1,k1,2024-02-01,control\nghost2,k2,2024-02-15,treatment\n"
    run = load_run(_write_run(tmp_path, campaigns=(campaigns, {"path": "campaigns.csv"})))
    result = run.quality["campaigns"].rule("customer_not_in_transactions")
    assert (result.rows, result.action) == (2, "keep")
    assert len(run.campaigns) == 5
    assert "customer_not_in_transactions" in run.quality.render_text()


def test_mid_month_period_starts_are_counted(tmp_path):
    spend = SPEND + "2024-02-15,search,90\n2024-03-01 12:00,search,80\n"  # on or before as_of (2024-03-07)
    run = load_run(_write_run(tmp_path, spend=(spend, {"path": "spend.csv"})))
    assert run.quality["spend"].rule("period_start_not_first_day").rows == 2


def test_infinite_spend_is_refused_or_dropped_and_counted(tmp_path):
    spend = SPEND + "2024-03-01,search,inf\n"
    with pytest.raises(DataError, match="values of 'spend' are not finite numbers"):
        load_run(_write_run(tmp_path, spend=(spend, {"path": "spend.csv"})))
    run = load_run(_write_run(tmp_path, spend=(spend, {"path": "spend.csv"}),
                              quality={"unparseable_values": "drop"}))
    assert run.quality["spend"].rule("unparseable_values").rows == 1 and len(run.spend) == 2


# --- Chart labels ---------------------------------------------------------------------------------


def test_data_borne_labels_are_drawn_literally():
    import matplotlib.pyplot as plt

    from clc_lib.plots import plot_cross_sell, plot_revenue_by, set_theme

    set_theme()
    labels = ["Gifts $x^$", "Save $5 - $10"]
    co_occurrence = pd.DataFrame([[3, 1], [1, 2]], index=labels, columns=labels)
    ax = plot_cross_sell(co_occurrence)
    ax.figure.canvas.draw()  # raised a mathtext ParseException before
    ticks = ax.get_xticklabels()
    assert [t.get_text() for t in ticks] == labels and not any(t.get_parse_math() for t in ticks)
    revenue = pd.DataFrame({"category": labels, "net_revenue": [10.0, 5.0], "revenue_share": [0.6, 0.4],
                            "customer_share": [0.5, 0.5]})
    ax = plot_revenue_by(revenue, by="category")
    ax.figure.canvas.draw()
    drawn = [t for t in ax.get_yticklabels() if t.get_text() == "Save $5 - $10"]
    assert drawn and not drawn[0].get_parse_math()
    plt.close("all")


def test_every_notebook_sets_the_theme_before_it_draws():
    import nbformat

    from clc_lib.paths import project_root

    for path in sorted((project_root() / "notebooks").glob("*.ipynb")):
        cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        first_plot = next(i for i, source in enumerate(cells) if "plot_" in source)
        theme = next(i for i, source in enumerate(cells) if "clc.set_theme()" in source)
        assert theme < first_plot, path.name


@pytest.mark.parametrize("path, expected", [(".", "is a folder, not a data file"),
                                            ("/dev/null", "is not a regular file")])
def test_a_table_path_that_is_no_file_is_named_as_such(tmp_path, path, expected):
    config = tmp_path / "run.yaml"
    config.write_text(f"transactions: {{path: {path}}}\n", encoding="utf-8")
    with pytest.raises(DataError, match=expected):
        load_run(config)


def test_a_glob_that_matches_a_file_that_is_no_data_file_quotes_none_of_it(tmp_path):
    (tmp_path / "tx_1.csv").write_text(TRANSACTIONS, encoding="utf-8")
    (tmp_path / "tx_2.csv").write_text(f"{SECRET_LINE},x\nmore,lines\n", encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text("transactions: {path: 'tx_*.csv'}\n", encoding="utf-8")
    with pytest.raises(DataError, match="tx_2.csv has none of the expected columns") as caught:
        load_run(config)
    assert "TOPSECRET" not in str(caught.value) and "root:x" not in str(caught.value)


def test_score_to_a_folder_is_refused_before_loading(tmp_path, capsys):
    config = _write_run(tmp_path)
    (tmp_path / "out.csv").mkdir()
    code, err = _clc(["score", "--config", str(config), "--out", str(tmp_path / "out.csv")], capsys)
    assert code == 2 and "is a folder" in err
