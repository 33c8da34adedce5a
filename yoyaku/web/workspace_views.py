"""Settings > Workspace, for the workspace's admins: users (invite by email, roles, deactivate), the
"personal email use" permission, seats, shared inboxes and which calendar events the CRM logs.
Members get 404, as if the page did not exist.

Thin views over the services the `workspace` command uses (``yoyaku.accounts.services``); every user
named in an address is looked up within the admin's own workspace.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from yoyaku.accounts.models import CalendarLogScope, Seat, User, WorkspaceRole
from yoyaku.accounts.notifications import send_invitation
from yoyaku.accounts.selectors import workspace_inboxes, workspace_members
from yoyaku.accounts.services import (
    WorkspaceRefusal,
    assign_seat,
    invitation_path,
    invite_user,
    invited_user,
    mark_inbox_shared,
    release_seat,
    set_active,
    set_calendar_log_scope,
    set_personal_email_use,
    set_role,
)
from yoyaku.web.forms import InviteForm, SeatForm, plain_password_help
from yoyaku.web.host import host_user


def _admin(request: HttpRequest) -> User:
    user = host_user(request)
    if not user.is_workspace_admin:
        raise Http404  # a member is told nothing of the page
    return user


def _member_of(admin: User, user_id: int) -> User:
    user = User.objects.filter(pk=user_id, workspace_id=admin.workspace_id).first()
    if user is None:
        raise Http404
    return user


@login_required
@require_GET
def workspace_page(request: HttpRequest) -> HttpResponse:
    admin = _admin(request)
    context = {
        "section": "settings",
        "tab": "workspace",
        "workspace": admin.workspace,
        "members": workspace_members(workspace_id=admin.workspace_id),
        "inboxes": workspace_inboxes(workspace_id=admin.workspace_id),
        "invite_form": InviteForm(),
        "seat_form": SeatForm(),
        "roles": WorkspaceRole.choices,
        "hubs": Seat.Hub.choices,
        "calendar_log_scopes": CalendarLogScope.choices,
    }
    return render(request, "web/settings_workspace.html", context)


def _done(request: HttpRequest, text: str) -> HttpResponse:
    messages.success(request, text)
    return redirect("settings-workspace")


def _refused(request: HttpRequest, error: WorkspaceRefusal) -> HttpResponse:
    messages.error(request, str(error))
    return redirect("settings-workspace")


@login_required
@require_POST
def invite(request: HttpRequest) -> HttpResponse:
    admin = _admin(request)
    form = InviteForm(request.POST)
    if not form.is_valid():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("Nobody was invited. %(reason)s") % {"reason": reasons})
        return redirect("settings-workspace")
    try:
        # The user and the invitation mail (queued) are committed together.
        with transaction.atomic():
            user = invite_user(
                workspace=admin.workspace, email=form.cleaned_data["email"], role=form.cleaned_data["role"]
            )
            send_invitation(user=user, invited_by=admin, path=invitation_path(user=user))
    except WorkspaceRefusal as error:
        return _refused(request, error)
    return _done(request, gettext("Invitation sent to %(email)s.") % {"email": user.email})


@login_required
@require_POST
def resend_invitation(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin(request)
    user = _member_of(admin, user_id)
    if user.has_usable_password() or not user.is_active:
        messages.info(request, gettext("%(name)s has already set a password.") % {"name": user.username})
        return redirect("settings-workspace")
    send_invitation(user=user, invited_by=admin, path=invitation_path(user=user))
    return _done(request, gettext("Invitation sent to %(email)s.") % {"email": user.email})


@login_required
@require_POST
def change_role(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin(request)
    user = _member_of(admin, user_id)
    role = request.POST.get("role", "")
    if role not in WorkspaceRole.values:
        messages.error(request, gettext("Choose a role: admin or member."))
        return redirect("settings-workspace")
    try:
        set_role(workspace=admin.workspace, user=user, role=role)
    except WorkspaceRefusal as error:
        return _refused(request, error)
    return _done(
        request,
        gettext("%(name)s is now %(role)s.") % {"name": user.username, "role": WorkspaceRole(role).label},
    )


@login_required
@require_POST
def change_active(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin(request)
    user = _member_of(admin, user_id)
    active = request.POST.get("active") == "1"
    if user.pk == admin.pk and not active:
        messages.error(request, gettext("You cannot deactivate yourself."))
        return redirect("settings-workspace")
    try:
        set_active(workspace=admin.workspace, user=user, active=active)
    except WorkspaceRefusal as error:
        return _refused(request, error)
    text = gettext("%(name)s can sign in again.") if active else gettext("%(name)s is deactivated.")
    return _done(request, text % {"name": user.username})


@login_required
@require_POST
def change_personal_email(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin(request)
    user = _member_of(admin, user_id)
    allowed = request.POST.get("allowed") == "1"
    set_personal_email_use(workspace=admin.workspace, user=user, allowed=allowed)
    text = (
        gettext("%(name)s may use their personal email and calendar.")
        if allowed
        else gettext("%(name)s may no longer connect their personal email and calendar.")
    )
    return _done(request, text % {"name": user.username})


@login_required
@require_POST
def change_seat(request: HttpRequest, user_id: int) -> HttpResponse:
    admin = _admin(request)
    user = _member_of(admin, user_id)
    form = SeatForm(request.POST)
    if not form.is_valid():
        reasons = " ".join(str(e) for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("The seat was not changed. %(reason)s") % {"reason": reasons})
        return redirect("settings-workspace")
    hub, tier = form.cleaned_data["hub"], form.cleaned_data["tier"]
    try:
        if tier == "none":
            release_seat(workspace=admin.workspace, user=user, hub=hub)
        else:
            assign_seat(workspace=admin.workspace, user=user, hub=hub, tier=tier)
    except WorkspaceRefusal as error:
        return _refused(request, error)
    return _done(request, gettext("Seats of %(name)s saved.") % {"name": user.username})


@login_required
@require_POST
def share_inbox(request: HttpRequest) -> HttpResponse:
    admin = _admin(request)
    shared = request.POST.get("shared") == "1"
    email = request.POST.get("email", "")
    try:
        mark_inbox_shared(workspace=admin.workspace, email=email, shared=shared)
    except WorkspaceRefusal:
        messages.error(request, gettext("No inbox of that address is connected in your workspace."))
        return redirect("settings-workspace")
    text = (
        gettext("%(email)s is a shared inbox.") if shared else gettext("%(email)s is a personal inbox again.")
    )
    return _done(request, text % {"email": email.strip()})


@login_required
@require_POST
def change_calendar_log_scope(request: HttpRequest) -> HttpResponse:
    admin = _admin(request)
    try:
        set_calendar_log_scope(workspace=admin.workspace, scope=request.POST.get("scope", ""))
    except WorkspaceRefusal as error:
        return _refused(request, error)
    return _done(request, gettext("Saved: which calendar events the CRM logs."))


@never_cache
@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The invitation link: the invited user sets a password and is signed in. A used, expired or
    forged link says so, and nothing else."""
    user = invited_user(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "web/invitation.html", {"invalid": True}, status=404)
    form = SetPasswordForm(user, request.POST or None)
    plain_password_help(form)
    if request.method == "POST" and form.is_valid():
        form.save()
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        messages.success(request, gettext("Welcome to Yoyaku. Your password is set."))
        return redirect("dashboard")
    return render(request, "web/invitation.html", {"form": form, "invited": user})
