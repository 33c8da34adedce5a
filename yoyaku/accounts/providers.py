"""The OAuth clients and endpoints the administrator configured (settings), as adapter objects."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from yoyaku.calendars.google_oauth import GoogleEndpoints
from yoyaku.calendars.microsoft_oauth import MicrosoftApp, MicrosoftEndpoints

OAUTH_PROVIDERS = ("google", "microsoft")


def provider_configured(provider: str) -> bool:
    """Whether users may connect this provider: OAuth providers need a client id; the others need nothing."""
    if provider == "google":
        return bool(settings.YOYAKU_GOOGLE_CLIENT_ID)
    if provider == "microsoft":
        return bool(settings.YOYAKU_MICROSOFT_CLIENT_ID)
    return provider in ("exchange", "caldav")


def google_endpoints() -> GoogleEndpoints:
    return GoogleEndpoints(**settings.YOYAKU_GOOGLE_ENDPOINTS)


def google_client() -> tuple[str, str]:
    return settings.YOYAKU_GOOGLE_CLIENT_ID, settings.YOYAKU_GOOGLE_CLIENT_SECRET


def microsoft_endpoints() -> MicrosoftEndpoints:
    values = dict(settings.YOYAKU_MICROSOFT_ENDPOINTS)
    transport = values.pop("authority_transport", "") or None
    return MicrosoftEndpoints(**values, authority_transport=transport)


def default_redirect_uri(provider: str) -> str:
    """The callback URL registered with the provider; only token refreshes use it without a request."""
    path = reverse("oauth-callback", kwargs={"provider": provider})
    return settings.YOYAKU_BASE_URL.rstrip("/") + path


def microsoft_app(*, redirect_uri: str | None = None) -> MicrosoftApp:
    return MicrosoftApp(
        client_id=settings.YOYAKU_MICROSOFT_CLIENT_ID,
        client_secret=settings.YOYAKU_MICROSOFT_CLIENT_SECRET,
        redirect_uri=redirect_uri or default_redirect_uri("microsoft"),
        endpoints=microsoft_endpoints(),
    )
