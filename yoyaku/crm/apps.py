from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "yoyaku.crm"
    label = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # CRM meetings' calendar writes go through the calendar outbox, which asks this app how to
        # perform them.
        from yoyaku.calendar_sync.models import OutboxTarget
        from yoyaku.calendar_sync.outbox import Performer, register_performer
        from yoyaku.crm.calendar_writes import perform_meeting_write, restart_waiting_writes

        register_performer(
            target=OutboxTarget.MEETING,
            performer=Performer(perform=perform_meeting_write, resumed=restart_waiting_writes),
        )
