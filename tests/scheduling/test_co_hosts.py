"""Co-hosts: only users of the owner's workspace, told by mail in their language, free to leave."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client, override_settings

from tests.factories import api_key_for, make_host, make_link, make_workspace, send_queued_mail
from yoyaku.scheduling.host_services import CannotLeave, leave_link, update_link
from yoyaku.scheduling.models import LinkKind
from yoyaku.scheduling.validation import BookingInputError

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@override_settings(YOYAKU_BASE_URL="https://yoyaku.example")
def test_a_new_co_host_is_told_in_english(django_capture_on_commit_callbacks: Any) -> None:
    hana = make_host("hana")
    make_host("ken")
    with django_capture_on_commit_callbacks(execute=True):
        make_link(hana, slug="team", name="Team call", kind=LinkKind.GROUP, host_usernames=["hana", "ken"])

    send_queued_mail()
    [message] = mail.outbox
    assert message.to == ["ken@example.com"]
    assert message.subject == "You were added as a host of “Team call”"
    assert "Hana added you as a host of the scheduling page “Team call” (https://yoyaku.example/m/team)" in (
        message.body
    )
    assert "free/busy" in message.body
    assert "https://yoyaku.example/dashboard/" in message.body


def test_a_new_co_host_is_told_in_japanese_and_only_once(django_capture_on_commit_callbacks: Any) -> None:
    hana, ken = make_host("hana"), make_host("ken")
    make_host("mika")
    ken.language = "ja"
    ken.save(update_fields=["language"])
    link = make_link(
        hana, slug="team", name="Team call", kind=LinkKind.GROUP, host_usernames=["hana", "mika"]
    )
    send_queued_mail()  # mika's own notice
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        update_link(link=link, host_usernames=["hana", "mika", "ken"])

    send_queued_mail()
    [message] = mail.outbox  # mika was a host already; hana owns the page
    assert message.to == ["ken@example.com"]
    assert message.subject == "「Team call」のホストに追加されました"
    assert "ダッシュボード" in message.body

    with django_capture_on_commit_callbacks(execute=True):
        update_link(link=link, name="Renamed")
    send_queued_mail()
    assert len(mail.outbox) == 1


def test_a_name_outside_the_workspace_is_refused_like_an_unknown_one() -> None:
    hana = make_host("hana")
    make_host("bob", workspace=make_workspace("B"))

    messages = []
    for name in ("bob", "nobody"):
        with pytest.raises(BookingInputError) as refused:
            make_link(hana, slug=f"team-{name}", kind=LinkKind.GROUP, host_usernames=["hana", name])
        messages.append(refused.value.errors["host_usernames"].replace(name, "NAME"))

    assert messages[0] == messages[1] == "No user of your workspace has the username: NAME."
    send_queued_mail()
    assert not mail.outbox


def test_a_co_host_leaves_and_a_group_left_with_one_host_turns_off() -> None:
    hana, ken = make_host("hana"), make_host("ken")
    link = make_link(hana, slug="team", kind=LinkKind.GROUP, host_usernames=["hana", "ken"])

    with pytest.raises(CannotLeave):
        leave_link(user=hana, link=link)
    leave_link(user=ken, link=link)

    link.refresh_from_db()
    assert list(link.hosts.all()) == [hana]
    assert link.active is False


def test_leaving_through_the_api() -> None:
    hana, ken = make_host("hana"), make_host("ken")
    make_host("mika")
    link = make_link(hana, slug="team", kind=LinkKind.ROUND_ROBIN, host_usernames=["hana", "ken", "mika"])
    as_ken = Client(headers={"Authorization": f"Bearer {api_key_for(ken)}"})
    as_hana = Client(headers={"Authorization": f"Bearer {api_key_for(hana)}"})

    assert [p["slug"] for p in as_ken.get("/api/v1/me/hosted-pages").json()] == ["team"]
    assert as_hana.get("/api/v1/me/hosted-pages").json() == []  # her own page is not "co-hosted"
    assert as_hana.post("/api/v1/me/hosted-pages/team/leave").status_code == 404
    response = as_ken.post("/api/v1/me/hosted-pages/team/leave")

    assert response.status_code == 204
    assert set(link.hosts.values_list("username", flat=True)) == {"hana", "mika"}
    link.refresh_from_db()
    assert link.active  # two hosts still
    assert as_ken.post("/api/v1/me/hosted-pages/team/leave").status_code == 404
    assert as_ken.get("/api/v1/me/hosted-pages").json() == []
