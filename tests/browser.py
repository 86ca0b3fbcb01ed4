"""Headless Chromium for the browser tests, driven by Playwright's sync API.

Debian's ``chromium`` package provides the browser (``.ci/run`` installs it). Without it, or
when Playwright cannot start it, the tests skip and say why. Screenshots go to
``tests/artifacts/`` (ignored by git) so that a person can look at the pages.
"""

import contextlib
import os
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def chromium(monkeypatch):
    """A launched Chromium, closed after the test; skips where it cannot run."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        pytest.skip("the playwright package is not installed")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still synchronous, one at a time.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with contextlib.ExitStack() as stack:
        try:
            playwright = stack.enter_context(sync_playwright())
            # Under Playwright's sync API the test runs in a context of its own, and the
            # database connection it opens there is not the one pytest-django closes; close it
            # while that context is still current, or the test database cannot be dropped.
            stack.callback(connections.close_all)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as error:  # any launch failure means: cannot test here
            pytest.skip(f"Chromium could not be started by Playwright: {error}")
        stack.callback(browser.close)
        yield browser


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
