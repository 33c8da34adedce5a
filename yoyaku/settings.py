"""Django settings. Everything an operator changes comes from YOYAKU_* environment variables;
the defaults run Yoyaku embedded: SQLite, SqliteHuey, no external services."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent


def _private_dir(path: Path) -> Path:
    """The data folder holds the database, the task queue and the generated keys: its owner's only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid():
        path.chmod(0o700)  # also a folder made earlier with the umask's permissions
    return path


def _private_file(path: Path) -> str:
    """Create ``path`` (empty, if missing) readable and writable by its owner only, and return it.

    SQLite opens an existing empty file as an empty database and gives its -wal and -shm files the
    database file's permissions, so the database and the huey queue are private from their first write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # O_CREAT without O_TRUNC keeps data
    if path.stat().st_uid == os.getuid():
        path.chmod(0o600)
    return str(path)


DATA_DIR = _private_dir(Path(os.environ.get("YOYAKU_DATA_DIR", BASE_DIR.parent / "var")).resolve())
# Uploaded files (profile photos). Never served by the web server as a folder: each photo goes
# through a view that sends it as an image with its own headers.
MEDIA_ROOT = Path(os.environ.get("YOYAKU_MEDIA_DIR", DATA_DIR / "media")).resolve()
# Largest profile photo upload, in bytes (stored re-encoded, much smaller).
YOYAKU_PHOTO_MAX_BYTES = int(os.environ.get("YOYAKU_PHOTO_MAX_BYTES", str(2 * 1024 * 1024)))


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


def _persistent_secret(name: str, file_name: str, factory: str = "token") -> str:
    """Read a secret from the environment, or keep a generated one in the data folder."""
    value = os.environ.get(name)
    if value:
        return value
    path = DATA_DIR / file_name
    if not path.exists():
        if factory == "fernet":
            from cryptography.fernet import Fernet

            generated = Fernet.generate_key().decode()
        else:
            generated = secrets.token_urlsafe(50)
        # Written whole to a private temporary file (0600 from its creation), then published under its
        # name only if absent: processes starting together on a fresh folder (web workers, a task
        # consumer) all end up reading the one secret that won, never a half-written or a second one.
        temporary = DATA_DIR / f".{file_name}.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(descriptor, "w") as secret_file:
                secret_file.write(generated)
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink()
    return path.read_text().strip()


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


SECRET_KEY = _persistent_secret("YOYAKU_SECRET_KEY", "secret_key")
# Encrypts OAuth refresh tokens and calendar passwords at rest (Fernet: AES-128-CBC + HMAC).
# Several comma-separated keys allow rotation: the first encrypts, all decrypt.
YOYAKU_ENCRYPTION_KEYS = _persistent_secret("YOYAKU_ENCRYPTION_KEYS", "encryption_key", "fernet").split(",")
DEBUG = _env_bool("YOYAKU_DEBUG")
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("YOYAKU_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
    if h.strip()
]
YOYAKU_BASE_URL = os.environ.get("YOYAKU_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Only for its static files and templates: the API docs then load Swagger UI from here, not a CDN.
    "ninja",
    "huey.contrib.djhuey",
    "yoyaku.accounts",
    "yoyaku.crm",
    "yoyaku.calendar_sync",
    "yoyaku.scheduling",
    "yoyaku.limits",
    "yoyaku.web",
    "yoyaku.health",
    "yoyaku.mail",
]

MIDDLEWARE = [
    # First, so every answer under /api/v1 is JSON (errors included) and only JSON bodies get in.
    "yoyaku.api.middleware.ApiMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after the security middleware (HTTPS redirect, HSTS) and before everything that would
    # touch the session or database for a stylesheet.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # After it: under /api/, a booking page's ?lang= outranks the cookie and Accept-Language.
    "yoyaku.api.language.ApiLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "yoyaku.urls"
WSGI_APPLICATION = "yoyaku.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# Every password check goes through the sign-in limits (accounts/sign_in_limits.py): the sign-in page,
# the admin's login page and any other caller of django.contrib.auth.authenticate.
AUTHENTICATION_BACKENDS = ["yoyaku.accounts.sign_in_limits.SignInLimitBackend"]
# Checked wherever a person sets a password (Settings > Profile, an invitation's link, createsuperuser's
# prompt) with Django's own translated messages. Ten characters at least: the sign-in limits slow
# guessing down, they do not make a short password safe.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database() -> dict[str, object]:
    url = os.environ.get("YOYAKU_DATABASE_URL", "")
    if os.environ.get("YOYAKU_TEST_DATABASE") == "postgresql" and not url:
        url = "postgresql://postgres@127.0.0.1:5432/yoyaku"
    if url.startswith(("postgres://", "postgresql://")):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": parts.path.lstrip("/") or "yoyaku",
            "USER": unquote(parts.username or "postgres"),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "127.0.0.1",
            "PORT": str(parts.port or 5432),
            "CONN_MAX_AGE": 60,
            "OPTIONS": {"connect_timeout": 5},
        }
    name = os.environ.get("YOYAKU_SQLITE_PATH", "") or str(DATA_DIR / "yoyaku.sqlite3")
    if name != ":memory:":
        name = _private_file(Path(name))
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": name,
        # IMMEDIATE takes the write lock at BEGIN, so the availability re-check and the
        # insert of a booking are serialised; WAL lets readers go on meanwhile.
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # A file, not :memory:, so threads of the live test server share one database.
        "TEST": {"NAME": os.environ.get("YOYAKU_SQLITE_TEST_PATH", str(DATA_DIR / "test.sqlite3"))},
    }


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_redis_url = os.environ.get("YOYAKU_REDIS_URL", "")
if _redis_url:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "yoyaku",
        "url": _redis_url,
        "immediate": False,
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "yoyaku",
        "filename": _private_file(DATA_DIR / "huey.sqlite3"),
        "immediate": _env_bool("YOYAKU_TASKS_IMMEDIATE"),
    }

# The cache is shared by every process: the database's (table yoyaku_cache, made by the web app's
# migrations) or, with Redis, Redis under a key prefix of its own. The abuse-limit counters
# (limits/counters.py) count atomically on Redis when it is the cache, else in the table web_limitcounter.
# Django's cache.clear() flushes its whole Redis database, so YOYAKU_CACHE_URL can give it a database
# apart from the task queue's (e.g. redis://host:6379/1).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "yoyaku_cache"}}
_cache_url = os.environ.get("YOYAKU_CACHE_URL", "") or _redis_url
if _cache_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": "yoyaku-cache",
        }
    }

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ja", _("Japanese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "/static/"
# `manage.py collectstatic` copies every app's static files here (the gunicorn config runs it at start);
# WhiteNoise serves them with far-future caching, since each name carries a hash of the content, and
# gzip (or brotli, when installed) copies made at collect time.
STATIC_ROOT = Path(os.environ.get("YOYAKU_STATIC_ROOT", DATA_DIR / "static")).resolve()
with contextlib.suppress(OSError):  # a read-only image may hold it ready-made
    # Private like the rest of the data folder: WhiteNoise reads it from this same process.
    STATIC_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# -- HTTPS and the reverse proxy ---------------------------------------------------
# YOYAKU_HTTPS=1 says the public address is https: cookies are sent only over HTTPS, plain http is
# redirected (except the health probes, so a load balancer may probe over http) and browsers are told
# to keep to HTTPS (HSTS, RFC 6797). Behind a proxy that ends TLS, YOYAKU_PROXY_SSL_HEADER names the header
# it sets (e.g. X-Forwarded-Proto); set it only when every request comes through that proxy and the proxy
# overwrites the header, since otherwise a client could claim https itself.
YOYAKU_HTTPS = _env_bool("YOYAKU_HTTPS")
SESSION_COOKIE_SECURE = YOYAKU_HTTPS
CSRF_COOKIE_SECURE = YOYAKU_HTTPS
SECURE_SSL_REDIRECT = YOYAKU_HTTPS
# Django matches these against the path without its leading slash.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = int(os.environ.get("YOYAKU_HSTS_SECONDS", "31536000" if YOYAKU_HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("YOYAKU_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = _env_bool("YOYAKU_HSTS_PRELOAD")
_proxy_ssl_header = os.environ.get("YOYAKU_PROXY_SSL_HEADER", "").strip()
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# Forms posted from the public address; Django also accepts the request's own host when the scheme
# matches, so this matters behind a proxy that changes the host or the scheme.
CSRF_TRUSTED_ORIGINS = [
    o.strip().rstrip("/")
    for o in os.environ.get("YOYAKU_CSRF_TRUSTED_ORIGINS", _origin(YOYAKU_BASE_URL)).split(",")
    if o.strip()
]
SILENCED_SYSTEM_CHECKS = [
    # HSTS preloading (security.W021) is the operator's choice, YOYAKU_HSTS_PRELOAD=1: once a domain is on
    # the browsers' preload lists, taking it off takes months, so it is never switched on by default.
    *([] if SECURE_HSTS_PRELOAD or not SECURE_HSTS_SECONDS else ["security.W021"]),
]

EMAIL_BACKEND = os.environ.get("YOYAKU_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("YOYAKU_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = int(os.environ.get("YOYAKU_SMTP_PORT", "1025"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("YOYAKU_FROM_EMAIL", "Yoyaku <no-reply@localhost>")
# Mail is queued (yoyaku/mail) and sent by the worker: a message the SMTP server keeps refusing for a
# reason that may pass (refused connection, 4xx) is tried this many times, waits doubling from a minute
# to an hour, then marked failed in the admin. Sent messages are kept this many days.
YOYAKU_MAIL_MAX_ATTEMPTS = int(os.environ.get("YOYAKU_MAIL_MAX_ATTEMPTS", "10"))
YOYAKU_MAIL_KEEP_SENT_DAYS = int(os.environ.get("YOYAKU_MAIL_KEEP_SENT_DAYS", "7"))

DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # booking bodies are small; larger ones are refused

# Networks user-supplied calendar URLs may resolve to besides public addresses
# (the demo and the tests run their CalDAV/EWS servers on loopback).
YOYAKU_ALLOWED_CALENDAR_NETWORKS = [
    n for n in os.environ.get("YOYAKU_ALLOWED_CALENDAR_NETWORKS", "").split(",") if n
]
# Calendar sync (calendar_sync): availability reads only the synced busy index. A connection whose last
# successful sync is older than this fails closed on the pages (no slots offered from old data).
YOYAKU_SYNC_STALE_AFTER_SECONDS = int(os.environ.get("YOYAKU_SYNC_STALE_AFTER_SECONDS", "1800"))
# The fallback poll of every connection, per provider, each run moved by up to +-YOYAKU_SYNC_POLL_JITTER
# (a fraction) so that connections made together do not poll together.
YOYAKU_SYNC_POLL_SECONDS = {
    provider: int(os.environ.get(f"YOYAKU_SYNC_POLL_SECONDS_{provider.upper()}", default))
    for provider, default in (("google", "300"), ("microsoft", "300"), ("caldav", "300"), ("exchange", "300"))
}
YOYAKU_SYNC_POLL_JITTER = float(os.environ.get("YOYAKU_SYNC_POLL_JITTER", "0.2"))
# A complete listing this often moves the expanded recurrence horizon forward with time.
YOYAKU_SYNC_FULL_EVERY_HOURS = float(os.environ.get("YOYAKU_SYNC_FULL_EVERY_HOURS", "24"))
# The CRM logs the instances of a recurring calendar event up to this many days ahead (crm.calendar_log):
# a weekly series then makes a few meetings, not a year of them; later ones come as the complete listing
# (above) moves the bound forward.
YOYAKU_CRM_SERIES_DAYS_AHEAD = int(os.environ.get("YOYAKU_CRM_SERIES_DAYS_AHEAD", "30"))
# Push (Google channels, Graph subscriptions) to YOYAKU_BASE_URL/calendar/push/...: "auto" turns it on when
# the public address is https (the providers only call https addresses), "1" always, "0" never.
YOYAKU_SYNC_PUSH = os.environ.get("YOYAKU_SYNC_PUSH", "auto")
# Channels are renewed when they would expire within this many hours.
YOYAKU_SYNC_PUSH_RENEW_HOURS = float(os.environ.get("YOYAKU_SYNC_PUSH_RENEW_HOURS", "48"))
# A calendar write or cancellation that keeps failing is given up (and shown to the host) after this
# many attempts or this many hours, whichever comes first.
YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS = int(os.environ.get("YOYAKU_CALENDAR_RETRY_MAX_ATTEMPTS", "50"))
YOYAKU_CALENDAR_RETRY_MAX_HOURS = float(os.environ.get("YOYAKU_CALENDAR_RETRY_MAX_HOURS", "24"))
# A meeting request for a time (pages without a calendar) holds that time this long; then the time is
# offered again until the host confirms the request (confirming checks the time again).
YOYAKU_REQUEST_HOLD_HOURS = float(os.environ.get("YOYAKU_REQUEST_HOLD_HOURS", "48"))
# /readyz fails when no background worker has written its heartbeat (every minute) for this long.
YOYAKU_WORKER_HEARTBEAT_MAX_AGE = int(os.environ.get("YOYAKU_WORKER_HEARTBEAT_MAX_AGE", "180"))
# Accounts created before this date may keep two calendar connections (legacy rule).
YOYAKU_LEGACY_CONNECTION_CUTOFF = os.environ.get("YOYAKU_LEGACY_CONNECTION_CUTOFF", "2023-03-13")
# Public booking endpoints, per client address, as "count/period" (period s, m, h or d, e.g. "5/10m";
# a bare number is per minute): availability reads, and bookings plus requests (stricter: they write).
YOYAKU_PUBLIC_RATE_LIMIT = os.environ.get("YOYAKU_PUBLIC_RATE_LIMIT", "120/m")
YOYAKU_BOOKING_RATE_LIMIT = os.environ.get("YOYAKU_BOOKING_RATE_LIMIT", "20/h")
# Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is believed; from any
# other peer the header is ignored, since clients can write whatever they like into it.
YOYAKU_TRUSTED_PROXIES = [p for p in os.environ.get("YOYAKU_TRUSTED_PROXIES", "").split(",") if p.strip()]
# Sign-in: after this many failed attempts for one username from one client address within the window,
# further attempts from that address are refused without checking the password until the window ends;
# the much higher per-username ceiling counts failures from every address (guessing spread over many).
YOYAKU_SIGNIN_MAX_FAILURES = int(os.environ.get("YOYAKU_SIGNIN_MAX_FAILURES", "10"))
YOYAKU_SIGNIN_USERNAME_MAX_FAILURES = int(os.environ.get("YOYAKU_SIGNIN_USERNAME_MAX_FAILURES", "100"))
YOYAKU_SIGNIN_WINDOW_MINUTES = int(os.environ.get("YOYAKU_SIGNIN_WINDOW_MINUTES", "15"))

# OAuth clients and provider endpoints; defaults are the real services. A provider without a
# client id is offered as "not configured by the administrator". The endpoint keys are the
# fields of GoogleEndpoints / MicrosoftEndpoints, each read from YOYAKU_<PROVIDER>_<FIELD>.
YOYAKU_GOOGLE_CLIENT_ID = os.environ.get("YOYAKU_GOOGLE_CLIENT_ID", "")
YOYAKU_GOOGLE_CLIENT_SECRET = os.environ.get("YOYAKU_GOOGLE_CLIENT_SECRET", "")
YOYAKU_GOOGLE_ENDPOINTS = {
    field: os.environ.get(f"YOYAKU_GOOGLE_{field.upper()}", default)
    for field, default in {
        "auth_url": "https://accounts.google.com/o/oauth2/v2/auth",
        "token_url": "https://oauth2.googleapis.com/token",
        "revoke_url": "https://oauth2.googleapis.com/revoke",
        "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
        "calendar_api": "https://www.googleapis.com/calendar/v3/",
    }.items()
}
YOYAKU_MICROSOFT_CLIENT_ID = os.environ.get("YOYAKU_MICROSOFT_CLIENT_ID", "")
YOYAKU_MICROSOFT_CLIENT_SECRET = os.environ.get("YOYAKU_MICROSOFT_CLIENT_SECRET", "")
YOYAKU_MICROSOFT_ENDPOINTS = {
    field: os.environ.get(f"YOYAKU_MICROSOFT_{field.upper()}", default)
    for field, default in {
        "authority_host": "https://login.microsoftonline.com",
        "tenant": "common",
        "graph": "https://graph.microsoft.com/v1.0",
        # Only for local protocol servers: where the authority host is really served.
        "authority_transport": "",
    }.items()
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("YOYAKU_LOG_LEVEL", "WARNING")},
}
