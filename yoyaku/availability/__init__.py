"""Pure availability engine: working hours, busy time, buffers and rules in, slot start epochs out.

No Django and no I/O here; see :mod:`yoyaku.availability.engine` for the exact semantics.
"""

from .engine import (
    NotOffered,
    choose_round_robin_host,
    group_slots,
    host_slots,
    is_slot_available,
    not_offered,
    round_robin_slots,
    round_robin_starts,
    slots_by_local_date,
)
from .intervals import Spans
from .rules import HostAvailability, Interval, LinkRules
from .zones import UnknownTimeZone

__all__ = [
    "HostAvailability",
    "Interval",
    "LinkRules",
    "NotOffered",
    "Spans",
    "UnknownTimeZone",
    "choose_round_robin_host",
    "group_slots",
    "host_slots",
    "is_slot_available",
    "not_offered",
    "round_robin_slots",
    "round_robin_starts",
    "slots_by_local_date",
]
