"""Forms of the page and hours editors. They only parse what the browser sends into the shapes the
services take; every rule (bounds, hosts, questions, redirect) is checked by
``yoyaku.scheduling.host_services``, the same code the API uses.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.conf import settings
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from yoyaku.scheduling import host_services as rules
from yoyaku.scheduling.models import LinkKind, MeetingLink

HORIZON_CHOICES = (
    ("days", _("Days from now")),
    ("weeks", _("Weeks from now")),
    ("range", _("A date range")),
)
QUESTION_TYPES = (
    ("text", _("Short text")),
    ("textarea", _("Long text")),
    ("select", _("Drop-down list")),
    ("radio", _("One choice (radio buttons)")),
    ("checkbox", _("Checkbox")),
    ("phone", _("Phone number")),
)


def _number(low_high: tuple[int, int], **attrs: Any) -> forms.NumberInput:
    # min/max let the editor's script and the browser answer while the host types; the server
    # checks the same bounds (host_services) whatever the browser did.
    return forms.NumberInput(attrs={"min": low_high[0], "max": low_high[1], "inputmode": "numeric", **attrs})


class PageForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    slug = forms.CharField(
        label=_("Address"),
        max_length=80,
        help_text=_("The end of the page's address: /m/your-address. Lowercase letters, digits and hyphens."),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocapitalize": "off"}),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=LinkKind.choices, widget=forms.RadioSelect)
    co_hosts = forms.MultipleChoiceField(
        label=_("Co-hosts"),
        required=False,
        help_text=_("Group: every host must be free. Round robin: one free host is chosen for each meeting."),
        widget=forms.CheckboxSelectMultiple,
    )
    durations = forms.CharField(
        label=_("Durations (minutes)"),
        max_length=100,
        help_text=_("One or more, separated by commas, such as 15, 30, 60."),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    increment_minutes = forms.IntegerField(
        label=_("Start times every (minutes)"),
        help_text=_("Counted from midnight: 90 gives 9:00, 10:30, 12:00 …"),
        widget=_number(rules.INCREMENT_RANGE),
    )
    notice_minutes = forms.IntegerField(
        label=_("Minimum notice (minutes)"), widget=_number(rules.NOTICE_RANGE)
    )
    change_notice_minutes = forms.IntegerField(
        label=_("Notice for changes (minutes)"),
        help_text=_("How long before the meeting the booker can still move or cancel it with their links."),
        widget=_number(rules.NOTICE_RANGE),
    )
    buffer_before_minutes = forms.IntegerField(
        label=_("Buffer before (minutes)"), widget=_number(rules.BUFFER_RANGE)
    )
    buffer_after_minutes = forms.IntegerField(
        label=_("Buffer after (minutes)"), widget=_number(rules.BUFFER_RANGE)
    )
    horizon = forms.ChoiceField(
        label=_("How far ahead people can book"), choices=HORIZON_CHOICES, widget=forms.RadioSelect
    )
    rolling_days = forms.IntegerField(
        label=_("Days"), required=False, widget=_number(rules.ROLLING_DAYS_RANGE)
    )
    rolling_weeks = forms.IntegerField(
        label=_("Weeks"), required=False, widget=_number(rules.ROLLING_WEEKS_RANGE)
    )
    fixed_start = forms.DateField(
        label=_("First day"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    fixed_end = forms.DateField(
        label=_("Last day"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    max_per_day = forms.IntegerField(
        label=_("Maximum meetings per day"),
        required=False,
        help_text=_("Per host, from this page. Empty: no limit."),
        widget=_number(rules.MAX_PER_DAY_RANGE),
    )
    prioritize_contact_owner = forms.BooleanField(
        label=_("Prioritize the contact's owner"),
        required=False,
        help_text=_("Round robin: a known contact meets their owner when the owner is free."),
    )
    location = forms.CharField(label=_("Location or video link"), required=False, max_length=500)
    confirmation_message = forms.CharField(
        label=_("Confirmation message"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    redirect_url = forms.CharField(
        label=_("Redirect after booking"),
        required=False,
        max_length=500,
        help_text=_("An https:// address bookers are sent to instead of the confirmation."),
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/thanks", "spellcheck": "false"}),
    )
    active = forms.BooleanField(label=_("Taking bookings"), required=False)

    def __init__(self, *args: Any, co_host_choices: list[tuple[str, str]], editing: bool, **kwargs: Any):
        super().__init__(*args, **kwargs)
        co_hosts = self.fields["co_hosts"]
        assert isinstance(co_hosts, forms.MultipleChoiceField)
        co_hosts.choices = co_host_choices
        if editing:
            # An address is a page's identity for bookers and the API: it is chosen once.
            self.fields["slug"].disabled = True
            self.fields["slug"].required = False

    def clean_durations(self) -> list[int]:
        raw = self.cleaned_data["durations"]
        parts = [p for p in re.split(r"[,\s、\uff0c]+", raw) if p]
        if not parts or not all(p.isdigit() for p in parts):
            raise forms.ValidationError(
                gettext("Give minutes as numbers separated by commas, such as 15, 30.")
            )
        return sorted({int(p) for p in parts})

    def link_fields(self) -> dict[str, Any]:
        """What the services take (without hosts and questions)."""
        data = self.cleaned_data
        fields = {
            name: data[name]
            for name in (
                "name",
                "kind",
                "durations",
                "increment_minutes",
                "notice_minutes",
                "change_notice_minutes",
                "buffer_before_minutes",
                "buffer_after_minutes",
                "max_per_day",
                "prioritize_contact_owner",
                "location",
                "confirmation_message",
                "redirect_url",
                "active",
            )
        }
        horizon = data["horizon"]
        fields["rolling_days"] = data["rolling_days"] if horizon == "days" else None
        fields["rolling_weeks"] = data["rolling_weeks"] if horizon == "weeks" else None
        fields["fixed_start"] = data["fixed_start"] if horizon == "range" else None
        fields["fixed_end"] = data["fixed_end"] if horizon == "range" else None
        return fields


def page_initial(link: MeetingLink | None) -> dict[str, Any]:
    if link is None:
        return {
            "kind": LinkKind.ONE_ON_ONE,
            "durations": "30",
            "increment_minutes": 30,
            "notice_minutes": 240,
            "change_notice_minutes": 0,
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 0,
            "horizon": "weeks",
            "rolling_weeks": 8,
            "active": True,
        }
    if link.fixed_start is not None:
        horizon = "range"
    elif link.rolling_days:
        horizon = "days"
    else:
        horizon = "weeks"
    initial = {name: getattr(link, name) for name in rules.LINK_FIELDS}
    initial.update(
        slug=link.slug,
        durations=", ".join(str(d) for d in link.durations),
        horizon=horizon,
        co_hosts=[h.username for h in link.hosts.all() if h.pk != link.owner_id],
    )
    return initial


class QuestionForm(forms.Form):
    key = forms.CharField(required=False, widget=forms.HiddenInput)
    label = forms.CharField(label=_("Question"), required=False, max_length=200)
    type = forms.ChoiceField(label=_("Answer"), choices=QUESTION_TYPES, initial="text")
    required = forms.BooleanField(label=_("Required"), required=False)
    options = forms.CharField(
        label=_("Options, one per line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


QuestionFormSet = forms.formset_factory(QuestionForm, extra=1, can_delete=True, max_num=rules.MAX_FORM_FIELDS)


def _key_for(label: str, taken: set[str]) -> str:
    # A stable key from the label for answers and the API; labels without Latin letters get
    # question, question_2 …
    base = slugify(label).replace("-", "_")[:30]
    if not base or not base[0].isalpha() or base in rules.ALWAYS_ASKED:
        base = "question"
    key, number = base, 2
    while key in taken:
        key = f"{base}_{number}"
        number += 1
    return key


def questions_from(formset: Any) -> list[dict[str, Any]]:
    """The page's form_fields from a valid formset; rows without a label (and deleted rows) are dropped."""
    rows = [
        form.cleaned_data
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("label")
    ]
    taken = {row["key"] for row in rows if row.get("key")}
    specs: list[dict[str, Any]] = []
    for row in rows:
        key = row.get("key") or _key_for(row["label"], taken)
        taken.add(key)
        spec: dict[str, Any] = {
            "key": key,
            "label": row["label"].strip(),
            "type": row["type"],
            "required": bool(row["required"]),
        }
        options = [line.strip() for line in (row.get("options") or "").splitlines() if line.strip()]
        if row["type"] in ("select", "radio"):
            spec["options"] = options
        specs.append(spec)
    return specs


