"""Password guessing on the sign-in page: after repeated failures the username is refused for a while."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pytest
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.test import Client, override_settings

from yoyaku.accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def sign_in(client: Client, password: str, username: str = "hana") -> tuple[int, str, str]:
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return response.status_code, response.content.decode(), response.get("Retry-After", "")


def test_ten_failures_lock_the_username_without_checking_the_password(host: User) -> None:
    client = Client()
    for attempt in range(10):
        status, html, _ = sign_in(client, f"guess-{attempt}")
        assert status == 200 and "correct username and password" in html
    with mock.patch.object(ModelBackend, "authenticate", autospec=True) as authenticate:
        status, html, retry_after = sign_in(client, "pw-hana")
    authenticate.assert_not_called()
    assert status == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in html
    assert 840 < int(retry_after) <= 900
    assert 'value="hana"' in html and "pw-hana" not in html
    # Even the right password does not get in while locked.
    assert sign_in(client, "pw-hana")[0] == 429
    assert client.get("/dashboard/").status_code == 302
    # Other usernames are not affected.
    User.objects.create_user(username="kenji", password="pw-kenji")
    assert sign_in(Client(), "pw-kenji", username="kenji")[0] == 302


def test_nine_failures_still_let_the_right_password_in_and_success_resets_the_count(host: User) -> None:
    client = Client()
    for attempt in range(9):
        assert sign_in(client, f"guess-{attempt}")[0] == 200
    assert sign_in(client, "pw-hana")[0] == 302
    other = Client()
    for attempt in range(9):
        assert sign_in(other, f"guess-{attempt}")[0] == 200
    assert sign_in(other, "pw-hana")[0] == 302


@override_settings(YOYAKU_SIGNIN_MAX_FAILURES=2, YOYAKU_SIGNIN_WINDOW_MINUTES=1)
def test_the_message_speaks_japanese_and_counts_a_username_in_any_case(host: User) -> None:
    client = Client(headers={"accept-language": "ja"})
    sign_in(client, "wrong-1")
    sign_in(client, "wrong-2", username="HANA")
    status, html, _ = sign_in(client, "pw-hana")
    assert status == 429
    assert "サインインの失敗が多すぎます。1分後にもう一度お試しください。" in html
