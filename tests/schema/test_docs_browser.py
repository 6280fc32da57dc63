"""The docs page in a real headless Chromium: served offline, every operation shown, "Try it out" works.

Debian's ``/usr/bin/chromium`` (``scripts/ensure-debian-packages.sh`` installs it; ``make test``
runs that script) driven by Playwright's Python package, which downloads no browser of
its own here. Every request the page makes goes through a route handler that lets only
127.0.0.1/localhost through and aborts (and records) anything else.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
def browser_page(tmp_path):
    """A fresh Chromium profile whose page may reach only this machine; yields (page, blocked)."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/ensure-debian-packages.sh "
                    "chromium:/usr/bin/chromium (make test does)")
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
            args=FLAGS, service_workers="block")

        def only_local(route) -> None:
            url = route.request.url
            if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOCAL_HOSTS:
                route.continue_()
            else:
                blocked.append(url)
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            yield page, blocked, errors
        finally:
            context.close()


def test_the_docs_page_shows_every_operation_and_tries_one_out(live, browser_page):
    page, blocked, errors = browser_page
    document = requests.get(f"{live.base_url}/openapi.json?format=json", timeout=10).json()
    expected = {(method.upper(), path, op["operationId"])
                for path, item in document["paths"].items() for method, op in item.items()}
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live.base_url}/docs/")
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {len(expected)}",
                           timeout=30000)
    shown = set()
    for block in page.locator(".opblock").all():
        shown.add((block.locator(".opblock-summary-method").inner_text().strip(),
                   block.locator(".opblock-summary-path").inner_text().strip().replace("\u200b", ""),
                   block.locator(".opblock-summary-operation-id").inner_text().strip()))
    assert shown == expected

    # "Try it out" with a pasted key, against the same origin
    page.locator("button.authorize").first.click()
    page.locator(".modal-ux input").first.fill(live.token)
    page.locator(".modal-ux .auth-btn-wrapper button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    me = page.locator("#operations-Identity-get_me")
    me.locator(".opblock-summary").first.click()
    me.locator("button.try-out__btn").click()
    me.locator("button.execute").click()
    status = me.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=15000)
    assert status.inner_text().strip() == "200"
    assert "Dunder Mifflin" in me.locator(".live-responses-table").inner_text()

    assert requested and all(urlsplit(u).hostname in LOCAL_HOSTS for u in requested
                             if urlsplit(u).scheme in ("http", "https")), requested
    assert blocked == []
    assert errors == []
