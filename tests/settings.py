"""Settings for the test suite: the embedded defaults with a per-run SQLite file and eager tasks."""

import os
import tempfile

from yoyaku.settings import *  # noqa: F403
from yoyaku.settings import DATABASES, HUEY, STORAGES

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file per run, so concurrent runs never share one and live-server threads see one database.
    DATABASES["default"]["TEST"] = {  # type: ignore[index]
        "NAME": os.path.join(tempfile.gettempdir(), f"yoyaku-test-{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"]["TEST"] = {"NAME": f"yoyaku_test_{os.getpid()}"}  # type: ignore[index]

HUEY = {**HUEY, "immediate": True}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
YOYAKU_ALLOWED_CALENDAR_NETWORKS = ["127.0.0.0/8", "::1/128"]
YOYAKU_PUBLIC_RATE_LIMIT = 100000
YOYAKU_BOOKING_RATE_LIMIT = "100000/m"
# The suite renders pages without running collectstatic; the production storage (hashed names from its
# manifest) is exercised by the tests that start gunicorn (tests/test_production.py).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
