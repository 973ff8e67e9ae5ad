"""Privacy of stakeholder reports: pseudonymous customer ids, no personal data, no secrets, no local paths.

The rules, all as data so that they can be read and extended in one place:

* **Identifiers** (:data:`IDENTIFIER_COLUMNS`): a ``customer_id`` or ``person_id`` column, or an index
  level of that name, is shown as a pseudonym ``C-`` / ``P-`` followed by the first
  :data:`PSEUDONYM_HEX_CHARS` hex digits of HMAC-SHA256(salt, id). The same id and salt always give
  the same pseudonym, so stakeholders can follow a customer from one run to the next, and an
  analyst holding the salt can look a pseudonym up again (:func:`pseudonymise_id` on the real
  ids). Without the salt, ids cannot be recovered by hashing guesses.
* **The salt** comes from the environment variable ``CLC_ID_SALT`` (at least
  :data:`MIN_SALT_CHARS` characters). When it is not set, a random salt is created once per
  installation in ``data/processed/id_salt`` (readable by its owner only) and reused by every later
  run, so pseudonyms stay stable across runs on the same machine. Set ``CLC_ID_SALT`` to keep them
  stable across machines and re-installations.
* **The opt-out** for internal runs: ``report: {pseudonymise_ids: false}`` in the run config (the
  report runner passes it to the notebooks as their parameter ``pseudonymise_ids``, which they hand
  to :func:`clc_lib.handoff.apply_notebook_parameters`); by hand, set that parameter to False.
  The salt is the only privacy setting read from the environment: it is a secret, and parameters
  are written into the executed notebooks (see :mod:`clc_lib.handoff`).
* **Personal data** (:data:`PERSONAL_DATA_COLUMNS`): columns whose names look like names, e-mail
  addresses, phone numbers, postal addresses, birth dates or national / account numbers are dropped
  from every table shown in a report; e-mail addresses and international phone numbers inside
  other text cells are replaced by a placeholder (:data:`PERSONAL_DATA_VALUES`). The loader keeps
  such columns (``clc score`` exports may need them); they never reach the HTML.
* **Secrets**: :func:`redact` masks the password of any URL (``postgres://user:***@host``), secret
  query parameters (``?token=***``) and any value given to it (the runner passes the values of the
  environment variables a run config refers to as ``${NAME}``).
* **Local paths**: :func:`scrub_local_paths` replaces absolute folder prefixes (project, config
  folder, home) by relative forms.
* **Examples in error messages**: a clc error lists examples of the rows it refuses
  (``e.g.     row 12: 'c-0042'``, see :class:`clc_lib.errors.DataError`); before such a message is
  published, :func:`pseudonymise_examples` replaces the examples that are customer or person ids
  by their pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clc_lib.config import ENV_REFERENCE
from clc_lib.errors import ConfigError

if TYPE_CHECKING:  # pandas is imported where frames are handled: `clc` error messages stay quick
    import pandas as pd

__all__ = [
    "SALT_ENV_VAR",
    "IDENTIFIER_COLUMNS",
    "PERSONAL_DATA_COLUMNS",
    "PERSONAL_DATA_VALUES",
    "id_salt",
    "pseudonymise_ids_enabled",
    "pseudonymise_id",
    "personal_data_columns",
    "protect_frame",
    "mask_personal_values",
    "redact",
    "config_secret_values",
    "scrub_local_paths",
    "example_values",
    "pseudonymise_examples",
]

SALT_ENV_VAR = "CLC_ID_SALT"
SALT_FILE_NAME = "id_salt"  # under data/processed/
MIN_SALT_CHARS = 16
# 12 hex digits = 48 bits: among a million customers, two share a pseudonym with probability ~0.2%.
PSEUDONYM_HEX_CHARS = 12

#: Identifier column (or index level) -> prefix of its pseudonyms.
IDENTIFIER_COLUMNS: dict[str, str] = {"customer_id": "C", "person_id": "P"}

#: Kind of personal data -> pattern on the column name (lower case, every non-alphanumeric run as "_").
PERSONAL_DATA_COLUMNS: dict[str, str] = {
    "name": r"^((first|last|full|given|family|middle|maiden|sur|fore|nick|customer|contact|person|user|"
            r"account|display|billing|shipping)_?)?name$|^(vorname|nachname|nom|prenom)$",
    "e-mail address": r"(^|_)e_?mail",
    "phone number": r"phone|mobile|(^|_)(tel|telephone|telefon|cell|fax|msisdn)(_|$)",
    "postal address": r"address|street|(^|_)addr(_|$)|post_?code|postal|(^|_)zip(_?code)?(_|$)|house_?n",
    "birth date": r"birth|(^|_)dob(_|$)",
    "national or account number": r"(^|_)(ssn|iban|bic|passport|tax_?id|national_?id|social_security|"
                                  r"credit_?card|card_?number)(_|$)",
}

#: Kind of personal data found inside text -> (pattern, replacement shown instead).
PERSONAL_DATA_VALUES: dict[str, tuple[str, str]] = {
    "e-mail address": (r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "[e-mail removed]"),
    # International format only ("+49 170 1234567"): dates and order numbers never start with "+".
    "phone number": (r"\+\d[\d ()./-]{5,}\d", "[phone number removed]"),
}

_MASK = "***"
# scheme://user:password@host  ->  scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<secret>[^\s@/'\"]+)(?=@)")
_SECRET_QUERY = re.compile(
    r"(?P<head>[?&;](?:password|passwd|pwd|pass|token|access_token|api_key|apikey|secret|client_secret|"
    r"sig|signature|key)=)(?P<secret>[^&\s'\"#]+)", re.IGNORECASE)
SHARED_FOLDERS = ("/", "/tmp", "/var", "/usr", "/home", "/srv", "/opt", "/mnt", "/media", "/etc", "/run")
MIN_SECRET_CHARS = 6  # shorter values are not masked by value (they would mask ordinary text)
# Embedded images (base64) are left alone: a path or secret "found" inside one is chance, and
# changing it would break the image.
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}")


def _outside_blobs(text: str, transform) -> str:
    """Apply ``transform`` to the parts of ``text`` between base64 blobs."""
    parts: list[str] = []
    last = 0
    for blob in _BASE64_BLOB.finditer(text):
        parts += [transform(text[last:blob.start()]), blob.group()]
        last = blob.end()
    parts.append(transform(text[last:]))
    return "".join(parts)


# --- the salt and the pseudonyms ------------------------------------------------------------------

def _salt_file() -> Path:
    from clc_lib.paths import processed_dir

    return processed_dir() / SALT_FILE_NAME


def id_salt(*, create: bool = True) -> tuple[bytes, str]:
    """The salt of the pseudonyms and where it came from.

    Parameters
    ----------
    create
        Create the per-installation salt file when ``CLC_ID_SALT`` is not set and the file does
        not exist yet (default). With False, a missing salt is a :class:`ConfigError`.

    Returns
    -------
    tuple of (bytes, str)
        The salt and its source: ``"CLC_ID_SALT"`` or ``"data/processed/id_salt"``. The salt itself
        is never printed or logged.

    Raises
    ------
    ConfigError
        ``CLC_ID_SALT`` is shorter than :data:`MIN_SALT_CHARS` characters, or there is no salt and
        ``create`` is False.
    """
    from_env = os.environ.get(SALT_ENV_VAR)
    if from_env is not None and from_env != "":
        if len(from_env) < MIN_SALT_CHARS:
            raise ConfigError(
                f"{SALT_ENV_VAR} has {len(from_env)} characters; give at least {MIN_SALT_CHARS} random "
                "characters, e.g. the output of: python -c \"import secrets; print(secrets.token_hex(32))\"")
        return from_env.encode("utf-8"), SALT_ENV_VAR
    path = _salt_file()
    source = f"data/processed/{SALT_FILE_NAME}"
    if not path.is_file():
        if not create:
            raise ConfigError(f"No salt for pseudonymous customer ids: set {SALT_ENV_VAR} or create {source} "
                              "by running a report once.")
        _create_salt_file(path)
    salt = path.read_text(encoding="utf-8").strip()
    if len(salt) < MIN_SALT_CHARS:
        raise ConfigError(f"The salt file {source} holds {len(salt)} characters (at least {MIN_SALT_CHARS} "
                          f"needed); delete it to have a new one created, or set {SALT_ENV_VAR}.")
    return salt.encode("utf-8"), source


def _create_salt_file(path: Path) -> None:
    """Write a random salt to ``path`` (mode 600) unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    try:
        os.link(temporary, path)  # fails if the file exists: the first writer's salt wins
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)


