"""OAuth 2.0 pieces shared by the Google and Microsoft adapters.

Authorization-code flow with PKCE (RFC 7636, S256) and a ``state`` value
checked on return (RFC 6749 §10.12) so a forged callback cannot attach someone
else's calendar to a user.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from yoyaku.calendars.base import CalendarAuthError


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    access_token: str
    refresh_token: str
    expires_at: datetime
    scope: str = ""
    account_email: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str) -> OAuthTokens:
        data = json.loads(raw)
        data["expires_at"] = datetime.fromisoformat(data["expires_at"])
        return cls(**data)

    def expired(self, *, now: datetime | None = None, margin_seconds: int = 60) -> bool:
        current = now or datetime.now(tz=UTC)
        return (self.expires_at - current).total_seconds() < margin_seconds


TokensCallback = Callable[[OAuthTokens], None]


@dataclass(frozen=True, slots=True)
class PKCEPair:
    verifier: str
    challenge: str


def new_pkce_pair() -> PKCEPair:
    verifier = secrets.token_urlsafe(64)[:96]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return PKCEPair(verifier=verifier, challenge=challenge)


def new_state() -> str:
    return secrets.token_urlsafe(32)


class OAuthError(Exception):
    """The provider refused the code or the grant (``str()`` is user-facing)."""


class GrantRevoked(OAuthError, CalendarAuthError):
    """``invalid_grant``: the refresh token was revoked or expired; reconnect needed."""
