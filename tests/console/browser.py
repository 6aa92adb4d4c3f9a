"""Headless Chromium for the console tests: Debian's chromium driven by Playwright (no browser download).

Missing chromium or Playwright fails the tests in CI (``CI=true``) and skips them elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LAPTOP = {"width": 1280, "height": 800}
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# Every run saves a screenshot of each page under build/screenshots/ (not tracked); `make screenshots`
# runs the page tests with VAULTGATE_SCREENSHOTS=docs/screenshots to refresh the ones the docs show.
SCREENSHOTS = Path(os.environ.get("VAULTGATE_SCREENSHOTS") or Path(__file__).parents[2] / "build" / "screenshots")
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _missing(problem: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem} (CI=true: the browser tests must not be skipped; make system-packages installs it)")
    pytest.skip(problem)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def sign_in(page: Any, base: str, credential: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto(base + "/console/signin")
    page.get_by_label("Admin token or member key").fill(credential)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base + "/console/keys")


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the current page (axe injected into it)."""
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => (await axe.run(document)).violations.map(v => [v.id, v.impact, v.help])")
    return [f"{rule} ({impact}): {text}" for rule, impact, text in result if impact in ("serious", "critical")]
