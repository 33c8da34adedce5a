"""The OAuth clients and endpoints the administrator configured (settings), as adapter objects."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from yoyaku.calendars.google_oauth import GOOGLE_SCOPES, GoogleEndpoints
from yoyaku.calendars.microsoft_oauth import MICROSOFT_CONSENT_SCOPES, MicrosoftApp, MicrosoftEndpoints

OAUTH_PROVIDERS = ("google", "microsoft")

# What Yoyaku does with each OAuth scope it asks for, in plain words. The Connect dialog lists exactly
# the scopes of the authorization request (``requested_scopes``), each with its line from here, so the
# disclosure cannot drift from the request: a scope without a line here fails the page, not silently.
SCOPE_PURPOSES: dict[str, Promise] = {
    "openid": gettext_lazy("Sign you in with this account, so Yoyaku knows which account you connected."),
    "email": gettext_lazy(
        "See the account's email address, to show which account is connected and to recognise you "
        "among a meeting's guests."
    ),
    "profile": gettext_lazy("See your name and account ID, to show which account is connected."),
    "offline_access": gettext_lazy(
        "Keep this access while you are away, so your busy times stay current and booked meetings reach "
        "your calendar. Disconnecting ends it."
    ),
    "User.Read": gettext_lazy(
        "Read your profile (name and email address), to show which account is connected."
    ),
    "Calendars.ReadWrite": gettext_lazy(
        "Read your calendars to know when you are busy, and add, change and cancel the meetings booked "
        "with you."
    ),
    "MailboxSettings.Read": gettext_lazy(
        "Read your mailbox's time zone, so all-day events block the right days. Nothing else of your "
        "mailbox is read."
    ),
    "https://www.googleapis.com/auth/calendar.readonly": gettext_lazy(
        "See your calendars and their events, including calendars shared with you, to know when you are "
        "busy and to let you choose which calendars count."
    ),
    "https://www.googleapis.com/auth/calendar.events": gettext_lazy(
        "Add, change and cancel events in your calendars: the meetings booked with you."
    ),
}


def requested_scopes(provider: str) -> tuple[str, ...]:
    """Every scope the provider's authorization request asks for (empty for password providers)."""
    if provider == "google":
        return GOOGLE_SCOPES
    if provider == "microsoft":
        return MICROSOFT_CONSENT_SCOPES
    return ()


def scope_disclosure(*, provider: str) -> list[tuple[str, str]]:
    """(scope, what Yoyaku does with it) for each scope the provider is asked for, in request order."""
    return [(scope, str(SCOPE_PURPOSES[scope])) for scope in requested_scopes(provider)]


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
