"""Host endpoints: working hours and meeting links (API key required)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from yoyaku.accounts.models import User
from yoyaku.api.auth import ApiKeyAuth
from yoyaku.api.schemas import (
    AvailabilityIn,
    AvailabilityOut,
    ErrorOut,
    MeetingLinkIn,
    MeetingLinkOut,
    MeetingLinkPatch,
)
from yoyaku.scheduling.host_services import create_link, delete_link, set_availability, update_link
from yoyaku.scheduling.models import Availability, MeetingLink, default_weekly_hours

router = Router(auth=ApiKeyAuth(), tags=["host"])


def _user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def _availability_out(user: User, availability: Availability | None) -> dict[str, Any]:
    return {
        "time_zone": user.time_zone,
        "weekly": availability.weekly if availability else default_weekly_hours(),
        "overrides": availability.overrides if availability else {},
    }


@router.get("/me/availability", response=AvailabilityOut)
def get_availability(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    return _availability_out(user, Availability.objects.filter(user=user).first())


@router.put("/me/availability", response={200: AvailabilityOut, 422: ErrorOut})
def put_availability(request: HttpRequest, payload: AvailabilityIn) -> dict[str, Any]:
    user = _user(request)
    availability = set_availability(
        user=user, time_zone=payload.time_zone, weekly=payload.weekly, overrides=payload.overrides
    )
    return _availability_out(user, availability)


def link_out(request: HttpRequest, link: MeetingLink) -> dict[str, Any]:
    data = {field: getattr(link, field) for field in MeetingLinkOut.model_fields if hasattr(link, field)}
    data["host_usernames"] = [h.username for h in link.hosts.order_by("id")]
    data["url"] = request.build_absolute_uri(f"/m/{link.slug}")
    return data


def _own_link(request: HttpRequest, slug: str) -> MeetingLink:
    return get_object_or_404(MeetingLink, slug=slug, owner=_user(request))


@router.get("/meeting-links", response=list[MeetingLinkOut])
def list_links(request: HttpRequest) -> list[dict[str, Any]]:
    links = MeetingLink.objects.filter(owner=_user(request)).order_by("slug").prefetch_related("hosts")
    return [link_out(request, link) for link in links]


@router.post("/meeting-links", response={201: MeetingLinkOut, 409: ErrorOut, 422: ErrorOut})
def post_link(request: HttpRequest, payload: MeetingLinkIn) -> Status[Any]:
    data = payload.model_dump()
    link = create_link(owner=_user(request), **data)
    return Status(201, link_out(request, link))


@router.get("/meeting-links/{slug}", response={200: MeetingLinkOut, 404: ErrorOut})
def get_link(request: HttpRequest, slug: str) -> dict[str, Any]:
    return link_out(request, _own_link(request, slug))


@router.patch("/meeting-links/{slug}", response={200: MeetingLinkOut, 404: ErrorOut, 422: ErrorOut})
def patch_link(request: HttpRequest, slug: str, payload: MeetingLinkPatch) -> dict[str, Any]:
    link = _own_link(request, slug)
    data = payload.model_dump(exclude_unset=True)
    link = update_link(link=link, **data)
    return link_out(request, link)


@router.delete("/meeting-links/{slug}", response={204: None, 404: ErrorOut})
def remove_link(request: HttpRequest, slug: str) -> Status[Any]:
    delete_link(link=_own_link(request, slug))
    return Status(204, None)
