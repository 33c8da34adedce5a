from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from yoyaku.accounts.models import User
from yoyaku.accounts.services import user_for_api_key


class ApiKeyAuth(HttpBearer):
    """`Authorization: Bearer yk_...` with a key from Settings or `manage.py create_api_key`."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return user_for_api_key(raw=token)
