"""Two workspaces with a victim's data and two intruders, for the isolation tests of the API and pages.

Workspace A: hana owns a one-on-one page and a group page co-hosted by ken, has a confirmed meeting
and a request on them, a calendar connection with its inbox, a seat and an API key. mika is in A
too but hosts nothing of hana's. bob is in workspace B. Every identifying value of hana's carries
a marker, so a test can tell whether an intruder's answer shows any of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Model
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from tests.factories import api_key_for, make_host, make_link, make_workspace, shared_workspace
from yoyaku.accounts.models import (
    ApiKey,
    CalendarConnection,
    InboxConnection,
    Provider,
    Seat,
    User,
    Workspace,
    WorkspaceRole,
)
from yoyaku.crm.models import Contact, Meeting, MeetingAssociation
from yoyaku.crm.services import log_meeting, upsert_contact
from yoyaku.scheduling.models import (
    Availability,
    Booking,
    BookingStatus,
    LinkKind,
    MeetingLink,
    Reservation,
)

MARKERS = ("hana-secret", "secret.example", "cal-secret-hana")
INTRUDERS = ("same_workspace", "other_workspace")


@dataclass
class World:
    workspace_a: Workspace
    workspace_b: Workspace
    hana: User
    ken: User
    mika: User
    bob: User
    intro: MeetingLink
    team: MeetingLink
    booking: Booking
    request: Booking
    connection: CalendarConnection
    inbox: InboxConnection
    hana_key: ApiKey
    contact: Contact
    meeting: Meeting

    def intruder(self, which: str) -> User:
        return {"same_workspace": self.mika, "other_workspace": self.bob}[which]

    def victim_values(self) -> dict[str, str]:
        """Path values naming hana's objects, by parameter name."""
        return {
            "slug": self.team.slug,
            "booking_id": str(self.booking.pk),
            "request_id": str(self.request.pk),
            "connection_id": str(self.connection.pk),
            "inbox_id": str(self.inbox.pk),
            "key_id": str(self.hana_key.pk),
            "provider": "google",
            "contact_id": str(self.contact.pk),
            "meeting_id": str(self.meeting.pk),
            "user_id": str(self.hana.pk),
            "uidb64": urlsafe_base64_encode(force_bytes(self.hana.pk)),
            # A manage link's token is its own permission: an intruder knows the booking's id at
            # most, never its signature.
            "token": f"{self.booking.pk.hex}:not-the-signature",
        }

    @staticmethod
    def missing_values() -> dict[str, str]:
        """The same parameters naming nothing at all."""
        return {
            "slug": "no-such-page",
            "booking_id": str(uuid.uuid4()),
            "request_id": str(uuid.uuid4()),
            "connection_id": "987654",
            "inbox_id": "987654",
            "key_id": "987654",
            "provider": "google",
            "contact_id": "987654",
            "meeting_id": "987654",
            "user_id": "987654",
            "uidb64": urlsafe_base64_encode(force_bytes(987654)),
            "token": f"{uuid.uuid4().hex}:not-the-signature",
        }


