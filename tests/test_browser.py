"""Every page of real report runs, opened in headless Chromium (Debian's ``chromium`` package).

Three runs: the small hostile demo business of tests/test_security.py (1,000 customers, with script
payloads in its data), the whole demo and the CDNOW master file, each made once per session. Each page
must load without console errors, decode every image, make no request that leaves the machine and
pass axe-core without a serious or critical violation; the index's links must resolve. Screenshots go
to ``$CLC_TEST_ARTIFACTS/browser/`` (default ``tests/artifacts/browser/``): the hostile run's full pages
at the top, the demo's and CDNOW's in ``demo/`` and ``cdnow/``, each page in full (``<page>.png``) and
its first screen at 1400×900 (``<page>-first-screen.png``).

Chromium is driven by Playwright for Python with the system browser (never ``playwright install``).
A missing browser fails the tests: CI installs it (``apt-get install -y chromium``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from test_security import hostile_report

pytestmark = pytest.mark.slow  # a demo report run and Chromium

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_SCHEMES = ("file:", "data:", "about:")


def artifacts_dir() -> Path:
    base = os.environ.get("CLC_TEST_ARTIFACTS")
    folder = (Path(base) if base else PROJECT_ROOT / "tests" / "artifacts") / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium_executable() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
    if found is None:
        pytest.fail("Chromium is not installed: run `apt-get install -y chromium` (Debian) so that the "
                    "report pages can be checked in a real browser.")
    return found


@dataclass
class Visit:
    """What one page did in the browser."""

    url: str
    text: str = ""  # the visible text, the appendix collapsed as a reader first sees it
    full_text: str = ""  # the text with every collapsed section opened
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    script_count: int = 0
    axe_violations: list[dict] = field(default_factory=list)
    body_height: int = 0  # pixels above the appendix (the whole page when it has none)


class Browser:
    def __init__(self, context) -> None:
        self.context = context

    def visit(self, path: Path, screenshot: Path | None = None, first_screen: Path | None = None) -> Visit:
        visit = Visit(url=path.resolve().as_uri())
        page = self.context.new_page()

        def on_dialog(dialog) -> None:
            visit.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(message) -> None:
            if message.type == "error":
                visit.console_errors.append(message.text)

        def on_route(route) -> None:
            url = route.request.url
            if url.startswith(LOCAL_SCHEMES):
                route.continue_()
            else:
                visit.outside_requests.append(url)
                route.abort()

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: visit.console_errors.append(f"page error: {error}"))
        page.route("**/*", on_route)
        page.goto(visit.url, wait_until="load")
        visit.images = page.evaluate("""async () => Promise.all(Array.from(document.images).map(async (img) => {
            let decoded = true;
            try { await img.decode(); } catch (error) { decoded = false; }
            return {src: img.currentSrc.slice(0, 60), decoded: decoded, width: img.naturalWidth};
        }))""")
        visit.links = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
        visit.script_count = page.evaluate("document.scripts.length")
        visit.text = page.inner_text("body")
        visit.axe_violations = axe_violations(page)
        visit.body_height = page.evaluate("""() => {
            const appendix = document.querySelector('details.clc-appendix');
            return Math.round(appendix ? appendix.getBoundingClientRect().top + window.scrollY
                                       : document.documentElement.scrollHeight);
        }""")
        if first_screen is not None:
            page.screenshot(path=str(first_screen))
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        visit.full_text = page.evaluate(
            "() => { document.querySelectorAll('details').forEach(d => d.open = true); return document.body.innerText; }")
        page.close()
        return visit


def axe_violations(page) -> list[dict]:
    """The violations axe-core (bundled with axe-playwright-python) finds on the open page."""
    try:
        from axe_playwright_python.sync_playwright import Axe
    except ImportError:
        pytest.fail("axe-playwright-python is missing: pip install axe-playwright-python (it bundles axe-core).")
    return Axe().run(page).response["violations"]


@contextlib.contextmanager
def open_browser(viewport: dict[str, int] | None = None) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, driven by Playwright (1280×900 unless ``viewport``)."""
    executable = chromium_executable()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright for Python is missing: pip install playwright (the system Chromium is used).")
    profile = tempfile.mkdtemp(prefix="clc-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS,
                viewport=viewport or {"width": 1280, "height": 900}, service_workers="block")
            try:
                yield Browser(context)
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def visits(tmp_path_factory) -> dict[str, Visit]:
    run = Path(hostile_report(tmp_path_factory.getbasetemp())["run"])
    screenshots = artifacts_dir()
    for old in screenshots.glob("*.png"):
        old.unlink()
    pages = ["index.html", *sorted(p.name for p in run.glob("*.html") if p.name != "index.html")]
    with open_browser() as browser:
        return {name: browser.visit(run / name, screenshots / f"{Path(name).stem}.png") for name in pages}


#: How a director reads the pages: a 1400×900 browser window.
READER_VIEWPORT = {"width": 1400, "height": 900}