def questions_initial(link: MeetingLink | None) -> list[dict[str, Any]]:
    if link is None:
        return []
    return [
        {
            "key": spec.get("key", ""),
            "label": spec.get("label", ""),
            "type": spec.get("type", "text"),
            "required": bool(spec.get("required")),
            "options": "\n".join(spec.get("options", [])),
        }
        for spec in link.form_fields
    ]


# -- working hours -------------------------------------------------------------------------

WEEKDAYS = (
    _("Monday"),
    _("Tuesday"),
    _("Wednesday"),
    _("Thursday"),
    _("Friday"),
    _("Saturday"),
    _("Sunday"),
)
_SPAN = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*[-\u2013~\u301c]\s*(\d{1,2})(?::(\d{2}))?\s*$")


def time_zone_choices() -> list[tuple[str, str]]:
    """Every IANA zone this machine knows, by name."""
    return [(name, name.replace("_", " ")) for name in sorted(available_timezones())]


def parse_spans(text: str) -> list[list[int]]:
    """The spans of "9:00-12:00, 13:00-17:30": [[540, 720], [780, 1050]]; empty text is no hours."""
    spans: list[list[int]] = []
    for part in re.split(r"[,、\uff0c;]+", text):
        if not part.strip():
            continue
        match = _SPAN.match(part)
        if match is None:
            raise forms.ValidationError(
                gettext("Write hours like 9:00-12:00, 13:00-17:00; “%(part)s” is not understood.")
                % {"part": part.strip()}
            )
        h1, m1, h2, m2 = (int(g or 0) for g in match.groups())
        if m1 > 59 or m2 > 59:
            raise forms.ValidationError(gettext("Minutes go from 00 to 59."))
        spans.append([h1 * 60 + m1, h2 * 60 + m2])
    return spans


