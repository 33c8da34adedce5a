"""Settings > API keys: create (shown once), list by prefix, revoke."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from tests.factories import make_host
from tests.web.html import element, elements
from yoyaku.accounts.models import ApiKey, User
from yoyaku.accounts.services import create_api_key, user_for_api_key

pytestmark = pytest.mark.django_db


def test_a_new_key_is_shown_once_and_then_only_its_prefix(host: User, client_in: Client) -> None:
    first = client_in.post("/settings/api-keys/", {"name": "CRM sync"})

    # The key is in the answer to the POST itself, never carried to a later page.
    assert first.status_code == 200
    key = ApiKey.objects.get(user=host)
    assert first["Cache-Control"] == "no-store"
    raw = element(first.content.decode(), "input", id="new-key-value")["value"]
    assert raw.startswith(key.prefix)
    assert user_for_api_key(raw=raw) == host
    assert "CRM sync" in first.content.decode()

    again = client_in.get("/settings/api-keys/").content.decode()
    assert raw not in again
    assert not elements(again, "input", id="new-key-value")
    assert f"{key.prefix}…" in again


def test_the_session_store_never_holds_a_new_key(host: User, client_in: Client) -> None:
    response = client_in.post("/settings/api-keys/", {"name": "CRM sync"})
    raw = element(response.content.decode(), "input", id="new-key-value")["value"]
    client_in.get("/settings/api-keys/")

    stored = list(Session.objects.all())
    assert stored, "the signed-in client has a session row"
    for session in stored:
        assert raw not in session.session_data
        assert raw not in repr(session.get_decoded())


def test_a_key_needs_a_name(client_in: Client) -> None:
    html = client_in.post("/settings/api-keys/", {"name": ""}).content.decode()
    assert "This field is required." in html
    assert not ApiKey.objects.exists()


def test_revoking_a_key_stops_it_and_removes_it_from_the_list(host: User, client_in: Client) -> None:
    raw = create_api_key(user=host, name="old tool")
    key = ApiKey.objects.get(user=host)
    assert "old tool" in client_in.get("/settings/api-keys/").content.decode()

    response = client_in.post(f"/settings/api-keys/{key.pk}/revoke/")

    assert response["Location"] == "/settings/api-keys/"
    assert user_for_api_key(raw=raw) is None
    html = client_in.get("/settings/api-keys/").content.decode()
    assert "The key is revoked." in html
    assert "old tool" not in html


def test_another_users_key_cannot_be_revoked(client_in: Client) -> None:
    other = make_host("taro")
    raw = create_api_key(user=other, name="taro's key")
    key = ApiKey.objects.get(user=other)
    client_in.post(f"/settings/api-keys/{key.pk}/revoke/")
    assert user_for_api_key(raw=raw) == other
    assert "taro's key" not in client_in.get("/settings/api-keys/").content.decode()


def test_key_forms_need_the_csrf_token(host: User) -> None:
    create_api_key(user=host, name="kept")
    key = ApiKey.objects.get(user=host)
    client = Client(enforce_csrf_checks=True)
    client.force_login(host)
    assert client.post("/settings/api-keys/", {"name": "x"}).status_code == 403
    assert client.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 403
    assert ApiKey.objects.filter(user=host, revoked=False).count() == 1
