"""Contacts keyed by email and meetings logged by bookings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import make_host, make_link, shared_workspace
from tests.scheduling.helpers import berlin, book
from yoyaku.crm.models import Contact, Meeting, MeetingAssociation, MeetingSource
from yoyaku.crm.services import upsert_contact
from yoyaku.scheduling.models import LinkKind
from yoyaku.scheduling.services import request_meeting

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_upsert_finds_the_contact_whatever_the_case_of_the_email() -> None:
    first = upsert_contact(
        workspace=shared_workspace(), email="Aiko.Sato@Example.com", first_name="Aiko", last_name="Sato"
    )

    again = upsert_contact(
        workspace=shared_workspace(), email="  aiko.sato@EXAMPLE.COM ", first_name="Aiko", last_name="Satō"
    )

    assert again.pk == first.pk
    assert Contact.objects.count() == 1
    assert Contact.objects.get().last_name == "Satō"


def test_upsert_updates_names_and_keeps_properties_and_owner() -> None:
    hana, ken = make_host("hana"), make_host("ken")
    upsert_contact(
        workspace=shared_workspace(),
        email="aiko@example.com",
        first_name="Aiko",
        last_name="Sato",
        owner=ken,
        time_zone="Asia/Tokyo",
        properties={"company": "Sato Shoji", "role": "CTO"},
    )

    contact = upsert_contact(
        workspace=shared_workspace(),
        email="AIKO@example.com",
        first_name="Aiko",
        last_name="Saito",
        owner=hana,
        properties={"role": "CEO", "phone": "+81 3 0000 0000"},
    )

    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Aiko", "Saito")
    assert contact.properties == {"company": "Sato Shoji", "role": "CEO", "phone": "+81 3 0000 0000"}
    assert contact.owner == ken
    assert contact.time_zone == "Asia/Tokyo"
    # Blank names do not wipe the ones known.
    upsert_contact(workspace=shared_workspace(), email="aiko@example.com", first_name="", last_name="")
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Aiko", "Saito")
    assert contact.properties["company"] == "Sato Shoji"


def test_a_contact_without_owner_gets_one() -> None:
    hana = make_host("hana")
    upsert_contact(
        workspace=shared_workspace(), email="aiko@example.com", first_name="Aiko", last_name="Sato"
    )

    contact = upsert_contact(
        workspace=shared_workspace(),
        email="aiko@example.com",
        first_name="Aiko",
        last_name="Sato",
        owner=hana,
    )

    assert Contact.objects.get(pk=contact.pk).owner == hana


@pytest.mark.django_db(transaction=True)
def test_upsert_works_outside_a_transaction() -> None:
    # PostgreSQL refuses SELECT ... FOR UPDATE in autocommit mode unless the service opens its own.
    upsert_contact(
        workspace=shared_workspace(), email="aiko@example.com", first_name="Aiko", last_name="Sato"
    )
    contact = upsert_contact(
        workspace=shared_workspace(), email="Aiko@example.com", first_name="Aiko", last_name="Saito"
    )
    assert Contact.objects.get().pk == contact.pk


def test_a_booking_logs_a_meeting_with_the_contact_and_its_host() -> None:
    host = make_host("hana")
    link = make_link(host, location="Zoom")
    start = berlin(10)

    booking = book(link, start, answers=None).booking

    meeting = Meeting.objects.get()
    contact = Contact.objects.get()
    assert booking.meeting == meeting and booking.contact == contact
    assert (meeting.start, meeting.end) == (start, start + timedelta(minutes=30))
    assert (meeting.source, meeting.location, meeting.title) == (
        MeetingSource.BOOKING,
        "Zoom",
        "Intro call: Aiko Sato",
    )
    assert list(meeting.contacts.all()) == [contact]
    assert list(meeting.hosts.all()) == [host]
    assert (contact.email, contact.owner, contact.time_zone) == ("aiko@example.com", host, "Asia/Tokyo")


def test_a_group_booking_logs_every_host() -> None:
    hana, ken = make_host("hana"), make_host("ken")
    link = make_link(hana, kind=LinkKind.GROUP, host_usernames=["hana", "ken"])

    book(link, berlin(10))

    assert set(Meeting.objects.get().hosts.all()) == {hana, ken}


def test_two_bookings_by_one_email_make_one_contact_with_two_meetings() -> None:
    host = make_host("hana")
    link = make_link(host)

    book(link, berlin(10), email="aiko@example.com")
    book(link, berlin(11), email="Aiko@Example.com", last_name="Saito")

    contact = Contact.objects.get()
    assert contact.last_name == "Sato"  # the first booking made it; the second changes nothing
    assert contact.meetings.count() == 2
    assert MeetingAssociation.objects.filter(contact=contact).count() == 2
    assert sorted(m.start for m in contact.meetings.all()) == [berlin(10), berlin(11)]


def test_a_booker_never_changes_what_the_crm_holds_about_a_contact() -> None:
    host = make_host("hana")
    link = make_link(host, form_fields=[{"key": "company", "label": "Company", "type": "text"}])
    kept = upsert_contact(
        workspace=host.workspace,
        email="aiko@example.com",
        first_name="Aiko",
        last_name="Sato",
        time_zone="Asia/Tokyo",
        properties={"company": "Sato Shoji", "tier": "gold"},
    )
    before = Contact.objects.filter(pk=kept.pk).values().get()

    booking = book(
        link,
        berlin(10),
        email="AIKO@example.com",
        first_name="Mallory",
        last_name="Impostor",
        answers={"company": "Evil Corp"},
    ).booking
    request = request_meeting(
        link=link,
        time_zone="Europe/Paris",
        first_name="Mal",
        last_name="Lory",
        email="aiko@example.com",
        message="hello",
        answers={"company": "Other Corp"},
    ).booking

    assert Contact.objects.filter(pk=kept.pk).values().get() == before
    assert booking.contact_id == request.contact_id == kept.pk
    # What the booker typed stays on their booking, for the host to see.
    assert (booking.first_name, booking.last_name, booking.answers) == (
        "Mallory",
        "Impostor",
        {"company": "Evil Corp"},
    )
    assert (request.first_name, request.last_name) == ("Mal", "Lory")
    assert booking.meeting is not None and booking.meeting.title == "Intro call: Mallory Impostor"
