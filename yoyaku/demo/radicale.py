"""A real Radicale CalDAV server on loopback, for the demo and the test suite.

Radicale runs as a subprocess (``python -m radicale``) with its own config,
htpasswd file and storage folder. By default the folder is temporary and
removed on ``close()``, so nothing leaks between test runs; the demo passes a
folder of its own so its calendar outlives a restart.

    with RadicaleServer() as server:
        calendar_url = server.ensure_calendar("work")
        server.seed(calendar_url, demo_calendar_events(time_zone="Europe/Berlin", today=date.today()))
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urljoin
from xml.sax.saxutils import escape

import httpx
import icalendar

DEFAULT_USERS = {"alice": "alice-secret"}

_MKCALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:supported-calendar-component-set>{components}</C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RadicaleServer:
    """Start with ``with RadicaleServer() as server`` (or ``start()``/``stop()``)."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        startup_timeout: float = 20.0,
        data_dir: Path | None = None,
    ) -> None:
        self.users = dict(users or DEFAULT_USERS)
        self.username, self.password = next(iter(self.users.items()))
        self.startup_timeout = startup_timeout
        self.port = 0
        self.url = ""
        # A given folder is kept on close(); a temporary one is removed.
        self._keep_dir = data_dir is not None
        self._dir: Path | None = data_dir
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> RadicaleServer:
        if self._process is not None:
            return self
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="yoyaku-radicale-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        # The port is picked before Radicale binds it; retry if someone else
        # grabbed it in between.
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}/"
            config = self._write_config()
            log = (self._dir / "radicale.log").open("ab")
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
            )
            log.close()
            if self._wait_until_ready():
                return self
            last_error = self._log_tail()
            self._terminate()
        raise RuntimeError(f"Radicale did not start: {last_error}")

    def stop(self) -> None:
        """Stop the server; its data stays until ``close()`` so it can be restarted."""
        self._terminate()

    def close(self) -> None:
        self._terminate()
        if self._dir is not None and not self._keep_dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- calendars ---------------------------------------------------------

    def principal_url(self, username: str | None = None) -> str:
        return urljoin(self.url, f"{quote(username or self.username)}/")

    def ensure_calendar(
        self, name: str, *, username: str | None = None, components: Sequence[str] = ("VEVENT",)
    ) -> str:
        """Create calendar ``name`` for the user if missing; return its URL (ending in /)."""
        user = username or self.username
        with self._client(user) as client:
            # Radicale creates the principal collection on the user's first request.
            client.request("PROPFIND", self.principal_url(user), headers={"Depth": "0"})
            url = urljoin(self.principal_url(user), f"{quote(name)}/")
            response = client.request(
                "MKCALENDAR",
                url,
                content=_MKCALENDAR_BODY.format(
                    name=escape(name), components="".join(f'<C:comp name="{c}"/>' for c in components)
                ).encode(),
                headers={"Content-Type": "application/xml; charset=utf-8"},
            )
            # 201 created; 405/409 when it already exists (RFC 4791 §5.3.1).
            if response.status_code not in (201, 405, 409):
                raise RuntimeError(f"MKCALENDAR {url} failed: {response.status_code} {response.text}")
        return url

    def seed(self, calendar_url: str, objects: Iterable[bytes], *, username: str | None = None) -> list[str]:
        """PUT each iCalendar object as ``{UID}.ics``; return the object URLs."""
        urls = []
        with self._client(username or self.username) as client:
            for data in objects:
                calendar = icalendar.Calendar.from_ical(data)
                uid = str(next(iter(calendar.walk("VEVENT")))["UID"])
                url = urljoin(calendar_url, quote(f"{uid}.ics"))
                response = client.put(
                    url, content=data, headers={"Content-Type": "text/calendar; charset=utf-8"}
                )
                if response.status_code not in (201, 204):
                    raise RuntimeError(f"PUT {url} failed: {response.status_code} {response.text}")
                urls.append(url)
        return urls

    def delete(self, url: str, *, username: str | None = None) -> None:
        with self._client(username or self.username) as client:
            client.delete(url)

    # -- internals ---------------------------------------------------------

    def _client(self, username: str) -> httpx.Client:
        return httpx.Client(auth=(username, self.users[username]), timeout=10.0)

    def _write_config(self) -> Path:
        assert self._dir is not None
        htpasswd = self._dir / "users"
        htpasswd.write_text("".join(f"{user}:{password}\n" for user, password in self.users.items()))
        storage = self._dir / "collections"
        storage.mkdir(exist_ok=True)
        config = self._dir / "config"
        config.write_text(
            "[server]\n"
            f"hosts = 127.0.0.1:{self.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {htpasswd}\n"
            "htpasswd_encryption = plain\n"
            # No sleep after a failed login: the tests try wrong passwords on purpose.
            "delay = 0\n"
            "[rights]\n"
            "type = owner_only\n"
            "[storage]\n"
            f"filesystem_folder = {storage}\n"
            "[web]\n"
            "type = none\n"
            "[logging]\n"
            "level = warning\n"
        )
        return config

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                httpx.request("OPTIONS", self.url, timeout=1.0)
                return True
            except httpx.HTTPError:
                time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _log_tail(self) -> str:
        if self._dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._dir / "radicale.log").read_text(errors="replace")[-2000:]
        return ""
