"""Settings > Embedding and the frame headers: booking pages may be framed by the sites a workspace
allows, every other page of the app by nobody."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import make_host, make_link
from yoyaku.accounts.embedding import BadOrigins, clean_origin
from yoyaku.accounts.models import User, WorkspaceRole

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(host: User) -> User:
    host.workspace_role = WorkspaceRole.ADMIN
    host.save(update_fields=["workspace_role"])
    return host


def test_an_admin_allows_sites_and_only_booking_pages_may_be_framed(admin: User, client_in: Client) -> None:
    make_link(admin, slug="intro")
    before = Client().get("/m/intro")
    assert before["X-Frame-Options"] == "DENY"
    assert before["Content-Security-Policy"] == "frame-ancestors 'none'"

    saved = client_in.post(
        "/settings/embedding/", {"origins": "https://www.Example.com/\nhttp://127.0.0.1:8123\n"}
    )
    assert saved.status_code == 302
    admin.workspace.refresh_from_db()
    assert admin.workspace.embed_origins == ["https://www.example.com", "http://127.0.0.1:8123"]

    page = Client().get("/m/intro")
    assert "X-Frame-Options" not in page
    assert page["Content-Security-Policy"] == (
        "frame-ancestors 'self' https://www.example.com http://127.0.0.1:8123"
    )
    assert '"embedOrigins": ["https://www.example.com", "http://127.0.0.1:8123"]' in page.content.decode()
    # The rest of the app still refuses every frame.
    for path in ("/dashboard/", "/pages/", "/accounts/login/", "/m/no-such-page"):
        assert client_in.get(path)["X-Frame-Options"] == "DENY", path


@pytest.mark.parametrize(
    "origin",
    [
        "http://www.example.com",
        "www.example.com",
        "https://www.example.com/booking",
        "https://*.example.com",
        "https://user:pw@example.com",
        "javascript:alert(1)",
    ],
)
def test_what_is_not_an_https_origin_is_refused(admin: User, client_in: Client, origin: str) -> None:
    with pytest.raises(BadOrigins):
        clean_origin(origin)
    response = client_in.post("/settings/embedding/", {"origins": f"https://ok.example.com\n{origin}"})
    assert response.status_code == 422
    assert "is not a site address" in response.content.decode()
    admin.workspace.refresh_from_db()
    assert admin.workspace.embed_origins == []


def test_a_member_sees_the_list_but_cannot_change_it(host: User, client_in: Client) -> None:
    page = client_in.get("/settings/embedding/")
    assert page.status_code == 200
    assert "Only your workspace's admins" in page.content.decode().replace("&#x27;", "'")
    refused = client_in.post("/settings/embedding/", {"origins": "https://www.example.com"})
    assert refused.status_code == 403
    host.workspace.refresh_from_db()
    assert host.workspace.embed_origins == []


def test_another_workspaces_list_does_not_open_this_ones_pages(admin: User, client_in: Client) -> None:
    from tests.factories import make_workspace

    other = make_host("bob", workspace=make_workspace())
    make_link(other, slug="bobs-page")
    client_in.post("/settings/embedding/", {"origins": "https://www.example.com"})
    page = Client().get("/m/bobs-page")
    assert page["X-Frame-Options"] == "DENY"
    assert page["Content-Security-Policy"] == "frame-ancestors 'none'"
