"""The Exchange emulator lives in the yoyaku package (the demo runs it); the tests import it from here."""

from yoyaku.emulators.exchange import EwsEvent, ExchangeEmulator, start

__all__ = ["EwsEvent", "ExchangeEmulator", "start"]
