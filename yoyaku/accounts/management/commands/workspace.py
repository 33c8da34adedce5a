"""Run workspaces from the command line until they have pages of their own.

Every action names the workspace it acts in, and refuses to reach a user of another one.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from yoyaku.accounts.models import Seat, User, Workspace, WorkspaceRole
from yoyaku.accounts.services import (
    WorkspaceRefusal,
    assign_seat,
    create_user,
    create_workspace,
    mark_inbox_shared,
    move_user,
    release_seat,
    set_personal_email_use,
)
from yoyaku.scheduling.host_services import update_link
from yoyaku.scheduling.models import MeetingLink
from yoyaku.scheduling.validation import BookingInputError


class Command(BaseCommand):
    help = "Create workspaces and manage their users, permissions, seats, shared inboxes and co-hosts."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="action")

        sub.add_parser("list", help="List the workspaces with their users.")

        create = sub.add_parser("create", help="Create a workspace and print its id.")
        create.add_argument("name")

        add = sub.add_parser(
            "add-user",
            help="Put a user into a workspace with a role: creates the user when the name is new, "
            "moves them otherwise (seats, shared inboxes and co-hosting in the old workspace end).",
        )
        add.add_argument("workspace", help="The workspace's id or exact name.")
        add.add_argument("username")
        add.add_argument("--role", choices=WorkspaceRole.values, default=WorkspaceRole.MEMBER)
        add.add_argument("--email", default="", help="For a new user.")

        for name, text in (
            ("grant-personal-email", "Allow a user to connect their own calendar and inbox."),
            ("revoke-personal-email", "Stop a user from connecting their own calendar and inbox."),
        ):
            grant = sub.add_parser(name, help=text)
            grant.add_argument("workspace")
            grant.add_argument("username")

        seat = sub.add_parser("assign-seat", help="Give a user of the workspace a seat of a hub and tier.")
        seat.add_argument("workspace")
        seat.add_argument("username")
        seat.add_argument("--hub", choices=Seat.Hub.values, required=True)
        seat.add_argument("--tier", choices=Seat.Tier.values, required=True)

        release = sub.add_parser("release-seat", help="Take a user's seat of a hub back (it stays free).")
        release.add_argument("workspace")
        release.add_argument("username")
        release.add_argument("--hub", choices=Seat.Hub.values, required=True)

        inbox = sub.add_parser("share-inbox", help="Mark the workspace's inbox of an address as shared.")
        inbox.add_argument("workspace")
        inbox.add_argument("email")
        inbox.add_argument("--unshare", action="store_true", help="Mark it personal again.")

        hosts = sub.add_parser(
            "set-hosts", help="Set the hosts of a page: users of the page owner's workspace only."
        )
        hosts.add_argument("workspace")
        hosts.add_argument("slug")
        hosts.add_argument("usernames", nargs="+")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            getattr(self, "_" + action.replace("-", "_"))(options)
        except WorkspaceRefusal as error:
            raise CommandError(str(error)) from error
        except BookingInputError as error:
            raise CommandError(" ".join(error.errors.values())) from error

    # -- helpers -------------------------------------------------------------------------

    def _workspace(self, ref: str) -> Workspace:
        matches = list(Workspace.objects.filter(pk=int(ref)) if ref.isdigit() else [])
        matches = matches or list(Workspace.objects.filter(name=ref))
        if not matches:
            raise CommandError(f"No workspace {ref!r} (give its id or exact name; `workspace list`).")
        if len(matches) > 1:
            raise CommandError(f"Several workspaces are named {ref!r}: give the id.")
        return matches[0]

    def _user(self, workspace: Workspace, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None or user.workspace_id != workspace.pk:
            raise CommandError(f"No user {username!r} in the workspace {workspace.name}.")
        return user

    # -- actions -------------------------------------------------------------------------

    def _list(self, options: dict[str, Any]) -> None:
        for workspace in Workspace.objects.order_by("pk").prefetch_related("users"):
            self.stdout.write(f"{workspace.pk}\t{workspace.name}")
            for user in sorted(workspace.users.all(), key=lambda u: u.username):
                flags = [user.workspace_role]
                if user.can_use_personal_email:
                    flags.append("personal-email")
                self.stdout.write(f"\t{user.username}\t{', '.join(flags)}")

    def _create(self, options: dict[str, Any]) -> None:
        workspace = create_workspace(name=options["name"])
        self.stdout.write(str(workspace.pk))

    def _add_user(self, options: dict[str, Any]) -> None:
        workspace = self._workspace(options["workspace"])
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            user = create_user(
                username=options["username"],
                workspace=workspace,
                role=options["role"],
                email=options["email"],
            )
            self.stdout.write(
                f"Created {user.username} in {workspace.name} as {options['role']}; "
                f"set a password with `manage.py changepassword {user.username}`."
            )
            return
        moved = user.workspace_id != workspace.pk
        move_user(user=user, workspace=workspace, role=options["role"])
        verb = "Moved" if moved else "Kept"
        self.stdout.write(f"{verb} {user.username} in {workspace.name} as {options['role']}.")

    def _grant_personal_email(self, options: dict[str, Any], allowed: bool = True) -> None:
        workspace = self._workspace(options["workspace"])
        user = self._user(workspace, options["username"])
        set_personal_email_use(workspace=workspace, user=user, allowed=allowed)
        state = "may" if allowed else "may not"
        self.stdout.write(f"{user.username} {state} use their personal email and calendar.")

    def _revoke_personal_email(self, options: dict[str, Any]) -> None:
        self._grant_personal_email(options, allowed=False)

    def _assign_seat(self, options: dict[str, Any]) -> None:
        workspace = self._workspace(options["workspace"])
        user = self._user(workspace, options["username"])
        seat = assign_seat(workspace=workspace, user=user, hub=options["hub"], tier=options["tier"])
        self.stdout.write(f"{user.username} holds the {seat.hub} seat ({seat.tier}).")

    def _release_seat(self, options: dict[str, Any]) -> None:
        workspace = self._workspace(options["workspace"])
        user = self._user(workspace, options["username"])
        count = release_seat(workspace=workspace, user=user, hub=options["hub"])
        self.stdout.write(f"Released {count} seat(s).")

    def _share_inbox(self, options: dict[str, Any]) -> None:
        workspace = self._workspace(options["workspace"])
        shared = not options["unshare"]
        count = mark_inbox_shared(workspace=workspace, email=options["email"], shared=shared)
        state = "shared" if shared else "personal"
        self.stdout.write(f"Marked {count} inbox(es) of {options['email']} {state}.")

    def _set_hosts(self, options: dict[str, Any]) -> None:
        workspace = self._workspace(options["workspace"])
        link = MeetingLink.objects.filter(slug=options["slug"], owner__workspace=workspace).first()
        if link is None:
            raise CommandError(f"No page /m/{options['slug']} in the workspace {workspace.name}.")
        update_link(link=link, host_usernames=options["usernames"])
        self.stdout.write(f"/m/{link.slug} is hosted by {', '.join(options['usernames'])}.")
