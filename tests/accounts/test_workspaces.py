"""Workspaces: users, roles, seats, personal-email permission and shared inboxes, through the services and
``manage.py workspace``; nothing is granted, assigned or shared across workspaces."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_host, make_link, make_workspace, shared_workspace
from yoyaku.accounts.models import InboxConnection, Seat, User, Workspace, WorkspaceRole
from yoyaku.accounts.services import (
    WorkspaceRefusal,
    assign_seat,
    create_user,
    mark_inbox_shared,
    move_user,
    set_personal_email_use,
)
from yoyaku.crm.services import upsert_contact
from yoyaku.scheduling.models import LinkKind

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def run(*args: str) -> str:
    out = StringIO()
    call_command("workspace", *args, stdout=out)
    return out.getvalue()


def test_a_user_made_without_a_workspace_joins_the_default_one_and_a_superuser_administers_it() -> None:
    plain = User.objects.create_user("plain")
    root = User.objects.create_superuser("root", password="pw")
    assert plain.workspace == root.workspace == Workspace.objects.get()
    assert (plain.workspace_role, root.workspace_role) == (WorkspaceRole.MEMBER, WorkspaceRole.ADMIN)


def test_seats_and_permissions_stay_inside_the_workspace() -> None:
    team, other = shared_workspace(), make_workspace("B")
    hana = make_host("hana")
    bob = make_host("bob", workspace=other)

    seat = assign_seat(workspace=team, user=hana, hub=Seat.Hub.SALES, tier=Seat.Tier.ENTERPRISE)
    assert (seat.workspace, seat.user, seat.tier) == (team, hana, Seat.Tier.ENTERPRISE)
    # Assigning again changes the same seat.
    assert assign_seat(workspace=team, user=hana, hub=Seat.Hub.SALES, tier=Seat.Tier.STARTER).pk == seat.pk
    with pytest.raises(WorkspaceRefusal):
        assign_seat(workspace=team, user=bob, hub=Seat.Hub.SALES, tier=Seat.Tier.ENTERPRISE)
    with pytest.raises(WorkspaceRefusal):
        set_personal_email_use(workspace=team, user=bob, allowed=False)
    assert Seat.objects.count() == 1 and User.objects.get(pk=bob.pk).can_use_personal_email


def test_a_shared_inbox_is_marked_in_its_own_workspace_only() -> None:
    hana = make_host("hana")
    bob = make_host("bob", workspace=make_workspace("B"))
    mine = InboxConnection.objects.create(user=hana, email="team@example.com", provider="google")
    theirs = InboxConnection.objects.create(user=bob, email="team@example.com", provider="google")

    assert mark_inbox_shared(workspace=hana.workspace, email="TEAM@example.com") == 1

    assert InboxConnection.objects.get(pk=mine.pk).shared
    assert not InboxConnection.objects.get(pk=theirs.pk).shared
    with pytest.raises(WorkspaceRefusal):
        mark_inbox_shared(workspace=hana.workspace, email="nobody@example.com")


def test_moving_a_user_undoes_what_tied_them_to_the_old_workspace() -> None:
    hana, ken = make_host("hana"), make_host("ken")
    make_host("mika")
    hanas = make_link(hana, slug="hanas", kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "ken", "mika"])
    kens = make_link(ken, slug="kens", kind=LinkKind.GROUP, host_usernames=["ken", "hana"])
    assign_seat(workspace=hana.workspace, user=ken, hub=Seat.Hub.SALES, tier=Seat.Tier.PROFESSIONAL)
    contact = upsert_contact(
        workspace=hana.workspace, email="a@example.com", first_name="A", last_name="B", owner=ken
    )
    elsewhere = make_workspace("B")

    move_user(user=ken, workspace=elsewhere, role=WorkspaceRole.ADMIN)

    ken.refresh_from_db()
    assert (ken.workspace, ken.workspace_role) == (elsewhere, WorkspaceRole.ADMIN)
    assert set(hanas.hosts.values_list("username", flat=True)) == {"hana", "mika"}
    assert list(kens.hosts.values_list("username", flat=True)) == ["ken"]
    kens.refresh_from_db()
    assert not kens.active  # a group page of one host is not what its owner made
    assert not Seat.objects.filter(user=ken).exists()
    contact.refresh_from_db()
    assert contact.owner is None and contact.workspace == hana.workspace


def test_the_command_creates_a_workspace_and_manages_it() -> None:
    workspace_id = run("create", "Acme").strip()
    acme = Workspace.objects.get(pk=int(workspace_id))
    assert acme.name == "Acme"

    assert "Created aiko" in run("add-user", "Acme", "aiko", "--role", "admin", "--email", "aiko@example.com")
    aiko = User.objects.get(username="aiko")
    assert (aiko.workspace, aiko.workspace_role, aiko.email) == (
        acme,
        WorkspaceRole.ADMIN,
        "aiko@example.com",
    )
    hana = make_host("hana")
    assert "Moved hana" in run("add-user", workspace_id, "hana")
    hana.refresh_from_db()
    assert (hana.workspace, hana.workspace_role) == (acme, WorkspaceRole.MEMBER)

    run("revoke-personal-email", "Acme", "hana")
    assert not User.objects.get(pk=hana.pk).can_use_personal_email
    run("grant-personal-email", "Acme", "hana")
    assert User.objects.get(pk=hana.pk).can_use_personal_email

    run("assign-seat", "Acme", "hana", "--hub", "service", "--tier", "professional")
    assert Seat.objects.filter(workspace=acme, user=hana, hub="service", tier="professional").exists()
    run("release-seat", "Acme", "hana", "--hub", "service")
    assert not Seat.objects.filter(user=hana).exists()

    InboxConnection.objects.create(user=hana, email="desk@example.com", provider="google")
    run("share-inbox", "Acme", "desk@example.com")
    assert InboxConnection.objects.get(email="desk@example.com").shared
    run("share-inbox", "Acme", "desk@example.com", "--unshare")
    assert not InboxConnection.objects.get(email="desk@example.com").shared

    make_link(aiko, slug="acme-team", kind=LinkKind.GROUP, host_usernames=["aiko", "hana"])
    assert "hana" in run("list")


def test_the_command_refuses_to_reach_across_workspaces() -> None:
    hana = make_host("hana")
    bob = make_host("bob", workspace=make_workspace("B"))
    link = make_link(
        hana, slug="team", kind=LinkKind.GROUP, host_usernames=["hana", make_host("ken").username]
    )

    with pytest.raises(CommandError, match="No user 'bob'"):
        run("assign-seat", str(hana.workspace_id), "bob", "--hub", "sales", "--tier", "enterprise")
    with pytest.raises(CommandError, match="No user 'bob'"):
        run("grant-personal-email", str(hana.workspace_id), "bob")
    with pytest.raises(CommandError, match="No user of your workspace has the username: bob"):
        run("set-hosts", str(hana.workspace_id), "team", "hana", "bob")
    with pytest.raises(CommandError, match="No page /m/team"):
        run("set-hosts", str(bob.workspace_id), "team", "bob")
    with pytest.raises(CommandError, match="No workspace"):
        run("assign-seat", "Nowhere", "hana", "--hub", "sales", "--tier", "enterprise")
    assert not Seat.objects.exists()
    assert set(link.hosts.values_list("username", flat=True)) == {"hana", "ken"}


def test_create_user_names_its_workspace_and_role() -> None:
    team = make_workspace("Team")
    user = create_user(username="aiko", workspace=team, role=WorkspaceRole.ADMIN, email="aiko@example.com")
    assert (user.workspace, user.is_workspace_admin) == (team, True)
    with pytest.raises(WorkspaceRefusal):
        create_user(username="ken", workspace=team, role="owner")
