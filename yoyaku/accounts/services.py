from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from yoyaku.accounts.models import (
    ApiKey,
    CalendarLogScope,
    InboxConnection,
    Seat,
    User,
    Workspace,
    WorkspaceRole,
)

KEY_PREFIX = "yk_"


def create_api_key(*, user: User, name: str = "default") -> str:
    """Make a key and return it; only its hash is kept, so this is the one time it is seen."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    ApiKey.objects.create(user=user, name=name, prefix=raw[:10], key_hash=ApiKey.hash_key(raw))
    return raw


def user_for_api_key(*, raw: str) -> User | None:
    if not raw.startswith(KEY_PREFIX) or len(raw) > 100:
        return None
    key = ApiKey.objects.select_related("user").filter(key_hash=ApiKey.hash_key(raw), revoked=False).first()
    if key is None or not key.user.is_active:
        return None
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key.user


def revoke_api_key(*, user: User, key_id: int) -> bool:
    """Stop a key from working; returns False when the user has no such live key.

    The row stays (revoked) so that an old key presented later is recognised as revoked, not unknown.
    """
    return ApiKey.objects.filter(pk=key_id, user=user, revoked=False).update(revoked=True) == 1


# -- workspaces --------------------------------------------------------------------------
#
# Every write that names users, seats or inboxes checks they belong to the workspace it acts in:
# nothing is granted, assigned or shared across workspaces.


class WorkspaceRefusal(ValueError):
    """An action that would cross workspaces, or name something the workspace does not hold."""


def create_workspace(*, name: str) -> Workspace:
    name = name.strip()
    if not name:
        raise WorkspaceRefusal("Give the workspace a name.")
    return Workspace.objects.create(name=name[:200])


def create_user(
    *,
    username: str,
    workspace: Workspace,
    role: str = WorkspaceRole.MEMBER,
    email: str = "",
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    **fields: Any,
) -> User:
    """Make a user of ``workspace``; the one way users come into being, so none is left without one."""
    if role not in WorkspaceRole.values:
        raise WorkspaceRefusal(f"The role must be one of: {', '.join(WorkspaceRole.values)}.")
    return User.objects.create_user(
        username=username,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        workspace=workspace,
        workspace_role=role,
        **fields,
    )


def move_user(*, user: User, workspace: Workspace, role: str = WorkspaceRole.MEMBER) -> User:
    """Put a user into another workspace (or change their role in theirs).

    What tied them to the old workspace is undone, so nothing crosses over: their seats are freed,
    their shared-inbox marks dropped, they leave other owners' pages, their own pages lose the
    old workspace's co-hosts (a group or round robin page left with one host is deactivated), and
    the old workspace's contacts they owned lose their owner.
    """
    from yoyaku.crm.models import Contact
    from yoyaku.scheduling.models import LinkKind, MeetingLink

    if role not in WorkspaceRole.values:
        raise WorkspaceRefusal(f"The role must be one of: {', '.join(WorkspaceRole.values)}.")
    with transaction.atomic():
        if user.workspace_id != workspace.pk:
            Seat.objects.filter(user=user).update(user=None)
            InboxConnection.objects.filter(user=user, shared=True).update(shared=False)
            Contact.objects.filter(owner=user).exclude(workspace=workspace).update(owner=None)
            for link in MeetingLink.objects.filter(hosts=user).exclude(owner=user):
                link.hosts.remove(user)
            for link in MeetingLink.objects.filter(owner=user):
                link.hosts.set([user])
                if link.kind != LinkKind.ONE_ON_ONE and link.active:
                    link.active = False
                    link.save(update_fields=["active"])
            user.workspace = workspace
        user.workspace_role = role
        user.save(update_fields=["workspace", "workspace_role"])
    return user


def _member(*, workspace: Workspace, user: User) -> None:
    if user.workspace_id != workspace.pk:
        raise WorkspaceRefusal(f"{user.username} is not a user of the workspace {workspace.name}.")


def set_personal_email_use(*, workspace: Workspace, user: User, allowed: bool) -> User:
    _member(workspace=workspace, user=user)
    User.objects.filter(pk=user.pk).update(can_use_personal_email=allowed)
    user.can_use_personal_email = allowed
    return user


def assign_seat(*, workspace: Workspace, user: User, hub: str, tier: str) -> Seat:
    """Give ``user`` a seat of ``hub`` at ``tier``: a free seat of the workspace if there is one, else
    a new one. Seats never go to users of another workspace."""
    _member(workspace=workspace, user=user)
    if hub not in Seat.Hub.values:
        raise WorkspaceRefusal(f"The hub must be one of: {', '.join(Seat.Hub.values)}.")
    if tier not in Seat.Tier.values:
        raise WorkspaceRefusal(f"The tier must be one of: {', '.join(Seat.Tier.values)}.")
    with transaction.atomic():
        seat = Seat.objects.filter(workspace=workspace, hub=hub, user=user).first()
        seat = seat or Seat.objects.filter(workspace=workspace, hub=hub, tier=tier, user=None).first()
        seat = seat or Seat(workspace=workspace, hub=hub)
        seat.tier, seat.user = tier, user
        seat.save()
    return seat


def release_seat(*, workspace: Workspace, user: User, hub: str) -> int:
    _member(workspace=workspace, user=user)
    return Seat.objects.filter(workspace=workspace, user=user, hub=hub).update(user=None)


def mark_inbox_shared(*, workspace: Workspace, email: str, shared: bool = True) -> int:
    """Mark (or unmark) the workspace's inboxes of ``email`` as a team's shared inbox; returns how many."""
    inboxes = InboxConnection.objects.filter(user__workspace=workspace, email__iexact=email.strip())
    count = inboxes.update(shared=shared)
    if not count:
        raise WorkspaceRefusal(f"No inbox {email} is connected in the workspace {workspace.name}.")
    return count


# -- workspace administration (Settings > Workspace) ----------------------------------------
#
# The same services the `workspace` command uses, plus what only a page needs: inviting by email,
# deactivating, and the guard that a workspace never loses its last active admin.


def _refused(message: str, **values: object) -> WorkspaceRefusal:
    from django.utils.translation import gettext

    return WorkspaceRefusal(gettext(message) % values if values else gettext(message))


def _username_for(email: str) -> str:
    base = "".join(c for c in email.split("@")[0].lower() if c.isalnum() or c in "._-")[:120] or "user"
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}{n}"
    return name


def invite_user(*, workspace: Workspace, email: str, role: str = WorkspaceRole.MEMBER) -> User:
    """Make a user of ``workspace`` for ``email`` without a password; the invitation link sets it.

    Refused for an address a user of the instance already has (whatever the workspace: the answer
    does not say which), so one person never ends up with two accounts.
    """
    email = User.objects.normalize_email(email.strip())
    if role not in WorkspaceRole.values:
        raise WorkspaceRefusal(f"The role must be one of: {', '.join(WorkspaceRole.values)}.")
    if User.objects.filter(email__iexact=email).exists():
        raise _refused(gettext_noop("A user with this email address already exists."))
    with transaction.atomic():
        user = create_user(username=_username_for(email), workspace=workspace, role=role, email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def invitation_path(*, user: User) -> str:
    """The signed link that lets an invited user set a password: Django's password-reset token, which
    stops working once the password is set (or after PASSWORD_RESET_TIMEOUT)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("invitation", kwargs={"uidb64": uidb64, "token": default_token_generator.make_token(user)})


