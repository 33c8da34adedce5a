"""Server-rendered pages. The public booking page renders its shell here; the
browser then talks to the public REST API (/api/v1/book/...) for slots and bookings."""

from __future__ import annotations

import functools
import importlib.resources
import zoneinfo
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext

from yoyaku.accounts.embedding import frame_ancestors
from yoyaku.accounts.models import Workspace
from yoyaku.formatting import family_name_first
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.selectors import link_hosts, public_link


@functools.cache
def time_zone_names() -> list[str]:
    """Every zone the switcher offers: the tz database's zones by country (``zone.tab``) and UTC.

    ``zoneinfo.available_timezones()`` also lists the backward-compatible aliases (US/Eastern,
    Japan, Australia/ACT, Etc/GMT+5, ...): names kept for old data that would only repeat a zone
    already listed. zone.tab names each zone people live in once, with its current name.
    """
    known = zoneinfo.available_timezones()
    names = {name for name in _zone_tab_names() if name in known}
    # Without a zone.tab (a trimmed tz install), fall back to every name of the usual areas.
    if not names:
        names = {name for name in known if name.split("/", 1)[0] in _AREAS and "/" in name}
    return sorted(names | {"UTC"})


_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


def _tz_file(name: str) -> str:
    """A file of the tz database: from the tzdata package, else the system's (zoneinfo.TZPATH)."""
    try:
        return importlib.resources.files("tzdata.zoneinfo").joinpath(name).read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        for root in zoneinfo.TZPATH:
            candidate = Path(root) / name
            if candidate.is_file():
                return candidate.read_text("utf-8")
    return ""


