"""Server-rendered pages. The public booking page renders its shell here; the
browser then talks to the public REST API (/api/v1/book/...) for slots and bookings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language, gettext, ngettext

from yoyaku.accounts.embedding import frame_ancestors
from yoyaku.accounts.models import Workspace
from yoyaku.formatting import family_name_first
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.selectors import link_hosts

# Offered in the time zone switcher besides the booker's detected zone (IANA names).
COMMON_TIME_ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Helsinki",
    "Africa/Johannesburg",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Seoul",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)


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
    }


def name_fields() -> list[tuple[str, str, str]]:
    """The booking form's name fields (name, label, autocomplete token) in the language's order."""
    fields = [
        ("first_name", gettext("First name"), "given-name"),
        ("last_name", gettext("Last name"), "family-name"),
    ]
    return fields[::-1] if family_name_first() else fields


def booking_page(request: HttpRequest, slug: str) -> HttpResponse:
    link = MeetingLink.objects.select_related("owner__workspace").filter(slug=slug, active=True).first()
    if link is None:
        return render(request, "web/link_not_found.html", status=404)
    durations = [int(d) for d in link.durations]
    config: dict[str, Any] = {
        "slug": link.slug,
        "availabilityUrl": reverse("api-v1:availability", kwargs={"slug": link.slug}),
        "bookUrl": reverse("api-v1:book", kwargs={"slug": link.slug}),
        "requestUrl": reverse("api-v1:leave_request", kwargs={"slug": link.slug}),
        "durations": durations,
        "host": host_label(link),
        "location": link.location,
        "language": get_language() or settings.LANGUAGE_CODE,
        "commonTimeZones": list(COMMON_TIME_ZONES),
        "formFields": [spec["key"] for spec in link.form_fields],
        # Where the page may send its height when framed (static/web/embed.js sizes the iframe).
        "embedOrigins": list(link.owner.workspace.embed_origins),
    }
    context = {
        "link": link,
        "host": config["host"],
        "durations": [(d, duration_label(d)) for d in durations],
        "location_is_url": link.location.startswith(("https://", "http://")),
        "form_fields": link.form_fields,
        "name_fields": name_fields(),
        "config": config,
        "strings": page_strings(),
        # A request holds its time only this long (scheduling.services.request_hold): the page says so.
        "request_hold_hours": f"{settings.YOYAKU_REQUEST_HOLD_HOURS:g}",
    }
    response = render(request, "web/booking.html", context)
    return allow_framing(response, workspace=link.owner.workspace)


def allow_framing(response: HttpResponse, *, workspace: Workspace) -> HttpResponse:
    """Let the sites the workspace allows show this booking page in an iframe, and nobody else.

    CSP ``frame-ancestors`` names them; X-Frame-Options cannot name a site (RFC 7034 leaves
    ALLOW-FROM unsupported by browsers), so it is left off this page only when a site is allowed.
    """
    response["Content-Security-Policy"] = frame_ancestors(workspace=workspace)
    if workspace.embed_origins:
        response.xframe_options_exempt = True  # type: ignore[attr-defined]
    return response
