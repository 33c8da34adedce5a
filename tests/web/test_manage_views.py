"""The booker's manage pages, the booking page's zone list and month bounds (server side)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import make_host, make_link
from yoyaku.accounts.models import CalendarConnection, Provider, User
from yoyaku.scheduling.manage_links import manage_token
from yoyaku.scheduling.models import Booking, BookingStatus, MeetingLink
from yoyaku.web.views import bookable_range, time_zone_aliases, time_zone_names

pytestmark = pytest.mark.django_db


def confirmed(link: MeetingLink, host: User, *, language: str = "") -> Booking:
    start = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    return Booking.objects.create(
        link=link,
        status=BookingStatus.CONFIRMED,
        start=start,
        end=start + timedelta(minutes=30),
        time_zone="Asia/Tokyo",
        first_name="Hanako",
        last_name="Yamada",
        email="hanako@example.com",
        assigned_host=host,
        language=language,
    )


def config_of(html: str) -> dict[str, object]:
    start = html.index('<script id="booking-config" type="application/json">') + len(
        '<script id="booking-config" type="application/json">'
    )
    data: dict[str, object] = json.loads(html[start : html.index("</script>", start)])
    return data


def test_the_manage_pages_speak_japanese_and_are_never_cached() -> None:
    host = make_host("sora", time_zone="Asia/Tokyo")
    booking = confirmed(make_link(host), host)
    token = manage_token(booking=booking)
    client = Client()
    client.cookies["django_language"] = "ja"

    reschedule = client.get(f"/manage/{token}/reschedule/")
    cancel = client.get(f"/manage/{token}/cancel/")

    assert reschedule.status_code == cancel.status_code == 200
    assert "新しい日時を選択" in reschedule.content.decode()
    assert "このミーティングをキャンセルしますか？" in cancel.content.decode()  # noqa: RUF001
    assert "理由(任意)" in cancel.content.decode()
    for response in (reschedule, cancel):
        assert response["Cache-Control"] == "no-store"
        assert response["Referrer-Policy"] == "no-referrer"
    config = config_of(reschedule.content.decode())
    assert config["mode"] == "reschedule" and config["durations"] == [30]
    assert config["availabilityUrl"] == f"/api/v1/manage/{token}/availability"


def test_an_exchange_meeting_page_says_why_it_cannot_be_changed() -> None:
    host = make_host("ken")
    connection = CalendarConnection(user=host, provider=Provider.EXCHANGE, account_email="ken@example.com")
    connection.secret = "not used"
    connection.save()
    booking = confirmed(make_link(host), host)

    html = Client().get(f"/manage/{manage_token(booking=booking)}/cancel/").content.decode()

    assert "This meeting can't be cancelled here" in html
    assert "Exchange calendar" in html
    assert 'id="cancel-step"' not in html


def test_a_cancelled_meetings_links_and_file_are_gone() -> None:
    host = make_host("sora")
    booking = confirmed(make_link(host), host)
    token = manage_token(booking=booking)
    Booking.objects.filter(pk=booking.pk).update(status=BookingStatus.CANCELLED)
    client = Client()
    for path in (f"/manage/{token}/reschedule/", f"/manage/{token}/cancel/", f"/manage/{token}/meeting.ics"):
        response = client.get(path)
        assert response.status_code == 404
        assert "This link no longer works" in response.content.decode()


def test_the_zone_list_has_every_populated_zone_once_by_its_current_name() -> None:
    names = time_zone_names()
    assert len(names) > 400 and len(names) == len(set(names))
    assert {"Asia/Kolkata", "Europe/Kyiv", "America/Argentina/Buenos_Aires", "Pacific/Chatham", "UTC"} <= set(
        names
    )
    assert not {"US/Eastern", "Japan", "Asia/Calcutta", "Etc/GMT+5"} & set(names)
    aliases = time_zone_aliases()
    assert aliases["Asia/Calcutta"] == "Asia/Kolkata"
    assert aliases["Europe/Kiev"] == "Europe/Kyiv"
    assert set(aliases.values()) <= set(names)


def test_the_booking_page_gets_the_zones_and_its_bookable_months() -> None:
    host = make_host("sora", time_zone="Asia/Tokyo")
    make_link(
        host, slug="fixed", fixed_start=date(2030, 3, 1), fixed_end=date(2030, 4, 15), rolling_weeks=None
    )

    config = config_of(Client().get("/m/fixed").content.decode())

    assert "Asia/Kolkata" in config["timeZones"]  # type: ignore[operator]
    assert config["firstInstant"] == int(datetime(2030, 2, 28, 15, 0, tzinfo=UTC).timestamp() * 1000)
    assert config["lastInstant"] == int(datetime(2030, 4, 15, 14, 59, tzinfo=UTC).timestamp() * 1000)


def test_rolling_weeks_bound_the_months_and_no_horizon_leaves_them_open() -> None:
    host = make_host("sora", time_zone="Asia/Tokyo")
    now = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    rolling = make_link(host, slug="rolling", rolling_weeks=2, notice_minutes=60)
    assert bookable_range(link=rolling, now=now) == {
        "firstInstant": int((now + timedelta(hours=1)).timestamp() * 1000),
        "lastInstant": int((now + timedelta(weeks=2)).timestamp() * 1000),
    }
    open_ended = make_link(host, slug="open")
    open_ended.rolling_weeks = None  # the engine's "no horizon"
    assert bookable_range(link=open_ended, now=now)["lastInstant"] is None
