"""Mail to hosts about their calendar connection.

A connection that stops working (a revoked grant, a rejected password) makes the host's pages fail
closed; without a word the host would only notice when bookings stop. So the host is told once, when
the connection turns to "needs reconnect", in the host's own language.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, User
from yoyaku.accounts.selectors import meetings_connection
from yoyaku.formatting import greeting
from yoyaku.mail.services import queue_mail

logger = logging.getLogger(__name__)


def notify_needs_reconnect(*, connection_id: int) -> None:
    """Queue the mail to the host in the current transaction (sent after it commits).

    Call it only when the status has just changed to needs-reconnect, not on every failed read.
    """
    send_reconnect_notice(connection_id=connection_id)


def _what_waits(connection: CalendarConnection) -> str:
    """What stops until the connection is reconnected, by what it serves (a legacy account may hold a
    second connection that serves only the CRM)."""
    if meetings_connection(user=connection.user) == connection:
        return _(
            "Until you reconnect it, your scheduling pages offer no times: visitors can only "
            "leave meeting requests, and nothing is added to your calendar."
        )
    return _(
        "Until you reconnect it, meetings you create in the CRM are not added to this calendar. Your "
        "scheduling pages use your other calendar and keep taking bookings."
    )


def send_reconnect_notice(*, connection_id: int) -> None:
    """Tell the host which calendar to reconnect and where. Mail trouble is logged, nothing more."""
    try:
        connection = CalendarConnection.objects.select_related("user").filter(pk=connection_id).first()
        # Reconnected or removed meanwhile: nothing to tell.
        if connection is None or connection.status != ConnectionStatus.NEEDS_RECONNECT:
            return
        host = connection.user
        if not host.email:
            return
        names = {
            "provider": connection.get_provider_display(),
            "account": connection.account_email,
            "url": settings.YOYAKU_BASE_URL.rstrip("/") + reverse("settings-calendar"),
        }
        with translation.override(host.language or settings.LANGUAGE_CODE):
            subject = _("Reconnect your calendar: %(provider)s (%(account)s)") % names
            body = "\n\n".join(
                [
                    greeting(first_name=host.first_name or host.username, last_name=host.last_name),
                    _(
                        "Yoyaku can no longer read your %(provider)s calendar %(account)s: its access was "
                        "revoked or its password was not accepted."
                    )
                    % names,
                    _what_waits(connection),
                    _("Reconnect it in your calendar settings: %(url)s") % names,
                ]
            )
        queue_mail(EmailMessage(subject=subject, body=body, to=[host.email]))
    except Exception:
        logger.exception("Could not send the reconnect notice for calendar connection %s", connection_id)


def send_invitation(*, user: User, invited_by: User, path: str) -> None:
    """Queue the mail to an invited user with the signed link that sets their password, in the inviting
    admin's language (the new user has none yet). The admin can send it again from the workspace page."""
    base = settings.YOYAKU_BASE_URL.rstrip("/")
    names = {
        "admin": invited_by.display_name,
        "workspace": invited_by.workspace.name,
        "url": base + path,
        "username": user.username,
    }
    with translation.override(invited_by.language or settings.LANGUAGE_CODE):
        subject = _("%(admin)s invited you to Yoyaku") % names
        body = "\n\n".join(
            [
                _("%(admin)s invited you to the workspace “%(workspace)s” on Yoyaku.") % names,
                _("Set your password here to sign in (the link works once, for a few days): %(url)s") % names,
                _("Your username: %(username)s") % names,
            ]
        )
    reply_to = [invited_by.email] if invited_by.email else None
    queue_mail(EmailMessage(subject=subject, body=body, to=[user.email], reply_to=reply_to))
