"""gunicorn settings for running Yoyaku in production:

    gunicorn -c python:yoyaku.gunicorn_conf yoyaku.wsgi

Every value comes from a YOYAKU_* environment variable with a default that suits a small server.

Timeouts. Most requests never call a calendar provider (pages read the synced busy time, the calendar
write of a booking runs in the huey worker), but some do: a booking reads the host's calendar fresh,
OAuth callbacks exchange the code and list the calendars, and connecting Exchange or CalDAV tests the
connection. The adapters bound each provider call themselves (CalDAV and Microsoft Graph 10 s per
request, Google 20 s, Exchange 30 s) and retry a few times with capped back-off, so the slowest chain a
request can wait for is Google's: 4 attempts of 20 s with back-offs of at most 10 s, about 110 s. The
workers are threaded (gthread), whose heartbeat does not stop while a request waits, so a slow provider
never gets a worker killed; YOYAKU_WEB_TIMEOUT (120 s, above that chain) bounds a worker that really hangs,
and is the read timeout a reverse proxy in front should allow as well.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yoyaku.settings")


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


bind = os.environ.get("YOYAKU_BIND", "127.0.0.1:8000").split(",")
# One process per core and one more, each with a few threads: requests mostly wait on the database or a
# provider, and the threads share a process's HTTP clients. Each thread may hold a database connection
# (CONN_MAX_AGE), so workers x threads x servers must stay under PostgreSQL's max_connections.
workers = _int("YOYAKU_WEB_WORKERS", (os.cpu_count() or 1) + 1)
worker_class = "gthread"
threads = _int("YOYAKU_WEB_THREADS", 4)
timeout = _int("YOYAKU_WEB_TIMEOUT", 120)
# On SIGTERM (a deploy), requests in flight get this long to finish.
graceful_timeout = _int("YOYAKU_WEB_GRACEFUL_TIMEOUT", 30)
# Idle keep-alive connections from the proxy; short, since each holds a thread's slot.
keepalive = _int("YOYAKU_WEB_KEEPALIVE", 5)
# Workers are replaced after this many requests (0: never), a guard against slow memory growth; the
# jitter keeps them from all restarting at once.
max_requests = _int("YOYAKU_WEB_MAX_REQUESTS", 2000)
max_requests_jitter = max(1, max_requests // 10) if max_requests else 0
# The proxies whose X-Forwarded-Proto gunicorn believes are those Yoyaku believes for the client address.
forwarded_allow_ips = os.environ.get("YOYAKU_TRUSTED_PROXIES", "").strip() or "127.0.0.1,::1"
# The heartbeat files live on tmpfs where there is one: a slow disk must not look like a hung worker.
if Path("/dev/shm").is_dir():  # noqa: S108 (gunicorn's own advice; it makes its files there privately)
    worker_tmp_dir = "/dev/shm"  # noqa: S108
accesslog = os.environ.get("YOYAKU_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("YOYAKU_LOG_LEVEL", "info").lower()
proc_name = "yoyaku-web"
# gunicorn 25.1+ opens a control socket in the user's home folder by default, one path for every server
# the user runs; signals (HUP to reload, TERM to stop) do the same without it.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Collect the static files before the workers start, so pages never name a stylesheet or script
    that is not there (CompressedManifestStaticFilesStorage fails a page whose files were not collected).
    YOYAKU_COLLECTSTATIC_ON_START=0 leaves it to the deploy (e.g. when building an image)."""
    if os.environ.get("YOYAKU_COLLECTSTATIC_ON_START", "1").lower() in {"0", "false", "no", "off"}:
        return
    from django.conf import settings

    static_root = Path(settings.STATIC_ROOT)
    static_root.mkdir(parents=True, exist_ok=True)
    # Servers started together on one data folder collect one after the other, not over each other.
    with (Path(settings.DATA_DIR) / ".collectstatic.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(
            [sys.executable, "-m", "django", "collectstatic", "--noinput", "--verbosity", "0"],
            check=True,
        )
