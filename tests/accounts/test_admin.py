"""The Django admin: staff only, never a secret, each staff member within their own workspace, and no seat
or co-host across workspaces."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import api_key_for, make_host, make_link, send_queued_mail
from tests.scheduling.helpers import berlin, book
from tests.workspace_world import build_world
from yoyaku.accounts.models import ApiKey, CalendarConnection, InboxConnection, Seat, User
from yoyaku.scheduling.models import LinkKind

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "accounts/user",
    "accounts/workspace",
    "accounts/seat",
    "accounts/inboxconnection",
    "accounts/calendarconnection",
    "accounts/apikey",
    "crm/contact",
    "crm/meeting",
    "scheduling/meetinglink",
    "scheduling/booking",
]


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def superuser() -> User:
    root = make_host("root", role="admin")
    User.objects.filter(pk=root.pk).update(is_staff=True, is_superuser=True)
    return User.objects.get(pk=root.pk)


def workspace_admin(workspace: object) -> User:
    """A staff member who is not a superuser, with every model permission (what a team admin gets)."""
    from django.contrib.auth.models import Permission

    admin = make_host("boss", role="admin", workspace=workspace)  # type: ignore[arg-type]
    User.objects.filter(pk=admin.pk).update(is_staff=True)
    admin.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["accounts", "crm", "scheduling"])
    )
    return User.objects.get(pk=admin.pk)


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_no_page_shows_a_secret(page: str) -> None:
    world = build_world()
    client = signed_in(superuser())
    key = ApiKey.objects.get(user=world.hana)
    connection = CalendarConnection.objects.get(pk=world.connection.pk)
    secrets = [connection.secret_encrypted, "hana-secret-password", key.key_hash]

    listing = client.get(f"/admin/{page}/")
    assert listing.status_code == 200
    model = listing.context["cl"].model
    shown = [listing.content.decode()]
    for row in model.objects.all()[:20]:
        response = client.get(f"/admin/{page}/{row.pk}/change/")
        assert response.status_code == 200
        shown.append(response.content.decode())

    for text in shown:
        assert not [s for s in secrets if s in text]
        assert "secret_encrypted" not in text and "key_hash" not in text and "busy_json" not in text


def test_the_admin_is_for_staff_only() -> None:
    world = build_world()
    response = signed_in(world.hana).get("/admin/accounts/seat/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_a_workspace_admin_sees_only_their_workspace(page: str) -> None:
    world = build_world()
    boss = workspace_admin(world.workspace_b)
    give_bob_a_row_of_each_kind(world.bob)

    response = signed_in(boss).get(f"/admin/{page}/")

    assert response.status_code == 200
    assert (
        "secret.example" not in response.content.decode() and "hana-secret" not in response.content.decode()
    )
    rows = list(response.context["cl"].queryset)
    assert rows, page
    for row in rows:
        assert _workspace_of(row) == world.workspace_b.pk


def give_bob_a_row_of_each_kind(bob: User) -> None:
    book(
        make_link(bob, slug="bobs"), berlin(10), email="guest@example.org"
    )  # a request, a contact, a meeting
    Seat.objects.create(workspace=bob.workspace, hub=Seat.Hub.SALES, tier=Seat.Tier.STARTER, user=bob)
    connection = CalendarConnection.objects.create(
        user=bob, provider="caldav", account_email="bob@example.org"
    )
    InboxConnection.objects.create(
        user=bob, email="bob@example.org", provider="caldav", calendar_connection=connection
    )
    api_key_for(bob)


def _workspace_of(row: object) -> int:
    for path in ("workspace_id", "user.workspace_id", "owner.workspace_id", "link.owner.workspace_id", "pk"):
        value: object = row
        try:
            for part in path.split("."):
                value = getattr(value, part)
        except AttributeError:
            continue
        if path == "pk" and row.__class__.__name__ != "Workspace":
            continue
        assert isinstance(value, int)
        return value
    raise AssertionError(f"no workspace for {row!r}")


def test_no_seat_or_co_host_across_workspaces_through_the_admin() -> None:
    world = build_world()
    client = signed_in(superuser())
    hana_team = world.workspace_a

    seat = client.post(
        "/admin/accounts/seat/add/",
        {"workspace": hana_team.pk, "hub": "sales", "tier": "enterprise", "user": world.bob.pk},
    )
    assert seat.status_code == 200  # the form again, with the reason
    assert "Only users of the same workspace can be chosen" in seat.content.decode()
    assert not Seat.objects.filter(user=world.bob).exists()

    hosts = client.post(
        f"/admin/scheduling/meetinglink/{world.team.pk}/change/",
        {
            "slug": world.team.slug,
            "name": world.team.name,
            "kind": LinkKind.GROUP,
            "owner": world.hana.pk,
            "hosts": [world.hana.pk, world.bob.pk],
            "active": "on",
        },
    )
    assert hosts.status_code == 200
    assert "Only users of the same workspace can be chosen" in hosts.content.decode()
    assert set(world.team.hosts.values_list("username", flat=True)) == {"hana", "ken"}


def test_a_workspace_admin_cannot_pick_a_user_of_another_workspace() -> None:
    world = build_world()
    boss = workspace_admin(world.workspace_b)

    response = signed_in(boss).post(
        "/admin/accounts/seat/add/",
        {"workspace": world.workspace_b.pk, "hub": "sales", "tier": "enterprise", "user": world.hana.pk},
    )

    assert response.status_code == 200
    assert not Seat.objects.filter(workspace=world.workspace_b).exists()
    # Nor reach a row of workspace A by its address.
    assert signed_in(boss).get(f"/admin/scheduling/meetinglink/{world.team.pk}/change/").status_code == 302


def test_a_co_host_added_in_the_admin_is_told(django_capture_on_commit_callbacks: object) -> None:
    from django.core import mail

    hana, ken = make_host("hana"), make_host("ken")
    link = make_link(
        hana, slug="team", kind=LinkKind.GROUP, host_usernames=["hana", make_host("mika").username]
    )
    send_queued_mail()  # mika's own notice
    mail.outbox.clear()
    client = signed_in(superuser())
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = client.post(
            f"/admin/scheduling/meetinglink/{link.pk}/change/",
            {
                "slug": "team",
                "name": link.name,
                "kind": LinkKind.GROUP,
                "owner": hana.pk,
                "hosts": [hana.pk, ken.pk, User.objects.get(username="mika").pk],
                "active": "on",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    send_queued_mail()
    assert [m.to for m in mail.outbox] == [["ken@example.com"]]