def pseudonymise_ids_enabled() -> bool:
    """Whether reports show pseudonyms instead of customer ids: the notebook parameter ``pseudonymise_ids``
    (see :func:`clc_lib.handoff.apply_notebook_parameters`), default yes."""
    from clc_lib.handoff import pseudonymise_ids_setting

    return pseudonymise_ids_setting()


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT and pandas' NA (each of them differs from itself, or cannot say)."""
    if value is None or isinstance(value, str):
        return value is None
    try:
        return bool(value != value)  # noqa: PLR0124 - the test for NaN
    except TypeError:
        return True


def pseudonymise_id(value: Any, *, prefix: str = "C", salt: bytes | None = None) -> Any:
    """The pseudonym of one identifier: ``prefix-`` + 12 hex digits of HMAC-SHA256(salt, id).

    The id is hashed as text (``str(value)``), so ``42`` and ``"42"`` give the same pseudonym.
    Missing values (None, NaN) stay missing. ``salt`` defaults to :func:`id_salt`.
    """
    if _is_missing(value):
        return value
    key = salt if salt is not None else id_salt()[0]
    digest = hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{prefix}-{digest[:PSEUDONYM_HEX_CHARS]}"


def _normal_name(name: Any) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def personal_data_columns(columns: Iterable[Any]) -> dict[Any, str]:
    """The columns whose names look like personal data, each with its kind (see :data:`PERSONAL_DATA_COLUMNS`).

    Identifier columns (``customer_id``, ``person_id``) are not personal data here: they are
    pseudonymised, not dropped.
    """
    found: dict[Any, str] = {}
    for column in columns:
        name = _normal_name(column)
        if name in IDENTIFIER_COLUMNS:
            continue
        for kind, pattern in PERSONAL_DATA_COLUMNS.items():
            if re.search(pattern, name):
                found[column] = kind
                break
    return found


