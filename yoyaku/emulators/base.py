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

from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

WSGIApp = Callable[..., Any]


@dataclass
class Fault:
    """One planned misbehaviour.

    ``status`` answers with that HTTP status (``retry_after`` adds the header);
    ``delay`` sleeps that many seconds before answering normally (use it to go
    past a client's timeout); ``count`` is how many requests it hits.
    """

    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    count: int = 1
    path_contains: str = ""
    method: str = ""
    body: bytes | None = None
    content_type: str = "application/json"


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
        """Sleep or build an error response for the request, or return None to answer normally."""
        fault = self.take(request)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            return None
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body if fault.body is not None else b'{"error": "injected fault"}'
        return Response(body, status=fault.status, headers=headers, content_type=fault.content_type)


class ServerThread:
    """Serve a WSGI app on 127.0.0.1 in a daemon thread."""

    def __init__(self, app: WSGIApp, *, port: int = 0) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
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
