"""Password guessing on the sign-in page: after repeated failures the username is refused for a while,
from the failing address, and from everywhere once the failures from all addresses reach a ceiling."""

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


ATTACKER = "203.0.113.66"
VICTIM = "198.51.100.20"
PROXY = "10.0.0.2"


def sign_in(client: Client, password: str, username: str = "hana", **meta: str) -> tuple[int, str, str]:
    response = client.post("/accounts/login/", {"username": username, "password": password}, **meta)
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


def test_failures_from_another_address_do_not_lock_the_user_out_of_their_own(host: User) -> None:
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for attempt in range(12):
        sign_in(attacker, f"guess-{attempt}")
    assert sign_in(attacker, "guess-more")[0] == 429
    # The attacker's address stays locked, even for the right password.
    with mock.patch.object(ModelBackend, "authenticate", autospec=True) as authenticate:
        assert sign_in(attacker, "pw-hana")[0] == 429
    authenticate.assert_not_called()
    victim = Client(REMOTE_ADDR=VICTIM)
    assert sign_in(victim, "typo")[0] == 200
    assert sign_in(victim, "pw-hana")[0] == 302
    assert victim.get("/dashboard/").status_code == 200
    # The victim's success clears only the victim's address.
    assert sign_in(attacker, "pw-hana")[0] == 429


@override_settings(YOYAKU_SIGNIN_MAX_FAILURES=3)
def test_success_from_one_address_leaves_another_address_count(host: User) -> None:
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for attempt in range(2):
        assert sign_in(attacker, f"guess-{attempt}")[0] == 200
    assert sign_in(Client(REMOTE_ADDR=VICTIM), "pw-hana")[0] == 302
    assert sign_in(attacker, "guess-2")[0] == 200
    assert sign_in(attacker, "guess-3")[0] == 429


@override_settings(YOYAKU_SIGNIN_MAX_FAILURES=3, YOYAKU_SIGNIN_USERNAME_MAX_FAILURES=8)
def test_guessing_spread_over_many_addresses_meets_the_username_ceiling(host: User) -> None:
    # Two failures from each of four addresses: none reaches its own limit, together they reach the ceiling.
    for index in range(4):
        client = Client(REMOTE_ADDR=f"192.0.2.{index + 1}")
        assert [sign_in(client, f"guess-{index}-{n}")[0] for n in range(2)] == [200, 200]
    fresh = Client(REMOTE_ADDR=VICTIM)
    with mock.patch.object(ModelBackend, "authenticate", autospec=True) as authenticate:
        status, html, retry_after = sign_in(fresh, "pw-hana")
    authenticate.assert_not_called()
    assert status == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in html
    assert 840 < int(retry_after) <= 900
    # Other usernames are not affected.
    User.objects.create_user(username="kenji", password="pw-kenji")
    assert sign_in(fresh, "pw-kenji", username="kenji")[0] == 302


@override_settings(YOYAKU_SIGNIN_MAX_FAILURES=2, YOYAKU_SIGNIN_USERNAME_MAX_FAILURES=100)
def test_the_address_behind_a_trusted_proxy_is_the_forwarded_one(host: User) -> None:
    with override_settings(YOYAKU_TRUSTED_PROXIES=[PROXY]):
        behind = Client(REMOTE_ADDR=PROXY)
        for attempt in range(2):
            sign_in(behind, f"guess-{attempt}", HTTP_X_FORWARDED_FOR=ATTACKER)
        assert sign_in(behind, "pw-hana", HTTP_X_FORWARDED_FOR=ATTACKER)[0] == 429
        assert sign_in(behind, "pw-hana", HTTP_X_FORWARDED_FOR=VICTIM)[0] == 302
    # From a peer that is not a trusted proxy, a forged header changes nothing: the peer is counted.
    direct = Client(REMOTE_ADDR=VICTIM)
    for attempt in range(2):
        sign_in(direct, f"guess-{attempt}", HTTP_X_FORWARDED_FOR=f"192.0.2.{attempt}")
    assert sign_in(direct, "pw-hana", HTTP_X_FORWARDED_FOR="192.0.2.99")[0] == 429
