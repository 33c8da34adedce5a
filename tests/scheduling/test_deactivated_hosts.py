"""Pages of deactivated users: a page that needs a deactivated user (its owner, the host of a one-on-one
page, any host of a group page) offers no times and takes no bookings or requests, and its public page
and API answer as for a page that does not exist; round robin leaves deactivated hosts out."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host, make_link
from tests.scheduling.helpers import NOW, WEDNESDAY, berlin, book, connect
from yoyaku.accounts.models import User
from yoyaku.accounts.services import set_active
from yoyaku.scheduling.models import Booking, LinkKind, MeetingLink
from yoyaku.scheduling.selectors import available_slots, link_hosts, public_link
from yoyaku.scheduling.services import PageClosed, request_meeting

pytestmark = [pytest.mark.django_db]


def deactivate(user: User) -> None:
    set_active(workspace=user.workspace, user=user, active=False)


def slots_of(link: MeetingLink) -> list[object]:
    result = available_slots(
        link=link, start=berlin(0), end=berlin(23), time_zone="Europe/Berlin", duration=30, now=NOW
    )
    return [slot for slots in result.slots.values() for slot in slots]


def post(client: Client, url: str, body: dict[str, object]) -> object:
    return client.post(url, data=json.dumps(body), content_type="application/json")


BOOKER = {"first_name": "Aiko", "last_name": "Sato", "email": "aiko@example.com", "timezone": "Asia/Tokyo"}


@pytest.mark.parametrize(("language", "words"), [("en", "isn't available"), ("ja", "利用できません")])
def test_a_deactivated_owners_page_offers_nothing_and_answers_404(
    client: Client, language: str, words: str
) -> None:
    hana = make_host("hana")
    link = make_link(hana)
    assert slots_of(link)
    deactivate(hana)

    assert slots_of(link) == []
    assert public_link(slug=link.slug) is None
    page = client.get(f"/m/{link.slug}", HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 404 and words in page.content.decode()
    api = f"/api/v1/book/{link.slug}"
    assert client.get(f"{api}/availability?start=2027-03-02&timezone=UTC").status_code == 404
    booked = post(client, api, {**BOOKER, "start": berlin(10).isoformat(), "duration": 30})
    requested = post(client, f"{api}/request", {**BOOKER, "message": "Hello"})
    assert (booked.status_code, requested.status_code) == (404, 404)  # type: ignore[attr-defined]
    assert "detail" in booked.json()  # type: ignore[attr-defined]
    assert not Booking.objects.exists()


def test_the_services_refuse_a_closed_page_too() -> None:
    # The API looks the page up first; the services refuse on their own for whoever else calls them.
    hana = make_host("hana")
    link = make_link(hana)
    deactivate(hana)
    with pytest.raises(PageClosed):
        book(link, berlin(10))
    with pytest.raises(PageClosed):
        request_meeting(
            link=link,
            time_zone="UTC",
            first_name="Aiko",
            last_name="Sato",
            email="aiko@example.com",
            message="",
        )
    assert not Booking.objects.exists()


def test_a_group_page_with_a_deactivated_host_stops_offering() -> None:
    hana, ken = make_host("hana"), make_host("ken")
    link = make_link(hana, slug="team", kind=LinkKind.GROUP, host_usernames=["hana", "ken"])
    assert slots_of(link)
    deactivate(ken)
    assert link_hosts(link=link) == []
    assert slots_of(link) == []
    assert public_link(slug="team") is None
    set_active(workspace=ken.workspace, user=ken, active=True)
    assert public_link(slug="team") == link and slots_of(link)


def test_round_robin_skips_deactivated_hosts(radicale: RadicaleServer) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    connect(hana, radicale)
    connect(ken, radicale)
    link = make_link(hana, slug="rr", kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "ken"])
    deactivate(ken)

    assert link_hosts(link=link) == [hana]
    assert public_link(slug="rr") == link
    starts = [berlin(10), berlin(11), berlin(10, day=WEDNESDAY)]
    assigned = {
        book(link, start, email=f"b{i}@example.com").booking.assigned_host for i, start in enumerate(starts)
    }
    assert assigned == {hana}


def test_a_round_robin_page_whose_owner_is_deactivated_closes() -> None:
    hana = make_host("hana")
    make_host("ken")
    link = make_link(hana, slug="rr", kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "ken"])
    deactivate(hana)
    assert public_link(slug="rr") is None and slots_of(link) == []
