"""The emulators live in the yoyaku package (the demo runs them); the tests import them from here."""

from yoyaku.emulators.base import Fault, FaultInjector, ServerThread, WSGIApp, serving

__all__ = ["Fault", "FaultInjector", "ServerThread", "WSGIApp", "serving"]
