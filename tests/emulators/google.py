"""The Google emulator lives in the yoyaku package (the demo runs it); the tests import it from here."""

from yoyaku.emulators.google import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, GoogleEmulator, start

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "GoogleEmulator", "start"]
