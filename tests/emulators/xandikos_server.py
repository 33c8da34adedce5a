"""A real Xandikos CalDAV server on loopback, the second independent server the CalDAV tests run against.

Xandikos (a git-backed CalDAV/CardDAV server) reads the protocol differently
from Radicale where the RFCs leave room: it answers 412 to a PUT whose UID is
used by another object and to an invalid sync token, 403 ``supported-report``
to a calendar-query on a plain collection, and advertises
``calendar-auto-schedule``. It serves one principal (``/user/``) and does no
authentication of its own, so the credentials the adapter sends are ignored.

The same surface as ``RadicaleServer`` (``url``, ``username``, ``password``,
``ensure_calendar``, ``seed``, ``delete``, ``principal_url``), so tests take
either.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urljoin
from xml.sax.saxutils import escape

import httpx
import icalendar

from tests.emulators.radicale_server import free_port

_MKCALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:supported-calendar-component-set>{components}</C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


class XandikosServer:
    """Start with ``with XandikosServer() as server`` (or ``start()``/``close()``)."""

    name = "xandikos"

    def __init__(self, *, startup_timeout: float = 30.0) -> None:
        self.username = "user"
        self.password = "unused"
        self.startup_timeout = startup_timeout
        self.port = 0
        self.url = ""
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> XandikosServer:
        if self._process is not None:
            return self
        self._dir = Path(tempfile.mkdtemp(prefix="yoyaku-xandikos-"))
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}/"
            log = (self._dir / "xandikos.log").open("ab")
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "xandikos.web",
                    "--directory",
                    str(self._dir / "data"),
                    "--state-dir",
                    str(self._dir / "state"),
                    "--defaults",
                    "--listen-address",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--no-detect-systemd",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
            )
            log.close()
            if self._wait_until_ready():
                return self
            last_error = self._log_tail()
            self._terminate()
        raise RuntimeError(f"Xandikos did not start: {last_error}")

    def close(self) -> None:
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> XandikosServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- calendars ---------------------------------------------------------

    def principal_url(self, username: str | None = None) -> str:
        return urljoin(self.url, "user/")

    def ensure_calendar(
        self, name: str, *, username: str | None = None, components: Sequence[str] = ("VEVENT",)
    ) -> str:
        url = urljoin(self.url, f"user/calendars/{quote(name)}/")
        with self._client() as client:
            response = client.request(
                "MKCALENDAR",
                url,
                content=_MKCALENDAR_BODY.format(
                    name=escape(name), components="".join(f'<C:comp name="{c}"/>' for c in components)
                ).encode(),
                headers={"Content-Type": "application/xml; charset=utf-8"},
            )
            if response.status_code not in (201, 405, 409):
                raise RuntimeError(f"MKCALENDAR {url} failed: {response.status_code} {response.text}")
        return url

    def seed(self, calendar_url: str, objects: Iterable[bytes], *, username: str | None = None) -> list[str]:
        urls = []
        with self._client() as client:
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
        with self._client() as client:
            client.delete(url)

    # -- internals ---------------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=10.0)

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
            return (self._dir / "xandikos.log").read_text(errors="replace")[-2000:]
        return ""
