"""PDFs of a run's pages for e-mail distribution, printed by headless Chromium (``report: {pdf: true}``).

Chromium is the system browser (Debian's ``chromium`` package), driven by Playwright for Python;
Playwright's own browser downloads are never used. The pages print with the print stylesheet of
``templates/report.css``: A4, no navigation, charts, tables and cards kept whole, the appendix
opened, and a footer with "Page n of m"; :func:`print_pdfs` adds the run's label to the footer.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from clc_lib.errors import ClcError, ConfigError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file:", "data:", "about:")
INSTALL_ADVICE = ("install the Chromium browser (Debian/Ubuntu: `apt-get install -y chromium`) and the Python "
                  "package Playwright (`pip install 'clc[pdf]'` or `pip install playwright`; its own browser "
                  "download is not needed), or set `report: {pdf: false}` in the run config")
PAGE_SECONDS = 60

# Links to the run's other files would print as absolute file:// links to this machine's folders,
# dead once the PDF is e-mailed; links within the page (to the appendix) keep working.
_UNLINK_OTHER_FILES = """() => {
  for (const link of document.querySelectorAll('a[href]')) {
    const target = new URL(link.href, document.baseURI);
    const samePage = target.protocol === location.protocol && target.pathname === location.pathname;
    if (!(samePage && target.hash)) link.removeAttribute('href');
  }
  document.querySelectorAll('details').forEach(section => { section.open = true; });
}"""


class PdfPrintError(ClcError):
    """Chromium could not print a report page to PDF; the run is not published."""


def chromium_executable() -> str:
    """The path of the system Chromium.

    Raises
    ------
    ConfigError
        No ``chromium``, ``chromium-browser`` or ``google-chrome`` on the PATH; the message names
        what to install.
    """
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ConfigError(f"report.pdf is true, but no Chromium browser was found on the PATH to print the PDFs "
                      f"(looked for {', '.join(CHROMIUM_NAMES)}): {INSTALL_ADVICE}.")


def check_pdf_printing() -> str:
    """Check, before a run starts, that PDFs can be printed: Chromium and Playwright are installed.

    Returns
    -------
    str
        The path of the Chromium executable.

    Raises
    ------
    ConfigError
        Chromium or the Python package ``playwright`` is missing; the message names what to install.
    """
    executable = chromium_executable()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise ConfigError(f"report.pdf is true, but the Python package playwright is missing: "
                          f"{INSTALL_ADVICE}.") from None
    return executable


def css_string(text: str) -> str:
    """``text`` as a double-quoted CSS string; every character but letters, digits and ``,.:_-`` and
    spaces is written as a hexadecimal escape, so no text can end the string or the rule."""
    safe = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.:_-")
    return '"' + "".join(char if char in safe else f"\\{ord(char):x} " for char in text) + '"'


def footer_css(label: str) -> str:
    """The print rule that puts ``label`` (the run) at the bottom left of every printed page."""
    return f"@page {{ @bottom-left {{ content: {css_string(label)}; }} }}"


def print_pdfs(pages: Iterable[Path], footer_label: str, executable: str | None = None) -> list[Path]:
    """Print each HTML page to a PDF beside it (``01_segmentation.html`` -> ``01_segmentation.pdf``).

    Parameters
    ----------
    pages
        The HTML pages to print (the run's report pages and its index).
    footer_label
        The run as the footer of every printed page names it, e.g. ``demo, run 20261204-101500_2024-12-31``;
        the stylesheet adds "Page n of m".
    executable
        The Chromium to use; default :func:`check_pdf_printing`.

    Returns
    -------
    list of Path
        The PDFs written, in the order of ``pages``.

    Raises
    ------
    PdfPrintError
        Chromium failed to open or print a page (named in the message). A PDF is written to a
        hidden temporary name and renamed only when complete, so no half-written PDF is left.

    Notes
    -----
    Pages load from local files only: any request that would leave the machine is refused.
    Collapsed sections (the appendix) are opened, and links to other files are made plain text.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    executable = executable or check_pdf_printing()
    written: list[Path] = []
    current: Path | None = None
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(service_workers="block")
                context.set_default_timeout(PAGE_SECONDS * 1000)
                context.route("**/*", lambda route: route.continue_()
                              if route.request.url.startswith(LOCAL_SCHEMES) else route.abort())
                for current in pages:
                    written.append(_print_page(context, current, footer_label))
            finally:
                browser.close()
    except PlaywrightError as error:
        where = f" {current.name}" if current is not None else ""
        raise PdfPrintError(f"Chromium ({executable}) could not print the page{where} to PDF: "
                            f"{str(error).splitlines()[0]}") from error
    return written


def _print_page(context, html_page: Path, footer_label: str) -> Path:
    target = html_page.with_suffix(".pdf")
    temporary = target.with_name(f".{target.name}.part")
    page = context.new_page()
    try:
        page.goto(html_page.resolve().as_uri(), wait_until="load")
        page.evaluate(_UNLINK_OTHER_FILES)
        page.add_style_tag(content=footer_css(footer_label))
        page.emulate_media(media="print")
        page.pdf(path=str(temporary), format="A4", print_background=True, prefer_css_page_size=True,
                 display_header_footer=False, outline=True, tagged=True)
        temporary.replace(target)
    finally:
        page.close()
        temporary.unlink(missing_ok=True)
    return target
