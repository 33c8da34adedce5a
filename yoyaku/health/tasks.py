"""The worker's heartbeat: written when a consumer starts and then every minute (huey's periodic
tasks run on minute boundaries), so /readyz can tell whether background work is being done."""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, on_startup, periodic_task

from yoyaku.health.heartbeat import record_heartbeat


@periodic_task(crontab(minute="*"))
def worker_heartbeat() -> None:
    record_heartbeat(queue=HUEY, now=timezone.now())


@on_startup()
def heartbeat_on_start() -> None:
    # Without it a freshly started worker would look absent until the next whole minute.
    record_heartbeat(queue=HUEY, now=timezone.now())
