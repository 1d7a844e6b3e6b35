"""The chat page in a real headless browser (Debian chromium driven by Playwright).

Skips when chromium or playwright is not installed (`make test` installs both
where it can; CI=true turns a missing browser into a failure only if
RAG_REQUIRE_BROWSER is set).
"""

import json
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


def _answer_event(url: str) -> str:
    citation = {"n": 1, "article_id": "a", "title": "T", "outlet": "SANA", "date": "2016-03-01", "url": url,
                "source_path": "a.md", "quote": "قال لافروف", "translation": None}
    answer = {"answer": "قال لافروف [1]", "abstained": False, "citations": [citation], "replaced": False}
    return "event: citations\ndata: " + json.dumps(answer, ensure_ascii=False) + "\n\nevent: done\ndata: {}\n\n"


def _browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                              "--disable-background-networking", "--no-first-run"])


def test_only_web_urls_become_links_and_a_key_is_asked_for(stack):  # noqa: F811
    """An article's URL comes from the corpus: `javascript:` must stay text (it could read the stored key)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    urls = iter(["javascript:alert(localStorage['rag-api-key'])", "https://example.org/a"])
    seen_keys = []

    def fake_ask(route):
        key = route.request.headers.get("authorization")
        seen_keys.append(key)
        if key is None:
            route.fulfill(status=401, content_type="application/json", body='{"detail": "missing or wrong bearer token"}')
        else:
            route.fulfill(status=200, content_type="text/event-stream", body=_answer_event(next(urls)))

    with Server(make_app(stack, [REFUSAL])) as base, sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page()
        page.route("**/api/ask", fake_ask)
        page.goto(base + "/")
        assert not page.locator("#keyform").is_visible()
        page.fill("#q", "ماذا قال لافروف؟")
        page.click("#send")
        page.wait_for_selector("#keyform", state="visible", timeout=10_000)
        page.fill("#key", "s3cret")
        page.click("#savekey")
        assert page.input_value("#q") == "ماذا قال لافروف؟"  # the question is kept for the retry
        page.click("#send")
        page.wait_for_selector(".sources", timeout=10_000)
        assert seen_keys[-1] == "Bearer s3cret"
        assert page.locator(".sources a.url").count() == 0  # javascript: is shown as text, not a link
        assert "javascript:alert" in page.inner_text(".sources span.url")
        page.fill("#q", "again")
        page.click("#send")
        page.wait_for_function("document.querySelectorAll('.sources').length == 2", timeout=10_000)
        link = page.locator(".sources a.url").first
        assert link.get_attribute("href") == "https://example.org/a" and link.get_attribute("rel") == "noopener noreferrer"
        browser.close()


def _translated_answer() -> str:
    citation = {"n": 1, "article_id": "a", "title": "لافروف والرقة", "outlet": "SANA", "date": "2016-02-13", "url": "https://sana.example/a",
                "source_path": "a.md", "quote": "قال لافروف إن الرقة هدف", "translation": {"text": "Lavrov said Raqqa is a target", "lang": "en", "machine": True}}
    answer = {"answer": "Lavrov said Raqqa is a target [1]", "abstained": False, "citations": [citation], "replaced": False}
    sources = {"sources": [citation], "quote": citation}
    return ("event: sources\ndata: " + json.dumps(sources, ensure_ascii=False) + "\n\n"
            "event: citations\ndata: " + json.dumps(answer, ensure_ascii=False) + "\n\nevent: done\ndata: {}\n\n")


def test_the_page_shows_the_archive_filters_translations_followed_questions_and_a_timeline(stack, tmp_path):  # noqa: F811
    """§5 of the live-archive issue, in Chromium: what the archive holds, filters beside the box, the machine
    translation under each quote, <bdi> isolation, "new since your last visit", the timeline chart; screenshots
    at a phone and a desktop width, with no sideways scrolling on the phone."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    from rag.live.alerts import AlertBook, AlertMatch

    root = stack[0]
    asked = []

    def fake_ask(route):
        asked.append(json.loads(route.request.post_data or "{}"))
        route.fulfill(status=200, content_type="text/event-stream", body=_translated_answer())

    with Server(make_app(stack, [REFUSAL])) as base, sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route("**/api/ask", fake_ask)
        page.goto(base + "/")
        page.wait_for_function("document.getElementById('stats').textContent.includes('articles')", timeout=20_000)
        stats = page.inner_text("#stats")
        assert "5 articles" in stats and "→" in stats
        assert "SANA" in page.locator("#outlet option").all_inner_texts()
        page.select_option("#outlet", "SANA")
        page.fill("#since", "2016-01-01")
        page.fill("#q", "What did Lavrov say about Raqqa?")
        page.click("#send")
        page.wait_for_selector(".sources", timeout=20_000)
        assert asked[-1]["outlet"] == "SANA" and asked[-1]["since"] == "2016-01-01"
        assert page.locator(".sources .mt").first.is_visible()  # the rendering shows without a click
        assert "Lavrov said Raqqa is a target" in page.inner_text(".sources .mt")
        assert not page.locator(".quote").first.is_visible()  # the original is a click away
        assert page.locator(".sources bdi").count() >= 3 and page.locator(".evidence bdi").count() >= 2
        page.click("text=Follow this question")
        page.wait_for_selector("button.follow:text-is('Followed')", timeout=20_000)
        book = AlertBook(root / "index")
        alert = book.all()[-1]
        assert alert.question == "What did Lavrov say about Raqqa?"
        book.store([AlertMatch(0, alert.id, "x", "لافروف: الرقة هدف", "SANA", "2016-02-14", "https://sana.example/x", "…", 0.9, "2026-01-01T00:00:00+00:00")])
        page.reload()
        badge = page.locator("#followed .new")
        badge.wait_for(timeout=20_000)
        assert badge.inner_text() == "1 new since your last visit"
        page.click("#followed .followed")
        assert "SANA" in page.inner_text("#followed .match") and page.locator("#followed .new").count() == 0
        page.reload()
        page.wait_for_selector("#followed .followed", timeout=20_000)
        page.wait_for_timeout(500)
        assert page.locator("#followed .new").count() == 0  # seen on the last visit
        page.fill("#subject", "لافروف")
        page.click("#tlgo")
        page.wait_for_selector("#chart svg rect", timeout=20_000)
        chart = page.inner_text("#chart")
        assert page.locator("#chart svg rect").count() == 2 and "Al Jazeera" in chart  # the two dated reports
        assert "3 undated, not charted" in chart and "not reported by" not in chart  # every outlet reported Lavrov
        page.screenshot(path=str(tmp_path / "desktop.png"), full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.goto(base + "/")
        phone.wait_for_function("document.getElementById('stats').textContent.includes('articles')", timeout=20_000)
        phone.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert (tmp_path / "desktop.png").stat().st_size > 10_000 and (tmp_path / "phone.png").stat().st_size > 5_000
        browser.close()
        book.remove(alert.id)
