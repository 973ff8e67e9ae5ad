"""Babel extraction of the report notebooks' text (``babel.cfg`` names it for ``notebooks/*.ipynb``).

A markdown cell becomes one message: its whole source is the ``msgid`` and
``"<notebook stem>:<cell id>"`` its ``msgctxt``, so that two cells with the same text can be
translated apart and an edited cell shows up as a new message. :func:`clc_lib.rendering.translate_markdown`
looks the cells up the same way when it renders a page. Code cells are read as Python: their
``_("...")``, ``clc._("...")``, ``pgettext(...)`` and ``ngettext(...)`` calls are extracted as in a
module. The notebooks stay in English; the reported line number of a message is its cell's number
(1 = the first cell).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import PurePath
from typing import IO, Any

__all__ = ["cell_context", "extract_notebook"]


def cell_context(notebook_stem: str, cell_id: str) -> str:
    """The ``msgctxt`` of a markdown cell: ``"01_segmentation:01-03"``."""
    return f"{notebook_stem}:{cell_id}"


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def extract_notebook(fileobj: IO[bytes], keywords: Mapping[str, Any] | Collection[str],
                     comment_tags: Collection[str], options: Mapping[str, Any]) -> Iterator[tuple]:
    """Babel extraction method for Jupyter notebooks (see the module docstring).

    Yields ``(cell number, funcname, messages, comments)`` as Babel expects; markdown cells come as
    ``pgettext`` calls so that Babel records their context.
    """
    from babel.messages.extract import extract_python

    notebook = json.loads(fileobj.read().decode("utf-8"))
    name = getattr(fileobj, "name", None) or options.get("notebook_stem", "notebook")
    stem = PurePath(str(name)).stem
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        source = _source(cell)
        if not source.strip():
            continue
        if cell.get("cell_type") == "markdown":
            cell_id = cell.get("id")
            if not cell_id:
                continue  # without an id the cell has no stable key; it stays English
            yield (number, "pgettext", (cell_context(stem, cell_id), source),
                   [f"Markdown cell {cell_id} of {stem}; keep the Markdown marks (#, *, `, links)."])
        elif cell.get("cell_type") == "code":
            runnable = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                                 for line in source.splitlines())
            for _lineno, funcname, messages, comments in extract_python(
                    io.BytesIO(runnable.encode("utf-8")), keywords, comment_tags, {"encoding": "utf-8"}):
                yield number, funcname, messages, comments


# --- keeping the catalogs in step ---------------------------------------------------------------

def extract_messages(root: str | PurePath | None = None) -> dict[tuple[str | None, str], str]:
    """The messages ``babel.cfg`` names, freshly extracted from the project at ``root``.

    Returns ``{(msgctxt or None, msgid): "file:line"}`` (plural messages keyed by their singular).
    """
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    from clc_lib.paths import project_root

    folder = PurePath(root) if root is not None else project_root()
    with open(PurePath(folder, "babel.cfg"), encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found: dict[tuple[str | None, str], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(folder), method_map, options_map, keywords=keywords,
            directory_filter=lambda path: not PurePath(path).name.startswith((".", "_"))
            and PurePath(path).name not in ("data", "reports")):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault((context, msgid), f"{filename}:{lineno}")
    return found


#: The placeholders the project's text uses: ``{name}`` (``str.format``, Python) and ``%(name)s``
#: (the index template's gettext). A lone ``%`` is text ("% of cohort"), not a placeholder.
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_.]*\}|%\([A-Za-z_][A-Za-z0-9_]*\)[sd]")


def placeholders(text: str) -> list[str]:
    """The placeholders of a message, sorted: ``"{count} of %(total)s"`` -> ``["%(total)s", "{count}"]``."""
    return sorted(_PLACEHOLDER.findall(text))


def _last(text: str | tuple[str, ...]) -> str:
    return text[-1] if isinstance(text, tuple) else text


def catalog_problems(root: str | PurePath | None = None) -> dict[str, dict[str, list[str]]]:
    """For each Chinese catalog, what keeps it from being complete.

    Returns ``{language: {"missing": [...], "untranslated": [...], "fuzzy": [...], "placeholders":
    [...]}}`` with each message shown as ``context | first line of msgid``: ``missing`` are messages
    of the project (fresh extraction, :func:`extract_messages`) that the catalog lacks (run
    ``make i18n-update``), ``untranslated`` have an empty translation, ``fuzzy`` are marked fuzzy
    (guessed by the update, to be checked by a translator), ``placeholders`` have a translation
    whose placeholders (:func:`placeholders`) differ from the English. An empty list everywhere
    means the catalogs are in step.
    """
    from babel.messages.pofile import read_po

    from clc_lib.i18n import CATALOG_FOLDERS, DOMAIN, LOCALE_DIR

    current = extract_messages(root)
    locale_dir = PurePath(root, "clc_lib", "locale") if root is not None else LOCALE_DIR
    problems: dict[str, dict[str, list[str]]] = {}
    for tag, folder in CATALOG_FOLDERS.items():
        with open(PurePath(locale_dir, folder, "LC_MESSAGES", f"{DOMAIN}.po"), "rb") as handle:
            messages = read_po(handle, domain=DOMAIN)
        listed = {(message.context, message.id[0] if isinstance(message.id, tuple) else message.id): message
                  for message in messages if message.id}
        def show(key: tuple[str | None, str]) -> str:
            context, msgid = key
            first = msgid.strip().splitlines()[0] if msgid.strip() else msgid
            return f"{context + ' | ' if context else ''}{first[:80]}"
        untranslated = [key for key, message in listed.items()
                        if not (all(message.string) if isinstance(message.string, tuple) else message.string)]
        problems[tag] = {
            "missing": [show(key) for key in current if key not in listed],
            "untranslated": [show(key) for key in untranslated],
            "fuzzy": [show(key) for key, message in listed.items() if message.fuzzy],
            # a plural message is checked against its plural form (Chinese has only that one)
            "placeholders": [show(key) for key, message in listed.items() if key not in untranslated
                             and any(placeholders(text) != placeholders(_last(message.id))
                                     for text in (message.string if isinstance(message.string, tuple)
                                                  else (message.string,)))],
        }
    return problems


def compile_catalogs() -> list[PurePath]:
    """Compile both Chinese catalogs to ``.mo`` beside their ``.po``, as the library does when it
    first needs them (:func:`clc_lib.i18n.compile_catalog`); returns the files written."""
    from pathlib import Path

    from clc_lib.i18n import CATALOG_FOLDERS, DOMAIN, LOCALE_DIR, compile_catalog

    written = []
    for folder in CATALOG_FOLDERS.values():
        po_path = Path(LOCALE_DIR, folder, "LC_MESSAGES", f"{DOMAIN}.po")
        compile_catalog(po_path, po_path.with_suffix(".mo"))
        written.append(po_path.with_suffix(".mo"))
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m clc_lib.i18n_extract --check``: print each catalog's problems; exit 1 if any.

    ``--compile`` compiles the catalogs (:func:`compile_catalogs`).
    """
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args == ["--compile"]:
        for path in compile_catalogs():
            print(f"compiled {path}")
        return 0
    if args != ["--check"]:
        print("usage: python -m clc_lib.i18n_extract --check | --compile", file=sys.stderr)
        return 2
    failed = False
    for tag, kinds in catalog_problems().items():
        count = sum(len(items) for items in kinds.values())
        print(f"{tag}: {'complete' if not count else f'{count} messages need work'}")
        for kind, items in kinds.items():
            for item in items:
                failed = True
                print(f"  {kind}: {item}")
    if failed:
        print("Run `make i18n-extract i18n-update`, translate the messages listed (and clear the fuzzy marks), "
              "then `make i18n-check` again.")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
