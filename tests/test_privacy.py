"""Privacy rules: salted pseudonyms (reference values from openssl), personal-data columns, redaction.

Every expected pseudonym below was computed outside Python, e.g.
``printf '%s' 00017 | openssl dgst -sha256 -hmac test-salt-0123456789abcdef`` (first 12 hex digits).
"""

from __future__ import annotations

import stat

import numpy as np
import pandas as pd
import pytest

from clc_lib.errors import ConfigError
from clc_lib.privacy import (
    config_secret_values,
    id_salt,
    mask_personal_values,
    personal_data_columns,
    protect_frame,
    pseudonymise_id,
    pseudonymise_ids_enabled,
    redact,
    scrub_local_paths,
)

SALT = "test-salt-0123456789abcdef"


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A throwaway project root (the per-installation salt lives in its data/processed/)."""
    monkeypatch.setenv("CLC_PROJECT_ROOT", str(tmp_path))
    monkeypatch.delenv("CLC_ID_SALT", raising=False)
    return tmp_path


def test_pseudonym_is_a_truncated_hmac_sha256():
    # printf '%s' 00017 | openssl dgst -sha256 -hmac test-salt-0123456789abcdef -> cdd1db6bdea3373c...
    assert pseudonymise_id("00017", salt=SALT.encode()) == "C-cdd1db6bdea3"
    # printf '%s' p-9 | openssl dgst -sha256 -hmac ... -> 57e751daa353...
    assert pseudonymise_id("p-9", prefix="P", salt=SALT.encode()) == "P-57e751daa353"
    # The id is hashed as text: an integer id gives the pseudonym of its digits.
    assert pseudonymise_id(17, salt=SALT.encode()) == pseudonymise_id("17", salt=SALT.encode())
    assert pseudonymise_id(None, salt=SALT.encode()) is None
    assert pseudonymise_id(pd.NA, salt=SALT.encode()) is pd.NA
    assert np.isnan(pseudonymise_id(float("nan"), salt=SALT.encode()))
    assert pseudonymise_id("00017", salt=b"another-salt-0123456789") != "C-cdd1db6bdea3"


def test_salt_comes_from_the_environment(project, monkeypatch):
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    assert id_salt() == (SALT.encode(), "CLC_ID_SALT")
    assert not (project / "data" / "processed" / "id_salt").exists()
    monkeypatch.setenv("CLC_ID_SALT", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        id_salt()


def test_missing_salt_creates_one_private_stable_salt_per_installation(project):
    with pytest.raises(ConfigError, match="CLC_ID_SALT"):
        id_salt(create=False)
    salt, source = id_salt()
    path = project / "data" / "processed" / "id_salt"
    assert source == "data/processed/id_salt" and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(salt) == 64
    assert id_salt() == (salt, source)  # reused, so pseudonyms are stable across runs
    assert pseudonymise_id("00017") == pseudonymise_id("00017", salt=salt)
    assert list(path.parent.glob(".*tmp")) == []


def test_pseudonymisation_switch_is_the_notebook_parameter(project, monkeypatch):
    from clc_lib import handoff

    monkeypatch.setattr(handoff, "_settings", handoff._NotebookSettings())
    assert pseudonymise_ids_enabled() is True
    handoff.apply_notebook_parameters(pseudonymise_ids=False)
    assert pseudonymise_ids_enabled() is False
    frame = pd.DataFrame({"customer_id": ["00017"], "n": [1]})
    assert protect_frame(frame)["customer_id"].tolist() == ["00017"]
    assert protect_frame(frame, pseudonymise=True)["customer_id"].tolist() != ["00017"]


def test_personal_data_columns_by_name():
    columns = ["customer_id", "first_name", "Name", "E-Mail", "phone_number", "Mobile", "street",
               "postcode", "date_of_birth", "iban", "country", "channel", "product_name", "campaign_id",
               "acquisition_channel", "reason", "score"]
    found = personal_data_columns(columns)
    assert found == {"first_name": "name", "Name": "name", "E-Mail": "e-mail address",
                     "phone_number": "phone number", "Mobile": "phone number", "street": "postal address",
                     "postcode": "postal address", "date_of_birth": "birth date",
                     "iban": "national or account number"}


def test_protect_frame_drops_personal_data_and_pseudonymises_every_identifier(project, monkeypatch):
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    frame = pd.DataFrame({"customer_id": ["00017", "00017", None], "person_id": ["p-9", "p-9", "p-9"],
                          "period": ["2024-01", "2024-02", "2024-02"], "email": ["a@b.de"] * 3,
                          "n": [1, 2, 3]}).set_index(["period", "customer_id"])
    protected = protect_frame(frame)
    assert list(protected.columns) == ["person_id", "n"]
    assert list(protected.index.get_level_values("customer_id")[:2]) == ["C-cdd1db6bdea3"] * 2
    assert pd.isna(protected.index.get_level_values("customer_id")[2])
    assert list(protected.index.get_level_values("period")) == ["2024-01", "2024-02", "2024-02"]
    assert set(protected["person_id"]) == {"P-57e751daa353"}
    assert list(protected["n"]) == [1, 2, 3]
    assert frame.index.get_level_values("customer_id")[0] == "00017"  # the input is not changed
    internal = protect_frame(frame, pseudonymise=False)
    assert internal.index.get_level_values("customer_id")[0] == "00017" and "email" not in internal


def test_personal_values_inside_text_are_masked():
    text = "Mail jane.doe@example.co.uk or call +49 (170) 123-4567 about order 2024-06-30/123-456"
    assert mask_personal_values(text) == ("Mail [e-mail removed] or call [phone number removed] about "
                                          "order 2024-06-30/123-456")


@pytest.mark.parametrize(("text", "expected"), [
    ("postgres://analyst:hunter2@db:5432/shop", "postgres://analyst:***@db:5432/shop"),
    ("could not connect to mysql+pymysql://bob:p%40ss@10.0.0.1/x: timeout",
     "could not connect to mysql+pymysql://bob:***@10.0.0.1/x: timeout"),
    ("https://host/api?user=me&token=abc123&x=1", "https://host/api?user=me&token=***&x=1"),
    ("snowflake://u@acct/db?password=s3cret", "snowflake://u@acct/db?password=***"),
    ("duckdb:///data/shop.duckdb and no secret", "duckdb:///data/shop.duckdb and no secret"),
])
def test_redact_masks_url_credentials(text, expected):
    assert redact(text) == expected


def test_redact_masks_given_values_but_not_short_ones():
    assert redact("path /vault/tok-9f8e7d/shop.duckdb", ["tok-9f8e7d"]) == "path /vault/***/shop.duckdb"
    assert redact("period M", ["M"]) == "period M"


def test_config_secret_values_are_the_referenced_environment_variables(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("transactions: {connection: 'postgres://me:${DB_PASS}@db/x', table: t}\n"
                      "customers: {connection: 'duckdb:///${DB_DIR}/c.duckdb', table: c}\n"
                      "spend: {connection: '${UNSET_VAR}', table: s}\n", encoding="utf-8")
    environ = {"DB_PASS": "hunter22", "DB_DIR": "/srv/vault", "OTHER": "not referenced"}
    assert config_secret_values(config, environ) == ["hunter22", "/srv/vault"]
    assert config_secret_values(tmp_path / "missing.yaml", environ) == []


def test_scrub_local_paths():
    replacements = {"/srv/clc": "", "/srv/clc/configs": "", "/root": "~"}
    text = ("config /srv/clc/configs/retail.yaml, data /srv/clc/data/x.csv, project /srv/clc. "
            "other /srv/clc2/x, home /root/exports/a.csv, temp /tmp/x")
    assert scrub_local_paths(text, replacements) == (
        "config retail.yaml, data data/x.csv, project .. other /srv/clc2/x, home ~/exports/a.csv, temp /tmp/x")
    assert scrub_local_paths("/tmp/x", {"/tmp": ""}) == "/tmp/x"  # shared folders are left alone


def test_embedded_images_are_left_alone():
    blob = "iVBORw0KGgo" + "A" * 300 + "/root/" + "B" * 300 + "tok9f8e7dQ" + "C" * 50 + "=="
    page = f'<img src="data:image/png;base64,{blob}"> see /root/x.csv and tok9f8e7dQ'
    assert scrub_local_paths(page, {"/root": "~"}) == f'<img src="data:image/png;base64,{blob}"> see ~/x.csv and tok9f8e7dQ'
    assert redact(page, ["tok9f8e7dQ"]) == f'<img src="data:image/png;base64,{blob}"> see /root/x.csv and ***'


def test_example_values_are_the_row_labels_and_quoted_values_of_error_examples():
    from clc_lib.errors import DataError
    from clc_lib.privacy import example_values

    error = DataError("Bad rows.", source="campaigns.csv", column="customer_id", n_rows=3,
                      examples=[(2, "c-17"), ("c-18", 4.5), (3, "spring/c-19")])
    assert example_values(str(error)) == {"2", "c-17", "c-18", "3", "spring/c-19", "spring", "c-19"}
    assert example_values("Prose, e.g. the 'c-17' list, is no error message.") == set()


def test_pseudonymise_examples_replaces_only_the_ids_among_the_examples():
    import json

    from clc_lib.errors import DataError
    from clc_lib.privacy import pseudonymise_examples

    salt = b"0123456789abcdef"
    error = "DataError: " + str(DataError("Bad rows.", column="customer_id", n_rows=3,
                                          examples=[(2, "c-17"), ("p-9", 4.5), (3, "spring/c-17"), (4, "NaN")]))
    ids = {"c-17": "C", "p-9": "P"}
    c17, p9 = pseudonymise_id("c-17", salt=salt), pseudonymise_id("p-9", prefix="P", salt=salt)
    expected = f"row 2: '{c17}', row {p9}: 4.5, row 3: 'spring/{c17}', row 4: 'NaN'"
    assert expected in pseudonymise_examples(error, ids, salt=salt)
    # The same inside an executed notebook's JSON, and the id stays where it is not an example.
    as_json = json.dumps({"evalue": error, "text": "customer c-17"})
    cleaned = json.loads(pseudonymise_examples(as_json, ids, salt=salt))
    assert expected in cleaned["evalue"] and cleaned["text"] == "customer c-17"
    assert "c-17'" not in pseudonymise_examples(error, None) and "examples withheld" in pseudonymise_examples(error, None)
    assert pseudonymise_examples(error, {}, salt=salt) == error


# --- pseudonyms: format, stability, odd ids -------------------------------------------------------


@pytest.mark.parametrize(("customer_id", "expected"), [
    ("", "C-014620856836"),            # an empty id is an id, not a missing value
    (" 00017", "C-0d24ebf15887"),      # not stripped: differs from "00017"
    ("Müller/ø", "C-6f8c4b70624b"),    # hashed as UTF-8
    ("c-17'x", "C-8709715b8868"),
    (17.0, "C-eef0dd229a14"),          # a float id is hashed as its text "17.0", not as "17"
    ("a" * 1000, "C-4ed94cdab82d"),
])
def test_pseudonyms_of_odd_ids_match_openssl(customer_id, expected):
    assert pseudonymise_id(customer_id, salt=SALT.encode()) == expected


def test_pseudonyms_are_stable_for_a_salt_differ_across_salts_and_hide_the_id():
    import hashlib
    import re

    ids = [f"{i:05d}" for i in range(1_000)] + [f"cust-{i}" for i in range(1_000)]
    first = [pseudonymise_id(value, salt=SALT.encode()) for value in ids]
    assert [pseudonymise_id(value, salt=SALT.encode()) for value in ids] == first
    assert all(re.fullmatch(r"C-[0-9a-f]{12}", pseudonym) for pseudonym in first)
    assert len(set(first)) == len(ids)  # no two ids share a pseudonym here
    assert not any(value in pseudonym for value, pseudonym in zip(ids, first, strict=True))
    other_salt = [pseudonymise_id(value, salt=b"another-salt-0123456789") for value in ids]
    assert not set(first) & set(other_salt)
    # An unsalted hash of a guessed id does not lead to its pseudonym.
    unsalted = {"C-" + hashlib.sha256(value.encode()).hexdigest()[:12] for value in ids}
    assert not unsalted & set(first)
    assert hashlib.sha256(b"00017").hexdigest()[:12] == "9fc68c1275e8"  # openssl dgst -sha256, no key
    assert pseudonymise_id("00017", salt=b"another-salt-0123456789") == "C-0745606e53c1"


def test_numpy_ids_and_missing_timestamps():
    assert pseudonymise_id(np.int64(17), salt=SALT.encode()) == pseudonymise_id("17", salt=SALT.encode())
    assert pseudonymise_id(pd.NaT, salt=SALT.encode()) is pd.NaT
    assert np.isnan(pseudonymise_id(np.float64("nan"), salt=SALT.encode()))


# --- the salt -------------------------------------------------------------------------------------


def test_salt_length_limit_is_sixteen_characters(project, monkeypatch):
    monkeypatch.setenv("CLC_ID_SALT", "sixteen-chars-16")
    assert id_salt() == (b"sixteen-chars-16", "CLC_ID_SALT")
    assert pseudonymise_id("00017") == "C-8e4d616c6279"
    monkeypatch.setenv("CLC_ID_SALT", "fifteen-chars15")
    with pytest.raises(ConfigError, match="CLC_ID_SALT has 15 characters; give at least 16"):
        id_salt()


def test_an_empty_salt_variable_falls_back_to_the_installation_salt_file(project, monkeypatch):
    path = project / "data" / "processed" / "id_salt"
    path.parent.mkdir(parents=True)
    path.write_text("file-salt-abcdef0123\n", encoding="utf-8")  # an existing file is used as it is
    monkeypatch.setenv("CLC_ID_SALT", "")
    assert id_salt() == (b"file-salt-abcdef0123", "data/processed/id_salt")
    assert pseudonymise_id("00017") == "C-2c3e4c8ec847"
    assert path.read_text(encoding="utf-8") == "file-salt-abcdef0123\n"


def test_a_too_short_salt_file_is_refused_with_its_name(project):
    path = project / "data" / "processed" / "id_salt"
    path.parent.mkdir(parents=True)
    path.write_text("short \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"data/processed/id_salt holds 5 characters \(at least 16"):
        id_salt()


def test_pseudonymisation_follows_the_notebook_parameter_and_refuses_anything_but_a_bool(project):
    from clc_lib.errors import ConfigError
    from clc_lib.handoff import apply_notebook_parameters

    try:
        assert pseudonymise_ids_enabled() is True  # the default, before any notebook parameter
        apply_notebook_parameters(pseudonymise_ids=False)
        assert pseudonymise_ids_enabled() is False
        for value in ("Off", "", 0, None):
            with pytest.raises(ConfigError, match="pseudonymise_ids"):
                apply_notebook_parameters(pseudonymise_ids=value)
        assert pseudonymise_ids_enabled() is False  # a refused value changes nothing
    finally:
        apply_notebook_parameters(pseudonymise_ids=True)
    assert pseudonymise_ids_enabled() is True


# --- personal-data columns and protected frames --------------------------------------------------


def test_personal_data_columns_spelling_variants_and_lookalikes():
    columns = ["Customer ID", "PERSON-ID", "username", "Tel.", "ZIP", "birthday", "credit_card_number",
               "email_opt_in", "Tax-ID", "hotel", "zipper", "filename", "telemetry", "customer_segment", 3]
    assert personal_data_columns(columns) == {
        "username": "name", "Tel.": "phone number", "ZIP": "postal address", "birthday": "birth date",
        "credit_card_number": "national or account number", "email_opt_in": "e-mail address",
        "Tax-ID": "national or account number"}


def test_protect_frame_on_a_plain_index_and_a_personal_index_level(project, monkeypatch):
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    by_customer = pd.DataFrame({"Customer ID": ["p-9"], "value": [2.5]},
                               index=pd.Index(["00017"], name="customer_id"))
    protected = protect_frame(by_customer)
    assert list(protected.index) == ["C-cdd1db6bdea3"] and protected.index.name == "customer_id"
    assert protected["Customer ID"].tolist() == ["C-57e751daa353"]  # "p-9" with the customer prefix
    assert protected["value"].tolist() == [2.5]

    by_email = pd.DataFrame({"n": [1, 2]}, index=pd.MultiIndex.from_tuples(
        [("a@b.de", 17), ("c@d.de", 18)], names=["email", "customer_id"]))
    protected = protect_frame(by_email)
    assert protected.index.names == ["customer_id"]
    assert list(protected.index) == ["C-e8f7f2a37274", "C-e087509562af"]  # integer ids hashed as "17", "18"


def test_protect_frame_follows_the_switch_and_always_returns_a_copy(project, monkeypatch):
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    from clc_lib.handoff import apply_notebook_parameters

    frame = pd.DataFrame({"customer_id": ["00017"], "n": [1]})
    try:
        apply_notebook_parameters(pseudonymise_ids=False)
        internal = protect_frame(frame)
    finally:
        apply_notebook_parameters(pseudonymise_ids=True)
    assert internal["customer_id"].tolist() == ["00017"] and internal is not frame
    internal.loc[0, "n"] = 99
    assert frame.loc[0, "n"] == 1
    assert protect_frame(frame)["customer_id"].tolist() == ["C-cdd1db6bdea3"]
    no_identifiers = pd.DataFrame({"n": [1]})
    assert protect_frame(no_identifiers) is not no_identifiers


# --- values inside text, secrets, paths ----------------------------------------------------------


def test_only_international_phone_numbers_and_every_e_mail_address_are_masked():
    text = "a@x.org, b.c+tag@mail.example.com; call 0170 1234567 or +1 555 0100, ext +12"
    assert mask_personal_values(text) == ("[e-mail removed], [e-mail removed]; call 0170 1234567 or "
                                          "[phone number removed], ext +12")


def test_redact_masks_the_longest_secret_first_and_only_whole_query_keys():
    assert redact("a abcdefgh b abcdef", ["abcdef", "abcdefgh"]) == "a *** b ***"
    assert redact("https://h/x?API_KEY=k3y&monkey=banana#top") == "https://h/x?API_KEY=***&monkey=banana#top"
    assert redact("https://h/x?q=1;Token=abc#frag") == "https://h/x?q=1;Token=***#frag"


def test_config_secret_values_lists_each_set_variable_once(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("a: ${B_VAR}\nb: ${A_VAR}/${B_VAR}\nc: ${EMPTY}\n", encoding="utf-8")
    assert config_secret_values(config, {"A_VAR": "aaaaaa", "B_VAR": "bbbbbb", "EMPTY": ""}) == ["bbbbbb", "aaaaaa"]
    assert config_secret_values(None, {"A_VAR": "aaaaaa"}) == []


def test_scrub_local_paths_ignores_relative_and_root_prefixes():
    from pathlib import Path

    text = "data/x.csv /data/x.csv /srv/shop/a.csv /"
    assert scrub_local_paths(text, {"data": "", "/": "", Path("/srv/shop/"): "shop/"}) == (
        "data/x.csv /data/x.csv shop/a.csv /")


# --- error examples -------------------------------------------------------------------------------


def test_numeric_row_labels_equal_to_an_id_are_pseudonymised_too_with_the_default_salt(project, monkeypatch):
    from clc_lib.errors import DataError
    from clc_lib.privacy import pseudonymise_examples

    monkeypatch.setenv("CLC_ID_SALT", "0123456789abcdef")
    first = str(DataError("Bad amounts.", column="amount", n_rows=1, examples=[(17, "x")]))
    second = str(DataError("Bad ids.", column="customer_id", n_rows=1, examples=[(4, "0042")]))
    text = f"{first}\nthe customer 17 and 0042 outside the examples\n{second}"
    cleaned = pseudonymise_examples(text, {"17": "C", "0042": "C"})
    assert "row C-9ab8a6f4a4b0: 'x'" in cleaned and "row 4: 'C-057c3788ba54'" in cleaned
    assert "the customer 17 and 0042 outside the examples" in cleaned
    assert "row 17" not in cleaned and "'0042'" not in cleaned
    assert pseudonymise_examples("no examples: row 17: '0042'", {"17": "C"}) == "no examples: row 17: '0042'"
