"""Forms of the host pages. They only check shape; the services decide what is allowed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.password_validation import password_validators_help_texts
from django.utils.translation import gettext_lazy as _

from yoyaku.accounts.models import Seat, WorkspaceRole
from yoyaku.accounts.validators import validate_calendar_url
from yoyaku.calendars.base import CalendarInfo


def plain_password_help(form: forms.Form, field: str = "new_password1") -> None:
    """Show the password rules as plain sentences: Django's help text for the field is an HTML list."""
    form.fields[field].help_text = " ".join(password_validators_help_texts())


class ExchangeForm(forms.Form):
    # The Exchange and CalDAV forms share a page (and field names): their element ids must differ.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "exchange-%s")
        super().__init__(*args, **kwargs)

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    # Never rendered back: a failed attempt shows the form again without it.
    password = forms.CharField(
        label=_("Password"),
        max_length=500,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}, render_value=False),
    )
    username = forms.CharField(
        label=_("Username"),
        required=False,
        max_length=200,
        help_text=_("Only if it differs from the email address, for example DOMAIN\\user."),
        widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": "false"}),
    )
    ews_url = forms.URLField(
        label=_("Exchange URL"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_(
            "The EWS address, like https://mail.example.com/EWS/Exchange.asmx — not the Outlook Web App "
            "address. Leave it empty and Yoyaku finds it with autodiscover."
        ),
        widget=forms.URLInput(
            attrs={"placeholder": "https://mail.example.com/EWS/Exchange.asmx", "spellcheck": "false"}
        ),
    )


class CalDAVForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "caldav-%s")
        super().__init__(*args, **kwargs)

    url = forms.CharField(
        label=_("Server URL"),
        max_length=500,
        validators=[validate_calendar_url],
        help_text=_(
            "The address of the CalDAV server or of your calendar, for example https://dav.example.com/."
        ),
        # Text, not type=url: a bare host name is accepted and https:// is assumed.
        widget=forms.TextInput(
            attrs={"placeholder": "https://dav.example.com/", "inputmode": "url", "spellcheck": "false"}
        ),
    )
    username = forms.CharField(
        label=_("Username"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "username", "spellcheck": "false"}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=500,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}, render_value=False),
    )


class CalendarSettingsForm(forms.Form):
    conflict_calendar_ids = forms.MultipleChoiceField(
        label=_("Check these calendars for conflicts"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Check at least one calendar.")},
    )
    write_calendar_id = forms.ChoiceField(
        label=_("Add new meetings to"),
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose the calendar that receives new meetings.")},
    )
    tentative_blocks = forms.BooleanField(
        label=_("Tentative events block time"),
        required=False,
        help_text=_(
            "When off, events you answered “maybe” to, and invitations you have not answered yet, "
            "leave the time open for bookings."
        ),
    )

    def __init__(self, *args: Any, calendars: list[CalendarInfo], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        conflict = self.fields["conflict_calendar_ids"]
        write = self.fields["write_calendar_id"]
        assert isinstance(conflict, forms.MultipleChoiceField) and isinstance(write, forms.ChoiceField)
        conflict.choices = [(c.id, c.name or c.id) for c in calendars]
        # Only calendars Yoyaku may write to can receive meetings.
        write.choices = [(c.id, c.name or c.id) for c in calendars if c.writable]


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Key name"),
        max_length=100,
        help_text=_("A name to tell your keys apart, for example the tool that uses it."),
    )


class RescheduleForm(forms.Form):
    """A new time for a meeting, as the host's date and time picker sends it.

    Read in the active time zone (the host's: views clean it inside ``in_user_zone``).
    """

    start = forms.DateTimeField(
        label=_("New start"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    duration = forms.TypedChoiceField(label=_("Length"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, durations: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["duration"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [(d, _("%(minutes)s minutes") % {"minutes": d}) for d in durations]


class ConfirmRequestForm(forms.Form):
    """The time a request is confirmed for: empty means the time asked for. Read in the host's zone."""

    start = forms.DateTimeField(
        label=_("Start"), required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
    )


class ReasonForm(forms.Form):
    """An optional message for the contact: why a meeting is cancelled or a request declined."""

    reason = forms.CharField(
        label=_("Message for the contact (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=WorkspaceRole.choices, initial=WorkspaceRole.MEMBER)


class SeatForm(forms.Form):
    hub = forms.ChoiceField(label=_("Hub"), choices=Seat.Hub.choices)
    tier = forms.ChoiceField(label=_("Tier"), choices=[("none", _("No seat")), *Seat.Tier.choices])


# -- the CRM ---------------------------------------------------------------------------------


class ContactForm(forms.Form):
    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    time_zone = forms.CharField(
        label=_("Time zone"),
        max_length=64,
        required=False,
        help_text=_("An IANA name such as Asia/Tokyo or Europe/Berlin."),
    )


class MergeForm(forms.Form):
    other_email = forms.EmailField(
        label=_("Email address of the contact to merge into this one"),
        max_length=254,
        help_text=_("Its meetings and bookings move here; this contact keeps its own details."),
    )


_PICKER = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
_PICKER_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


class MeetingForm(forms.Form):
    """A CRM meeting; times are read in the host's zone (views clean it inside ``in_user_zone``)."""

    title = forms.CharField(label=_("Title"), max_length=300)
    start = forms.DateTimeField(label=_("Start"), input_formats=_PICKER_FORMATS, widget=_PICKER)
    end = forms.DateTimeField(label=_("End"), input_formats=_PICKER_FORMATS, widget=_PICKER)
    location = forms.CharField(
        label=_("Location or video link"),
        max_length=500,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "https://meet.example.com/…"}),
    )
    description = forms.CharField(
        label=_("Description"),
        max_length=10_000,
        required=False,
        help_text=_("Sent to the contacts with the invitation."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    internal_notes = forms.CharField(
        label=_("Internal notes"),
        max_length=10_000,
        required=False,
        help_text=_("Only your workspace sees these; they are never sent to the contacts."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class MeetingEditForm(MeetingForm):
    outcome = forms.ChoiceField(label=_("Outcome"))

    def __init__(self, *args: Any, outcomes: list[tuple[str, Any]], locked: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        outcome = self.fields["outcome"]
        assert isinstance(outcome, forms.ChoiceField)
        outcome.choices = outcomes
        if locked:
            # A booked meeting's time, title and place are its booking's (changed from the dashboard),
            # those of a meeting that follows a calendar event the event's (changed in the calendar).
            for name in ("title", "start", "end", "location"):
                self.fields[name].disabled = True
