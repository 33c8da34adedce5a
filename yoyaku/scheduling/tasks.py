"""Background work of the scheduling app."""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from yoyaku.scheduling.services import release_lapsed_holds_everywhere


@db_periodic_task(crontab(minute="*/15"))
def release_lapsed_holds() -> None:
    """Free the holds of meeting requests whose time lapsed (``YOYAKU_REQUEST_HOLD_HOURS``).

    Every check already ignores a lapsed hold; the sweep keeps the table from filling with them.
    """
    release_lapsed_holds_everywhere(now=timezone.now())
