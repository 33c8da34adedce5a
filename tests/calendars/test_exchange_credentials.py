"""Exchange credentials go only to the EWS address they were meant for: no redirect is followed with
them, and autodiscover may not step down from https to http. Real listeners on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.calendars.listeners import listening, loopback_certificate, not_found
from yoyaku.calendars import exchange
from yoyaku.calendars.base import CalendarError
from yoyaku.calendars.exchange import ExchangeAdapter, ExchangeConnectError, discover_ews_url

LOOPBACK = ["127.0.0.0/8"]
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_ews_never_follows_a_redirect_with_the_password() -> None:
    with listening(not_found) as elsewhere:

        def moved(method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            if "authorization" not in headers:
                return 401, {"WWW-Authenticate": 'Basic realm="ews"'}, b""
            return 302, {"Location": elsewhere.origin + path}, b""

        with listening(moved) as server:
            adapter = ExchangeAdapter(
                email="alice@example.com",
                password="s3cret",
                ews_url=server.origin + "/EWS/Exchange.asmx",
                time_zone="UTC",
                allowed_networks=LOOPBACK,
                auth_type="basic",
                server_version="15.1.2507.6",
                timeout=5,
                fail_fast=True,
            )
            with pytest.raises(CalendarError):
                adapter.busy(start=START, end=START + timedelta(hours=1))
            adapter.close()
    assert any(s.headers.get("authorization", "").startswith("Basic ") for s in server.seen)
    assert elsewhere.seen == []


def autodiscover_answer(ews_url: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
        '<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">'
        f"<Account><Protocol><Type>EXPR</Type><EwsUrl>{ews_url}</EwsUrl></Protocol></Account>"
        "</Response></Autodiscover>"
    ).encode()


def test_autodiscover_over_https_may_not_send_the_password_to_an_http_ews_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    certificate = loopback_certificate()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(certificate.pem)
    pinned = exchange.pinned_session

    def trusting(allowed_networks: list[str]) -> requests.Session:
        session = pinned(allowed_networks)
        session.verify = str(ca_file)
        return session

    monkeypatch.setattr(exchange, "pinned_session", trusting)
    with listening(not_found) as plain:

        def autodiscover(
            method: str, path: str, headers: dict[str, str]
        ) -> tuple[int, dict[str, str], bytes]:
            if "authorization" not in headers:
                return 401, {"WWW-Authenticate": 'Basic realm="autodiscover"'}, b""
            body = autodiscover_answer(f"{plain.origin}/EWS/Exchange.asmx")
            return 200, {"Content-Type": "text/xml"}, body

        with (
            listening(autodiscover, tls=certificate.server) as server,
            pytest.raises(ExchangeConnectError) as caught,
        ):
            discover_ews_url(
                email="alice@example.com",
                password="s3cret",
                allowed_networks=LOOPBACK,
                autodiscover_urls=[f"https://localhost:{server.port}/autodiscover/autodiscover.xml"],
            )
    assert server.seen, "autodiscover was asked over https"
    assert "unencrypted" in str(caught.value)
    assert plain.seen == []
