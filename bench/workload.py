"""The standard availability workload (cases S and R), with its fixed seed so figures compare.

Copied from the shared benchmark material that accompanies the project's design notes (the workload
generator also used to measure a Cal.com rebuild and a plain-Python pipeline); only wrapped in a function
so that it can be imported. Busy times are ISO 8601 UTC strings, as a calendar API would return them.
"""

import random
from datetime import UTC, datetime
from typing import Any

SEED = 20270301
NOW_FIXED = "2027-01-01T00:00:00.000Z"
S_FROM, S_TO = "2027-03-01T00:00:00.000Z", "2027-03-31T00:00:00.000Z"  # 30 days
R_FROM, R_TO = "2027-03-01T00:00:00.000Z", "2027-04-30T00:00:00.000Z"  # 60 days
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Tokyo", "America/Los_Angeles"]


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def ts(s: str) -> int:
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def generate() -> dict[str, Any]:
    """Return the workload exactly as the shared generator writes it (same seed, same draw order)."""
    rng = random.Random(SEED)

    def busy_list(n: int, t_from: int, t_to: int) -> list[list[str]]:
        out = []
        for _ in range(n):
            dur = rng.randrange(15, 121, 5) * 60  # 15..120 min, multiples of 5
            last_start = t_to - dur
            nslots = (last_start - t_from) // 300  # 5-minute marks
            s = t_from + rng.randint(0, nslots) * 300
            out.append([iso(s), iso(s + dur)])
        return out

    case_s = {
        "from": S_FROM,
        "to": S_TO,
        "inviteeTimeZone": "Europe/Berlin",
        "eventLength": 30,
        "frequency": 30,
        "minimumBookingNotice": 0,
        "hosts": [
            {
                "id": 1,
                "timeZone": "Europe/Berlin",
                "days": [1, 2, 3, 4, 5],
                "startTime": "09:00",
                "endTime": "17:00",
                "busy": busy_list(500, ts(S_FROM), ts(S_TO)),
            }
        ],
    }
    hosts = []
    for i in range(50):
        hosts.append(
            {
                "id": i + 1,
                "timeZone": ZONES[i % 5],
                "days": [1, 2, 3, 4, 5],
                "startTime": "09:00",
                "endTime": "17:00",
                "busy": busy_list(1000, ts(R_FROM), ts(R_TO)),
            }
        )
    case_r = {
        "from": R_FROM,
        "to": R_TO,
        "inviteeTimeZone": "Europe/Berlin",
        "eventLength": 30,
        "frequency": 15,
        "minimumBookingNotice": 0,
        "hosts": hosts,
    }
    return {"seed": SEED, "nowFixed": NOW_FIXED, "S": case_s, "R": case_r}
