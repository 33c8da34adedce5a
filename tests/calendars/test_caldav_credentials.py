"""CalDAV credentials go only to the server the user named: never to another origin, never over http
after https. Real listeners on loopback; the "other origin" is another port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.calendars.listeners import Answer, listening, loopback_certificate, not_found
from yoyaku.calendars import caldav
from yoyaku.calendars.base import CalendarAuthError, CalendarError
from yoyaku.calendars.caldav import CalDAVAdapter, connect_caldav

LOOPBACK = ["127.0.0.0/8"]
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def redirect_to(origin: str) -> Answer:
    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return 307, {"Location": origin + path}, b""

    return answer


def unauthorized(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    return 401, {"WWW-Authenticate": 'Basic realm="elsewhere"'}, b""


def test_a_redirect_to_another_origin_never_carries_the_password() -> None:
    with (
        listening(unauthorized) as elsewhere,
        listening(redirect_to(elsewhere.origin)) as server,
        pytest.raises(CalendarError) as caught,
    ):
        connect_caldav(
            url=server.origin + "/dav/",
            username="alice",
            password="alice-secret",
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    assert server.seen and all(s.headers["authorization"].startswith("Basic ") for s in server.seen)
    assert elsewhere.seen, "the redirect was followed, without credentials"
    assert all("authorization" not in s.headers for s in elsewhere.seen)
    # The user learns why, rather than that the password is wrong.
    assert not isinstance(caught.value, CalendarAuthError)
    assert "only to the server you entered" in str(caught.value)


def test_hrefs_on_another_origin_get_no_password() -> None:
    with listening(unauthorized) as elsewhere, listening(not_found) as server:
        adapter = CalDAVAdapter(
            url=server.origin + "/dav/",
            username="alice",
            password="alice-secret",
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
        with adapter, pytest.raises(CalendarError):
            # A calendar id (an href a server once gave) on another server.
            adapter.busy(
                start=START, end=START + timedelta(hours=1), calendar_ids=[elsewhere.origin + "/cal/"]
            )
    assert elsewhere.seen
    assert all("authorization" not in s.headers for s in elsewhere.seen)


def test_a_redirect_on_the_same_origin_keeps_the_credentials() -> None:
    def answer(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/old/"):
            return 301, {"Location": "/new/"}, b""
        return 404, {}, b""

    with listening(answer) as server, pytest.raises(CalendarError):
        connect_caldav(
            url=server.origin + "/old/",
            username="alice",
            password="alice-secret",
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    moved = [s for s in server.seen if s.path == "/new/"]
    assert moved and all(s.headers["authorization"].startswith("Basic ") for s in moved)


def test_https_to_http_is_refused_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    certificate = loopback_certificate()
    monkeypatch.setattr(caldav, "tls_context", lambda: certificate.client)
    with (
        listening(not_found) as plain,
        listening(redirect_to(plain.origin), tls=certificate.server) as server,
        pytest.raises(CalendarError) as caught,
    ):
        connect_caldav(
            url=f"https://localhost:{server.port}/dav/",
            username="alice",
            password="alice-secret",
            time_zone="UTC",
            allowed_networks=LOOPBACK,
        )
    assert server.seen, "the https server was reached and answered with the redirect"
    assert plain.seen == []
    assert "unencrypted" in str(caught.value)
