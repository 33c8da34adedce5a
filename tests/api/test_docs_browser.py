"""The API docs page works without internet: Swagger UI comes from Yoyaku's own static files."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import browser  # noqa: F401 (the shared headless Chromium fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def test_docs_render_the_operations_with_only_loopback_reachable(
    browser: Any,  # noqa: F811
    live_server: Any,
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    blocked: list[str] = []

    def loopback_only(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{live_server.url}/api/v1/docs")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Yoyaku API")
    operations = page.locator(".opblock .opblock-summary-path")
    expect(operations.first).to_be_visible()
    paths = {text.strip() for text in operations.all_inner_texts()}
    assert "/api/v1/book/{slug}" in {p.replace("\u200b", "") for p in paths}, paths
    assert blocked == [], blocked
    assert failed == [], failed
    context.close()
