"""Build the calendar adapter for a stored connection (one place knows every provider)."""

from __future__ import annotations

from django.conf import settings

from yoyaku.accounts import crypto
from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.calendars.base import CalendarAdapter
from yoyaku.calendars.oauth import OAuthTokens, TokensCallback


def token_saver(connection: CalendarConnection) -> TokensCallback:
    """Store refreshed OAuth tokens (encrypted) so the next adapter starts from them.

    Microsoft rotates refresh tokens on every refresh; losing the new one would
    end in a needless "reconnect" once the old one expires.
    """

    def save(tokens: OAuthTokens) -> None:
        encrypted = crypto.encrypt(tokens.to_json())
        connection.secret_encrypted = encrypted
        CalendarConnection.objects.filter(pk=connection.pk).update(secret_encrypted=encrypted)

    return save


def adapter_for(connection: CalendarConnection) -> CalendarAdapter:
    time_zone = connection.user.time_zone
    networks = settings.YOYAKU_ALLOWED_CALENDAR_NETWORKS
    if connection.provider == Provider.CALDAV:
        from yoyaku.calendars.caldav import CalDAVAdapter

        return CalDAVAdapter(
            url=connection.server_url,
            username=connection.username,
            password=connection.secret,
            time_zone=time_zone,
            owner_email=connection.account_email,
            calendar_url=connection.write_calendar_id or None,
            allowed_networks=networks,
        )
    if connection.provider == Provider.GOOGLE:
        from yoyaku.accounts.providers import google_client, google_endpoints
        from yoyaku.calendars.google import GoogleCalendarAdapter

        client_id, client_secret = google_client()
        return GoogleCalendarAdapter(
            tokens=OAuthTokens.from_json(connection.secret),
            client_id=client_id,
            client_secret=client_secret,
            endpoints=google_endpoints(),
            on_tokens=token_saver(connection),
            time_zone=time_zone,
        )
    if connection.provider == Provider.MICROSOFT:
        from yoyaku.accounts.providers import microsoft_app
        from yoyaku.calendars.base import SYNC_FUTURE, SYNC_PAST
        from yoyaku.calendars.microsoft import MicrosoftCalendar

        return MicrosoftCalendar(
            app=microsoft_app(),
            tokens=OAuthTokens.from_json(connection.secret),
            on_tokens=token_saver(connection),
            time_zone=time_zone,
            sync_past=SYNC_PAST,
            sync_future=SYNC_FUTURE,
        )
    if connection.provider == Provider.EXCHANGE:
        from yoyaku.calendars.exchange import ExchangeAdapter

        details = connection.provider_details or {}
        return ExchangeAdapter(
            email=connection.account_email,
            password=connection.secret,
            username=connection.username or None,
            ews_url=connection.server_url or None,
            time_zone=time_zone,
            allowed_networks=networks,
            auth_type=details.get("auth_type") or None,
            server_version=details.get("server_version") or None,
        )
    raise NotImplementedError(f"No adapter for provider {connection.provider!r}")
