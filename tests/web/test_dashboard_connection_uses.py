"""What the dashboard says a connected calendar does for the CRM, by provider: only what is built."""

from __future__ import annotations

import lxml.html
import pytest
from django.test import Client

from tests.factories import make_host
from yoyaku.accounts.models import CalendarConnection, Provider

pytestmark = pytest.mark.django_db


def crm_use(client: Client, *, provider: str, language: str = "en") -> str:
    host = make_host(f"hana-{provider}")
    connection = CalendarConnection(user=host, provider=provider, account_email="hana@example.com")
    if provider in (Provider.CALDAV, Provider.EXCHANGE):
        connection.server_url = "https://calendar.example.com/"
        connection.username = "hana"
    connection.secret = "secret"
    connection.save()
    host.language = language
    host.save(update_fields=["language"])
    client.force_login(host)
    client.cookies["django_language"] = language
    page = lxml.html.fromstring(client.get("/dashboard/").content)
    [item] = page.xpath(f'//*[@id="connection-{connection.pk}"]//li[@data-use="crm"]')
    return " ".join(item.text_content().split())


@pytest.mark.parametrize("provider", [Provider.GOOGLE, Provider.MICROSOFT, Provider.CALDAV])
def test_two_way_calendars_say_both_directions(client: Client, provider: str) -> None:
    said = crm_use(client, provider=provider)
    assert "meetings you create in the CRM are added to it" in said
    assert "logged in the CRM" in said


def test_exchange_says_the_crm_stays_apart(client: Client) -> None:
    said = crm_use(client, provider=Provider.EXCHANGE)
    assert said.startswith("CRM: none.")
    assert "added to it" not in said


def test_japanese(client: Client) -> None:
    assert "CRMに記録" in crm_use(client, provider=Provider.GOOGLE, language="ja")
    assert crm_use(client, provider=Provider.EXCHANGE, language="ja").startswith("CRM\uff1aなし")