def _zone_tab_names() -> list[str]:
    # Lines are "country<TAB>coordinates<TAB>zone[<TAB>comment]"; "#" starts a comment line.
    text = _tz_file("zone.tab")
    return [line.split("\t")[2] for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def time_zone_aliases() -> dict[str, str]:
    """Old names of listed zones, to the listed name: browsers report some zones by an old name
    (Chromium's ICU says Asia/Calcutta for Asia/Kolkata, Europe/Kiev for Europe/Kyiv)."""
    listed = set(time_zone_names())
    aliases = {}
    # tzdata.zi's link lines are "L <target> <old name>".
    for line in _tz_file("tzdata.zi").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "L" and parts[1] in listed and parts[2] not in listed:
            aliases[parts[2]] = parts[1]
    return aliases


def home(request: HttpRequest) -> HttpResponse:
    return redirect("/dashboard/" if request.user.is_authenticated else "/accounts/login/")


def duration_label(minutes: int) -> str:
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def too_many_attempts(minutes: int) -> str:
    """The refusal over the booking limit, with {minutes} left for the script to fill in."""
    return ngettext(
        "Too many attempts from your network. Try again in {minutes} minute.",
        "Too many attempts from your network. Try again in {minutes} minutes.",
        minutes,
    )


def host_label(link: MeetingLink) -> str:
    if link.kind == LinkKind.ROUND_ROBIN:
        return gettext("a member of the %(owner)s team") % {"owner": link.owner.display_name}
    names = [host.display_name for host in link_hosts(link=link)]
    return ", ".join(names)


def page_strings() -> dict[str, str]:
    """Strings the page's script shows, translated here so one catalogue covers the page.

    Placeholders are written {name} and filled in by the script.
    """
    return {
        "loading": gettext("Loading available times…"),
        "noTimesMonth": gettext("No available times in this month."),
        "noTimesDay": gettext("Pick a highlighted day to see its times."),
        "timesFor": gettext("Times on {date}"),
        "detected": gettext("{zone} (detected)"),
        "loadFailed": gettext("Available times could not be loaded. Check your connection and try again."),
        "retry": gettext("Try again"),
        "required": gettext("This field is required."),
        "fixFields": gettext("Some fields need fixing."),
        "sending": gettext("Sending…"),
        "book": gettext("Book this time"),
        "requestTime": gettext("Request this time"),
        "sendRequest": gettext("Send request"),
        "taken": gettext("Sorry, that time was just booked. Please pick another time."),
        "calendarDown": gettext(
            "The host's calendar can't be read right now, so this time can't be confirmed. "
            "You can leave a request instead."
        ),
        "networkError": gettext("The request could not be sent. Check your connection and try again."),
        "serverError": gettext("Something went wrong on our side. Please try again."),
        # The wait comes with the refusal (Retry-After), so the script picks the form; English and
        # Japanese need no more than these two.
        "tooManyOne": too_many_attempts(1),
        "tooManyOther": too_many_attempts(2),
        "tooManyLater": gettext("Too many attempts from your network. Try again later."),
        "bookedTitle": gettext("You're booked"),
        "bookedBody": gettext("Your meeting with {host} is confirmed."),
        "requestedTitle": gettext("Request sent"),
        "requestedBody": gettext("{host} will confirm the time with you by email."),
        "requestNoTimeBody": gettext("{host} will get back to you by email to find a time."),
        "emailSent": gettext("We've sent the details to {email}."),
        "receiptSent": gettext("We've sent a receipt to {email}; the reply will come there too."),
        "redirecting": gettext("Taking you onward…"),
        "prevMonth": gettext("Previous month"),
        "nextMonth": gettext("Next month"),
        "available": gettext("times available"),
        "noZone": gettext("No time zone matches. Try a city or an offset like +9."),
        "calendarDownMove": gettext(
            "The host's calendar can't be read right now, so new times can't be offered. "
            "Please try again later."
        ),
        "linkGone": gettext(
            "This link no longer works: the meeting was moved or cancelled, or its time has passed."
        ),
        "movedTitle": gettext("Your meeting was moved"),
        "movedBody": gettext("Your meeting with {host} is now at the new time."),
        "cancelledTitle": gettext("Your meeting was cancelled"),
        "cancelledShort": gettext("Cancelled"),
        "cancelledBody": gettext("Your meeting with {host} is cancelled, and the time is free again."),
        "updateSent": gettext("You'll get an email about the change."),
    }


def bookable_range(*, link: MeetingLink, now: datetime) -> dict[str, int | None]:
    """The first and last instants (epoch ms) the page can offer, for the month navigation.

    The same window as the engine's (``availability.engine._horizon``): the fixed dates in the
    owner's zone, else rolling weeks from now; None where it is open.
    """
    zone = ZoneInfo(link.owner.time_zone)
    first = now + timedelta(minutes=link.notice_minutes)
    last: datetime | None = None
    if link.fixed_start or link.fixed_end:
        if link.fixed_start:
            first = max(first, datetime.combine(link.fixed_start, time(0), zone))
        if link.fixed_end:
            last = datetime.combine(link.fixed_end, time(23, 59), zone)
    elif link.rolling_weeks is not None:
        last = now + timedelta(weeks=link.rolling_weeks)
    return {
        "firstInstant": int(first.timestamp() * 1000),
        "lastInstant": int(last.timestamp() * 1000) if last else None,
    }


def name_fields() -> list[tuple[str, str, str]]:
    """The booking form's name fields (name, label, autocomplete token) in the language's order."""
    fields = [
        ("first_name", gettext("First name"), "given-name"),
        ("last_name", gettext("Last name"), "family-name"),
    ]
    return fields[::-1] if family_name_first() else fields


def booking_page(request: HttpRequest, slug: str) -> HttpResponse:
    link = public_link(slug=slug)
    if link is None:
        return render(request, "web/link_not_found.html", status=404)
    response = render(request, "web/booking.html", booking_page_context(link=link))
    return allow_framing(response, workspace=link.owner.workspace)


def booking_page_context(
    *, link: MeetingLink, durations: list[int] | None = None, **config_changes: Any
) -> dict[str, Any]:
    """The booking page's template context; the manage pages change its config (their mode, URLs)."""
    durations = durations or [int(d) for d in link.durations]
    config: dict[str, Any] = {
        "mode": "book",
        "slug": link.slug,
        "availabilityUrl": reverse("api-v1:availability", kwargs={"slug": link.slug}),
        "bookUrl": reverse("api-v1:book", kwargs={"slug": link.slug}),
        "requestUrl": reverse("api-v1:leave_request", kwargs={"slug": link.slug}),
        "durations": durations,
        "host": host_label(link),
        "location": link.location,
        "language": get_language() or settings.LANGUAGE_CODE,
        "timeZones": time_zone_names(),
        "timeZoneAliases": time_zone_aliases(),
        "formFields": [spec["key"] for spec in link.form_fields],
        # Where the page may send its height when framed (static/web/embed.js sizes the iframe).
        "embedOrigins": list(link.owner.workspace.embed_origins),
        **bookable_range(link=link, now=timezone.now()),
        **config_changes,
    }
    return {
        "link": link,
        "host": config["host"],
        "mode": config["mode"],
        "durations": [(d, duration_label(d)) for d in durations],
        "location_is_url": link.location.startswith(("https://", "http://")),
        "form_fields": link.form_fields,
        "name_fields": name_fields(),
        "config": config,
        "strings": page_strings(),
        # A request holds its time only this long (scheduling.services.request_hold): the page says so.
        "request_hold_hours": f"{settings.YOYAKU_REQUEST_HOLD_HOURS:g}",
    }


def allow_framing(response: HttpResponse, *, workspace: Workspace) -> HttpResponse:
    """Let the sites the workspace allows show this booking page in an iframe, and nobody else.

    CSP ``frame-ancestors`` names them; X-Frame-Options cannot name a site (RFC 7034 leaves
    ALLOW-FROM unsupported by browsers), so it is left off this page only when a site is allowed.
    """
    response["Content-Security-Policy"] = frame_ancestors(workspace=workspace)
    if workspace.embed_origins:
        response.xframe_options_exempt = True  # type: ignore[attr-defined]
    return response
