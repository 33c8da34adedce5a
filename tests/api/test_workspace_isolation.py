"""Every host endpoint of the API, called by an intruder with hana's objects in the path or around.

The operations come from the OpenAPI document, so a new endpoint is walked as soon as it exists;
one this file cannot call (a request body it has no sample for, a path parameter it cannot fill)
fails the test until it is added here. Two intruders: mika, of hana's workspace but no host of
hana's pages, and bob, of another workspace. Each gets the answer a name that does not exist gets
(404 for a named object), sees nothing of hana's and changes nothing of hana's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.factories import api_key_for
from tests.workspace_world import INTRUDERS, World, build_world, shows_victim_data, victim_state
from yoyaku.api.urls import api
from yoyaku.crm.models import Contact
from yoyaku.scheduling.models import MeetingLink

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

PREFIX = "/api/v1/"
SCHEMA = api.get_openapi_schema(path_prefix=PREFIX)
OPERATIONS = sorted(
    (method.upper(), path, op)
    for path, ops in SCHEMA["paths"].items()
    for method, op in ops.items()
    if method in {"get", "post", "put", "patch", "delete"}
)
HOST_OPERATIONS = [(m, p, op) for m, p, op in OPERATIONS if op.get("security")]

# The public booking endpoints take no key: a page's existence is public by design.
PUBLIC_OPERATIONS = {
    ("GET", "/api/v1/book/{slug}/availability"),
    ("POST", "/api/v1/book/{slug}"),
    ("POST", "/api/v1/book/{slug}/request"),
    # The booker's manage links: the signed token is the permission (tests/api/test_manage_links.py).
    ("GET", "/api/v1/manage/{token}"),
    ("GET", "/api/v1/manage/{token}/availability"),
    ("POST", "/api/v1/manage/{token}/reschedule"),
    ("POST", "/api/v1/manage/{token}/cancel"),
}

# Path parameters that name nothing of a user's (which provider to connect).
NOT_OBJECTS = {"provider"}

# A valid body for each operation that takes one, so the answer is about who asks, not what is sent.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/me/availability"): {"time_zone": "Europe/Berlin", "weekly": {"0": [[540, 600]]}},
    ("POST", "/api/v1/meeting-links"): {
        "slug": "intruders-page",
        "name": "Intruder's page",
        "durations": [30],
    },
    ("PATCH", "/api/v1/meeting-links/{slug}"): {"name": "Taken over", "active": False},
    ("POST", "/api/v1/me/bookings/{booking_id}/reschedule"): {"start": "2030-01-07T10:00:00+01:00"},
    ("POST", "/api/v1/me/bookings/{booking_id}/cancel"): {"reason": "Taken over"},
    ("POST", "/api/v1/me/requests/{request_id}/confirm"): {"start": "2030-01-07T10:00:00+01:00"},
    ("POST", "/api/v1/me/requests/{request_id}/decline"): {"message": "Taken over"},
    ("POST", "/api/v1/me/calendar/oauth/{provider}/start"): {},
    ("POST", "/api/v1/me/calendar/oauth/{provider}/complete"): {
        "flow": "not-a-flow",
        "code": "c",
        "state": "s",
    },
    ("POST", "/api/v1/me/calendar/exchange"): {"email": "calendar@secret.example", "password": "x"},
    ("POST", "/api/v1/me/calendar/caldav"): {
        "url": "https://127.0.0.1:9/dav/",
        "username": "hana-secret",
        "password": "x",
    },
    ("PATCH", "/api/v1/me/calendar/{connection_id}"): {"tentative_blocks": False, "write_calendar_id": ""},
    ("POST", "/api/v1/crm/contacts"): {"email": "intruders-contact@example.org", "first_name": "Ivan"},
    ("PATCH", "/api/v1/crm/contacts/{contact_id}"): {"first_name": "Taken over"},
    ("POST", "/api/v1/crm/contacts/{contact_id}/merge"): {"other_contact_id": 987654},
    ("POST", "/api/v1/crm/contacts/{contact_id}/meetings"): {
        "title": "Intruder's meeting",
        "start": "2030-01-07T10:00:00+01:00",
        "end": "2030-01-07T11:00:00+01:00",
    },
    ("PATCH", "/api/v1/crm/meetings/{meeting_id}"): {"outcome": "cancelled", "internal_notes": "mine"},
}

# The CRM (contacts and meetings) is the workspace's, shared by its members like a team's address
# book: only a user of another workspace is an intruder there (see the test at the end).
WORKSPACE_SHARED = "/api/v1/crm/"


def _path_params(op: dict[str, Any]) -> list[str]:
    return [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]


def _call(client: Client, method: str, path: str, values: dict[str, str]) -> Any:
    url = path.format(**values)
    body = BODIES.get((method, path))
    if body is None:
        return getattr(client, method.lower())(url)
    return getattr(client, method.lower())(url, data=json.dumps(body), content_type="application/json")


def test_only_the_booking_endpoints_are_public() -> None:
    public = {(m, p) for m, p, op in OPERATIONS if not op.get("security")}
    assert public == PUBLIC_OPERATIONS


@pytest.mark.parametrize(
    ("intruder", "method", "path"),
    [
        (intruder, m, p)
        for intruder in INTRUDERS
        for m, p, _ in HOST_OPERATIONS
        if not (intruder == "same_workspace" and p.startswith(WORKSPACE_SHARED))
    ],
)
def test_an_intruder_gets_nothing_of_hanas(intruder: str, method: str, path: str) -> None:
    op = next(o for m, p, o in HOST_OPERATIONS if (m, p) == (method, path))
    if "requestBody" in op:
        assert (method, path) in BODIES, f"{method} {path}: add a valid sample body to BODIES"
    world: World = build_world()
    client = Client(headers={"Authorization": f"Bearer {api_key_for(world.intruder(intruder))}"})
    params = _path_params(op)
    unknown = set(params) - set(world.victim_values())
    assert not unknown, f"{method} {path}: teach World.victim_values the parameters {unknown}"
    before = victim_state(world)

    response = _call(client, method, path, world.victim_values())

    assert response.status_code < 500, response.content
    assert not shows_victim_data(response.content.decode()), response.content
    assert victim_state(world) == before
    if set(params) - NOT_OBJECTS:
        # The object is hana's: answered as if it did not exist.
        assert response.status_code == 404, response.content
        missing = _call(client, method, path, world.missing_values())
        assert (missing.status_code, missing.json()) == (response.status_code, response.json())
        assert victim_state(world) == before


@pytest.mark.parametrize(
    "path", [p for m, p, op in HOST_OPERATIONS if m == "GET" and set(_path_params(op)) - NOT_OBJECTS]
)
def test_the_objects_named_are_there_for_their_owner(path: str) -> None:
    # The control for the walk above: the 404s are about who asks, not about a wrong address.
    world = build_world()
    client = Client(headers={"Authorization": f"Bearer {api_key_for(world.hana)}"})
    assert _call(client, "GET", path, world.victim_values()).status_code == 200


def _create_group_page(client: Client, *usernames: str) -> Any:
    page = {"slug": "together", "name": "Together", "durations": [30], "kind": "group"}
    return client.post(
        "/api/v1/meeting-links",
        data=json.dumps({**page, "host_usernames": list(usernames)}),
        content_type="application/json",
    )


def test_a_user_of_another_workspace_is_no_co_host_and_is_not_told_it_exists() -> None:
    world = build_world()
    client = Client(headers={"Authorization": f"Bearer {api_key_for(world.bob)}"})

    named = _create_group_page(client, "bob", "hana")
    unknown = _create_group_page(client, "bob", "nobody-at-all")

    assert named.status_code == unknown.status_code == 422
    message = named.json()["errors"]["host_usernames"]
    assert message == unknown.json()["errors"]["host_usernames"].replace("nobody-at-all", "hana")
    assert "workspace" in message
    assert not MeetingLink.objects.filter(slug="together").exists()
    # Nor can a page be changed to take one.
    patched = Client(headers={"Authorization": f"Bearer {api_key_for(world.hana)}"}).patch(
        f"/api/v1/meeting-links/{world.team.slug}",
        data=json.dumps({"host_usernames": ["hana", "bob"]}),
        content_type="application/json",
    )
    assert patched.status_code == 422
    assert set(world.team.hosts.values_list("username", flat=True)) == {"hana", "ken"}


def test_a_user_of_the_same_workspace_can_be_a_co_host() -> None:
    world = build_world()
    client = Client(headers={"Authorization": f"Bearer {api_key_for(world.mika)}"})

    response = _create_group_page(client, "mika", "hana")

    assert response.status_code == 201, response.content
    assert response.json()["host_usernames"] == ["hana", "mika"]


def test_the_crm_is_shared_within_the_workspace_and_only_there() -> None:
    world = build_world()
    member = Client(headers={"Authorization": f"Bearer {api_key_for(world.mika)}"})
    outsider = Client(headers={"Authorization": f"Bearer {api_key_for(world.bob)}"})

    contacts = member.get("/api/v1/crm/contacts").json()["items"]
    meeting = member.get(f"/api/v1/crm/meetings/{world.meeting.pk}")

    assert [c["email"] for c in contacts] == ["booker@secret.example"]
    assert meeting.status_code == 200 and meeting.json()["title"] == "hana-secret meeting"
    assert outsider.get("/api/v1/crm/contacts").json()["items"] == []
    assert outsider.get("/api/v1/crm/meetings").json()["items"] == []
    # Nor can an outsider name the workspace's contacts in a meeting or a merge of their own.
    own = outsider.post(
        "/api/v1/crm/contacts", data=json.dumps({"email": "own@example.org"}), content_type="application/json"
    ).json()
    merge = outsider.post(
        f"/api/v1/crm/contacts/{own['id']}/merge",
        data=json.dumps({"other_contact_id": world.contact.pk}),
        content_type="application/json",
    )
    invite = outsider.post(
        f"/api/v1/crm/contacts/{own['id']}/meetings",
        data=json.dumps(
            {
                "title": "t",
                "start": "2030-01-07T10:00:00+01:00",
                "end": "2030-01-07T11:00:00+01:00",
                "other_contact_ids": [world.contact.pk],
            }
        ),
        content_type="application/json",
    )
    assert merge.status_code == invite.status_code == 422
    assert "secret" not in merge.content.decode() + invite.content.decode()
    assert Contact.objects.filter(pk=world.contact.pk).exists()
    assert not world.contact.meetings.filter(title="t").exists()
