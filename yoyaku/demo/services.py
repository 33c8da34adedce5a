"""The local servers the demo runs, behind one small interface.

A service starts, stops, may hand environment variables to Django's settings
(read once, when Django loads) and says in a few lines where it can be
reached. The demo starts its services in order and stops them in reverse, so
a new local server (a provider emulator, say) is one more entry in the list.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from yoyaku.demo.radicale import RadicaleServer, free_port

Printer = Callable[[str], None]

_print_lock = threading.Lock()


def say(text: str) -> None:
    """Print from any thread without interleaving lines (mail arrives on the SMTP thread)."""
    with _print_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


class Service(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def environ(self) -> dict[str, str]:
        """Settings for Django, as YOYAKU_* variables; only read before Django loads."""
        ...

    def describe(self) -> list[str]: ...


class ServiceStack:
    """Started services, stopped in reverse order; a failing stop does not keep the others running."""

    def __init__(self) -> None:
        self.started: list[Service] = []

    def start(self, service: Service) -> Service:
        # Listed first: a start cut short (Ctrl-C, an error) still gets stopped.
        self.started.append(service)
        service.start()
        return service

    def stop_all(self) -> list[str]:
        problems = []
        while self.started:
            service = self.started.pop()
            try:
                service.stop()
            except Exception as error:  # keep stopping the rest
                problems.append(f"{service.name}: {error}")
        return problems


# -- CalDAV -------------------------------------------------------------------


class RadicaleService:
    """A Radicale CalDAV server whose storage lives in the demo's data folder."""

    name = "CalDAV calendar"

    def __init__(self, *, data_dir: Path, username: str, password: str) -> None:
        self.server = RadicaleServer(users={username: password}, data_dir=data_dir)
        self.calendar_url = ""

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.close()

    def environ(self) -> dict[str, str]:
        return {}

    def describe(self) -> list[str]:
        server = self.server
        return [f"{self.calendar_url or server.url}  (user {server.username}, password {server.password})"]


# -- mail ---------------------------------------------------------------------


def mail_summary(raw: bytes) -> str:
    """A received mail as the terminal shows it: the headers that matter, text parts in full."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    lines = [
        "",
        "─" * 72,
        f"Mail to {message.get('To', '')}: {message.get('Subject', '')}",
    ]
    if isinstance(message, EmailMessage):
        for part in message.walk():
            if part.is_multipart():
                continue
            content_type = part.get_content_type()
            if content_type == "text/plain" and part.get_filename() is None:
                lines += ["", str(part.get_content()).rstrip()]
            elif content_type == "text/calendar":
                method = part.get_param("method") or ""
                lines += ["", f"[text/calendar; method={method}]", str(part.get_content()).rstrip()]
            else:
                lines.append(f"[attachment {part.get_filename() or content_type}]")
    lines.append("─" * 72)
    return "\n".join(lines)


class _PrintingHandler:
    def __init__(self, printer: Printer) -> None:
        self.printer = printer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.printer(mail_summary(bytes(envelope.content)))
        return "250 Message accepted for delivery"


class SmtpService:
    """An SMTP server on loopback that prints every mail it receives (aiosmtpd).

    Without aiosmtpd installed, mails go to Django's console backend instead.
    """

    name = "Mail (SMTP)"

    def __init__(self, *, printer: Printer = say) -> None:
        self.printer = printer
        self.port = 0
        self._controller: Any = None

    def start(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            return
        self.port = free_port()
        self._controller = Controller(_PrintingHandler(self.printer), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def environ(self) -> dict[str, str]:
        if self._controller is None:
            return {"YOYAKU_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
        return {
            "YOYAKU_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "YOYAKU_SMTP_HOST": "127.0.0.1",
            "YOYAKU_SMTP_PORT": str(self.port),
        }

    def describe(self) -> list[str]:
        if self._controller is None:
            return ["mails are printed below (aiosmtpd is not installed: console backend)"]
        return [f"127.0.0.1:{self.port}; received mails are printed below"]


# -- web ----------------------------------------------------------------------


class WebService:
    """Django behind Werkzeug's threaded server. Static files come from the collected folder through
    WhiteNoise, as in production: the pages name them by their hashed names, which only
    collectstatic writes (runserver's handler looks in the apps' folders and finds none of them)."""

    name = "Web"

    def __init__(self, *, port: int) -> None:
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from django.core.wsgi import get_wsgi_application
        from werkzeug.serving import make_server

        from yoyaku.emulators.base import QuietRequestHandler

        app = get_wsgi_application()
        # The booking page polls; a line per request would bury the mails.
        self._server = make_server(
            "127.0.0.1", self.port, app, threaded=True, request_handler=QuietRequestHandler
        )
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-web", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def environ(self) -> dict[str, str]:
        return {"YOYAKU_BASE_URL": self.url}

    def describe(self) -> list[str]:
        return [self.url]


# -- background tasks ---------------------------------------------------------


class TaskConsumerService:
    """A huey consumer (``manage.py run_huey``) in its own process: the fallback poll that keeps every
    connected calendar synced, and the syncs it queues.

    The web process still runs the tasks it queues itself inline (calendar writes, the sync right
    after connecting); the consumer shares the queue's SQLite file in the data folder.
    """

    name = "Task consumer"

    def __init__(self, *, data_dir: Path) -> None:
        self.log_path = data_dir / "huey-consumer.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        environment = {**os.environ, "YOYAKU_TASKS_IMMEDIATE": "0"}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "django", "run_huey", "--workers", "2", "--worker-type", "thread"],
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGINT: huey's graceful stop (running tasks finish).
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def environ(self) -> dict[str, str]:
        return {}

    def describe(self) -> list[str]:
        return [f"syncs the connected calendars every few minutes (log: {self.log_path})"]
