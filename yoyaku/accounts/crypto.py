"""Encryption of secrets at rest (OAuth tokens, calendar passwords).

Fernet (AES-128-CBC with HMAC-SHA256) via MultiFernet, so keys can be rotated:
the first key in YOYAKU_ENCRYPTION_KEYS encrypts, every key decrypts.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.strip().encode()) for key in settings.YOYAKU_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode()
    except InvalidToken as error:
        raise ValueError("A stored secret could not be decrypted with the configured keys.") from error
