"""The CRM pages: contacts (list and search, a contact's page and timeline, create, edit, merge) and
meetings (list with filters, a meeting's page, create on a contact, edit, cancel).

Thin views: reads through ``yoyaku.crm.selectors``, writes through ``yoyaku.crm.services``. Every
object named in an address is looked up in the signed-in user's workspace; another workspace's
answers 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST

from yoyaku.accounts.models import User
from yoyaku.crm import selectors
from yoyaku.crm.calendar_writes import retry_meeting_now
from yoyaku.crm.models import Contact, Meeting, MeetingOutcome, MeetingSource
from yoyaku.crm.services import (
    CannotMerge,
    CrmInputError,
    create_contact,
    create_crm_meeting,
    merge_contacts,
    update_contact,
    update_crm_meeting,
)
from yoyaku.web.dashboard import RETRYING
from yoyaku.web.forms import ContactForm, MeetingEditForm, MeetingForm, MergeForm
from yoyaku.web.host import host_user, in_user_zone

# The outcomes a person sets by hand ("requested" is a booking's state, set by the booking).
_OUTCOMES = [c for c in MeetingOutcome.choices if c[0] != MeetingOutcome.REQUESTED]


def _page_number(value: str | None) -> int:
    try:
        return max(int(value or 1), 1)
    except ValueError:
        return 1


def _id(value: str | None) -> int | None:
    """An id from the address, or None when it is missing or not one (then nothing is filtered by it)."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


def _contact(user: User, contact_id: int) -> Contact:
    try:
        return selectors.contact_of(workspace_id=user.workspace_id, contact_id=contact_id)
    except Contact.DoesNotExist as error:
        raise Http404 from error


def _meeting(user: User, meeting_id: int) -> Meeting:
    try:
        return selectors.meeting_of(workspace_id=user.workspace_id, meeting_id=meeting_id)
    except Meeting.DoesNotExist as error:
        raise Http404 from error


def _apply_errors(form: Any, error: CrmInputError) -> None:
    for field, message in error.errors.items():
        form.add_error(field if field in form.fields else None, message)


def _page(request: HttpRequest, user: User, template: str, context: dict[str, Any]) -> HttpResponse:
    with in_user_zone(user):
        return render(request, template, {"user_zone": user.time_zone, **context})


