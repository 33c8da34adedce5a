"""Contacts and CRM meetings belong to one workspace: bookings in another never find or change them."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.factories import make_host, make_link, make_workspace, shared_workspace
from tests.scheduling.helpers import berlin, book
from yoyaku.crm.models import Contact, Meeting
from yoyaku.crm.services import OutsideWorkspace, log_meeting, upsert_contact

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_one_address_is_one_contact_per_workspace() -> None:
    a, b = shared_workspace(), make_workspace("B")
    in_a = upsert_contact(workspace=a, email="aiko@example.com", first_name="Aiko", last_name="Sato")
    in_b = upsert_contact(workspace=b, email="AIKO@example.com", first_name="Aiko", last_name="Saito")

    assert in_a.pk != in_b.pk
    assert Contact.objects.get(pk=in_a.pk).last_name == "Sato"
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(workspace=a, email="Aiko@Example.com")


def test_a_booking_in_one_workspace_leaves_the_other_workspaces_contact_alone() -> None:
    hana = make_host("hana")
    bob = make_host("bob", workspace=make_workspace("B"))
    known = upsert_contact(
        workspace=hana.workspace,
        email="aiko@example.com",
        first_name="Aiko",
        last_name="Sato",
        owner=hana,
        properties={"company": "Sato Shoji"},
    )

    booking = book(make_link(bob, slug="bobs"), berlin(10), last_name="Tanaka", answers=None).booking

    known.refresh_from_db()
    assert (known.last_name, known.owner, known.properties) == ("Sato", hana, {"company": "Sato Shoji"})
    assert booking.contact is not None and booking.contact.pk != known.pk
    assert (booking.contact.workspace, booking.contact.owner) == (bob.workspace, bob)
    assert Meeting.objects.filter(workspace=bob.workspace).count() == 1
    assert not Meeting.objects.filter(workspace=hana.workspace).exists()


def test_owners_and_hosts_come_from_the_contacts_workspace() -> None:
    hana = make_host("hana")
    bob = make_host("bob", workspace=make_workspace("B"))
    with pytest.raises(OutsideWorkspace):
        upsert_contact(
            workspace=hana.workspace, email="a@example.com", first_name="A", last_name="B", owner=bob
        )
    contact = upsert_contact(workspace=hana.workspace, email="a@example.com", first_name="A", last_name="B")
    with pytest.raises(OutsideWorkspace):
        log_meeting(
            workspace=hana.workspace,
            title="x",
            start=berlin(10),
            end=berlin(11),
            source="crm",
            contacts=[contact],
            hosts=[hana, bob],
        )
    with pytest.raises(OutsideWorkspace):
        log_meeting(
            workspace=bob.workspace,
            title="x",
            start=berlin(10),
            end=berlin(11),
            source="crm",
            contacts=[contact],
            hosts=[bob],
        )
    assert not Meeting.objects.exists()
    assert Contact.objects.get().owner is None
