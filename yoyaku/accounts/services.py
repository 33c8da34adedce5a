from __future__ import annotations

import secrets

from django.utils import timezone

from yoyaku.accounts.models import ApiKey, User

KEY_PREFIX = "yk_"


def create_api_key(*, user: User, name: str = "default") -> str:
    """Make a key and return it; only its hash is kept, so this is the one time it is seen."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    ApiKey.objects.create(user=user, name=name, prefix=raw[:10], key_hash=ApiKey.hash_key(raw))
    return raw


def user_for_api_key(*, raw: str) -> User | None:
    if not raw.startswith(KEY_PREFIX) or len(raw) > 100:
        return None
    key = ApiKey.objects.select_related("user").filter(key_hash=ApiKey.hash_key(raw), revoked=False).first()
    if key is None or not key.user.is_active:
        return None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key.user


def revoke_api_key(*, user: User, key_id: int) -> bool:
    """Stop a key from working; returns False when the user has no such live key.

    The row stays (revoked) so that an old key presented later is recognised as revoked, not unknown.
    """
    return ApiKey.objects.filter(pk=key_id, user=user, revoked=False).update(revoked=True) == 1