# -- contacts ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET"])
def contacts(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    query = request.GET.get("q", "")[:200]
    page = selectors.contacts_page(
        workspace_id=user.workspace_id, query=query, page=_page_number(request.GET.get("page"))
    )
    return _page(
        request,
        user,
        "web/crm_contacts.html",
        {"section": "contacts", "page": page, "query": query, "query_string": urlencode({"q": query})},
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_new(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    form = ContactForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            contact = create_contact(workspace=user.workspace, owner=user, **form.cleaned_data)
        except CrmInputError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, gettext("Contact added."))
            return redirect("crm-contact", contact_id=contact.pk)
    return _page(request, user, "web/crm_contact_form.html", {"section": "contacts", "form": form})


@login_required
@require_http_methods(["GET"])
def contact_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    user = host_user(request)
    contact = _contact(user, contact_id)
    now = timezone.now()
    timeline = selectors.contact_timeline(contact=contact)
    return _page(
        request,
        user,
        "web/crm_contact.html",
        {
            "section": "contacts",
            "contact": contact,
            "upcoming": [m for m in timeline if m.end >= now][::-1],
            "past": [m for m in timeline if m.end < now],
            "merge_form": MergeForm(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    user = host_user(request)
    contact = _contact(user, contact_id)
    if request.method == "POST":
        form = ContactForm(request.POST)
        if form.is_valid():
            try:
                update_contact(contact=contact, **form.cleaned_data)
            except CrmInputError as error:
                _apply_errors(form, error)
            else:
                messages.success(request, gettext("Contact saved."))
                return redirect("crm-contact", contact_id=contact.pk)
    else:
        form = ContactForm(
            initial={
                "email": contact.email,
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "time_zone": contact.time_zone,
            }
        )
    return _page(
        request, user, "web/crm_contact_form.html", {"section": "contacts", "form": form, "contact": contact}
    )


@login_required
@require_POST
def contact_merge(request: HttpRequest, contact_id: int) -> HttpResponse:
    user = host_user(request)
    keep = _contact(user, contact_id)
    form = MergeForm(request.POST)
    other = None
    if form.is_valid():
        other = selectors.contact_by_email(
            workspace_id=user.workspace_id, email=form.cleaned_data["other_email"]
        )
    if other is None:
        messages.error(request, gettext("No contact has that email address: check it and try again."))
        return redirect("crm-contact", contact_id=keep.pk)
    try:
        merge_contacts(keep=keep, merge=other)
    except CannotMerge as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            gettext("%(email)s was merged into this contact, with its meetings and bookings.")
            % {"email": other.email},
        )
    return redirect("crm-contact", contact_id=keep.pk)


# -- meetings ---------------------------------------------------------------------------------


def crm_only_message(reason: str) -> str:
    """Why a meeting made in the CRM is not on a calendar, for the pages."""
    if reason == "exchange":
        return gettext(
            "Your calendar is on Exchange, where Yoyaku may add meetings but never change or cancel them, "
            "so this meeting is logged in the CRM only: invite the contacts from Outlook."
        )
    if reason == "no_calendar":
        return gettext(
            "You have no calendar connected, so this meeting is logged in the CRM only and nobody is "
            "invited. Connect a calendar in Settings to have meetings added to it."
        )
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def meeting_new(request: HttpRequest, contact_id: int) -> HttpResponse:
    user = host_user(request)
    contact = _contact(user, contact_id)
    _connection, reason = selectors.crm_calendar(user=user)
    with in_user_zone(user):
        form = MeetingForm(request.POST if request.method == "POST" else None)
        valid = form.is_valid()
    if valid:
        try:
            create_crm_meeting(host=user, contacts=[contact], **form.cleaned_data)
        except CrmInputError as error:
            _apply_errors(form, error)
        else:
            if reason:
                messages.info(request, crm_only_message(reason))
            else:
                messages.success(
                    request,
                    gettext("Meeting created: it is being added to your calendar and the contact invited."),
                )
            return redirect("crm-contact", contact_id=contact.pk)
    return _page(
        request,
        user,
        "web/crm_meeting_form.html",
        {"section": "contacts", "form": form, "contact": contact, "crm_only": crm_only_message(reason)},
    )


@login_required
@require_http_methods(["GET"])
def meetings(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    when = request.GET.get("when", "")
    when = when if when in ("upcoming", "past") else ""
    outcome = request.GET.get("outcome", "")
    outcome = outcome if outcome in MeetingOutcome.values else ""
    host = request.GET.get("host", "")[:150]
    contact_id = _id(request.GET.get("contact"))
    source = request.GET.get("source", "")
    source = source if source in MeetingSource.values else ""
    page = selectors.meetings_page(
        workspace_id=user.workspace_id,
        now=timezone.now(),
        when=when,  # type: ignore[arg-type]
        outcome=outcome,
        host_username=host,
        contact_id=contact_id,
        source=source,
        page=_page_number(request.GET.get("page")),
    )
    filters = {"when": when, "outcome": outcome, "host": host, "source": source, "contact": contact_id or ""}
    contact = None
    if contact_id:
        contact = selectors.contact_of_or_none(workspace_id=user.workspace_id, contact_id=contact_id)
    return _page(
        request,
        user,
        "web/crm_meetings.html",
        {
            "section": "crm-meetings",
            "page": page,
            "filters": filters,
            "filter_contact": contact,
            "query_string": urlencode({k: v for k, v in filters.items() if v}),
            "outcomes": MeetingOutcome.choices,
            "sources": MeetingSource.choices,
            "hosts": selectors.workspace_hosts(workspace_id=user.workspace_id),
            "problems": selectors.calendar_problems(user=user),
        },
    )


def _edit_form(meeting: Meeting, *, locked: bool, data: Any = None) -> MeetingEditForm:
    return MeetingEditForm(
        data,
        outcomes=_OUTCOMES if meeting.outcome != MeetingOutcome.REQUESTED else MeetingOutcome.choices,
        locked=locked,
        initial={
            "title": meeting.title,
            "start": timezone.localtime(meeting.start),
            "end": timezone.localtime(meeting.end),
            "location": meeting.location,
            "description": meeting.description,
            "internal_notes": meeting.internal_notes,
            "outcome": meeting.outcome,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def meeting_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    user = host_user(request)
    meeting = _meeting(user, meeting_id)
    link = selectors.calendar_link_of(meeting=meeting) if meeting.source == MeetingSource.CALENDAR else None
    following = link is not None and link.linked
    # A booked meeting's time, title and place are its booking's; a calendar one's, its event's.
    locked = meeting.source == MeetingSource.BOOKING or following
    with in_user_zone(user):
        form = _edit_form(meeting, locked=locked, data=request.POST if request.method == "POST" else None)
        valid = form.is_valid()
    if valid:
        try:
            update_crm_meeting(meeting=meeting, **form.cleaned_data)
        except CrmInputError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, gettext("Meeting saved."))
            return redirect("crm-meeting", meeting_id=meeting.pk)
    return _page(
        request,
        user,
        "web/crm_meeting.html",
        {
            "section": "crm-meetings",
            "meeting": meeting,
            "form": form,
            "crm_only": crm_only_message(meeting.crm_only_reason),
            "booked": meeting.source == MeetingSource.BOOKING,
            "from_calendar": meeting.source == MeetingSource.CALENDAR,
            "following": following,
            "calendar_link": link,
            "attendance": selectors.meeting_attendance(
                meeting=meeting, organizer=link.organizer if link is not None else ""
            ),
        },
    )


@login_required
@require_POST
def meeting_cancel(request: HttpRequest, meeting_id: int) -> HttpResponse:
    user = host_user(request)
    meeting = _meeting(user, meeting_id)
    try:
        update_crm_meeting(meeting=meeting, outcome=MeetingOutcome.CANCELLED)
    except CrmInputError as error:
        messages.error(request, " ".join(error.errors.values()))
    else:
        messages.success(request, gettext("Meeting cancelled."))
    return redirect("crm-meeting", meeting_id=meeting.pk)


@login_required
@require_POST
def meeting_calendar_retry(request: HttpRequest, meeting_id: int) -> HttpResponse:
    """The "Retry now" button of a meeting whose calendar write or cancellation was given up."""
    meeting = retry_meeting_now(meeting=_meeting(host_user(request), meeting_id))
    if meeting.calendar_write in ("written", "cancelled"):
        messages.success(request, gettext("Your calendar shows the meeting as it is now."))
    elif meeting.calendar_write in ("pending", "cancel_pending") and meeting.calendar_attempts == 0:
        # Queued for the worker and not tried yet.
        messages.info(request, gettext(RETRYING))
    elif meeting.calendar_write in ("failed", "cancel_failed", "pending", "cancel_pending"):
        messages.error(
            request,
            gettext("It still failed: %(reason)s Yoyaku keeps trying in the background.")
            % {"reason": meeting.calendar_error},
        )
    return redirect("crm-meeting", meeting_id=meeting.pk)