def build_world() -> World:
    workspace_a = shared_workspace()
    workspace_b = make_workspace("Workspace B")
    hana = make_host("hana", email="hana@secret.example", workspace=workspace_a)
    ken = make_host("ken", workspace=workspace_a)
    mika = make_host("mika", workspace=workspace_a)
    # An admin of his own workspace: the workspace admin pages must not reach another workspace's users.
    bob = make_host("bob", workspace=workspace_b, role=WorkspaceRole.ADMIN)
    intro = make_link(hana, slug="hana-secret-intro", name="hana-secret intro")
    team = make_link(
        hana,
        slug="hana-secret-team",
        name="hana-secret team",
        kind=LinkKind.GROUP,
        host_usernames=["hana", "ken"],
    )
    start = (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(minutes=30)
    contact = upsert_contact(
        workspace=workspace_a,
        email="booker@secret.example",
        first_name="Victim",
        last_name="Booker",
        owner=hana,
    )
    meeting = log_meeting(
        workspace=workspace_a,
        title="hana-secret meeting",
        description="hana-secret agenda",
        start=start,
        end=end,
        source="booking",
        contacts=[contact],
        hosts=[hana, ken],
    )
    booking = Booking.objects.create(
        link=team,
        status=BookingStatus.CONFIRMED,
        start=start,
        end=end,
        time_zone="Europe/Berlin",
        first_name="Victim",
        last_name="Booker",
        email="booker@secret.example",
        assigned_host=hana,
        contact=contact,
        meeting=meeting,
    )
    Reservation.objects.bulk_create(
        [Reservation(booking=booking, host=h, start=start, end=end) for h in (hana, ken)]
    )
    request = Booking.objects.create(
        link=intro,
        status=BookingStatus.REQUESTED,
        time_zone="Europe/Berlin",
        first_name="Victim",
        last_name="Asker",
        email="asker@secret.example",
        message="hana-secret message",
        assigned_host=hana,
        contact=contact,
    )
    connection = CalendarConnection(
        user=hana,
        provider=Provider.CALDAV,
        account_email="calendar@secret.example",
        # Nothing listens there: an intruder's request must never reach it anyway.
        server_url="https://127.0.0.1:9/dav/",
        username="hana-secret",
        conflict_calendar_ids=["cal-secret-hana"],
        write_calendar_id="cal-secret-hana",
        provider_details={"calendars": [{"id": "cal-secret-hana", "name": "hana-secret calendar"}]},
    )
    connection.secret = "hana-secret-password"
    connection.save()
    inbox = InboxConnection.objects.create(
        user=hana, email="inbox@secret.example", provider=Provider.CALDAV, calendar_connection=connection
    )
    Seat.objects.create(workspace=workspace_a, hub=Seat.Hub.SALES, tier=Seat.Tier.PROFESSIONAL, user=hana)
    api_key_for(hana)
    return World(
        workspace_a=workspace_a,
        workspace_b=workspace_b,
        hana=hana,
        ken=ken,
        mika=mika,
        bob=bob,
        intro=intro,
        team=team,
        booking=booking,
        request=request,
        connection=connection,
        inbox=inbox,
        hana_key=ApiKey.objects.get(user=hana),
        contact=contact,
        meeting=meeting,
    )


def _rows(model: type[Model], rows: Any, *, leave_out: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in leave_out} for row in rows.order_by("pk").values()]


def victim_state(world: World) -> dict[str, Any]:
    """Everything of hana's and of workspace A's CRM, to compare before and after an intruder's request."""
    hana, ws = world.hana, world.workspace_a
    return {
        "users": _rows(User, User.objects.filter(pk__in=[hana.pk, world.ken.pk]), leave_out=("last_login",)),
        "links": _rows(MeetingLink, MeetingLink.objects.filter(owner=hana)),
        "hosts": sorted(
            MeetingLink.hosts.through.objects.filter(meetinglink__owner=hana).values_list(
                "meetinglink_id", "user_id"
            )
        ),
        "bookings": _rows(Booking, Booking.objects.filter(link__owner=hana)),
        "reservations": _rows(Reservation, Reservation.objects.filter(booking__link__owner=hana)),
        "contacts": _rows(Contact, Contact.objects.filter(workspace=ws), leave_out=("updated_at",)),
        "meetings": _rows(Meeting, Meeting.objects.filter(workspace=ws)),
        "associations": _rows(MeetingAssociation, MeetingAssociation.objects.filter(contact__workspace=ws)),
        "connections": _rows(CalendarConnection, CalendarConnection.objects.filter(user=hana)),
        "inboxes": _rows(InboxConnection, InboxConnection.objects.filter(user=hana)),
        "seats": _rows(Seat, Seat.objects.filter(workspace=ws)),
        "keys": _rows(ApiKey, ApiKey.objects.filter(user=hana), leave_out=("last_used_at",)),
        "availability": _rows(Availability, Availability.objects.filter(user=hana)),
        "workspaces": _rows(Workspace, Workspace.objects.filter(pk=ws.pk)),
    }


def shows_victim_data(text: str) -> list[str]:
    return [marker for marker in MARKERS if marker in text]
