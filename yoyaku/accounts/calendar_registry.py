"""Build the calendar adapter for a stored connection (one place knows every provider)."""

from __future__ import annotations

from django.conf import settings

from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.calendars.base import CalendarAdapter


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
    raise NotImplementedError(f"No adapter for provider {connection.provider!r}")
