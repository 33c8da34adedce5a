"""An HTTP proxy in front of a real CalDAV server that can answer some requests itself.

For server behaviours neither Radicale nor Xandikos has: a 403 or 412 with a
given precondition, no sync-collection, or RFC 6638 implicit scheduling (as
the servers behind Nextcloud and Baïkal do). Everything else reaches the real
server untouched, so the adapter under test talks to a real CalDAV server.

    with DavProxy(target=radicale.url) as proxy:
        proxy.answer(lambda r: r.method == "PUT", status=412)
        adapter = CalDAVAdapter(url=proxy.url + "/", ...)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urljoin

import httpx
import icalendar
from werkzeug.wrappers import Request, Response

from tests.emulators.base import ServerThread

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Rule:
    matches: Callable[[Seen], bool]
    status: int
    body: bytes
    times: int | None
    headers: dict[str, str] = field(default_factory=dict)
    # Forward the request first: the server makes the change, the client gets ``status`` instead.
    after: bool = False


class DavProxy:
    def __init__(self, *, target: str, auto_schedule: bool = False) -> None:
        self.target = target
        self.auto_schedule = auto_schedule
        self.seen: list[Seen] = []
        # What an RFC 6638 server would have mailed: (attendee address, iTIP method).
        self.scheduled: list[tuple[str, str]] = []
        self._rules: list[_Rule] = []
        self._client = httpx.Client(timeout=10.0)
        self._server = ServerThread(self._app)

    @property
    def url(self) -> str:
        return self._server.url

    def answer(
        self,
        matches: Callable[[Seen], bool],
        *,
        status: int,
        body: bytes = b"",
        times: int | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        """Answer requests for which ``matches`` is true with ``status`` (``times`` times, or always)."""
        headers = {"Content-Type": "application/xml; charset=utf-8"} if body else {}
        headers.update(extra_headers or {})
        self._rules.append(_Rule(matches=matches, status=status, body=body, times=times, headers=headers))

    def lose_answer(
        self, matches: Callable[[Seen], bool], *, status: int = 502, times: int | None = None
    ) -> None:
        """Forward requests for which ``matches`` is true, then answer ``status`` instead of the server's
        answer: the change is made, its answer lost (a server or network dying mid-write)."""
        self._rules.append(_Rule(matches=matches, status=status, body=b"", times=times, after=True))

    def clear(self) -> None:
        self._rules.clear()

    def __enter__(self) -> DavProxy:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.stop()
        self._client.close()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        seen = Seen(
            method=request.method,
            path=request.full_path.rstrip("?"),
            headers={k: v for k, v in request.headers.items()},
            body=request.get_data(),
        )
        self.seen.append(seen)
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in _HOP_BY_HOP}
        for rule in self._rules:
            if rule.times != 0 and rule.matches(seen):
                if rule.times is not None:
                    rule.times -= 1
                if rule.after:
                    self._client.request(
                        seen.method, urljoin(self.target, seen.path), content=seen.body, headers=headers
                    )
                return Response(rule.body, status=rule.status, headers=rule.headers)(environ, start_response)
        try:
            upstream = self._client.request(
                seen.method, urljoin(self.target, seen.path), content=seen.body, headers=headers
            )
        except httpx.TransportError:
            # The server behind is down: a gateway's answer.
            return Response(b"", status=502)(environ, start_response)
        if self.auto_schedule and seen.method == "PUT" and upstream.status_code in (200, 201, 204):
            self._schedule(seen.body)
        answer_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP]
        if self.auto_schedule:
            answer_headers = [
                (k, f"{v}, calendar-auto-schedule" if k.lower() == "dav" else v) for k, v in answer_headers
            ]
        return Response(upstream.content, status=upstream.status_code, headers=answer_headers)(
            environ, start_response
        )

    def _schedule(self, data: bytes) -> None:
        """RFC 6638 §3.2.1: on a PUT of an organizer's object the server sends iTIP to every attendee
        whose SCHEDULE-AGENT is SERVER (the default), REQUEST or, when cancelled, CANCEL."""
        calendar = icalendar.Calendar.from_ical(data)
        for event in calendar.walk("VEVENT"):
            if "ORGANIZER" not in event:
                continue
            method = "CANCEL" if str(event.get("STATUS", "")).upper() == "CANCELLED" else "REQUEST"
            attendees = event.get("ATTENDEE", [])
            for attendee in attendees if isinstance(attendees, list) else [attendees]:
                if str(attendee.params.get("SCHEDULE-AGENT", "SERVER")).upper() == "SERVER":
                    self.scheduled.append((str(attendee), method))
