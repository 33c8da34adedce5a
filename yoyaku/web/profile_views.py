"""Settings > Profile: name, time zone, language, password and photo; and the photo itself.

Photos are served by ``photo`` (the user's own) and ``page_photo`` (a booking page's host, public
like the page): never as a folder, always as a re-encoded JPEG with headers that keep a browser
from reading it as anything else. Without a photo the answer is an SVG of the initials.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordChangeForm
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from yoyaku.accounts.models import User
from yoyaku.accounts.profile import (
    ProfileRefused,
    initials,
    photo_path,
    remove_photo,
    set_photo,
    update_profile,
)
from yoyaku.scheduling.models import MeetingLink
from yoyaku.web.forms import plain_password_help
from yoyaku.web.host import host_user
from yoyaku.web.page_forms import ProfileForm


def _render(
    request: HttpRequest,
    user: User,
    *,
    form: ProfileForm | None = None,
    password_form: PasswordChangeForm | None = None,
    status: int = 200,
) -> HttpResponse:
    passwords = password_form or PasswordChangeForm(user)
    plain_password_help(passwords)
    context = {
        "section": "settings",
        "tab": "profile",
        "form": form
        or ProfileForm(
            initial={
                "first_name": user.first_name,
                "last_name": user.last_name,
                "time_zone": user.time_zone,
                "language": user.language,
            }
        ),
        "password_form": passwords,
        "has_photo": bool(user.photo),
        "initials": initials(user=user),
    }
    return render(request, "web/settings_profile.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    if request.method == "GET":
        return _render(request, user)
    form = ProfileForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, user, form=form, status=422)
    data = form.cleaned_data
    language_before = user.language
    try:
        # The photo first: a refused upload (the likeliest refusal) leaves everything as it was.
        upload = data.get("photo")
        if data.get("remove_photo"):
            remove_photo(user=user)
        elif upload is not None:
            set_photo(user=user, upload=upload, size=upload.size or 0)
        update_profile(
            user=user,
            first_name=data["first_name"],
            last_name=data["last_name"],
            time_zone=data["time_zone"],
            language=data["language"],
        )
    except ProfileRefused as error:
        for field, message in error.errors.items():
            form.add_error(field if field in form.fields else None, message)
        return _render(request, user, form=form, status=422)
    messages.success(request, gettext("Your profile is saved."))
    response = redirect("settings-profile")
    if user.language != language_before:
        # A language the host just chose is spoken from the next page on; an unchanged one leaves
        # the browser's own choice (Accept-Language, the language switcher) alone.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            user.language,
            samesite="Lax",
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
        )
    return response


@login_required
@require_POST
def change_password(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    form = PasswordChangeForm(user, request.POST)
    if not form.is_valid():
        return _render(request, user, password_form=form, status=422)
    form.save()
    update_session_auth_hash(request, user)  # stay signed in on this browser
    messages.success(request, gettext("Your password is changed."))
    return redirect("settings-profile")


def photo_response(user: User) -> HttpResponse | FileResponse:
    path = photo_path(user=user)
    if path is not None:
        response: HttpResponse | FileResponse = FileResponse(path.open("rb"), content_type="image/jpeg")
    else:
        text = escape(initials(user=user))
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">'
            '<circle cx="32" cy="32" r="32" fill="#e8eefc"/>'
            '<text x="32" y="33" text-anchor="middle" dominant-baseline="middle" '
            'font-family="system-ui, sans-serif" font-size="24" font-weight="700" fill="#1f3a8a">'
            f"{text}</text></svg>"
        )
        response = HttpResponse(svg, content_type="image/svg+xml")
    # An image and nothing else: no script in an SVG, no sniffing into HTML.
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=300"
    return response


@login_required
@require_GET
def photo(request: HttpRequest) -> HttpResponse | FileResponse:
    return photo_response(host_user(request))


@require_GET
def page_photo(request: HttpRequest, slug: str) -> HttpResponse | FileResponse:
    """The photo (or initials) of a booking page's owner, public like the page itself."""
    link = MeetingLink.objects.select_related("owner").filter(slug=slug, active=True).first()
    if link is None:
        return HttpResponse(status=404)
    return photo_response(link.owner)
