from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "yoyaku.scheduling"
    label = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Bookings' calendar writes go through the calendar outbox, which asks this app how to perform them.
        from yoyaku.calendar_sync.models import OutboxTarget
        from yoyaku.calendar_sync.outbox import Performer, register_performer
        from yoyaku.scheduling.calendar_writes import perform_booking_write, restart_waiting_writes

        register_performer(
            target=OutboxTarget.BOOKING,
            performer=Performer(perform=perform_booking_write, resumed=restart_waiting_writes),
        )
