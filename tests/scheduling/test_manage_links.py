"""Manage links in the mails and the calendar event, and the slots a booker may move a meeting to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core import mail

from tests.factories import make_host, make_link, send_queued_mail
from yoyaku.accounts.models import CalendarConnection, Provider
from yoyaku.scheduling.calendar_writes import booking_event_draft
from yoyaku.scheduling.manage_links import manage_token
from yoyaku.scheduling.models import Booking, BookingStatus, LinkKind
from yoyaku.scheduling.notifications import send_invitation
from yoyaku.scheduling.selectors import available_slots

pytestmark = pytest.mark.django_db

MORNINGS = {str(d): [[9 * 60, 12 * 60]] for d in range(7)}
AFTERNOONS = {str(d): [[13 * 60, 17 * 60]] for d in range(7)}


def test_a_round_robin_meeting_moves_only_within_its_own_hosts_times() -> None:
    early = make_host("early", time_zone="UTC", weekly=MORNINGS)
    late = make_host("late", time_zone="UTC", weekly=AFTERNOONS)
    link = make_link(early, kind=LinkKind.ROUND_ROBIN, host_usernames=["early", "late"])
    now = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
    window = {"start": now, "end": now + timedelta(days=1), "time_zone": "UTC", "duration": 30, "now": now}

    everyone = available_slots(link=link, **window)
    only_late = available_slots(link=link, only_host_id=late.pk, **window)

    hours = {slot.hour for slots in everyone.slots.values() for slot in slots}
    late_hours = {slot.hour for slots in only_late.slots.values() for slot in slots}
    assert {9, 13} <= hours
    assert late_hours == {13, 14, 15, 16}


def test_the_invitation_and_the_event_carry_the_links_in_the_bookers_language() -> None:
    host = make_host("sora", time_zone="Asia/Tokyo", email="sora@example.com")
    start = datetime(2030, 3, 1, 1, 0, tzinfo=UTC)
    booking = Booking.objects.create(
        link=make_link(host),
        status=BookingStatus.CONFIRMED,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="Hanako",
        last_name="Yamada",
        email="hanako@example.com",
        assigned_host=host,
        language="ja",
    )
    token = manage_token(booking=booking)
    draft = booking_event_draft(booking=booking)
    base = settings.YOYAKU_BASE_URL.rstrip("/")
    assert f"日時の変更: {base}/manage/{token}/reschedule/" in draft.description

    send_invitation(booking=booking, draft=draft)

    send_queued_mail()
    [message] = mail.outbox
    assert "日時の変更:" in message.body and f"/manage/{token}/reschedule/" in message.body
    assert "キャンセル:" in message.body and f"/manage/{token}/cancel/" in message.body


def test_an_exchange_event_says_why_it_has_no_links() -> None:
    host = make_host("ken", time_zone="Asia/Tokyo", email="ken@example.com")
    connection = CalendarConnection(user=host, provider=Provider.EXCHANGE, account_email=host.email)
    connection.secret = "not used"
    connection.save()
    start = datetime(2030, 3, 1, 1, 0, tzinfo=UTC)
    booking = Booking.objects.create(
        link=make_link(host),
        status=BookingStatus.CONFIRMED,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="Aiko",
        last_name="Sato",
        email="aiko@example.com",
        assigned_host=host,
    )
    # Exchange sends its own invitation with this description: it tells the booker what to do.
    description = booking_event_draft(booking=booking).description
    assert "/manage/" not in description
    assert "reply to the invitation or write to the host" in description
