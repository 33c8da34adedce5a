"""One huey consumer for ``bench.poll_cycle``: Django's ``run_huey``, with every sync it runs recorded.

Command (started by ``bench.poll_cycle``, with its environment): ``python -m bench.poll_consumer``.

The only addition to the real consumer: ``tasks.sync_connection_now`` is wrapped so that each sync
this consumer runs (after taking the connection's lease) is written as a line of
``syncs-<process id>.jsonl`` in the data folder, ``[connection id, process id, start, end,
succeeded]``, and each lease ``tasks.take_lease`` refused as ``["refused", connection id]``; the
benchmark reads them to time the syncs and to check that no connection was synced by two
consumers at once.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any


def records_file(data_dir: Path, pid: int) -> Path:
    return data_dir / f"syncs-{pid}.jsonl"


def main() -> int:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from yoyaku.calendar_sync import tasks

    records = records_file(Path(settings.DATA_DIR), os.getpid()).open("a", buffering=1)
    lock = threading.Lock()

    def record(line: list[Any]) -> None:
        with lock:
            records.write(json.dumps(line) + "\n")

    sync_now = tasks.sync_connection_now
    take_lease = tasks.take_lease

    def recorded(*, connection_id: int) -> bool:
        started = time.time()
        succeeded = sync_now(connection_id=connection_id)
        record([connection_id, os.getpid(), started, time.time(), succeeded])
        return succeeded

    def counted_lease(*, connection_id: int) -> bool:
        taken = take_lease(connection_id=connection_id)
        if not taken:
            record(["refused", connection_id])
        return taken

    tasks.sync_connection_now = recorded
    tasks.take_lease = counted_lease
    # No periodic tasks: the benchmark starts each poll itself (the same queue_due_syncs the
    # minutely poll_connections runs), so the cycle's start is known.
    call_command("run_huey", "--no-periodic", "--workers", "1", "--quiet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
