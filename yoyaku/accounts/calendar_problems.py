"""What a calendar error means, told to the host in their language.

The adapters in ``yoyaku.calendars`` use no Django (so no gettext) and say precisely what went wrong
in English: which server, which status. Where a host sees such an error, the kind of the error (its
class) gives a translated sentence saying what it means and what to do; in a language other than
English the adapter's own words follow in parentheses, for whoever runs the server.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.translation import get_language, gettext, gettext_noop

from yoyaku.calendars.base import (
    CalendarAuthError,
    CalendarError,
    CalendarOperationNotSupported,
    CalendarUnavailable,
    EventGone,
    SyncTokenExpired,
)

# Most specific first: the first class the error is an instance of gives the sentence.
_MEANINGS: tuple[tuple[type[CalendarError], str], ...] = (
    (
        CalendarAuthError,
        gettext_noop(
            "Your calendar did not accept Yoyaku's sign-in (access revoked or password changed): "
            "reconnect it in the calendar settings."
        ),
    ),
    (
        CalendarUnavailable,
        gettext_noop(
            "Your calendar server could not be reached or kept failing; Yoyaku will try again later."
        ),
    ),
    (CalendarOperationNotSupported, gettext_noop("Your calendar does not let Yoyaku do this.")),
    (EventGone, gettext_noop("The event was deleted from your calendar.")),
    (SyncTokenExpired, gettext_noop("Your calendar asked Yoyaku to read it again from the start.")),
    (CalendarError, gettext_noop("Your calendar refused the request.")),
)


def calendar_problem(error: BaseException) -> str:
    """The message for ``error`` in the active language."""
    detail = str(error)
    if not isinstance(error, CalendarError):
        return gettext("Unexpected error from the calendar (%(kind)s): %(detail)s") % {
            "kind": type(error).__name__,
            "detail": detail,
        }
    if (get_language() or "en").startswith("en") and detail:
        return detail  # the adapter's own words are the most precise English there is
    meaning = next(gettext(text) for kind, text in _MEANINGS if isinstance(error, kind))
    return gettext("%(meaning)s (%(detail)s)") % {"meaning": meaning, "detail": detail} if detail else meaning


def calendar_problem_in(error: BaseException, *, language: str) -> str:
    """The message for ``error`` in ``language`` (a host's own), whatever language is active where it
    is written down (a background task, another person's request), cut to fit the columns that keep it."""
    with translation.override(language or settings.LANGUAGE_CODE):
        return calendar_problem(error)[:500]
