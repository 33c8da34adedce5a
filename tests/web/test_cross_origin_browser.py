"""A page on another origin cannot make its visitors' browsers book (headless Chromium).

The page (served by a small http.server on another port) tries the booking endpoint with fetch(): a
``text/plain`` body, which browsers send cross-origin without a preflight (a CORS "simple request"),
the same as ``no-cors``, and an ``application/json`` body, which needs a preflight. The first reaches
the server and is refused (415); the second never leaves the browser, since the preflight gets no
``Access-Control-Allow-*`` answer. No booking is stored, and the page can read nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests.factories import EVERY_DAY_9_TO_5, make_host, make_link
from yoyaku.scheduling.models import Booking

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ATTACK = """<!doctype html><meta charset="utf-8"><title>Elsewhere</title>
<script>
const PLAIN = {"Content-Type": "text/plain"};
async function attempt(name, init) {
  try {
    const response = await fetch(TARGET, init);
    return name + ": read " + response.status + " " + response.type;
  } catch (error) {
    return name + ": failed " + error.name;
  }
}
window.results = (async () => [
  await attempt("text/plain", {method: "POST", headers: PLAIN, body: BODY}),
  await attempt("no-cors", {method: "POST", mode: "no-cors", headers: PLAIN, body: BODY}),
  await attempt("form", {method: "POST", mode: "no-cors", body: new URLSearchParams({json: BODY})}),
  await attempt("json", {method: "POST", headers: {"Content-Type": "application/json"}, body: BODY}),
])();
</script>"""


@pytest.fixture(autouse=True)
def fresh_counts() -> Iterator[None]:
    cache.clear()  # the live server counts every request from the browser as one client
    yield
    cache.clear()


@pytest.fixture
def elsewhere() -> Iterator[dict[str, Any]]:
    """A site on another origin; ``page["html"]`` is what it serves at /."""
    page: dict[str, Any] = {"html": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page["html"].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    page["url"] = f"http://127.0.0.1:{server.server_address[1]}/"
    yield page
    server.shutdown()
    server.server_close()


def a_free_slot() -> str:
    tomorrow = (datetime.now(tz=UTC) + timedelta(days=2)).date()
    answer = (
        Client()
        .get(
            "/api/v1/book/intro/availability",
            {
                "start": tomorrow.isoformat(),
                "end": (tomorrow + timedelta(days=6)).isoformat(),
                "timezone": "UTC",
            },
        )
        .json()
    )
    return next(slot for day in answer["days"] for slot in day["slots"])


def test_another_origin_cannot_book_through_its_visitors_browsers(
    browser: Any, live_server: Any, elsewhere: dict[str, Any]
) -> None:
    make_link(make_host("hana", weekly=EVERY_DAY_9_TO_5))
    body = {
        "start": a_free_slot(),
        "duration": 30,
        "timezone": "UTC",
        "first_name": "Victim",
        "last_name": "Visitor",
        "email": "chosen-by-the-page@example.com",
    }
    target = f"{live_server.url}/api/v1/book/intro"
    elsewhere["html"] = ATTACK.replace("TARGET", json.dumps(target)).replace(
        "BODY", json.dumps(json.dumps(body))
    )
    assert not elsewhere["url"].startswith(live_server.url)

    context = browser.new_context()
    page = context.new_page()
    answers: list[tuple[str, str, int]] = []
    page.on("response", lambda r: answers.append((r.request.method, r.url, r.status)))
    page.goto(elsewhere["url"])
    results = page.evaluate("window.results")
    context.close()

    assert not Booking.objects.exists(), results
    # The simple requests reached the server and were refused for their media type; the page could
    # read none of the answers (no Access-Control-Allow-Origin) and the JSON POST was never sent.
    reached = [a for a in answers if a[1] == target]
    assert reached and set(reached) == {("POST", target, 415)}, answers
    assert results == [
        "text/plain: failed TypeError",
        "no-cors: read 0 opaque",
        "form: read 0 opaque",
        "json: failed TypeError",
    ]
    # The same body as JSON from the booking page's own origin books: the refusal was the origin's.
    same_origin = Client().post("/api/v1/book/intro", body, content_type="application/json")
    assert same_origin.status_code == 201, same_origin.content
