"""The Radicale runner and the demo calendar live in the yoyaku package (the demo uses them);
the tests import them from here."""

from yoyaku.demo.calendar_data import (
    DEMO_ALL_DAY_DAY,
    DEMO_EXDATE_DAY,
    DEMO_FREE,
    DEMO_MOVED_FROM_DAY,
    DEMO_MOVED_TO,
    DEMO_TENTATIVE,
    DEMO_WEEKLY_DAYS,
    DEMO_WEEKLY_HOUR,
    DEMO_WEEKLY_TITLE,
    demo_anchor,
    demo_calendar_events,
)
from yoyaku.demo.radicale import DEFAULT_USERS, RadicaleServer, free_port

__all__ = [
    "DEFAULT_USERS",
    "DEMO_ALL_DAY_DAY",
    "DEMO_EXDATE_DAY",
    "DEMO_FREE",
    "DEMO_MOVED_FROM_DAY",
    "DEMO_MOVED_TO",
    "DEMO_TENTATIVE",
    "DEMO_WEEKLY_DAYS",
    "DEMO_WEEKLY_HOUR",
    "DEMO_WEEKLY_TITLE",
    "RadicaleServer",
    "demo_anchor",
    "demo_calendar_events",
    "free_port",
]
