"""The chat page in a real headless browser (Debian chromium driven by Playwright).

Skips when chromium or playwright is not installed (`make test` installs both
where it can; CI=true turns a missing browser into a failure only if
RAG_REQUIRE_BROWSER is set).
"""

import os
import shutil

import pytest

from test_server import REFUSAL, Server, claims, make_app, sana_number, stack  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "playwright is not installed"
    else:
        missing = None if CHROMIUM else "chromium is not installed"
    if missing:
        if os.environ.get("RAG_REQUIRE_BROWSER"):
            pytest.fail(missing)
        pytest.skip(missing)


def test_question_streams_and_citation_opens(stack):  # noqa: F811
    _require_browser()
    from playwright.sync_api import sync_playwright

    with Server(make_app(stack, [REFUSAL])) as base:
        n = sana_number(base)
    with Server(make_app(stack, [claims(n)])) as base, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        page = browser.new_page()
        page.goto(base + "/")
        page.fill("#q", "ماذا قال لافروف عن الرقة؟")
        page.click("#send")
        page.wait_for_selector(".evidence", timeout=60_000)  # the passages show before the answer
        assert "SANA" in page.inner_text(".evidence")
        page.wait_for_selector(".sources", timeout=60_000)
        answer = page.inner_text(".msg.bot .answer")
        assert "الرقة" in answer and f"[{n}]" in answer
        assert "SANA" in page.inner_text(".sources")
        quote = page.locator(".quote").first
        assert not quote.is_visible()
        page.locator(".sources .cite").first.click()
        assert quote.is_visible() and "الرقة" in quote.inner_text()
        assert page.locator(".msg.bot").first.get_attribute("dir") == "auto"
        browser.close()
