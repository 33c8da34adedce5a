"""The working-hours editor: weekly hours with several spans a day, date overrides and days off,
and the time zone. Writes go through ``host_services.set_availability``, as the API's do."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from yoyaku.accounts.models import User
from yoyaku.scheduling.host_services import set_availability
from yoyaku.scheduling.models import Availability, MeetingLink, default_weekly_hours
from yoyaku.scheduling.validation import BookingInputError
from yoyaku.web import page_selectors
from yoyaku.web.host import host_user, in_user_zone
from yoyaku.web.page_forms import (
    HoursForm,
    OverrideFormSet,
    hours_initial,
    overrides_from,
    overrides_initial,
)


@login_required
@require_http_methods(["GET", "POST"])
def availability(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    stored = Availability.objects.filter(user=user).first()
    weekly = stored.weekly if stored else default_weekly_hours()
    overrides = stored.overrides if stored else {}
    status = 200
    if request.method == "POST" and request.POST.get("preview") == "1":
        return _preview(request, user)
    if request.method == "POST":
        form = HoursForm(request.POST)
        days = OverrideFormSet(request.POST, prefix="o")
        if form.is_valid() & days.is_valid():
            try:
                set_availability(
                    user=user,
                    time_zone=form.cleaned_data["time_zone"],
                    weekly=form.weekly(),
                    overrides=overrides_from(days),
                )
            except BookingInputError as error:
                for key, message in error.errors.items():
                    day = key.removeprefix("weekly.")
                    if key.startswith("weekly.") and f"day_{day}" in form.fields:
                        form.add_error(f"day_{day}", message)
                    else:
                        form.add_error(None, message)
            else:
                messages.success(request, gettext("Your hours are saved."))
                return redirect("availability")
        status = 422
    else:
        form = HoursForm(initial=hours_initial(time_zone=user.time_zone, weekly=weekly))
        days = OverrideFormSet(initial=overrides_initial(overrides), prefix="o")
    context: dict[str, Any] = {"section": "availability", "form": form, "days": days}
    # The preview follows the saved hours: the first page the user owns that takes bookings.
    link = page_selectors.own_links(user=user).filter(active=True).first()
    with in_user_zone(user):
        if link is not None:
            context["preview"] = page_selectors.week_preview(link=link, viewer=user, now=timezone.now())
        return render(request, "web/availability.html", context, status=status)


def _preview(request: HttpRequest, user: User) -> JsonResponse:
    """The editor's script asks while the host types: the errors by field, or the preview of the
    hours as typed (saved in a transaction that is rolled back, so nothing changes)."""
    form = HoursForm(request.POST)
    days = OverrideFormSet(request.POST, prefix="o")
    errors: dict[str, str] = {}
    if form.is_valid() & days.is_valid():
        link = page_selectors.own_links(user=user).filter(active=True).first()

        def write() -> MeetingLink | None:
            set_availability(
                user=user,
                time_zone=form.cleaned_data["time_zone"],
                weekly=form.weekly(),
                overrides=overrides_from(days),
            )
            return link

        try:
            with in_user_zone(user):
                preview = page_selectors.draft_preview(viewer=user, now=timezone.now(), write=write)
                html = render_to_string(
                    "web/preview_slots.html", {"preview": preview, "draft": True}, request=request
                )
        except BookingInputError as error:
            errors = {f"day_{k.removeprefix('weekly.')}": v for k, v in error.errors.items()}
        else:
            return JsonResponse({"errors": {}, "preview": html if preview is not None else ""})
    errors.update({name: " ".join(str(e) for e in errs) for name, errs in form.errors.items()})
    for index, day_form in enumerate(days.forms):
        for name, errs in day_form.errors.items():
            errors[f"o-{index}-{name}"] = " ".join(str(e) for e in errs)
    return JsonResponse({"errors": errors})
