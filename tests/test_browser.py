"""The built book in a real browser, with no network: every page as a reader gets it.

The book is built from a copy of the repository (``built_book`` in ``conftest.py``, the
same build as ``test_book.py``'s), served from
127.0.0.1 by ``http.server`` on a free port, and loaded page by page (the pages listed in
``_toc.yml``, then the search page) in headless Chromium: Debian's ``chromium`` package at
``/usr/bin/chromium``, driven by Playwright for Python. No browser is ever downloaded
(``playwright install`` is never run).

Every request that leaves 127.0.0.1 is blocked by the test and recorded, so the result does
not depend on the network and the book cannot quietly depend on a CDN: the only external
resource a page may ask for is the "Open in Kaggle" badge image, which the chapters
hotlink from kaggle.com because they are also opened on GitHub, Colab and Kaggle, where a
path into this book's files would not resolve. That image cannot load offline; the tests
check where it comes from and where its link goes, not its pixels. Everything served from
the book itself must load. MathJax in particular must come from the book (see
``test_math_is_typeset``).

Checked on every page: HTTP 200, no console error or uncaught exception (apart from the
short allowlist below), no failed same-origin request, every image loaded, every formula
typeset; on every chapter: the Colab and Kaggle links open this chapter's notebook on the
repository that ``_config.yml`` names. A full-page screenshot of each chapter is saved in
the test's temporary folder and its path printed (``pytest -s`` or ``-rA`` shows it).
"""

from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000  # generous: the machine's two cores are shared with the other tests
SEARCH_QUERY = "Spatial Gating Unit"

KAGGLE_BADGE = "https://kaggle.com/static/images/open-in-kaggle.svg"

# Console errors and uncaught exceptions that are not the book's fault, each with its
# reason. A message is allowed when it contains one of these strings.
HARMLESS_MESSAGES = {
    # Sphinx 7.4 (the newest Sphinx that jupyter-book 1.x allows) writes every inline
    # <script> that an extension registers after the builder started twice into each page:
    # StandaloneHTMLBuilder.prepare_writing re-adds them with filename "" instead of None,
    # so its duplicate check misses them. sphinx-thebe's one declares `const THEBE_JS_URL`;
    # the second copy throws this SyntaxError and does nothing else, the first copy has
    # already defined everything (thebe is off in this book anyway).
    "Identifier 'THEBE_JS_URL' has already been declared",
}


def require(condition: bool, reason: str) -> None:
    """Skip on a developer machine without the browser; in CI (CI=true) fail instead."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def toc_pages() -> list[str]:
    """The book's pages in reading order, as paths relative to _build/html."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))

    def files(entries):
        for entry in entries or []:
            if "file" in entry:
                yield entry["file"]
            yield from files(entry.get("sections"))

    documents = [toc["root"]]
    for part in toc.get("parts", []):
        documents += files(part.get("chapters"))
    documents += files(toc.get("chapters"))
    return [f"{document}.html" for document in documents]


PAGES = toc_pages()
CHAPTERS = [page for page in PAGES if page.startswith("notebooks/")]
SEARCH_PAGE = "search.html?q=" + SEARCH_QUERY.replace(" ", "+")


@dataclass
class Visit:
    """What one page load showed."""

    base: str
    url: str
    status: int | None = None
    final_url: str = ""
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    failed: list[str] = field(default_factory=list)  # same-origin requests that failed
    external: list[str] = field(default_factory=list)  # requests blocked by the test
    images: list[dict] = field(default_factory=list)
    math: dict = field(default_factory=dict)
    links: dict = field(default_factory=dict)
    search_results: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    cut_off: list[str] = field(default_factory=list)  # code blocks wider than their box
    recording: bool = True  # off once the page is done: closing it aborts what is in flight


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(built_book):
    """The built book's _build/html folder."""
    build, html = built_book
    assert build.returncode == 0, build.stdout[-6000:] + build.stderr[-6000:]
    return html


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT/
    errors: list[tuple[int, str]]  # (status, path) of every request answered with an error


class BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built book quietly and remembers every request it could not answer."""

    errors: list[tuple[int, str]]  # set per server, see `server`

    def send_error(self, code, message=None, explain=None):
        self.errors.append((int(code), self.path))
        super().send_error(code, message, explain)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class BookServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A page closed while a response was still being written: not an error of the book.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server(site):
    """Serve the built book on 127.0.0.1, on a port the system picks."""
    handler = type("Handler", (BookHandler,), {"errors": []})
    httpd = BookServer(("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Served(base=f"http://127.0.0.1:{httpd.server_address[1]}/", errors=handler.errors)
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "Playwright for Python is missing: pip install -r requirements-dev.txt")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=TIMEOUT_MS
        )
        yield chromium
        chromium.close()


def open_page(browser, base: str, path: str, visit: Visit):
    """A fresh context (empty storage, as for a first-time reader) with the network closed."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        color_scheme="light",
        locale="en-US",
        service_workers="block",
    )
    context.set_default_timeout(TIMEOUT_MS)

    def route(request_route):
        url = request_route.request.url
        if url.startswith(base):
            request_route.continue_()
        else:
            visit.external.append(url)
            request_route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()

    def on_console(message):
        if message.type != "error" or not visit.recording:
            return
        source = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and not source.startswith(base):
            return  # a request this test blocked: judged by test_only_expected_external_requests
        visit.errors.append(f"console: {message.text} ({source})")

    def on_page_error(error):
        if visit.recording:
            visit.errors.append(f"uncaught: {error}")

    def on_request_failed(request):
        if visit.recording and request.url.startswith(base):
            visit.failed.append(f"{request.url}: {request.failure}")

    def on_response(response):
        if visit.recording and response.status >= 400 and response.url.startswith(base):
            visit.failed.append(f"{response.url}: HTTP {response.status}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    response = page.goto(base + path, wait_until="load")
    visit.status = response.status if response else None
    return context, page


def close(context, visit: Visit) -> None:
    """Stop recording, then close the page (which aborts whatever it still loads)."""
    visit.recording = False
    context.close()


WAIT_FOR_IMAGES = """async () => {
  for (const image of document.images) image.loading = "eager";
  await Promise.all(Array.from(document.images, (image) => image.decode().catch(() => null)));
  return Array.from(document.images, (image) => ({
    src: image.currentSrc || image.src,
    complete: image.complete,
    naturalWidth: image.naturalWidth,
    alt: image.alt,
  }));
}"""

TYPESET_MATH = """async () => {
  const math = Array.from(document.querySelectorAll("span.math, div.math"));
  const mathjax = document.querySelector("script[src*='tex-'][src*='.js']");
  const loaded = !!(window.MathJax && MathJax.startup && MathJax.startup.promise);
  if (loaded) await MathJax.startup.promise;
  await document.fonts.ready;
  return {
    elements: math.length,
    typeset: math.filter((element) => element.querySelector("mjx-container")).length,
    errors: document.querySelectorAll("mjx-merror").length,
    script: mathjax ? mathjax.src : null,
    loaded: loaded,
  };
}"""

LINKS = """() => {
  const hrefs = (selector) => Array.from(document.querySelectorAll(selector), (a) => a.href);
  return {
    colab: hrefs("a[href*='colab.research.google.com']"),
    kaggle: hrefs("a[href*='kaggle.com/kernels/welcome']"),
  };
}"""


# The longest line of every code block (cell source or output) whose text is wider than the
# block: at the test's 1280-pixel viewport, the reader would have to scroll to read it.
CUT_OFF = """() => [...document.querySelectorAll("article pre")]
  .filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
  .map((pre) => pre.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a)))"""


@pytest.fixture(scope="module")
def visits(browser, server, tmp_path_factory):
    """Load every page once; record what it showed; screenshot the chapters."""
    shots = tmp_path_factory.mktemp("screenshots")
    base = server.base
    results = {}
    started = time.perf_counter()
    for path in PAGES:
        visit = results[path] = Visit(base=base, url=base + path)
        context, page = open_page(browser, base, path, visit)
        try:
            visit.images = page.evaluate(WAIT_FOR_IMAGES)
            visit.math = page.evaluate(TYPESET_MATH)
            visit.links = page.evaluate(LINKS)
            visit.cut_off = page.evaluate(CUT_OFF)
            if path in CHAPTERS:
                visit.screenshot = shots / (Path(path).stem + ".png")
                page.screenshot(path=str(visit.screenshot), full_page=True)
                print(f"screenshot of {path}: {visit.screenshot}")
        finally:
            close(context, visit)

    visit = results[SEARCH_PAGE] = Visit(base=base, url=base + SEARCH_PAGE)
    context, page = open_page(browser, base, SEARCH_PAGE, visit)
    try:
        # searchtools.js sets this heading once the search has finished.
        page.wait_for_function(
            "() => document.querySelector('#search-results h2')?.textContent === 'Search Results'"
        )
        visit.search_results = page.eval_on_selector_all(
            "#search-results ul.search li a", "(links) => links.map((a) => a.href)"
        )
    finally:
        close(context, visit)

    visit = results["index.html"] = Visit(base=base, url=base + "index.html")
    context, page = open_page(browser, base, "index.html", visit)
    try:
        page.wait_for_url("**/" + PAGES[0])
        visit.final_url = page.url
    finally:
        close(context, visit)
    print(f"loaded {len(results)} pages in {time.perf_counter() - started:.1f} s")
    return results


# ------------------------------------------------------------------------------- tests


def test_the_toc_lists_the_intro_chapters_and_appendix():
    assert PAGES[0] == "book/intro.html"
    assert CHAPTERS[:4] == [
        "notebooks/01_patches.html",
        "notebooks/02_mlp_mixer.html",
        "notebooks/03_fnet.html",
        "notebooks/04_gmlp.html",
    ]
    assert "book/bibliography.html" in PAGES and "book/reproduce_gpu.html" in PAGES


@pytest.mark.parametrize("path", [*PAGES, SEARCH_PAGE, "index.html"])
def test_page_loads_without_console_errors(visits, path):
    visit = visits[path]
    assert visit.status == 200, visit.url
    unexplained = [
        error
        for error in visit.errors
        if not any(harmless in error for harmless in HARMLESS_MESSAGES)
    ]
    assert not unexplained, "\n".join(unexplained)
    assert not visit.failed, "\n".join(visit.failed)


def test_the_server_found_every_file_the_pages_asked_for(visits, server):
    """Checked on the server, so it also sees requests that the browser makes by itself."""
    # Chromium asks for /favicon.ico on its own (not a request of the page, so Playwright
    # reports nothing, and no console message) when a page declares no icon, as this book
    # does not; on GitHub Pages that request goes to the domain's root, outside the book.
    assert set(server.errors) <= {(404, "/favicon.ico")}, server.errors


@pytest.mark.parametrize("path", [*PAGES, SEARCH_PAGE, "index.html"])
def test_only_expected_external_requests(visits, path):
    """Nothing but the Kaggle badge (on chapters) is fetched from outside the book."""
    allowed = {KAGGLE_BADGE} if path in CHAPTERS else set()
    assert set(visits[path].external) <= allowed, visits[path].external


@pytest.mark.parametrize("path", PAGES)
def test_every_image_loads(visits, path):
    visit = visits[path]
    local = [image for image in visit.images if image["src"].startswith(visit.base)]
    broken = [image["src"] for image in local if image["naturalWidth"] == 0]
    assert not broken, broken
    external = {image["src"] for image in visit.images} - {image["src"] for image in local}
    # The one external image: the chapter's Kaggle badge, which cannot load offline.
    assert external <= ({KAGGLE_BADGE} if path in CHAPTERS else set()), external


@pytest.mark.parametrize("path", CHAPTERS)
def test_chapter_has_its_figures(visits, path):
    """Every chapter shows figures from its committed outputs (all loaded, see above)."""
    figures = [image for image in visits[path].images if "/_images/" in image["src"]]
    assert len(figures) >= 2, [image["src"] for image in visits[path].images]


@pytest.mark.parametrize("path", PAGES)
def test_no_code_block_is_cut_off_at_1280_pixels(visits, path):
    """Every line of code and of printed output fits its block at the viewport's 1280
    pixels (the stored-output tests hold the lines to 88 characters; the book's CSS makes
    88 characters fit): the longest line of each block that would need scrolling."""
    assert not visits[path].cut_off, visits[path].cut_off


@pytest.mark.parametrize("path", PAGES)
def test_math_is_typeset(visits, path):
    """MathJax, served by the book itself, typesets every formula without a TeX error.

    The book bundles MathJax (the sphinx-mathjax-offline extension, see _config.yml), so
    that formulas render on a machine without network access and no reader's browser has
    to fetch a script from a CDN.
    """
    math = visits[path].math
    if not math["elements"]:
        return
    assert math["script"] and math["script"].startswith(visits[path].base), (
        f"MathJax is loaded from {math['script']}, not from the book"
    )
    assert math["loaded"], "MathJax did not start"
    assert math["typeset"] == math["elements"], math
    assert math["errors"] == 0, math


def test_math_appears_in_the_chapters(visits):
    """Guards test_math_is_typeset against passing with nothing to check."""
    typeset = {path: visits[path].math["typeset"] for path in CHAPTERS}
    assert any(typeset.values()), typeset


@pytest.mark.parametrize("path", CHAPTERS)
def test_launch_links_open_this_chapter_from_the_configured_repository(visits, path, repository):
    notebook = path.removesuffix(".html") + ".ipynb"
    links = visits[path].links
    assert set(links["colab"]) == {repository.colab_url(notebook)}
    assert set(links["kaggle"]) == {repository.kaggle_url(notebook)}
    badges = [image for image in visits[path].images if image["src"] == KAGGLE_BADGE]
    assert len(badges) == 1 and badges[0]["alt"] == "Open in Kaggle"


def test_search_finds_the_spatial_gating_unit(visits):
    results = visits[SEARCH_PAGE].search_results
    assert results, f"searching for {SEARCH_QUERY!r} found nothing"
    assert any("/notebooks/04_gmlp.html" in url for url in results), results


def test_index_redirects_to_the_intro(visits):
    assert visits["index.html"].final_url.endswith("/" + PAGES[0])


def test_every_chapter_has_a_full_page_screenshot(visits):
    for path in CHAPTERS:
        shot = visits[path].screenshot
        assert shot is not None and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        width, height = (int.from_bytes(shot.read_bytes()[i : i + 4], "big") for i in (16, 20))
        assert width == 1280 and height > 900, (path, width, height)
        print(f"{path}: {shot} ({width} x {height})")
