"""PDFs of the report pages (``report: {pdf: true}``), printed by the system Chromium and read back with pypdf.

The demo run prints the segmentation page and the index (``only=["01"]`` keeps it short). Each PDF
must have a sane number of A4 pages, extractable text with the page's title and a key figure's
label, the appendix printed open, no navigation, the run and "Page n of m" in every footer, and
no link to a file of this machine. Chromium is Debian's ``chromium`` package, never ``playwright install``.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml
from test_report import SALT, fake_execute, skip_input_check, write_config, write_notebook

from clc_lib import printing, report
from clc_lib.definitions import TERMS
from clc_lib.errors import ConfigError
from clc_lib.paths import project_root
from clc_lib.report import run_report
from clc_lib.settings import ReportSettings

DEMO_DIR = project_root() / "data" / "raw" / "demo"
A4_POINTS = (595, 842)


def pdf_reader():
    try:
        from pypdf import PdfReader
    except ImportError:
        pytest.fail("pypdf is missing: pip install 'clc[test]' (it reads the PDFs of report: {pdf: true}).")
    return PdfReader


def page_texts(pdf: Path) -> list[str]:
    """The text of each page, whitespace collapsed and ligatures (the "fi" of "definitions") spelt out."""
    return [" ".join(unicodedata.normalize("NFKC", page.extract_text() or "").split())
            for page in pdf_reader()(pdf).pages]


def require_chromium() -> None:
    if not any(printing.shutil.which(name) for name in printing.CHROMIUM_NAMES):
        pytest.fail("Chromium is not installed: run `apt-get install -y chromium` (Debian) so that the "
                    "report PDFs can be printed.")


# --- settings and the check before a run ---------------------------------------------------------

def test_pdf_is_off_by_default_and_takes_only_true_or_false():
    assert ReportSettings.from_mapping(None).pdf is False
    assert ReportSettings.from_mapping({"pdf": True}).pdf is True
    with pytest.raises(ConfigError, match=r"report\.pdf is 'maybe'; write true or false \(true: also write a PDF"):
        ReportSettings.from_mapping({"pdf": "maybe"})


def test_a_missing_chromium_stops_the_run_before_any_notebook_naming_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(printing.shutil, "which", lambda _name: None)
    executed = []
    monkeypatch.setattr(report, "execute_notebook", lambda task: executed.append(task))
    config = write_config(tmp_path, "report: {pdf: true}\n")
    with pytest.raises(ConfigError, match=r"report\.pdf is true, but no Chromium browser was found") as error:
        run_report(config, out=tmp_path / "reports", echo=None)
    assert "apt-get install -y chromium" in str(error.value)
    assert "report: {pdf: false}" in str(error.value)
    assert executed == [] and not (tmp_path / "reports").exists()


def test_a_missing_playwright_is_named(monkeypatch):
    monkeypatch.setattr(printing.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # import fails
    with pytest.raises(ConfigError, match=r"the Python package playwright is missing: .*pip install"):
        printing.check_pdf_printing()


@pytest.mark.parametrize("label", ['shop "A"; } body { color: red', "a\\b\nc</style>", "ünïcode, run 1"])
def test_the_footer_label_stays_one_css_string(label):
    css = printing.footer_css(label)
    inner = css.split("content: ", 1)[1].rsplit("; } }", 1)[0]
    assert inner.startswith('"') and inner.endswith('"') and '"' not in inner[1:-1]
    assert "\n" not in inner and "<" not in inner and "}" not in inner
    decoded = re.sub(r"\\([0-9a-f]+) ", lambda m: chr(int(m.group(1), 16)), inner[1:-1])
    assert decoded == label


# --- a failed print ------------------------------------------------------------------------------

def test_a_failed_print_publishes_nothing_and_keeps_the_previous_run(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "execute_notebook", fake_execute)
    monkeypatch.setattr(report, "_check_input", skip_input_check)
    monkeypatch.setenv("CLC_ID_SALT", SALT)
    monkeypatch.setattr(report, "check_pdf_printing", lambda: "/usr/bin/chromium")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "01_good.ipynb", "Good report", "x = 1")
    config, out = write_config(tmp_path, "report: {pdf: true}\n"), tmp_path / "reports"
    printed = []

    def print_into_staging(pages, footer_label, executable):
        printed.append((pages, footer_label))
        for page in pages:
            page.with_suffix(".pdf").write_bytes(b"%PDF-1.7 stand-in")
        return [page.with_suffix(".pdf") for page in pages]

    monkeypatch.setattr(report, "print_pdfs", print_into_staging)
    first = run_report(config, out=out, as_of="2024-01-10", notebooks_dir=notebooks, echo=None)
    assert sorted(p.name for p in first.path.glob("*.pdf")) == ["01_good.pdf", "index.pdf"]
    pages, label = printed[0]
    assert [p.name for p in pages] == ["index.html", "01_good.html"]
    assert label == f"shop, run {first.run_id}, data as of 2024-01-10"
    before = sorted(p.relative_to(out) for p in out.rglob("*"))

    def broken_print(*_args, **_kwargs):
        raise printing.PdfPrintError("Chromium could not print the page 01_good.html to PDF: crashed")

    monkeypatch.setattr(report, "print_pdfs", broken_print)
    with pytest.raises(printing.PdfPrintError, match="01_good.html"):
        run_report(config, out=out, as_of="2024-01-11", notebooks_dir=notebooks, echo=None)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / "latest").resolve() == first.path.resolve()


@pytest.mark.slow
def test_chromium_failing_on_a_page_is_a_print_error_naming_it_and_leaves_no_part_file(tmp_path):
    require_chromium()
    good = tmp_path / "index.html"
    good.write_text("<!DOCTYPE html><html lang='en'><title>t</title><body><h1>Index</h1></body></html>")
    missing = tmp_path / "02_gone.html"
    with pytest.raises(printing.PdfPrintError, match=r"could not print the page 02_gone\.html to PDF"):
        printing.print_pdfs([good, missing], "shop, run 1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.html", "index.pdf"]


# --- a demo run with PDFs --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def printed_run(tmp_path_factory):
    require_chromium()
    pdf_reader()
    if not (DEMO_DIR / "run.yaml").is_file():
        from clc_lib.demo import write_demo_data

        write_demo_data(DEMO_DIR)
    folder = tmp_path_factory.mktemp("printed")
    config = yaml.safe_load((DEMO_DIR / "run.yaml").read_text(encoding="utf-8"))
    for section in config.values():
        if isinstance(section, dict) and "path" in section:
            section["path"] = str(DEMO_DIR / section["path"])
    config["report"] = {**(config.get("report") or {}), "pdf": True}
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run = run_report(path, out=folder / "reports", only=["01"], jobs=1, echo=None)
    assert run.ok, [(n.name, n.error) for n in run.notebooks if n.status != "ok"]
    return run


@pytest.mark.slow
def test_the_index_and_each_report_are_published_as_pdfs(printed_run):
    run = printed_run.path
    assert sorted(p.name for p in run.glob("*.pdf")) == ["01_segmentation.pdf", "index.pdf"]
    assert not list(run.parent.parent.rglob("*.part"))
    for pdf in run.glob("*.pdf"):
        assert pdf.read_bytes()[:5] == b"%PDF-"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["index", "01_segmentation"])
def test_each_pdf_is_a4_with_text_title_key_figure_and_numbered_footer(printed_run, name):
    pdf = printed_run.path / f"{name}.pdf"
    reader = pdf_reader()(pdf)
    texts = page_texts(pdf)
    assert 1 <= len(texts) < 40, len(texts)
    for page in reader.pages:
        assert tuple(round(float(v)) for v in page.mediabox.upper_right) == A4_POINTS
    everything = " ".join(texts)
    title = {"index": "customer lifecycle reports", "01_segmentation": "Customer segmentation"}[name]
    assert title in everything
    assert TERMS["customer"].label in everything
    run_label = f"{printed_run.config_name}, run {printed_run.run_id}, data as of"
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {len(texts)}" in text, (name, number, text[-200:])
        assert run_label in text, (name, number, text[-200:])
    assert "All reports of this run" not in everything  # no navigation on paper


@pytest.mark.slow
def test_the_report_pdf_prints_the_appendix_open(printed_run):
    html = (printed_run.path / "01_segmentation.html").read_text(encoding="utf-8")
    appendix_title = re.search(r'<h2 class="clc-appendix-title">(.*?)</h2>', html).group(1)
    texts = page_texts(printed_run.path / "01_segmentation.pdf")
    starts = [number for number, text in enumerate(texts) if appendix_title in text]
    assert starts, appendix_title
    assert "Data quality" in " ".join(texts[starts[0]:])


@pytest.mark.slow
def test_no_pdf_links_to_a_file_of_this_machine(printed_run):
    for pdf in printed_run.path.glob("*.pdf"):
        for page in pdf_reader()(pdf).pages:
            for annotation in page.get("/Annots") or []:
                action = annotation.get_object().get("/A") or {}
                uri = str(action.get("/URI", ""))
                assert not uri.startswith("file:"), (pdf.name, uri)
        assert str(printed_run.path.parent.parent) not in pdf.read_bytes().decode("latin-1")
