"""The gunicorn configuration: threaded workers, and a worker timeout above the slowest chain of provider
calls a request can wait for (taken from the adapters' own defaults, so raising one of them without the
timeout fails here)."""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

from yoyaku import gunicorn_conf
from yoyaku.calendars import caldav, exchange, google, microsoft


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    for name in (
        "YOYAKU_BIND",
        "YOYAKU_WEB_WORKERS",
        "YOYAKU_WEB_THREADS",
        "YOYAKU_WEB_TIMEOUT",
        "YOYAKU_WEB_MAX_REQUESTS",
        "YOYAKU_TRUSTED_PROXIES",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return importlib.reload(gunicorn_conf)


def defaults(function: object) -> dict[str, float]:
    return {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()  # type: ignore[arg-type]
        if isinstance(parameter.default, int | float) and not isinstance(parameter.default, bool)
    }


def slowest_provider_chain() -> float:
    """Seconds a request may wait on one adapter call: every attempt timing out, with capped back-offs."""
    g = defaults(google.GoogleCalendarAdapter.__init__)
    m = defaults(microsoft.MicrosoftCalendar.__init__)
    return max(
        g["max_attempts"] * g["timeout"] + (g["max_attempts"] - 1) * g["max_retry_after"],
        m["max_attempts"] * m["timeout"] + (m["max_attempts"] - 1) * m["retry_after_cap"],
        # Connecting Exchange probes the EWS address, then signs in: two requests, fail-fast.
        2 * exchange.DEFAULT_TIMEOUT,
        defaults(caldav.connect_caldav)["timeout"],
    )


def test_threaded_workers_with_a_timeout_above_the_slowest_provider_chain(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conf = load(monkeypatch)
    assert conf.worker_class == "gthread"
    assert conf.threads > 1 and conf.workers >= 2
    assert conf.timeout > slowest_provider_chain()
    assert conf.bind == ["127.0.0.1:8000"]
    assert conf.forwarded_allow_ips == "127.0.0.1,::1"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    conf = load(
        monkeypatch,
        YOYAKU_BIND="0.0.0.0:9000",
        YOYAKU_WEB_WORKERS="3",
        YOYAKU_WEB_THREADS="8",
        YOYAKU_WEB_TIMEOUT="300",
        YOYAKU_WEB_MAX_REQUESTS="0",
        YOYAKU_TRUSTED_PROXIES="10.0.0.0/8",
    )
    assert (conf.bind, conf.workers, conf.threads, conf.timeout) == (["0.0.0.0:9000"], 3, 8, 300)
    assert (conf.max_requests, conf.max_requests_jitter) == (0, 0)
    # The proxies trusted for the client address are the ones trusted for the scheme.
    assert conf.forwarded_allow_ips == "10.0.0.0/8"
