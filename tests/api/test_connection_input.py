"""Malformed calendar account details are field errors (422) through the API, and form errors on the
settings page, before any server is contacted."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import api_key_for, make_host
from yoyaku.accounts.models import CalendarConnection, Seat, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    user = make_host(email="hana@example.com")
    Seat.objects.create(workspace=user.workspace, hub=Seat.Hub.SALES, tier=Seat.Tier.PROFESSIONAL, user=user)
    return user


@pytest.fixture
def api(host: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_key_for(host)}"})


@pytest.mark.parametrize(
    "url", ["http://[::1", "https://[::1]:99999/", "https://host:port/", "ftp://dav.example"]
)
def test_a_malformed_caldav_url_is_a_field_error(api: Client, url: str) -> None:
    response = api.post(
        "/api/v1/me/calendar/caldav",
        {"url": url, "username": "carol", "password": "pw"},
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    assert response.json()["errors"]["url"]
    assert not CalendarConnection.objects.exists()


@pytest.mark.parametrize("email", ["a@[x", "not-an-address", "a@b@c"])
def test_a_malformed_exchange_email_is_a_field_error(api: Client, email: str) -> None:
    response = api.post(
        "/api/v1/me/calendar/exchange", {"email": email, "password": "pw"}, content_type="application/json"
    )
    assert response.status_code == 422, response.content
    assert response.json()["errors"]["email"]


@pytest.mark.parametrize("url", ["http://[::1", "https://mail.example:0/EWS/Exchange.asmx"])
def test_a_malformed_ews_url_is_a_field_error(api: Client, url: str) -> None:
    response = api.post(
        "/api/v1/me/calendar/exchange",
        {"email": "a@example.com", "password": "pw", "ews_url": url},
        content_type="application/json",
    )
    assert response.status_code == 422, response.content
    assert response.json()["errors"]["ews_url"]


def test_the_settings_page_says_what_is_wrong_with_a_caldav_url(host: User) -> None:
    browser = Client()
    browser.force_login(host)
    response = browser.post(
        "/settings/calendar/caldav/", {"url": "http://[::1", "username": "carol", "password": "pw"}
    )
    assert response.status_code == 200
    assert "Enter a valid URL, like" in response.content.decode()
    assert not CalendarConnection.objects.exists()
