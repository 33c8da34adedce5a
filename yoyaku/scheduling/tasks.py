from yoyaku.tasks.calendar import retry_booking_cancel, retry_booking_event, sweep_pending_calendar_writes

__all__ = ["retry_booking_cancel", "retry_booking_event", "sweep_pending_calendar_writes"]
