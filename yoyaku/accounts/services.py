from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from yoyaku.accounts.models import ApiKey, InboxConnection, Seat, User, Workspace, WorkspaceRole

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
