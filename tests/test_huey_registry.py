"""What ``manage.py run_huey`` consumes: the tasks of every app's ``tasks.py``, found as it finds them."""

from __future__ import annotations

from django.apps import apps
from django.utils.module_loading import autodiscover_modules
from huey.contrib.djhuey import HUEY

CALENDAR = "yoyaku.calendar_sync.tasks"


def registered() -> set[str]:
    autodiscover_modules("tasks")  # as run_huey does before it starts consuming
    return set(HUEY._registry._registry)


def test_the_consumer_sees_every_task_in_its_apps_tasks_module() -> None:
    names = registered()

    assert {
        f"{CALENDAR}.sync_connection",
        f"{CALENDAR}.poll_connections",
        f"{CALENDAR}.ensure_push_channels",
        f"{CALENDAR}.renew_push_channels",
        f"{CALENDAR}.perform_calendar_write",
        f"{CALENDAR}.sweep_calendar_outbox",
        f"{CALENDAR}.resume_calendar_writes",
    } <= names
    assert "yoyaku.scheduling.tasks.release_lapsed_holds" in names
    assert any(name.startswith("yoyaku.health.tasks.") for name in names)
    # Every task lives in the tasks module of an installed app.
    modules = {name.rsplit(".", 1)[0] for name in names}
    app_modules = {f"{config.name}.tasks" for config in apps.get_app_configs()}
    assert modules <= app_modules, modules - app_modules


def test_every_periodic_task_is_scheduled_by_the_consumer() -> None:
    registered()
    periodic = {task.name for task in HUEY._registry.periodic_tasks}
    assert {
        "sweep_calendar_outbox",
        "poll_connections",
        "renew_push_channels",
        "release_lapsed_holds",
    } <= periodic