@pytest.fixture(scope="module")
def reader_visits(demo_report_runs, cdnow_report_run) -> dict[str, dict[str, Visit]]:
    """Every page of a whole demo run and of a CDNOW run, as a reader sees them.

    Screenshots go to ``browser/demo/`` and ``browser/cdnow/`` of the test artifacts: the full page
    (``<page>.png``) and the first screen (``<page>-first-screen.png``) of each.
    """
    runs = {"demo": demo_report_runs[1].path, "cdnow": cdnow_report_run.path}
    visits = {}
    with open_browser(READER_VIEWPORT) as browser:
        for label, run in runs.items():
            screenshots = artifacts_dir() / label
            screenshots.mkdir(exist_ok=True)
            for old in screenshots.glob("*.png"):
                old.unlink()
            pages = ["index.html", *sorted(p.name for p in run.glob("*.html") if p.name != "index.html")]
            visits[label] = {name: browser.visit(run / name, screenshots / f"{Path(name).stem}.png",
                                                 screenshots / f"{Path(name).stem}-first-screen.png")
                             for name in pages}
    return visits


def test_every_report_page_was_opened(visits):
    assert list(visits) == ["index.html", "01_segmentation.html", "02_acquisition.html", "03_monetisation.html",
                            "04_retention.html", "05_recovery.html"]


def test_no_console_errors_and_no_dialogs(visits):
    for name, visit in visits.items():
        assert visit.console_errors == [], (name, visit.console_errors)
        assert visit.dialogs == [], (name, visit.dialogs)


def test_every_image_is_decoded(visits):
    for name, visit in visits.items():
        if name != "index.html":
            assert len(visit.images) >= 5, name  # the charts of each report
        for image in visit.images:
            assert image["decoded"] and image["width"] > 0, (name, image)


def test_no_request_leaves_the_machine(visits):
    for name, visit in visits.items():
        assert visit.outside_requests == [], (name, visit.outside_requests)
        assert visit.script_count == 0, name


def test_every_link_on_the_index_resolves(visits):
    links = [link for link in visits["index.html"].links if not link.startswith("about:")]
    assert len(links) >= 3 * 5  # page, notebook and log of each report
    for link in links:
        parsed = urlparse(link)
        assert parsed.scheme == "file", link
        assert Path(unquote(parsed.path)).is_file(), link
    pages = {link.rsplit("/", 1)[-1] for link in links if link.endswith(".html")}
    assert {name for name in visits if name != "index.html"} <= pages


def test_a_screenshot_of_every_page_is_saved(visits):
    for name in visits:
        shot = artifacts_dir() / f"{Path(name).stem}.png"
        assert shot.is_file() and shot.stat().st_size > 10_000, shot
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def serious_violations(visits: dict[str, Visit]) -> list[str]:
    """The serious and critical axe-core violations of some pages, one line each."""
    found = []
    for name, visit in visits.items():
        for violation in visit.axe_violations:
            if violation.get("impact") in ("serious", "critical"):
                targets = [", ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])][:5]
                found.append(f"{name}: {violation['id']} ({violation['impact']}, {len(violation.get('nodes', []))} "
                             f"elements) e.g. {targets}")
    return found


def test_no_serious_or_critical_accessibility_violations(visits):
    """axe-core on every page: headings, header cells, contrast, alt text, landmarks."""
    found = serious_violations(visits)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("run", ["demo", "cdnow"])
def test_readers_runs_every_page_screenshot_and_accessibility(reader_visits, run):
    """A whole demo run and a CDNOW run at 1400×900: every page opens cleanly, its screenshots are
    saved, and axe-core finds no serious or critical violation."""
    visits = reader_visits[run]
    assert list(visits) == ["index.html", "01_segmentation.html", "02_acquisition.html", "03_monetisation.html",
                            "04_retention.html", "05_recovery.html"]
    for name, visit in visits.items():
        assert visit.console_errors == [] and visit.dialogs == [] and visit.outside_requests == [], name
        assert all(image["decoded"] and image["width"] > 0 for image in visit.images), name
        for shot in (f"{Path(name).stem}.png", f"{Path(name).stem}-first-screen.png"):
            path = artifacts_dir() / run / shot
            assert path.is_file() and path.stat().st_size > 10_000, path
    found = serious_violations(visits)
    assert found == [], "\n".join(found)


#: A report page's body (above the collapsed appendix) should fit in about five reader screens.
BODY_SCREENS = 5.5


def test_the_body_of_every_demo_report_page_fits_in_about_five_screens(reader_visits):
    """Above the appendix, each page of the whole demo run is at most 5.5 screens of 1400×900."""
    heights = {name: visit.body_height for name, visit in reader_visits["demo"].items() if name != "index.html"}
    assert len(heights) == 5 and all(height > READER_VIEWPORT["height"] for height in heights.values()), heights
    limit = BODY_SCREENS * READER_VIEWPORT["height"]
    assert {name: height for name, height in heights.items() if height > limit} == {}, heights


def test_the_checks_catch_a_bad_page(tmp_path):
    """The harness itself: a page that runs a script, opens a dialog and loads from the network is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><p>bad</p><img src="http://203.0.113.9/pixel.png">'
                    '<img src="data:image/png;base64,AAAA"><script>alert("hi")</script></body></html>',
                    encoding="utf-8")
    with open_browser() as browser:
        visit = browser.visit(page)
    assert visit.dialogs == ["alert: hi"]
    assert visit.script_count == 1
    assert visit.outside_requests == ["http://203.0.113.9/pixel.png"]
    assert [image["decoded"] for image in visit.images] == [False, False]
    assert "image-alt" in {violation["id"] for violation in visit.axe_violations}
