"""API key services: a revoked key stops working, and only its owner can revoke it."""

from __future__ import annotations

import pytest

from tests.factories import make_host
from yoyaku.accounts.models import ApiKey
from yoyaku.accounts.services import create_api_key, revoke_api_key, user_for_api_key

pytestmark = pytest.mark.django_db


def test_revoke_stops_the_key_once() -> None:
    host = make_host()
    raw = create_api_key(user=host, name="tool")
    key = ApiKey.objects.get(user=host)
    assert revoke_api_key(user=host, key_id=key.pk) is True
    assert user_for_api_key(raw=raw) is None
    assert revoke_api_key(user=host, key_id=key.pk) is False


def test_only_the_owner_revokes() -> None:
    owner, other = make_host("hana"), make_host("taro")
    raw = create_api_key(user=owner)
    key = ApiKey.objects.get(user=owner)
    assert revoke_api_key(user=other, key_id=key.pk) is False
    assert user_for_api_key(raw=raw) == owner
