"""Benchmark of the availability engine on the standard workload; writes bench/RESULTS.md.

Run from the repository root: ``python -m bench.run`` (or ``make bench``).

Reported separately: parsing the ISO 8601 busy strings into epochs, and the engine (building the
``HostAvailability`` values from epochs, then computing the slots). Each figure is the median of
repeated runs in this one process; "cold" runs clear the per-(zone, day) conversion caches first,
"warm" runs keep them, as a long-running server would.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from yoyaku.availability import HostAvailability, LinkRules, host_slots, round_robin_slots
from yoyaku.availability.engine import clear_caches

from .workload import generate

RUNS = 21
EXPECTED = {"S": 118, "R": 4168}
RESULTS = Path(__file__).with_name("RESULTS.md")

_day_epochs: dict[str, int] = {}


def parse_utc(text: str) -> int:
    """Epoch seconds of an ISO 8601 UTC time like ``2027-03-01T09:30:00.000Z``.

    The fixed-layout fast path caches the epoch of each date; anything else goes to ``fromisoformat``.
    """
    if len(text) == 24 and text[10] == "T" and text[23] == "Z":
        day = text[:10]
        base = _day_epochs.get(day)
        if base is None:
            base = int(datetime.fromisoformat(day + "T00:00:00+00:00").timestamp())
            _day_epochs[day] = base
        return base + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def parse_case(case: dict[str, Any]) -> list[tuple[Any, str, list[tuple[int, int]]]]:
    return [(h, h["timeZone"], [(parse_utc(a), parse_utc(b)) for a, b in h["busy"]]) for h in case["hosts"]]


def weekly_of(host: dict[str, Any]) -> dict[int, list[tuple[int, int]]]:
    # The workload counts days like JavaScript's Date.getDay(): 0 = Sunday; the engine uses 0 = Monday.
    sh, sm = map(int, host["startTime"].split(":"))
    eh, em = map(int, host["endTime"].split(":"))
    return {(d - 1) % 7: [(sh * 60 + sm, eh * 60 + em)] for d in host["days"]}


def median_ms(fn: Callable[[], object], *, runs: int, cold: bool) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(runs):
        if cold:
            clear_caches()
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


# (row label, workload case, busy handed over sorted by start as a database query would return it)
VARIANTS = [("S", "S", False), ("R", "R", False), ("R, busy sorted by start", "R", True)]


def main() -> int:
    data = generate()
    now = parse_utc(data["nowFixed"])
    figures: dict[str, dict[str, float]] = {}
    counts: dict[str, int] = {}

    for label, name, presorted in VARIANTS:
        case = data[name]

        def parse(case: dict[str, Any] = case) -> object:
            _day_epochs.clear()
            return parse_case(case)

        parse_ms, parsed_obj = median_ms(parse, runs=RUNS, cold=False)
        parsed: list[tuple[Any, str, list[tuple[int, int]]]] = parsed_obj  # type: ignore[assignment]
        if presorted:
            parsed = [(h, zone, sorted(busy)) for h, zone, busy in parsed]
        rules = LinkRules(
            duration_minutes=case["eventLength"],
            increment_minutes=case["frequency"],
            notice_minutes=case["minimumBookingNotice"],
            rolling_weeks=None,  # the workload has no horizon: its window starts two months after "now"
            grid_time_zone=case["inviteeTimeZone"],
        )
        start, end = parse_utc(case["from"]), parse_utc(case["to"])

        def run(
            parsed: list[tuple[Any, str, list[tuple[int, int]]]] = parsed,
            rules: LinkRules = rules,
            start: int = start,
            end: int = end,
            name: str = name,
        ) -> int:
            hosts = [
                HostAvailability(host_id=str(h["id"]), time_zone=zone, weekly=weekly_of(h), busy=busy)
                for h, zone, busy in parsed
            ]
            if name == "S":
                return len(
                    host_slots(host=hosts[0], rules=rules, window_start=start, window_end=end, now=now)
                )
            return len(
                round_robin_slots(hosts=hosts, rules=rules, window_start=start, window_end=end, now=now)
            )

        first_ms, _ = median_ms(run, runs=1, cold=True)
        cold_ms, _ = median_ms(run, runs=RUNS, cold=True)
        warm_ms, count = median_ms(run, runs=RUNS, cold=False)
        counts[label] = int(count)  # type: ignore[call-overload]
        figures[label] = {"parse": parse_ms, "first": first_ms, "cold": cold_ms, "warm": warm_ms}

    ok = all(counts[label] == EXPECTED[name] for label, name, _ in VARIANTS)
    write_results(figures, counts, ok)
    for label, name, _ in VARIANTS:
        f = figures[label]
        print(
            f"{label}: {counts[label]} slots (expected {EXPECTED[name]}); engine median "
            f"warm {f['warm']:.3f} ms, cold {f['cold']:.3f} ms, first run {f['first']:.3f} ms; "
            f"parsing {f['parse']:.3f} ms"
        )
    print(f"wrote {RESULTS.name}")
    return 0 if ok else 1


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:  # Linux only; the model name is the useful part
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    # What nproc prints: the CPUs this process may run on.
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"nproc {cpus}, {cpu}; Python {platform.python_version()} ({sys.implementation.name})"


def write_results(figures: dict[str, dict[str, float]], counts: dict[str, int], ok: bool) -> None:
    rows = "\n".join(
        f"| {label} | {counts[label]} (expected {EXPECTED[name]}) | {figures[label]['warm']:.3f} | "
        f"{figures[label]['cold']:.3f} | {figures[label]['first']:.3f} | {figures[label]['parse']:.3f} |"
        for label, name, _ in VARIANTS
    )
    RESULTS.write_text(
        f"""# Availability engine benchmark

