"""Every signed-in page and form of the site, opened and posted by an intruder with hana's objects in the
address or the form.

The pages come from the URL resolver, so a new page is walked as soon as it is routed; one whose
address has a parameter this file cannot fill fails until it is taught here. The intruders are
mika (hana's workspace, no host of hana's pages) and bob (another workspace). A page naming one of
hana's objects answers exactly as it does for an object that does not exist (404, 405 for the
wrong method, or the same redirect with the same message); no page shows anything of hana's and
nothing of hana's changes. The API has its own walk (tests/api/test_workspace_isolation.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from tests.workspace_world import INTRUDERS, World, build_world, shows_victim_data, victim_state
from yoyaku.web import profile_views, views

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Walked elsewhere: the API (its own walk) and the Django admin (staff only, tests/accounts).
ELSEWHERE = ("api/v1/", "admin/")
# Pages anyone may open: a scheduling page's existence is public by design.
PUBLIC_VIEWS = {views.booking_page, profile_views.page_photo}
NOT_OBJECTS = {"provider"}
PARAM = re.compile(r"<(?:\w+:)?(\w+)>")

# One form that fills every field the site's forms have, with values of the intruder's own,
# except "reconnect", which names hana's connection.
FORM = {
    "conflict_calendar_ids": "cal-of-the-intruder",
    "write_calendar_id": "cal-of-the-intruder",
    "tentative_blocks": "on",
    "start": "2030-01-07T10:00",
    "duration": "30",
    "name": "intruder key",
    "email": "intruder@example.org",
    "password": "intruder-password",
    "username": "intruder",
    "url": "https://127.0.0.1:9/dav/",
    "ews_url": "https://127.0.0.1:9/EWS/Exchange.asmx",
    "language": "en",
    "next": "/dashboard/",
    "first_name": "Ivan",
    "last_name": "Intruder",
    "time_zone": "Europe/Berlin",
    "other_email": "booker@secret.example",
    "title": "Intruder's meeting",
    "end": "2030-01-07T11:00",
    "outcome": "cancelled",
    "internal_notes": "mine now",
    "reason": "Taken over",
}
# The CRM is the workspace's, shared by its members like a team's address book: only a user of
# another workspace is an intruder there (tests/web/test_crm_pages.py shows members share it).
WORKSPACE_SHARED = "crm/"


def _routes(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


ROUTES = sorted(
    ((route, callback) for route, callback in _routes(get_resolver()) if not route.startswith(ELSEWHERE)),
    key=lambda item: item[0],
)


def _url(route: str, values: dict[str, str]) -> str:
    return "/" + PARAM.sub(lambda m: values[m.group(1)], route)


def _answer(client: Client, method: str, url: str, form: dict[str, str]) -> tuple[int, str, str]:
    """Status, where it leads, and the text finally shown (a local redirect is followed once)."""
    response = client.post(url, data=form) if method == "POST" else client.get(url)
    location = response.get("Location", "") if 300 <= response.status_code < 400 else ""
    text = response.content.decode(errors="replace")
    if location.startswith("/"):
        text += client.get(location).content.decode(errors="replace")
    return response.status_code, location, text


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_every_routed_page_is_walked() -> None:
    params = {name for route, _ in ROUTES for name in PARAM.findall(route)}
    assert params <= set(World.missing_values()), "teach World.victim_values the new address parameters"
    assert any(callback in PUBLIC_VIEWS for _, callback in ROUTES)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("intruder", "route"),
    [
        (intruder, route)
        for intruder in INTRUDERS
        for route, callback in ROUTES
        if callback not in PUBLIC_VIEWS
        and not (intruder == "same_workspace" and route.startswith(WORKSPACE_SHARED))
    ],
)
def test_an_intruder_gets_nothing_of_hanas(intruder: str, method: str, route: str) -> None:
    world = build_world()
    client = _signed_in(world.intruder(intruder))
    form = {**FORM, "reconnect": str(world.connection.pk)}
    before = victim_state(world)

    status, location, text = _answer(client, method, _url(route, world.victim_values()), form)

    assert status < 500
    assert not shows_victim_data(text), (route, shows_victim_data(text))
    assert victim_state(world) == before
    if set(PARAM.findall(route)) - NOT_OBJECTS:
        missing = _answer(
            _signed_in(world.intruder(intruder)), method, _url(route, world.missing_values()), form
        )
        assert (status, location) == missing[:2]
        assert status in {302, 404, 405}
        assert victim_state(world) == before


@pytest.mark.parametrize("route", [route for route, callback in ROUTES if callback in PUBLIC_VIEWS])
def test_a_public_page_shows_only_what_the_page_is_for(route: str) -> None:
    world = build_world()
    before = victim_state(world)

    text = _signed_in(world.bob).get(_url(route, {"slug": world.intro.slug}), follow=True)

    assert text.status_code == 200
    assert "booker@secret.example" not in text.content.decode()
    assert victim_state(world) == before
