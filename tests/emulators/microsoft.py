"""The Microsoft emulator lives in the yoyaku package (the demo runs it); the tests import it from here."""

from yoyaku.emulators.microsoft import DEFAULT_EMAIL, PUBLIC_AUTHORITY, MicrosoftEmulator, start

__all__ = ["DEFAULT_EMAIL", "PUBLIC_AUTHORITY", "MicrosoftEmulator", "start"]
