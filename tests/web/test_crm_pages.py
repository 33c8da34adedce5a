"""The CRM pages: contacts (search, pages, create, edit, merge, timeline) and the meeting log
(filters, create on a contact, edit, cancel), in English and Japanese, within the workspace."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link, make_workspace
from tests.scheduling.helpers import connect, events_on, invitations
from tests.web.html import elements
from yoyaku.accounts.models import CalendarConnection, Provider, User
from yoyaku.crm.models import Contact, Meeting
from yoyaku.crm.services import create_contact, log_meeting
from yoyaku.scheduling.models import Booking, BookingStatus, CalendarWrite

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TOKYO = ZoneInfo("Asia/Tokyo")


def contact(host: User, email: str = "aiko@example.com", **fields: str) -> Contact:
    fields.setdefault("first_name", "Aiko")
    fields.setdefault("last_name", "Sato")
    return create_contact(workspace=host.workspace, email=email, owner=host, **fields)


def in_days(days: int, hour: int = 10) -> datetime:
    day = (datetime.now(tz=TOKYO) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=TOKYO)


def picker(moment: datetime) -> str:
    return moment.astimezone(TOKYO).strftime("%Y-%m-%dT%H:%M")


def test_the_navigation_leads_to_contacts_and_the_meeting_log(client_in: Client) -> None:
    html = client_in.get("/dashboard/").content.decode()

    assert elements(html, "a", href="/crm/contacts/")
    assert elements(html, "a", href="/crm/meetings/")


def test_contacts_are_searched_and_paged(host: User, client_in: Client) -> None:
    for i in range(30):
        contact(host, email=f"p{i:02}@example.com", first_name="Person", last_name=f"N{i:02}")
    contact(host, email="aiko@sato-shoji.example")
    contact(make_host("bob", workspace=make_workspace()), email="aiko@elsewhere.example")

    first = client_in.get("/crm/contacts/").content.decode()
    second = client_in.get("/crm/contacts/?page=2").content.decode()
    found = client_in.get("/crm/contacts/?q=sato-shoji").content.decode()

    assert "p00@example.com" in first and "p25@example.com" not in first
    assert "Page 1 of 2 · 31 in all" in first
    assert elements(first, "a", rel="next", href="/crm/contacts/?q=&page=2")
    assert "p25@example.com" in second
    assert "aiko@sato-shoji.example" in found and "p00@example.com" not in found
    assert "elsewhere" not in client_in.get("/crm/contacts/?q=aiko").content.decode()


def test_add_then_edit_a_contact_and_a_duplicate_says_to_merge(host: User, client_in: Client) -> None:
    made = client_in.post(
        "/crm/contacts/new/",
        {"email": "ken@example.com", "first_name": "Ken", "last_name": "", "time_zone": ""},
    )
    ken = Contact.objects.get(email="ken@example.com")
    assert made.status_code == 302 and made["Location"] == f"/crm/contacts/{ken.pk}/"
    assert ken.owner == host

    edited = client_in.post(
        f"/crm/contacts/{ken.pk}/edit/",
        {"email": "ken@example.com", "first_name": "Ken", "last_name": "Abe", "time_zone": "Asia/Tokyo"},
    )
    duplicate = client_in.post("/crm/contacts/new/", {"email": "KEN@example.com"})
    bad_zone = client_in.post(
        f"/crm/contacts/{ken.pk}/edit/", {"email": "ken@example.com", "time_zone": "Mars"}
    )

    assert edited.status_code == 302
    ken.refresh_from_db()
    assert (ken.last_name, ken.time_zone) == ("Abe", "Asia/Tokyo")
    assert duplicate.status_code == 200 and "merge the two instead" in duplicate.content.decode()
    assert bad_zone.status_code == 200 and "Unknown time zone" in bad_zone.content.decode()
    assert Contact.objects.filter(email__iexact="ken@example.com").count() == 1


def test_merge_on_the_contact_page_moves_everything_to_the_kept_contact(
    host: User, client_in: Client
) -> None:
    keep, other = contact(host), contact(host, email="aiko.sato@example.com", first_name="A.")
    log_meeting(
        workspace=host.workspace,
        title="Earlier call",
        start=in_days(-5),
        end=in_days(-5, 11),
        source="crm",
        contacts=[other],
        hosts=[host],
    )
    booking = Booking.objects.create(
        link=make_link(host),
        status=BookingStatus.REQUESTED,
        time_zone="UTC",
        first_name="A.",
        last_name="Sato",
        email=other.email,
        assigned_host=host,
        contact=other,
    )

    response = client_in.post(
        f"/crm/contacts/{keep.pk}/merge/", {"other_email": "Aiko.Sato@example.com"}, follow=True
    )

    html = response.content.decode()
    assert "was merged into this contact" in html
    assert "Earlier call" in html  # on the kept contact's timeline now
    assert not Contact.objects.filter(pk=other.pk).exists()
    booking.refresh_from_db()
    assert booking.contact_id == keep.pk
    unknown = client_in.post(
        f"/crm/contacts/{keep.pk}/merge/", {"other_email": "nobody@example.com"}, follow=True
    )
    assert "No contact has that email address" in unknown.content.decode()


def test_without_a_calendar_the_page_says_the_meeting_stays_in_the_crm(host: User, client_in: Client) -> None:
    aiko = contact(host)

    form = client_in.get(f"/crm/contacts/{aiko.pk}/meetings/new/").content.decode()
    made = client_in.post(
        f"/crm/contacts/{aiko.pk}/meetings/new/",
        {
            "title": "Demo",
            "start": picker(in_days(3)),
            "end": picker(in_days(3, 11)),
            "internal_notes": "hot",
        },
        follow=True,
    )

    assert "no calendar connected" in form
    html = made.content.decode()
    assert "logged in the CRM only" in html
    meeting = Meeting.objects.get()
    assert (meeting.start, meeting.end) == (in_days(3), in_days(3, 11))  # read in the host's zone
    assert (meeting.crm_only_reason, meeting.calendar_write) == ("no_calendar", CalendarWrite.NONE)
    assert elements(html, "li", id=f"crm-meeting-{meeting.pk}")


def test_with_exchange_the_page_says_why_it_stays_in_the_crm(host: User, client_in: Client) -> None:
    connection = CalendarConnection(user=host, provider=Provider.EXCHANGE, account_email=host.email)
    connection.secret = "x"
    connection.save()

    form = client_in.get(f"/crm/contacts/{contact(host).pk}/meetings/new/").content.decode()

    assert "Exchange" in form and "logged in the CRM only" in form


def test_bad_meeting_times_are_refused_on_the_form(host: User, client_in: Client) -> None:
    aiko = contact(host)

    response = client_in.post(
        f"/crm/contacts/{aiko.pk}/meetings/new/",
        {"title": "Demo", "start": picker(in_days(3, 11)), "end": picker(in_days(3, 10))},
    )

    assert response.status_code == 200
    assert "The end must come after the start." in response.content.decode()
    assert not Meeting.objects.exists()


def test_the_meeting_log_filters_and_a_meeting_is_edited_then_cancelled_with_its_caldav_event(
    host: User, client_in: Client, host_radicale: RadicaleServer, django_capture_on_commit_callbacks: object
) -> None:
    _connection, calendar = connect(host, host_radicale)
    aiko = contact(host)
    log_meeting(
        workspace=host.workspace,
        title="Old review",
        start=in_days(-3),
        end=in_days(-3, 11),
        source="crm",
        contacts=[aiko],
        hosts=[host],
        outcome="completed",
    )
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        client_in.post(
            f"/crm/contacts/{aiko.pk}/meetings/new/",
            {"title": "Kick-off", "start": picker(in_days(2)), "end": picker(in_days(2, 11))},
        )
    meeting = Meeting.objects.get(title="Kick-off")
    assert meeting.calendar_write == CalendarWrite.WRITTEN
    assert [e.title for e in events_on(host_radicale, calendar)] == ["Kick-off"]

    taro = contact(host, email="taro@example.com", first_name="Taro")
    log_meeting(
        workspace=host.workspace,
        title="Taro's intro",
        start=in_days(4),
        end=in_days(4, 11),
        source="crm",
        contacts=[taro],
        hosts=[host],
    )
    everyone = client_in.get("/crm/meetings/").content.decode()
    with_taro = client_in.get(f"/crm/meetings/?contact={taro.pk}").content.decode()
    assert all(title in everyone for title in ("Kick-off", "Old review", "Taro&#x27;s intro"))
    assert "Taro&#x27;s intro" in with_taro and "Kick-off" not in with_taro
    upcoming = client_in.get("/crm/meetings/?when=upcoming").content.decode()
    completed = client_in.get("/crm/meetings/?outcome=completed").content.decode()
    assert "Kick-off" in upcoming and "Old review" not in upcoming
    assert "Old review" in completed and "Kick-off" not in completed

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        saved = client_in.post(
            f"/crm/meetings/{meeting.pk}/",
            {
                "title": "Kick-off (moved)",
                "start": picker(in_days(2, 14)),
                "end": picker(in_days(2, 15)),
                "location": "Room 3",
                "description": "",
                "internal_notes": "Budget approved",
                "outcome": "scheduled",
            },
        )
    assert saved.status_code == 302
    [event] = [e for e in events_on(host_radicale, calendar) if not e.cancelled]
    assert (event.title, event.start, event.location) == ("Kick-off (moved)", in_days(2, 14), "Room 3")

    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        client_in.post(f"/crm/meetings/{meeting.pk}/cancel/")
    meeting.refresh_from_db()
    assert (meeting.outcome, meeting.calendar_write) == ("cancelled", CalendarWrite.CANCELLED)
    assert [e for e in events_on(host_radicale, calendar) if not e.cancelled] == []
    assert len(invitations("REQUEST")) == 2 and len(invitations("CANCEL")) == 1
    page = client_in.get(f"/crm/meetings/{meeting.pk}/").content.decode()
    assert "Cancelled on the calendar" in page and "Budget approved" in page


def test_members_of_a_workspace_share_its_crm(host: User, client_in: Client) -> None:
    aiko = contact(host)
    colleague = Client()
    colleague.force_login(make_host("mika"))
    outsider = Client()
    outsider.force_login(make_host("bob", workspace=make_workspace()))

    assert colleague.get(f"/crm/contacts/{aiko.pk}/").status_code == 200
    assert outsider.get(f"/crm/contacts/{aiko.pk}/").status_code == 404
    assert "aiko@example.com" not in outsider.get("/crm/contacts/").content.decode()


def test_the_crm_pages_speak_japanese(host: User, client_in: Client) -> None:
    aiko = contact(host)
    client_in.cookies["django_language"] = "ja"

    contacts = client_in.get("/crm/contacts/").content.decode()
    page = client_in.get(f"/crm/contacts/{aiko.pk}/").content.decode()
    log = client_in.get("/crm/meetings/").content.decode()
    form = client_in.get(f"/crm/contacts/{aiko.pk}/meetings/new/").content.decode()

    assert "連絡先" in contacts
    assert "ミーティングを作成" in page
    assert "ミーティング記録" in log
    assert "CRM にのみ記録" in form


def test_the_lists_take_as_many_queries_for_a_full_page_as_for_a_short_one(
    host: User, client_in: Client
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def counts() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as log:
            client_in.get("/crm/meetings/")
        meetings = len(log.captured_queries)
        with CaptureQueriesContext(connection) as log:
            client_in.get("/crm/contacts/")
        return meetings, len(log.captured_queries)

    def add(n: int) -> None:
        for i in range(n):
            person = contact(host, email=f"p{Contact.objects.count()}-{i}@example.com")
            log_meeting(
                workspace=host.workspace,
                title=f"M{i}",
                start=in_days(i),
                end=in_days(i, 11),
                source="crm",
                contacts=[person],
                hosts=[host],
            )

    add(2)
    few = counts()
    add(30)
    many = counts()
    assert many == few


@pytest.mark.parametrize(("language", "name"), [("en", "Aiko Sato"), ("ja", "Sato Aiko")])
def test_contacts_are_named_and_asked_for_in_the_languages_order(
    host: User, client_in: Client, language: str, name: str
) -> None:
    aiko = contact(host)
    headers = {"accept-language": language}

    listed = client_in.get("/crm/contacts/", headers=headers).content.decode()
    shown = client_in.get(f"/crm/contacts/{aiko.pk}/", headers=headers).content.decode()
    form = client_in.get(f"/crm/contacts/{aiko.pk}/edit/", headers=headers).content.decode()

    assert name in listed and name in shown
    first, last = form.index('name="first_name"'), form.index('name="last_name"')
    assert (last < first) == (language == "ja")  # 姓 before 名 on a Japanese page