def _pseudonymise_series(values: pd.Series | pd.Index, prefix: str, salt: bytes) -> list[Any]:
    cache: dict[Any, Any] = {}
    out = []
    for value in values:
        if value not in cache:
            cache[value] = pseudonymise_id(value, prefix=prefix, salt=salt)
        out.append(cache[value])
    return out


def protect_frame(frame: pd.DataFrame, *, pseudonymise: bool | None = None) -> pd.DataFrame:
    """A copy of ``frame`` fit for a stakeholder report.

    Personal-data columns (:func:`personal_data_columns`) are dropped; identifier columns and index
    levels (:data:`IDENTIFIER_COLUMNS`) are replaced by their pseudonyms unless ``pseudonymise`` is
    False (default: :func:`pseudonymise_ids_enabled`). Row order and every other value are kept.
    """
    import pandas as pd

    dropped = personal_data_columns(frame.columns)
    out = frame.drop(columns=list(dropped)) if dropped else frame
    index_names = [name for name in out.index.names if name is not None]
    identifiers = [c for c in out.columns if _normal_name(c) in IDENTIFIER_COLUMNS]
    identifier_levels = [n for n in index_names if _normal_name(n) in IDENTIFIER_COLUMNS]
    personal_levels = [n for n in index_names if n in personal_data_columns(index_names)]
    if personal_levels:
        out = out.reset_index(level=personal_levels, drop=True)
        identifier_levels = [n for n in identifier_levels if n not in personal_levels]
    if pseudonymise is None:
        pseudonymise = pseudonymise_ids_enabled()
    if not pseudonymise or not (identifiers or identifier_levels):
        return out if out is not frame else frame.copy()
    salt = id_salt()[0]
    out = out.copy()
    for column in identifiers:
        out[column] = _pseudonymise_series(out[column], IDENTIFIER_COLUMNS[_normal_name(column)], salt)
    if identifier_levels:
        if isinstance(out.index, pd.MultiIndex):
            levels = {name: _pseudonymise_series(out.index.get_level_values(name),
                                                 IDENTIFIER_COLUMNS[_normal_name(name)], salt)
                      for name in identifier_levels}
            arrays = [levels.get(name, out.index.get_level_values(i))
                      for i, name in enumerate(out.index.names)]
            out.index = pd.MultiIndex.from_arrays(arrays, names=out.index.names)
        else:
            name = out.index.name
            out.index = pd.Index(_pseudonymise_series(out.index, IDENTIFIER_COLUMNS[_normal_name(name)], salt),
                                 name=name)
    return out


