"""One huey consumer for ``bench.poll_cycle``: Django's ``run_huey``, with every sync it runs recorded.

Command (started by ``bench.poll_cycle``, with its environment): ``python -m bench.poll_consumer``.

The only addition to the real consumer: ``tasks.sync_connection_now`` is wrapped so that each sync
this consumer runs (after taking the connection's lease) is pushed to a Redis list as
``[connection id, process id, start, end, succeeded]``, and ``tasks.take_lease`` counts the leases
it was refused; the benchmark reads both to time the syncs and to check that no connection was
synced by two consumers at once.
"""

from __future__ import annotations

import json
import os
import sys
import time

SYNCS_KEY = "yoyaku-bench-poll-syncs"
REFUSED_KEY = "yoyaku-bench-poll-leases-refused"


def main() -> int:
    import django
    import redis

    django.setup()
    from django.core.management import call_command

    from yoyaku.calendar_sync import tasks

    client = redis.Redis.from_url(os.environ["YOYAKU_REDIS_URL"])
    sync_now = tasks.sync_connection_now

    def recorded(*, connection_id: int) -> bool:
        started = time.time()
        succeeded = sync_now(connection_id=connection_id)
        client.rpush(SYNCS_KEY, json.dumps([connection_id, os.getpid(), started, time.time(), succeeded]))
        return succeeded

    take_lease = tasks.take_lease

    def counted_lease(*, connection_id: int) -> bool:
        taken = take_lease(connection_id=connection_id)
        if not taken:
            client.incr(REFUSED_KEY)
        return taken

    tasks.sync_connection_now = recorded
    tasks.take_lease = counted_lease
    # No periodic tasks: the benchmark starts each poll itself (the same queue_due_syncs the
    # minutely poll_connections runs), so the cycle's start is known.
    call_command("run_huey", "--no-periodic", "--workers", "1", "--quiet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
