from django.apps import AppConfig


class LimitsConfig(AppConfig):
    """The abuse-limit counters, shared by the pages (sign-in) and the API (rate limits)."""

    name = "yoyaku.limits"
    label = "limits"
    default_auto_field = "django.db.models.BigAutoField"