def format_spans(spans: list[list[int]]) -> str:
    return ", ".join(f"{a // 60}:{a % 60:02d}-{b // 60}:{b % 60:02d}" for a, b in spans)


class SpansField(forms.CharField):
    def to_python(self, value: Any) -> list[list[int]]:  # type: ignore[override]
        return parse_spans(super().to_python(value) or "")


class HoursForm(forms.Form):
    time_zone = forms.ChoiceField(label=_("Time zone"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone = self.fields["time_zone"]
        assert isinstance(zone, forms.ChoiceField)
        zone.choices = time_zone_choices()
        for day, label in enumerate(WEEKDAYS):
            self.fields[f"day_{day}"] = SpansField(
                label=label,
                required=False,
                max_length=200,
                widget=forms.TextInput(attrs={"placeholder": "9:00-17:00", "inputmode": "text"}),
            )

    def day_fields(self) -> list[forms.BoundField]:
        return [self[f"day_{day}"] for day in range(7)]

    def weekly(self) -> dict[str, list[list[int]]]:
        return {
            str(day): self.cleaned_data[f"day_{day}"] for day in range(7) if self.cleaned_data[f"day_{day}"]
        }


class OverrideForm(forms.Form):
    day = forms.DateField(label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    hours = SpansField(
        label=_("Hours that day"),
        required=False,
        max_length=200,
        help_text=_("Empty: a day off."),
        widget=forms.TextInput(attrs={"placeholder": "10:00-14:00"}),
    )


OverrideFormSet = forms.formset_factory(OverrideForm, extra=2, can_delete=True, max_num=400)


def hours_initial(*, time_zone: str, weekly: dict[str, Any]) -> dict[str, Any]:
    initial: dict[str, Any] = {"time_zone": time_zone}
    for day in range(7):
        initial[f"day_{day}"] = format_spans(weekly.get(str(day), []))
    return initial


def overrides_initial(overrides: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"day": day, "hours": format_spans(spans)} for day, spans in sorted(overrides.items())]


def overrides_from(formset: Any) -> dict[date, list[list[int]]]:
    out: dict[date, list[list[int]]] = {}
    for form in formset.forms:
        data = form.cleaned_data
        if data and not data.get("DELETE") and data.get("day"):
            out[data["day"]] = data.get("hours") or []
    return out


# -- profile -------------------------------------------------------------------------------


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    time_zone = forms.ChoiceField(label=_("Time zone"))
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    photo = forms.FileField(
        label=_("Photo"),
        required=False,
        help_text=_("PNG, JPEG, WebP or GIF, at most 2 MB. Without a photo, your initials are shown."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp,image/gif"}),
    )
    remove_photo = forms.BooleanField(label=_("Remove the photo"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zone = self.fields["time_zone"]
        assert isinstance(zone, forms.ChoiceField)
        zone.choices = time_zone_choices()
