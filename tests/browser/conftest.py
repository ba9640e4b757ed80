"""Browser tests: the pages in a real Chromium (Debian's ``chromium``), driven by Playwright.

Playwright's own browser download cannot work here, so the tests launch the system's
Chromium. Without it they skip on a developer's machine and fail in CI (``CI=true``), where
``.ci/run`` installs it. The app runs in uvicorn on a free loopback port for the session.

Every test fails on a console error, an uncaught exception or a Content-Security-Policy
violation, and screenshots go to one temporary folder, printed at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, sync_playwright

from webapp.server.app import create_app
from webapp.server.settings import Settings

CHROMIUM = Path(os.environ.get("CONVLENS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

# Runs before any page script (injected by the browser, not subject to the page's CSP).
_CSP_HOOK = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " blocked " + event.blockedURI);
});
"""

_screenshots: list[Path] = []


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The Chromium to drive: skip without one, except in CI, where that is a failure."""
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CONVLENS_CHROMIUM)"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_server() -> Iterator[str]:
    """The app in uvicorn on 127.0.0.1 and a free port, in a background thread."""
    with serving(create_app(Settings(skip_broken_models=True))) as base_url:
        yield base_url


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` in uvicorn on 127.0.0.1 and a free port, in a background thread, while the
    block runs (a test that reaches into the app, e.g. its photo cache, makes its own)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", ws="none", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    folder = Path(os.environ.get("CONVLENS_SCREENSHOTS") or tempfile.mkdtemp(
        prefix="convlens-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


Shoot = Callable[[Page, str], Path]


@pytest.fixture
def shoot(screenshot_dir: Path) -> Shoot:
    """``shoot(page, name)`` saves a full-page screenshot for a person to look at."""

    def save(page: Page, name: str) -> Path:
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        _screenshots.append(path)
        return path

    return save


def open_page(
    browser: Browser, base_url: str, **context_options: object
) -> tuple[Page, list[str]]:
    """A fresh page that records console errors, page errors and CSP violations."""
    context = browser.new_context(base_url=base_url, **context_options)  # type: ignore[arg-type]
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(f"console.{message.type}: {message.text}")
            if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.add_init_script(_CSP_HOOK)
    return page, problems


def assert_clean(page: Page, problems: list[str], allowed: Sequence[str] = ()) -> None:
    """No console error, no uncaught exception, no CSP violation on ``page``.

    ``allowed`` holds fragments of console errors a test expects (Chromium logs every
    answer with a status over 400, even one the page shows on purpose).
    """
    if not page.is_closed():
        with contextlib.suppress(Exception):  # a page without JavaScript cannot be asked
            problems.extend(page.evaluate("window.__cspViolations || []"))
    unexpected = [problem for problem in problems
                  if not any(fragment in problem for fragment in allowed)]
    assert unexpected == []


@pytest.fixture
def allowed_console() -> list[str]:
    """Console errors this test expects; append fragments of their text."""
    return []


@pytest.fixture
def page(browser: Browser, live_server: str, allowed_console: list[str]) -> Iterator[Page]:
    """A desktop-sized page; the test fails on any console error or CSP violation."""
    opened, problems = open_page(browser, live_server, viewport={"width": 1280, "height": 900})
    yield opened
    assert_clean(opened, problems, allowed_console)
    opened.context.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _screenshots:
        terminalreporter.write_line(
            f"browser screenshots ({len(_screenshots)}): {_screenshots[0].parent}"
        )
