"""Shared plumbing for the local protocol servers: a threaded WSGI server on
loopback and a fault injector each emulator consults before answering.

The emulators speak the providers' documented wire formats so the official
client libraries can be pointed at them unchanged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

WSGIApp = Callable[..., Any]

# The consent pages are seen by people walking through the demo: plain, readable, and clear
# that no real provider is involved.
CONSENT_HEAD = """<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 16px/1.5 system-ui, sans-serif; color: #1f2937; background: #f3f4f6; margin: 0;
       padding: 2rem 1rem; }
main { max-width: 28rem; margin: 0 auto; background: #fff; border: 1px solid #d1d5db; border-radius: 8px;
       padding: 1.5rem 2rem; }
h1 { font-size: 1.35rem; line-height: 1.3; margin: 0 0 1rem; }
.local { font-size: .85rem; color: #92400e; background: #fef3c7; border-radius: 4px; padding: .4rem .6rem; }
label { display: block; font-weight: 600; margin-top: 1rem; }
input[type=email] { width: 100%; box-sizing: border-box; font: inherit; padding: .45rem .6rem;
                    border: 1px solid #9ca3af; border-radius: 4px; }
ul { padding-left: 1.2rem; } li { overflow-wrap: anywhere; font-size: .9rem; }
/* The accepting button comes first, so Enter in the form accepts; it is shown on the right. */
.actions { display: flex; flex-direction: row-reverse; gap: .75rem; margin-top: 1.5rem; }
button { font: inherit; padding: .5rem 1.25rem; border-radius: 4px; border: 1px solid #9ca3af;
         background: #fff; cursor: pointer; }
button.primary { background: #1d4ed8; border-color: #1d4ed8; color: #fff; }
</style>"""


def local_note(provider: str) -> str:
    return (
        f'<p class="local">A local stand-in for {provider}, for tests and the demo. '
        "Nothing leaves this machine.</p>"
    )


@dataclass
class Fault:
    """One planned misbehaviour.

    ``status`` answers with that HTTP status (``retry_after`` adds the header);
    ``delay`` sleeps that many seconds before answering normally (use it to go
    past a client's timeout); ``count`` is how many requests it hits.
    ``after`` lets the request do its work first and then loses the answer: the
    change is made (an event created) but the client gets ``status`` instead,
    or the answer only after ``delay`` (a provider that dies mid-write).
    """

    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    count: int = 1
    path_contains: str = ""
    method: str = ""
    body: bytes | None = None
    content_type: str = "application/json"
    after: bool = False


@dataclass
class FaultInjector:
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hits: list[str] = field(default_factory=list)

    def add(self, **kwargs: Any) -> Fault:
        fault = Fault(**kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def take(self, request: Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.path_contains and fault.path_contains not in request.full_path:
                    continue
                if fault.method and fault.method != request.method:
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                self.hits.append(f"{request.method} {request.path}")
                return fault
        return None

    def apply(self, request: Request) -> Response | None:
        """Sleep or build an error response for the request, or return None to answer normally.

        For faults that strike before the request is served; ``respond`` serves ``after`` faults too.
        """
        fault = self.take(request)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        return self._error(fault)

    def respond(self, request: Request, serve: Callable[[], Response]) -> Response:
        """The answer to ``request``: ``serve()``'s, unless a fault strikes before or after it serves."""
        fault = self.take(request)
        if fault is None:
            return serve()
        if not fault.after:
            if fault.delay:
                time.sleep(fault.delay)
            return self._error(fault) or serve()
        served = serve()
        if fault.delay:
            time.sleep(fault.delay)
        return self._error(fault) or served

    @staticmethod
    def _error(fault: Fault) -> Response | None:
        if fault.status is None:
            return None
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body if fault.body is not None else b'{"error": "injected fault"}'
        return Response(body, status=fault.status, headers=headers, content_type=fault.content_type)


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler without its line per request (errors are still logged).

    The demo prints what a person needs (addresses, mails) to the terminal; an access log line
    for every poll of a local server would bury it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class ServerThread:
    """Serve a WSGI app on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: WSGIApp, *, port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=QuietRequestHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> ServerThread:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def serving(app: WSGIApp) -> Iterator[ServerThread]:
    server = ServerThread(app).start()
    try:
        yield server
    finally:
        server.stop()
