from django.apps import AppConfig


class CalendarSyncConfig(AppConfig):
    name = "yoyaku.calendar_sync"
    label = "calendar_sync"
    verbose_name = "Calendar sync"
    default_auto_field = "django.db.models.BigAutoField"