def invited_user(*, uidb64: str, token: str) -> User | None:
    """The user an invitation link names, if its token is still good (and the user active)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_str
    from django.utils.http import urlsafe_base64_decode

    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def _keeps_an_admin(*, workspace: Workspace, user: User) -> None:
    others = User.objects.filter(workspace=workspace, workspace_role=WorkspaceRole.ADMIN, is_active=True)
    if not others.exclude(pk=user.pk).exists():
        raise _refused(
            gettext_noop("The workspace needs at least one active admin: make another user admin first.")
        )


def set_role(*, workspace: Workspace, user: User, role: str) -> User:
    _member(workspace=workspace, user=user)
    if role != WorkspaceRole.ADMIN and user.workspace_role == WorkspaceRole.ADMIN:
        _keeps_an_admin(workspace=workspace, user=user)
    return move_user(user=user, workspace=workspace, role=role)


def set_active(*, workspace: Workspace, user: User, active: bool) -> User:
    """Deactivate (or reactivate) a user of the workspace: a deactivated user cannot sign in and their API
    keys stop working. Nothing of theirs is deleted."""
    _member(workspace=workspace, user=user)
    if not active and user.workspace_role == WorkspaceRole.ADMIN:
        _keeps_an_admin(workspace=workspace, user=user)
    User.objects.filter(pk=user.pk).update(is_active=active)
    user.is_active = active
    return user


def set_calendar_log_scope(*, workspace: Workspace, scope: str) -> Workspace:
    """Which calendar events the CRM logs as meetings (``crm.calendar_log``): those with a contact of the
    workspace, or those with anyone from outside it, who then becomes a contact. Applies to events the
    sync hands over from now on; meetings already logged stay."""
    if scope not in CalendarLogScope.values:
        raise _refused(gettext_noop("Choose which calendar events are logged: contacts or external."))
    Workspace.objects.filter(pk=workspace.pk).update(calendar_log_scope=scope)
    workspace.calendar_log_scope = scope
    return workspace
