"""Run only case R of the standard workload, for instruction counts under callgrind.

Wall times on a shared machine are noisy; instruction counts are repeatable. Count twice and subtract,
so that generating and parsing the workload cancel out::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.callgrind_r 0
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m bench.callgrind_r 5

(the difference of the two "Collected" totals, divided by 5, is one warm run of case R).
"""

from __future__ import annotations

import sys

from yoyaku.availability import HostAvailability, LinkRules, round_robin_slots

from .run import EXPECTED, parse_case, parse_utc, weekly_of
from .workload import generate


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    data = generate()
    case = data["R"]
    now = parse_utc(data["nowFixed"])
    parsed = parse_case(case)
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
        return len(round_robin_slots(hosts=hosts, rules=rules, window_start=start, window_end=end, now=now))

    count = run()  # fills the conversion caches: the counted runs are warm
    for _ in range(runs):
        count = run()
    return 0 if count == EXPECTED["R"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
