"""Run only case R of the standard workload, for instruction counts under callgrind.

Wall times on a shared machine are noisy; instruction counts are repeatable. Count twice and subtract,
so that generating and parsing the workload cancel out::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.callgrind_r 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.callgrind_r 5

(the difference of the two "Collected" totals, divided by 5, is one warm run of case R).

With ``--page`` it runs what an availability request runs instead: each host's busy time as the busy
index gives it (``Spans``, merged) and ``round_robin_starts`` (the slots without their hosts).
"""

from __future__ import annotations

import sys

from yoyaku.availability import HostAvailability, LinkRules, Spans, round_robin_slots, round_robin_starts

from .run import EXPECTED, parse_case, parse_utc, weekly_of
from .workload import generate


def main() -> int:
    page = "--page" in sys.argv
    numbers = [arg for arg in sys.argv[1:] if arg != "--page"]
    runs = int(numbers[0]) if numbers else 5
    data = generate()
    case = data["R"]
    now = parse_utc(data["nowFixed"])
    parsed = parse_case(case)
    if page:
        parsed = [(h, zone, Spans.of(busy)) for h, zone, busy in parsed]
    slots = round_robin_starts if page else round_robin_slots
    rules = LinkRules(
        duration_minutes=case["eventLength"],
        increment_minutes=case["frequency"],
        notice_minutes=case["minimumBookingNotice"],
        rolling_weeks=None,
        grid_time_zone=case["inviteeTimeZone"],
    )
    start, end = parse_utc(case["from"]), parse_utc(case["to"])

    def run() -> int:
        hosts = [
            HostAvailability(host_id=str(h["id"]), time_zone=zone, weekly=weekly_of(h), busy=busy)
            for h, zone, busy in parsed
        ]
        return len(slots(hosts=hosts, rules=rules, window_start=start, window_end=end, now=now))

    count = run()  # fills the conversion caches: the counted runs are warm
    for _ in range(runs):
        count = run()
    return 0 if count == EXPECTED["R"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
