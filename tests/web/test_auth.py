"""Sign-in and sign-out pages."""

from __future__ import annotations

import pytest
from django.test import Client

from yoyaku.accounts.models import User

pytestmark = pytest.mark.django_db


def test_host_pages_send_strangers_to_sign_in() -> None:
    for path in ("/dashboard/", "/settings/calendar/", "/settings/api-keys/"):
        response = Client().get(path)
        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={path}"


def test_home_sends_signed_in_hosts_to_the_dashboard(client_in: Client) -> None:
    assert client_in.get("/")["Location"] == "/dashboard/"
    assert Client().get("/")["Location"] == "/accounts/login/"


def test_sign_in_with_the_right_password_lands_on_the_page_asked_for(host: User) -> None:
    client = Client()
    page = client.get("/accounts/login/?next=/settings/calendar/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<label for="id_username">' in html and '<label for="id_password">' in html
    assert 'name="next" value="/settings/calendar/"' in html
    response = client.post(
        "/accounts/login/", {"username": "hana", "password": "pw-hana", "next": "/settings/calendar/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/settings/calendar/"
    assert client.get("/dashboard/").status_code == 200


def test_a_wrong_password_shows_an_error_and_keeps_the_username(host: User) -> None:
    response = Client().post("/accounts/login/", {"username": "hana", "password": "nope-wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "correct username and password" in html
    assert 'value="hana"' in html
    assert "nope-wrong" not in html


def test_sign_out_is_a_post_and_ends_the_session(client_in: Client) -> None:
    assert client_in.get("/accounts/logout/").status_code == 405
    response = client_in.post("/accounts/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    signed_out = client_in.get(response["Location"])
    assert "You have signed out." in signed_out.content.decode()
    assert client_in.get("/dashboard/").status_code == 302


def test_sign_in_needs_the_csrf_token(host: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "hana", "password": "pw-hana"})
    assert response.status_code == 403


def test_sign_in_page_speaks_japanese(host: User) -> None:
    html = Client(headers={"accept-language": "ja"}).get("/accounts/login/").content.decode()
    assert "Yoyaku にサインイン" in html
