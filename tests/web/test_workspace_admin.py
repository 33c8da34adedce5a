"""Settings > Workspace: an admin invites users by email (a signed link sets the password), changes
roles, deactivates, grants personal email use, assigns seats and marks shared inboxes; members do not
get the page at all, and the workspace never loses its last admin."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import translation

from tests.factories import api_key_for, make_host, make_workspace, send_queued_mail
from yoyaku.accounts.models import InboxConnection, Provider, Seat, User, WorkspaceRole
from yoyaku.accounts.services import user_for_api_key
from yoyaku.web import urls
from yoyaku.web.workspace_views import accept_invitation

pytestmark = pytest.mark.django_db

ADMIN_ROUTES = [
    p.pattern
    for p in urls.urlpatterns
    if str(p.pattern).startswith("settings/workspace/") and p.callback is not accept_invitation
]


@pytest.fixture
def admin() -> User:
    return make_host("aoi", email="aoi@example.org", role=WorkspaceRole.ADMIN)


@pytest.fixture
def member(admin: User) -> User:
    return make_host("ken", email="ken@example.org", workspace=admin.workspace)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client: Client) -> str:
    return client.get("/settings/workspace/").content.decode()


def test_members_get_404_and_no_tab(member: User) -> None:
    client = signed_in(member)
    assert client.get("/settings/workspace/").status_code == 404
    for route in ADMIN_ROUTES:
        url = "/" + re.sub(r"<int:\w+>", str(member.pk), str(route))
        assert client.post(url, {"role": "admin", "email": "x@example.org"}).status_code in (404, 405), url
    member.refresh_from_db()
    assert member.workspace_role == WorkspaceRole.MEMBER
    assert 'href="/settings/workspace/"' not in client.get("/settings/api-keys/").content.decode()


def test_the_admin_sees_the_users_with_their_seats_and_permission(admin: User, member: User) -> None:
    client = signed_in(admin)
    assert 'href="/settings/workspace/"' in client.get("/settings/api-keys/").content.decode()

    html = page(client)

    assert "ken@example.org" in html and "aoi@example.org" in html
    outsider = make_host("bob", email="bob@elsewhere.example", workspace=make_workspace("Other"))
    assert outsider.email not in html


def test_an_invitation_sets_a_password_once(admin: User) -> None:
    client = signed_in(admin)

    client.post("/settings/workspace/invite/", {"email": "Mia@Example.org", "role": "member"})

    invited = User.objects.get(email="Mia@example.org")
    assert (invited.workspace_id, invited.workspace_role) == (admin.workspace_id, WorkspaceRole.MEMBER)
    assert not invited.has_usable_password()
    send_queued_mail()
    [invitation] = mail.outbox
    assert invitation.to == ["Mia@example.org"]
    link = re.search(r"https?://\S+/accounts/invitation/\S+/", invitation.body)
    assert link is not None
    path = "/" + link.group(0).split("/", 3)[3]
    assert "Invitation sent to Mia@example.org." in page(client)

    newcomer = Client()
    assert newcomer.get(path).status_code == 200
    typo = newcomer.post(
        path, {"new_password1": "a-long-Passphrase-42", "new_password2": "a-long-Passphrase-43"}
    )
    assert typo.status_code == 200, "two different passwords are refused with the reason"
    assert "didn" in typo.content.decode() or "match" in typo.content.decode()
    done = newcomer.post(
        path, {"new_password1": "a-long-Passphrase-42", "new_password2": "a-long-Passphrase-42"}
    )
    assert done.status_code == 302 and done["Location"] == "/dashboard/"
    invited.refresh_from_db()
    assert invited.check_password("a-long-Passphrase-42")
    assert newcomer.get("/dashboard/").status_code == 200, "signed in"
    assert Client().get(path).status_code == 404, "the link works once"


def test_an_address_already_used_is_not_invited_again(admin: User, member: User) -> None:
    client = signed_in(admin)
    client.post("/settings/workspace/invite/", {"email": "KEN@example.org", "role": "admin"})
    assert User.objects.filter(email__iexact="ken@example.org").count() == 1
    send_queued_mail()
    assert mail.outbox == []
    assert "A user with this email address already exists." in page(client)
    bad = client.post("/settings/workspace/invite/", {"email": "not-an-address", "role": "member"})
    assert bad.status_code == 302 and "Nobody was invited." in page(client)


def test_roles_and_the_last_admin(admin: User, member: User) -> None:
    client = signed_in(admin)

    client.post(f"/settings/workspace/users/{admin.pk}/role/", {"role": "member"})
    admin.refresh_from_db()
    assert admin.workspace_role == WorkspaceRole.ADMIN
    assert "at least one active admin" in page(client)

    client.post(f"/settings/workspace/users/{member.pk}/role/", {"role": "admin"})
    member.refresh_from_db()
    assert member.workspace_role == WorkspaceRole.ADMIN
    client.post(f"/settings/workspace/users/{admin.pk}/role/", {"role": "member"})
    admin.refresh_from_db()
    assert admin.workspace_role == WorkspaceRole.MEMBER
    assert client.get("/settings/workspace/").status_code == 404, "a member now"


def test_deactivating_stops_sign_in_and_api_keys(admin: User, member: User) -> None:
    key = api_key_for(member)
    client = signed_in(admin)

    client.post(f"/settings/workspace/users/{member.pk}/active/", {"active": "0"})

    member.refresh_from_db()
    assert not member.is_active
    assert user_for_api_key(raw=key) is None
    assert not Client().login(username="ken", password="pw-ken")
    client.post(f"/settings/workspace/users/{admin.pk}/active/", {"active": "0"})
    admin.refresh_from_db()
    assert admin.is_active, "not oneself"
    client.post(f"/settings/workspace/users/{member.pk}/active/", {"active": "1"})
    member.refresh_from_db()
    assert member.is_active and user_for_api_key(raw=key) == member


def test_personal_email_seats_and_shared_inboxes(admin: User, member: User) -> None:
    client = signed_in(admin)

    client.post(f"/settings/workspace/users/{member.pk}/personal-email/", {"allowed": "0"})
    member.refresh_from_db()
    assert not member.can_use_personal_email

    client.post(f"/settings/workspace/users/{member.pk}/seat/", {"hub": "sales", "tier": "professional"})
    assert list(Seat.objects.filter(user=member).values_list("hub", "tier")) == [("sales", "professional")]
    client.post(f"/settings/workspace/users/{member.pk}/seat/", {"hub": "sales", "tier": "none"})
    assert not Seat.objects.filter(user=member).exists()
    assert Seat.objects.filter(workspace=admin.workspace, user=None).count() == 1, "the seat stays, free"

    InboxConnection.objects.create(user=member, email="team@example.org", provider=Provider.GOOGLE)
    client.post("/settings/workspace/inboxes/share/", {"email": "team@example.org", "shared": "1"})
    assert InboxConnection.objects.get(email="team@example.org").shared
    client.post("/settings/workspace/inboxes/share/", {"email": "nobody@example.org", "shared": "1"})
    assert "No inbox of that address is connected in your workspace." in page(client)


def test_an_admin_cannot_reach_another_workspaces_users(admin: User) -> None:
    other = make_host("bob", workspace=make_workspace("Other"))
    client = signed_in(admin)

    for action, data in (
        ("role", {"role": "admin"}),
        ("active", {"active": "0"}),
        ("seat", {"hub": "sales", "tier": "starter"}),
    ):
        assert client.post(f"/settings/workspace/users/{other.pk}/{action}/", data).status_code == 404
    other.refresh_from_db()
    assert (other.workspace_role, other.is_active) == (WorkspaceRole.MEMBER, True)
    assert not Seat.objects.filter(user=other).exists()


def test_the_page_and_the_invitation_speak_japanese(admin: User) -> None:
    admin.language = "ja"
    admin.save(update_fields=["language"])
    client = signed_in(admin)
    client.cookies["django_language"] = "ja"

    html = page(client)
    client.post("/settings/workspace/invite/", {"email": "mia@example.org", "role": "member"})

    assert "共有受信トレイ" in html and "招待を送信" in html
    send_queued_mail()
    [invitation] = mail.outbox
    assert invitation.subject == "Aoiさんから Yoyaku への招待が届いています"
    translation.activate("en")