Command: `make bench` (runs `python -m bench.run` from the repository root).

Workload: the standard availability workload (`bench/workload.py`, fixed seed {20270301}):
- S: one Europe/Berlin host, Mon-Fri 09:00-17:00, 30 days from 2027-03-01 (across the DST change),
  500 busy intervals, 30-minute meetings every 30 minutes;
- R: round robin over 50 hosts in 5 zones, Mon-Fri 09:00-17:00 local, 60 days, 1,000 busy intervals
  each, 30-minute meetings every 15 minutes.

Machine: {machine()}. One process, one core; medians of {RUNS} runs, times in milliseconds.

| case | slots | engine, warm caches | engine, cold caches | first run | parsing ISO strings |
|---|---|---|---|---|---|
{rows}

Slot counts {"match" if ok else "DO NOT match"} the reference.

Machines of this kind differ: on an Intel Xeon one, the engine before the per-window scan measured
0.158 ms (S) and 16.2-18.2 ms (R, warm); on an AMD EPYC one the engine-independent "parsing" column was
1.7-3x slower as well, and wall times for R swung from 29 to 50 ms between runs. Compare the instruction
counts below across changes, rather than milliseconds across machines.

- "engine" covers building the `HostAvailability` values from parsed epochs and computing the slots
  (`host_slots` for S, `round_robin_slots` for R, which returns each slot with its free hosts).
- "warm" keeps the per-(zone, local day) conversion caches between runs, as a running server does;
  "cold" clears them before every run; "first run" is the very first call in the process.
- "R, busy sorted by start" hands each host's busy intervals over already sorted, as a query with
  `ORDER BY start` returns them; the engine accepts any order but its sort is then almost free.
- Parsing turns the busy times' ISO 8601 strings into epoch seconds; a calendar sync does this once
  when it stores busy time, not on every availability request.
- Instruction counts (repeatable where wall times are not) of one warm run of case R, engine only:
  194.4 million before the per-window scan of busy intervals, 169.2 million after (13% fewer); about a
  third of what remains is the sort of each host's busy intervals. Measured as the difference of the
  "Collected" totals of `valgrind --tool=callgrind --callgrind-out-file=/dev/null python -m
  bench.callgrind_r 5` and of the same with `0`, divided by 5.

Reference figures for the same workload on this machine kind, from the workload's notes: a rebuild of
Cal.com's slot pipeline took 23.8 ms (S) and 1,190 ms (R); a straightforward plain-Python pipeline took
0.63 ms and 64 ms (most of R in parsing 50,000 ISO strings). Both produced 118 and 4,168 slots.
"""
    )


if __name__ == "__main__":
    raise SystemExit(main())