def mask_personal_values(text: str) -> str:
    """``text`` with e-mail addresses and international phone numbers replaced by placeholders."""
    for pattern, replacement in PERSONAL_DATA_VALUES.values():
        text = re.sub(pattern, replacement, text)
    return text


# --- secrets and local paths ----------------------------------------------------------------------

def redact(text: str, secret_values: Sequence[str] = ()) -> str:
    """``text`` with credentials masked as ``***``.

    Masks the password of every URL (``scheme://user:password@host``), secret query parameters
    (``password=``, ``token=``, ``api_key=``, ``secret=``, ``key=``, ``sig=`` ...), and every
    occurrence of each of ``secret_values`` of at least :data:`MIN_SECRET_CHARS` characters.
    Embedded base64 images are left unchanged.
    """
    values = sorted({v for v in secret_values if v and len(v) >= MIN_SECRET_CHARS}, key=len, reverse=True)

    def mask(part: str) -> str:
        for value in values:
            part = part.replace(value, _MASK)
        part = _URL_PASSWORD.sub(lambda m: m.group("head") + _MASK, part)
        return _SECRET_QUERY.sub(lambda m: m.group("head") + _MASK, part)

    return _outside_blobs(text, mask)


def config_secret_values(config: str | Path | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the environment variables that a run config refers to as ``${NAME}``.

    These are the values :func:`redact` must mask in logs and pages. An unreadable config gives
    an empty list (the caller is usually reporting another error about it).
    """
    environ = os.environ if environ is None else environ
    if config is None:
        return []
    try:
        text = Path(config).expanduser().read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [environ[name] for name in dict.fromkeys(ENV_REFERENCE.findall(text)) if environ.get(name)]


def scrub_local_paths(text: str, replacements: Mapping[str | Path, str]) -> str:
    """Replace absolute folder prefixes in ``text``: ``{"/srv/clc": ""}`` turns ``/srv/clc/data/x.csv``
    into ``data/x.csv``, and the folder itself into its replacement (``.`` for an empty one).

    Longer prefixes are replaced first, so a config folder inside the project wins over the project.
    The root and shared system folders (:data:`SHARED_FOLDERS`, e.g. ``/tmp``) are never replaced,
    nor is anything inside an embedded base64 image.
    """
    ordered = sorted(((str(Path(p)), r) for p, r in replacements.items()), key=lambda item: len(item[0]),
                     reverse=True)
    rules = []
    for prefix, replacement in ordered:
        if not prefix.startswith("/") or prefix in SHARED_FOLDERS:
            continue
        folder = replacement.rstrip("/")
        rules.append((re.compile(re.escape(prefix) + "/"), f"{folder}/" if folder else ""))
        rules.append((re.compile(re.escape(prefix) + r"(?![\w\-/]|\.[\w\-/])"), folder or "."))

    def replace(part: str) -> str:
        for pattern, replacement in rules:
            part = pattern.sub(lambda _m, r=replacement: r, part)
        return part

    return _outside_blobs(text, replace)


# --- examples in error messages -------------------------------------------------------------------

#: The examples part of a clc error message (``e.g.     row 12: 'c-0042', row 40: 'c-0077'``, written
#: by :meth:`clc_lib.errors.DataError.render`), up to the end of its line. The line may be plain
#: text or inside a JSON string (an executed notebook), where it ends at an escaped newline or quote.
_EXAMPLES_LINE = re.compile(r"e\.g\. +row (?:[^\n\"\\]|\\[^n\"])*")
#: In an examples line: a row label (``row c-0042:``) or a quoted value (``'c-0042'``).
_EXAMPLE_TOKEN = re.compile(r"(?P<head>\brow )(?P<row>[^\s:,'\"]+)(?=:)|'(?P<quoted>[^'\\\n]*)'")
EXAMPLES_WITHHELD = "[examples withheld from the published run: they may hold customer ids]"


def _example_parts(token: str) -> list[str]:
    """A quoted example and its ``/``-separated parts (``'campaign-7/c-0042'`` names a customer too)."""
    parts = [token]
    if "/" in token:
        parts += [part for part in token.split("/") if part]
    return parts


def example_values(text: str) -> set[str]:
    """Every row label and quoted value in the examples lines of the error messages in ``text``."""
    found: set[str] = set()
    for line in _EXAMPLES_LINE.finditer(text):
        for token in _EXAMPLE_TOKEN.finditer(line.group()):
            if token.group("row") is not None:
                found.add(token.group("row"))
            else:
                found.update(_example_parts(token.group("quoted")))
    return found


def pseudonymise_examples(text: str, identifiers: Mapping[str, str] | None, *, salt: bytes | None = None) -> str:
    """``text`` with the identifiers among the examples of its clc error messages replaced by pseudonyms.

    Parameters
    ----------
    text
        Any text: a message, a log, an executed notebook's JSON.
    identifiers
        Which example values are identifiers: value -> pseudonym prefix (``C`` for customer ids,
        ``P`` for person ids), as found in the run's data for :func:`example_values`. None when
        that cannot be known: every examples line is then replaced by :data:`EXAMPLES_WITHHELD`.
    salt
        Default :func:`id_salt`.

    Only the examples lines are touched, so an id that is also an ordinary word or number
    elsewhere in the text stays as it is there. Row numbers that equal a numeric customer id are
    pseudonymised too: they cannot be told apart, and hiding too much is the safe side.
    """
    if "e.g." not in text:
        return text
    if identifiers is None:
        return _EXAMPLES_LINE.sub(lambda _line: "e.g.     " + EXAMPLES_WITHHELD, text)
    if not identifiers:
        return text
    key = salt if salt is not None else id_salt()[0]

    def pseudonym(value: str) -> str:
        return pseudonymise_id(value, prefix=identifiers[value], salt=key) if value in identifiers else value

    def replace_token(token: re.Match) -> str:
        if token.group("row") is not None:
            return token.group("head") + pseudonym(token.group("row"))
        quoted = token.group("quoted")
        if quoted in identifiers:
            return f"'{pseudonym(quoted)}'"
        if "/" in quoted:
            return "'" + "/".join(pseudonym(part) for part in quoted.split("/")) + "'"
        return token.group()

    return _EXAMPLES_LINE.sub(lambda line: _EXAMPLE_TOKEN.sub(replace_token, line.group()), text)
