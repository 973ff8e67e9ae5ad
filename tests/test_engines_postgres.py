"""The transaction-level steps on a real PostgreSQL server give the same results as on DuckDB.

The server is the one named by the environment variable ``CLC_TEST_POSTGRES_URL`` (e.g.
``postgres://clc@127.0.0.1:5432/clc``), else a throwaway server that the module starts from the
Debian binaries (``apt-get install -y postgresql``): ``initdb`` into a temporary folder and
``pg_ctl`` on a free local port, run as the ``postgres`` system user when the tests run as root
(initdb refuses root). Without PostgreSQL binaries the tests fail and say what to install.

The demo transactions are copied into a table with their own types (COPY); the CDNOW master file is
copied as text so that the loader parses dates and numbers on the server. Both are then loaded with
``engine: {url: ...}`` and ``connection: engine`` and compared with the DuckDB results of the same
functions (ids, dates, counts and stages exactly, money to 1e-9 relative).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from clc_lib.cohorts import cohort_matrix
from clc_lib.config import RunConfig, load_config
from clc_lib.engines import engine_description
from clc_lib.errors import ConfigError
from clc_lib.run import load_run
from clc_lib.paths import project_root
from clc_lib.stage_history import stage_history
from clc_lib.stages import classify_stages, derive_stage_rules
from clc_lib.summary import customer_summary

from engine_equivalence import ANALYSES, assert_same, assert_same_analysis
from engine_equivalence import history_frame as _history_frame

pytestmark = pytest.mark.slow  # starts a PostgreSQL server

ROOT = project_root()
DEMO_CONFIG = ROOT / "data" / "raw" / "demo" / "run.yaml"
CDNOW_CONFIG = ROOT / "docs" / "examples" / "cdnow.yaml"
INSTALL_HINT = ("PostgreSQL server binaries are needed: `apt-get install -y postgresql` (Debian 12 ships "
                "PostgreSQL 15), or set CLC_TEST_POSTGRES_URL to a server to use.")


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` system user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url():
    url = os.environ.get("CLC_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.fail(INSTALL_HINT)
    data_dir = Path(tempfile.mkdtemp(prefix="clc-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data_dir, user="postgres", group="postgres")
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    try:
        subprocess.run(_as_server_user([str(bin_dir / "initdb"), "-D", str(data_dir / "db"), "-U", "clc",
                                        "--auth=trust", "--encoding=UTF8", "--no-locale"]), **run)
        subprocess.run(_as_server_user([
            str(bin_dir / "pg_ctl"), "-D", str(data_dir / "db"), "-l", str(data_dir / "server.log"), "-w",
            "-o", f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]), **run)
    except subprocess.CalledProcessError as exc:
        log = (data_dir / "server.log").read_text() if (data_dir / "server.log").is_file() else ""
        shutil.rmtree(data_dir, ignore_errors=True)
        pytest.fail(f"Could not start a PostgreSQL server from {bin_dir}: {exc.stderr or exc.stdout}\n{log}")
    try:
        yield f"postgres://clc@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data_dir / "db"), "-m", "immediate",
                                        "stop"]), capture_output=True, timeout=60, check=False)
        shutil.rmtree(data_dir, ignore_errors=True)


def _copy_frame(connection, table: str, frame: pd.DataFrame, types: dict[str, str]) -> None:
    """Replace ``table`` with the rows of ``frame`` through COPY (NULLs kept)."""
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
        cursor.execute(f'CREATE TABLE "{table}" (' + ", ".join(f'"{c}" {t}' for c, t in types.items()) + ")")
        with cursor.copy(f'COPY "{table}" ({", ".join(chr(34) + c + chr(34) for c in types)}) FROM STDIN') as copy:
            for row in frame[list(types)].astype(object).where(frame[list(types)].notna(), None).itertuples(
                    index=False, name=None):
                copy.write_row(row)
    connection.commit()


@pytest.fixture(scope="module")
def server_tables(postgres_url):
    """The demo transactions (typed) and the CDNOW master file (as text) in the server."""
    import psycopg

    if not DEMO_CONFIG.is_file():
        pytest.fail(f"The demo data are missing ({DEMO_CONFIG}); run `.venv/bin/clc demo-data` first.")
    cdnow_path = load_config(CDNOW_CONFIG).tables["transactions"].resolved_path
    if not cdnow_path.is_file():
        pytest.fail(f"The CDNOW master file is missing ({cdnow_path}); it belongs in shared/data/cdnow/.")
    demo = pd.read_parquet(DEMO_CONFIG.parent / "transactions.parquet")
    cdnow = pd.read_csv(cdnow_path, sep=r"\s+", dtype=str)
    with psycopg.connect(postgres_url.replace("postgres://", "postgresql://", 1)) as connection:
        _copy_frame(connection, "demo_transactions", demo, {
            "Invoice": "text", "StockCode": "text", "Category": "text", "Quantity": "bigint",
            "Price": "double precision", "InvoiceDate": "timestamp", "CustomerID": "text", "Channel": "text"})
        _copy_frame(connection, "cdnow_master_text", cdnow, {c: "text" for c in cdnow.columns})
    return postgres_url


def _pair(config_path: Path, url: str, table: str):
    config = load_config(config_path)
    spec = config.tables["transactions"]
    duck = load_run(dataclasses.replace(config, tables={"transactions": spec}))
    on_server = dataclasses.replace(spec, path=None, table=table, connection="engine", csv={})
    server = load_run(dataclasses.replace(config, tables={"transactions": on_server}, engine={"url": url}))
    return duck, server


@pytest.fixture(scope="module")
def demo(server_tables):
    return _pair(DEMO_CONFIG, server_tables, "demo_transactions")


@pytest.fixture(scope="module")
def cdnow(server_tables):
    return _pair(CDNOW_CONFIG, server_tables, "cdnow_master_text")


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_load_runs_on_postgres_with_the_same_quality_counts(data, request):
    duck, server = request.getfixturevalue(data)
    assert engine_description(server.con).startswith("PostgreSQL ")
    assert server.con.name == "postgres" and server.transactions._find_backend() is server.con
    ours, theirs = duck.quality["transactions"], server.quality["transactions"]
    assert (theirs.rows_in, theirs.rows_out, theirs.customers) == (ours.rows_in, ours.rows_out, ours.customers)
    assert theirs.first_timestamp == ours.first_timestamp and theirs.last_timestamp == ours.last_timestamp
    assert theirs.amount_out == pytest.approx(ours.amount_out, rel=1e-12)
    assert [(r.rule, r.rows) for r in theirs.rules] == [(r.rule, r.rows) for r in ours.rules]
    assert server.as_of == duck.as_of


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_customer_summary_is_identical(data, request):
    duck, server = request.getfixturevalue(data)
    ours = customer_summary(duck.transactions, duck.as_of)
    theirs = customer_summary(server.transactions, server.as_of)
    assert len(ours) == duck.quality["transactions"].customers
    assert_same(theirs, ours)


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_stages_and_their_thresholds_are_identical(data, request):
    duck, server = request.getfixturevalue(data)
    as_of = duck.as_of - pd.Timedelta(days=120)
    rules = derive_stage_rules(duck.transactions, as_of)
    assert derive_stage_rules(server.transactions, as_of).thresholds == rules.thresholds
    ours = classify_stages(duck.transactions, as_of, rules=rules)
    theirs = classify_stages(server.transactions, as_of, rules=rules)
    assert ours["stage"].nunique() >= 4
    assert_same(theirs, ours)


def test_monthly_stage_history_of_the_demo_is_identical(demo):
    duck, server = demo
    rules = derive_stage_rules(duck.transactions, duck.as_of)
    ours = _history_frame(stage_history(duck.transactions, period="M", rules=rules))
    theirs = _history_frame(stage_history(server.transactions, period="M", rules=rules))
    assert ours["period_end"].nunique() > 12
    assert_same(theirs, ours)


@pytest.mark.parametrize("data", ["demo", "cdnow"])
def test_cohort_matrix_is_identical(data, request):
    duck, server = request.getfixturevalue(data)
    ours = cohort_matrix(duck.transactions, period="M", as_of=duck.as_of, values="customers")
    theirs = cohort_matrix(server.transactions, period="M", as_of=server.as_of, values="customers")
    assert ours.attrs["cohort_size"] == theirs.attrs["cohort_size"]
    assert_same(theirs, ours)


def test_server_parses_text_without_raising(server_tables):
    """Bad dates and numbers become counted failures on the server, exactly as on DuckDB."""
    frame = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f"],
        "date": ["19970101", "19970230", "1997013x", "19970315", "19970401", "19971231"],
        "amount": ["10.50", "3", "7", "x1", "-4.25", "100"],
    })
    import psycopg

    with psycopg.connect(server_tables.replace("postgres://", "postgresql://", 1)) as connection:
        _copy_frame(connection, "bad_text", frame, {c: "text" for c in frame.columns})
    quality = {"unparseable_values": "drop"}
    columns = {"timestamp": "date"}
    duck = load_run({"transactions": {"data": frame, "columns": columns}, "quality": quality})
    server = load_run(RunConfig.from_dict({
        "transactions": {"table": "bad_text", "connection": "engine", "columns": columns},
        "engine": {"url": server_tables}, "quality": quality}))
    for run in (duck, server):
        assert run.quality["transactions"].rules[0].rows == 3  # February 30, "1997013x", "x1"
    ours = duck.transactions.to_pandas().sort_values("customer_id").reset_index(drop=True)
    theirs = server.transactions.to_pandas().sort_values("customer_id").reset_index(drop=True)
    assert theirs["customer_id"].tolist() == ours["customer_id"].tolist() == ["a", "e", "f"]
    assert theirs["amount"].tolist() == ours["amount"].tolist() == [10.5, -4.25, 100.0]
    assert list(pd.to_datetime(theirs["timestamp"])) == list(pd.to_datetime(ours["timestamp"]))


def test_files_on_a_database_engine_are_refused_with_a_hint(server_tables):
    config = load_config(DEMO_CONFIG)
    with pytest.raises(ConfigError, match="does not read files"):
        load_run(dataclasses.replace(config, tables={"transactions": config.tables["transactions"]},
                                     engine={"url": server_tables}))


@pytest.mark.parametrize("name", list(ANALYSES))
def test_report_analyses_of_the_demo_are_identical(name, demo):
    assert_same_analysis(name, *demo)
