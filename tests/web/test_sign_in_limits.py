"""Password guessing on the sign-in page: after repeated failures the username is refused for a while,
from the failing address, and from everywhere once the failures from all addresses reach a ceiling."""

from __future__ import annotations

import uuid
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.backends import ModelBackend
from django.test import Client, override_settings

from tests.factories import make_host
from yoyaku.accounts.models import User

pytestmark = pytest.mark.django_db


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


# -- every sign-in path ------------------------------------------------------------------------------


def admin_sign_in(client: Client, password: str, username: str = "chief") -> tuple[int, str, str]:
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password, "next": "/admin/"}
    )
    return response.status_code, response.content.decode(), response.get("Retry-After", "")


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user(username="chief", password="pw-chief", is_staff=True, is_superuser=True)


def test_the_admin_login_page_has_the_same_limit(staff: User) -> None:
    client = Client()
    for attempt in range(30):
        admin_sign_in(client, f"guess-{attempt}")
    with mock.patch.object(ModelBackend, "authenticate", autospec=True) as authenticate:
        status, html, retry_after = admin_sign_in(client, "pw-chief")
    authenticate.assert_not_called()
    assert status == 429  # the admin's form again, with the reason
    assert 840 < int(retry_after) <= 900
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in html
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_failures_on_the_sign_in_page_lock_the_admin_login_too(staff: User) -> None:
    client = Client()
    for attempt in range(10):
        assert sign_in(client, f"guess-{attempt}", username="chief")[0] == 200
    assert sign_in(client, "pw-chief", username="chief")[0] == 429
    assert admin_sign_in(client, "pw-chief")[0] == 429
    assert "_auth_user_id" not in client.session
    # And the other way round: failures on the admin page count for the sign-in page.
    other = Client(REMOTE_ADDR=VICTIM)
    for attempt in range(10):
        admin_sign_in(other, f"guess-{attempt}")
    assert sign_in(other, "pw-chief", username="chief")[0] == 429


def test_authenticate_itself_is_limited(host: User) -> None:
    """Any caller of django.contrib.auth.authenticate (here without a request) meets the limits."""
    from django.contrib.auth import authenticate

    for attempt in range(10):
        assert authenticate(username="hana", password=f"guess-{attempt}") is None
    assert authenticate(username="hana", password="pw-hana") is None


# -- racing attempts -----------------------------------------------------------------------------------


def race_wrong_passwords(base_url: str, *, attempts: int) -> list[int]:
    """``attempts`` wrong passwords for "hana" at once, each on its own connection."""
    import threading

    import httpx

    with httpx.Client() as first:
        first.get(f"{base_url}/accounts/login/")
        token = first.cookies["csrftoken"]
    gate = threading.Barrier(attempts)
    statuses: list[int] = []

    def attempt(number: int) -> None:
        with httpx.Client(cookies={"csrftoken": token}, timeout=60) as client:
            gate.wait()
            response = client.post(
                f"{base_url}/accounts/login/",
                data={"username": "hana", "password": f"guess-{number}", "csrfmiddlewaretoken": token},
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def count_password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    checked: list[str] = []
    original = User.check_password

    def counting(self: User, raw_password: str) -> bool:
        checked.append(raw_password)
        return original(self, raw_password)

    monkeypatch.setattr(User, "check_password", counting)
    return checked


def assert_at_most_the_limit_is_checked(live_server: Any, checked: list[str]) -> None:
    statuses = race_wrong_passwords(live_server.url, attempts=40)
    assert sorted(statuses) == [200] * 10 + [429] * 30
    assert len(checked) == 10
    # The right password after the limit is refused too, unchecked.
    import httpx

    with httpx.Client() as client:
        client.get(f"{live_server.url}/accounts/login/")
        token = client.cookies["csrftoken"]
        response = client.post(
            f"{live_server.url}/accounts/login/",
            data={"username": "hana", "password": "pw-hana", "csrfmiddlewaretoken": token},
        )
    assert response.status_code == 429
    assert len(checked) == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_wrong_passwords_get_at_most_the_limit_checked(
    live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_host("hana")
    checked = count_password_checks(monkeypatch)
    assert_at_most_the_limit_is_checked(live_server, checked)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_racing_wrong_passwords_get_at_most_the_limit_checked_on_redis(
    live_server: Any, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    import redis

    make_host("hana")
    checked = count_password_checks(monkeypatch)
    prefix = f"yoyaku-test-{uuid.uuid4().hex[:8]}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        }
    }
    try:
        with override_settings(CACHES=caches):
            assert_at_most_the_limit_is_checked(live_server, checked)
    finally:
        client = redis.Redis.from_url(redis_url)
        stored = list(client.scan_iter(match=f"{prefix}:*"))
        assert stored, "the counts were kept on Redis"
        client.delete(*stored)
        client.close()
