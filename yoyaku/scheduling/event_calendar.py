"""Which calendar holds a booking's event, and so where its move, cancellation and following go.

A booking's event stays where it was written. The host's meetings connection
(``accounts.selectors.meetings_connection``) is where the *next new* event goes; a booking that has
an event records the connection that wrote it and that connection's account
(``Booking.calendar_connection``, ``Booking.calendar_account``). The connection holding the event is:

- the recorded connection, while it exists;
- else the host's meetings connection when it is the same account (same provider and address): a
  host who disconnected and connected that account again has a new row, and the event ids are still
  valid there;
- else none: the event's calendar is no longer connected (another provider or another account
  since), and nothing of it may be sent to the calendar connected now;
- for an event written before connections were recorded (neither field set): the host's meetings
  connection, as then.

Pure functions of a booking and its host's meetings connection (``event_calendar``), so pages of
many meetings look each host's connection up once and load ``calendar_connection`` with
``select_related``; ``event_connection`` looks them up for one booking.
"""

from __future__ import annotations

from dataclasses import dataclass

from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.accounts.selectors import meetings_connection
from yoyaku.scheduling.models import Booking


def calendar_account(connection: CalendarConnection) -> str:
    """The account a connection reaches, as a booking records it: "provider:address", the address
    lower-cased as connecting matches it (the same account again: ``account_email__iexact``).

    A CalDAV account is also its server and sign-in, as connecting tells one from another
    (``accounts.connections._same_account``): its address is the user's own whenever the username is
    not an address, so two servers share it, and an event's id is its URL on the server it is on.
    """
    account = f"{connection.provider}:{connection.account_email.lower()}"
    if connection.provider == Provider.CALDAV:
        account += f" {connection.username} {connection.server_url}"
    return account


@dataclass(frozen=True, slots=True)
class EventCalendar:
    """Where a booking's event is, seen against its host's meetings connection now."""

    # The connection holding the event; None when there is no event, or its calendar is not connected.
    connection: CalendarConnection | None
    # The event is on a calendar no longer connected: cancelling it has nothing to call, moving it
    # writes a new event on the meetings connection.
    gone: bool
    # The provider of the calendar the event is on (recorded, even when gone), or, without an event,
    # of the one it will be written to; "" when there is none.
    provider: str


def event_calendar(*, booking: Booking, current: CalendarConnection | None) -> EventCalendar:
    """Where ``booking``'s event is; ``current`` is its assigned host's meetings connection.

    Reads ``booking.calendar_connection``: load it with ``select_related`` to keep this free of queries.
    """
    fallback = EventCalendar(connection=None, gone=False, provider=current.provider if current else "")
    if not booking.calendar_event_id:
        return fallback  # nothing on a calendar yet: its write goes to the meetings connection
    recorded = _recorded(booking)
    if recorded is not None:
        return EventCalendar(connection=recorded, gone=False, provider=recorded.provider)
    if not booking.calendar_account:
        # Written before connections were recorded: the meetings connection, as it was then.
        return EventCalendar(connection=current, gone=False, provider=fallback.provider)
    if current is not None and calendar_account(current) == booking.calendar_account:
        return EventCalendar(connection=current, gone=False, provider=current.provider)
    provider, _sep, _account = booking.calendar_account.partition(":")
    return EventCalendar(connection=None, gone=True, provider=provider)


def _recorded(booking: Booking) -> CalendarConnection | None:
    if booking.calendar_connection_id is None:
        return None
    try:
        return booking.calendar_connection
    except CalendarConnection.DoesNotExist:  # disconnected after this booking was read
        return None


def event_calendar_of(*, booking: Booking) -> EventCalendar:
    """``event_calendar`` for one booking, its host's meetings connection looked up here."""
    return event_calendar(booking=booking, current=meetings_connection(user=booking.assigned_host))


def event_connection(*, booking: Booking) -> CalendarConnection | None:
    """The connection holding ``booking``'s event: the recorded one while it exists, else the host's
    meetings connection when it reaches the same account (or nothing was recorded); None otherwise."""
    return event_calendar_of(booking=booking).connection


def write_target(*, booking: Booking, current: CalendarConnection | None) -> CalendarConnection | None:
    """Where the booking's pending write goes: the connection holding its event, to update it there;
    else (no event, or its calendar gone) the meetings connection, to create it."""
    held = event_calendar(booking=booking, current=current)
    return held.connection if held.connection is not None else current


def shows_own_event(*, booking: Booking, host_id: int, connection: CalendarConnection) -> bool:
    """Whether the busy time of ``connection`` (the meetings connection of ``host_id``, one of the
    booking's hosts) holds the booking's own event, which must not block moving it.

    The assigned host's calendar holds it only when it is the connection holding the event; another
    host's holds the invitation's copy wherever the event is.
    """
    if not booking.calendar_event_id:
        return False
    if host_id != booking.assigned_host_id:
        return True
    held = event_calendar(booking=booking, current=connection).connection
    return held is not None and held.pk == connection.pk
