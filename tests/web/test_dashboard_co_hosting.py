"""The dashboard's Leave button on pages another owner of the workspace made the user a host of."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from tests.factories import make_host, make_link
from tests.web.html import elements
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import LinkKind

pytestmark = pytest.mark.django_db


def test_a_co_host_sees_leave_and_leaves(host: User, client_in: Client) -> None:
    owner = make_host("ken")
    team = make_link(
        owner, slug="ken-team", name="Sales team", kind=LinkKind.GROUP, host_usernames=["ken", "hana"]
    )
    make_link(host, slug="hanas-own")

    html = client_in.get("/dashboard/").content.decode()

    assert [f["action"] for f in elements(html, "form") if "/leave/" in f["action"]] == [
        "/dashboard/pages/ken-team/leave/"
    ]
    assert "Host with Ken" in html
    response = client_in.post("/dashboard/pages/ken-team/leave/", follow=True)
    assert "You no longer host “Sales team”." in response.content.decode()
    assert list(team.hosts.values_list("username", flat=True)) == ["ken"]
    assert not [f for f in elements(response.content.decode(), "form") if "/leave/" in f["action"]]


def test_the_leave_button_speaks_japanese(host: User, client_in: Client) -> None:
    make_link(make_host("ken"), slug="ken-team", kind=LinkKind.GROUP, host_usernames=["ken", "hana"])
    with translation.override("ja"):
        html = client_in.get("/dashboard/", headers={"Accept-Language": "ja"}).content.decode()
    assert "ホストから外れる" in html


def test_an_owner_or_stranger_cannot_leave_through_the_form(host: User, client_in: Client) -> None:
    make_link(
        host, slug="hanas-team", kind=LinkKind.GROUP, host_usernames=["hana", make_host("ken").username]
    )
    make_link(make_host("mika"), slug="mikas")

    assert client_in.post("/dashboard/pages/hanas-team/leave/").status_code == 404
    assert client_in.post("/dashboard/pages/mikas/leave/").status_code == 404
    assert client_in.get("/dashboard/pages/hanas-team/leave/").status_code == 405
