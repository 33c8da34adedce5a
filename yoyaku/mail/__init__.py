"""Outgoing mail: every product mail is stored with the change that causes it and sent by the worker."""
