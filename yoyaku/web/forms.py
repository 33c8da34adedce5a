"""Forms of the host pages. They only check shape; the services decide what is allowed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from yoyaku.accounts.validators import validate_calendar_url
from yoyaku.calendars.base import CalendarInfo


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
        help_text=_("When off, events you answered “maybe” to leave the time open for bookings."),
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
