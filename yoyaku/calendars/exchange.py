"""On-premises Exchange through Exchange Web Services (EWS), with exchangelib.

Exchange is one-way in Yoyaku by design: we read busy time and add new meetings (with invitations sent
by Exchange itself), and nothing else. Rescheduling, cancelling and two-way sync happen in Outlook.

Users give an email address, a password, optionally a username (``DOMAIN\\user`` or a UPN) and optionally
the EWS URL (``https://mail.example.com/EWS/Exchange.asmx``). Things worth knowing about exchangelib:

* Retry policy. ``FailFast`` (the default) raises on the first 401/503. ``FaultTolerance`` retries, but
  its only bound is the length of *one* back-off, so a server that keeps answering 503 with a short
  ``Retry-After`` is retried for ever, and it reads every 401 as throttling. We use ``FailFast`` for the
  connect check and a bounded ``FaultTolerance`` (a retry count, back-offs capped, 401 = bad password)
  for background work.
* Module-level cache. ``Protocol`` instances are cached per (endpoint, credentials) and keep the
  *first* configuration they were built with (retry policy, auth type, version). We evict the entry
  before and after building an account so each adapter gets the policy it asked for.
* Autodiscover. exchangelib's autodiscover resolves DNS itself, insists on https, follows redirects to
  hosts we have not checked against our SSRF rules and keeps a disk cache. We use our own small POX
  autodiscover client instead (:func:`discover_ews_url`), checking every URL before fetching it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, NoReturn
from urllib.parse import urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
import requests_ntlm
from exchangelib import (
    BASIC,
    DELEGATE,
    NTLM,
    Account,
    Build,
    Configuration,
    Credentials,
    EWSDateTime,
    EWSTimeZone,
    FailFast,
    FaultTolerance,
    Version,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorInternalServerTransientError,
    ErrorInvalidServerVersion,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    ErrorTimeoutExpired,
    EWSError,
    RateLimitError,
    RedirectError,
    ResponseMessageError,
    TransportError,
    UnauthorizedError,
    UnknownTimeZone,
)
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, CalendarItem
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import Mailbox
from exchangelib.protocol import Protocol, RetryPolicy
from exchangelib.version import EXCHANGE_2010_SP2
from lxml import etree

from yoyaku.calendars.base import (
    BusyInterval,
    BusyStatus,
    CalendarAuthError,
    CalendarError,
    CalendarInfo,
    CalendarOperationNotSupported,
    CalendarUnavailable,
    EventDraft,
    SyncPage,
    SyncResult,
    UnreadableEvent,
)
from yoyaku.calendars.busy_rules import (
    EWS_RESPONSE,
    EWS_SHOW_AS,
    EventFacts,
    busy_status,
    lookup,
    response_of,
)
from yoyaku.calendars.ssrf import PinnedHTTPAdapter, UnsafeURLError, check_url, unsafe_cause

logger = logging.getLogger(__name__)

PROVIDER = "exchange"
PRIMARY_CALENDAR_ID = "calendar"  # EWS distinguished folder id of the mailbox's calendar
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_WAIT = 10.0  # longest single back-off in background work, seconds
DEFAULT_MAX_RETRIES = 3
MINIMUM_BUILD = EXCHANGE_2010_SP2

# Exchange sends the invitation itself (SendMeetingInvitations), so there is no email of ours in which
# proposed times could be offered; the app must not offer that option for Exchange calendars.
SUPPORTS_PROPOSED_TIMES_IN_EMAIL = False
PROPOSED_TIMES_UNSUPPORTED_MESSAGE = (
    "Proposed times cannot be inserted into emails for Exchange calendars: Exchange sends the invitations."
)
RESCHEDULE_UNSUPPORTED_MESSAGE = (
    "Meetings on an Exchange calendar cannot be rescheduled from Yoyaku; change it in Outlook."
)
CANCEL_UNSUPPORTED_MESSAGE = (
    "Meetings on an Exchange calendar cannot be cancelled from Yoyaku; cancel it in Outlook."
)
SYNC_UNSUPPORTED_MESSAGE = (
    "Exchange calendars sync one way: Yoyaku reads busy time and adds new meetings, nothing else."
)
OWA_MESSAGE = (
    "This looks like the Outlook Web App address. "
    "Use the EWS address, which usually ends in /EWS/Exchange.asmx."
)
CREDENTIALS_MESSAGE = (
    "Exchange rejected the email, username or password. If your account uses two-factor authentication, "
    "create an app password and use it here."
)


def supports_proposed_times_in_email() -> bool:
    return SUPPORTS_PROPOSED_TIMES_IN_EMAIL


class ExchangeConnectError(CalendarError):
    """Connecting failed; ``str(error)`` tells the user what to change."""


class ExchangeCredentialsError(ExchangeConnectError, CalendarAuthError):
    pass


class ExchangeUnreachable(ExchangeConnectError, CalendarUnavailable):
    pass


class ExchangeVersionTooOld(ExchangeConnectError):
    pass


class ExchangeWrongURL(ExchangeConnectError):
    pass


@dataclass(frozen=True, slots=True)
class ExchangeConnectionInfo:
    server_version: str  # build number, e.g. "15.1.2507.6"; pass back to ExchangeAdapter to skip probing
    ews_url: str
    auth_type: str  # exchangelib's name: "NTLM" or "basic"
    calendars: list[CalendarInfo] = field(default_factory=list)

    @property
    def server_name(self) -> str:
        return _product_name(_parse_build(self.server_version))


def _parse_build(text: str) -> Build:
    parts = [int(p) for p in text.split(".")] + [0, 0, 0, 0]
    return Build(*parts[:4])


def _product_name(build: Build) -> str:
    full = Version(build=build).fullname if _known_build(build) else f"build {build}"
    return full.replace("Microsoft Exchange Server ", "")


def _known_build(build: Build) -> bool:
    try:
        build.api_version()
    except ValueError:
        return False
    return True


class BoundedFaultTolerance(FaultTolerance):
    """exchangelib's FaultTolerance with a retry count and capped back-offs; 401 means bad credentials.

    On-premises Exchange does not throttle with 401 the way Exchange Online once did, while a changed
    password does produce 401: treating it as throttling would retry until the budget runs out and then
    report "busy" instead of asking the user to reconnect.
    """

    def __init__(self, *, max_wait: float, max_retries: int) -> None:
        super().__init__(max_wait=max_wait)
        self.max_retries = max_retries
        self._local = threading.local()

    @property
    def retries(self) -> int:
        return int(getattr(self._local, "retries", 0))

    def reset(self) -> None:
        self._local.retries = 0

    def back_off(self, seconds: float | None) -> None:
        if self.retries >= self.max_retries:
            raise RateLimitError("Retry budget used up", wait=float(seconds or 0))
        self._local.retries = self.retries + 1
        # Honour Retry-After / BackOffMilliseconds, but never sleep longer than max_wait at once.
        wait = self.max_wait if seconds is None else min(float(seconds), self.max_wait)
        super().back_off(wait)

    def raise_response_errors(self, response: requests.Response) -> None:
        if response.status_code == 401:
            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        super().raise_response_errors(response)


# -- connection ----------------------------------------------------------------------------------


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _looks_like_owa(url: str) -> bool:
    path = urlsplit(url).path.lower().rstrip("/")
    return path.endswith("/owa") or "/owa/" in path + "/" or path.endswith(".aspx")


def probe_ews_url(*, ews_url: str, timeout: float, allowed_networks: Sequence[str] = ()) -> str:
    """Check that ``ews_url`` is an EWS endpoint and return the password auth type it offers.

    One unauthenticated POST, as exchangelib's own auth detection does (some servers redirect
    everything except POSTs to OWA). Raises :class:`ExchangeConnectError` with a user-facing message.
    """
    _check(ews_url, allowed_networks)
    if _looks_like_owa(ews_url):
        raise ExchangeWrongURL(OWA_MESSAGE)
    host = _host(ews_url)
    try:
        with pinned_session(allowed_networks) as session:
            response = session.post(
                ews_url,
                data=b"",
                headers={"Content-Type": "text/xml; charset=utf-8"},
                allow_redirects=False,
                timeout=timeout,
            )
    except requests.exceptions.Timeout as error:
        raise ExchangeUnreachable(
            f"The Exchange server at {host} did not answer within {timeout:g} seconds."
        ) from error
    except requests.exceptions.SSLError as error:
        raise ExchangeUnreachable(
            f"The Exchange server at {host} has a TLS certificate Yoyaku cannot verify."
        ) from error
    except requests.exceptions.RequestException as error:
        unsafe = unsafe_cause(error)
        if unsafe is not None:
            raise ExchangeConnectError(str(unsafe)) from error
        raise ExchangeUnreachable(f"The Exchange server at {host} could not be reached.") from error
    with response:
        content_type = response.headers.get("Content-Type", "").lower()
        location = response.headers.get("Location", "")
        if response.status_code in (301, 302, 303, 307, 308):
            if "/owa" in location.lower():
                raise ExchangeWrongURL(OWA_MESSAGE)
            raise ExchangeWrongURL(
                f"The server redirects this address to {location}. Use the EWS address, "
                "which usually ends in /EWS/Exchange.asmx."
            )
        if response.status_code == 200 and "html" in content_type:
            raise ExchangeWrongURL(OWA_MESSAGE)
        if response.status_code == 404:
            raise ExchangeWrongURL(
                f"There is no Exchange Web Services endpoint at {ews_url}. The EWS address usually ends in "
                "/EWS/Exchange.asmx."
            )
        offered = " ".join(response.headers.get("WWW-Authenticate", "").lower().replace(",", " ").split())
        if response.status_code == 401:
            tokens = set(offered.split())
            if "ntlm" in tokens or "negotiate" in tokens:
                return NTLM
            if "basic" in tokens:
                return BASIC
            raise ExchangeConnectError(
                f"The Exchange server at {host} offers no password sign-in Yoyaku supports (NTLM or Basic). "
                "Ask your administrator to enable one of them for EWS."
            )
        if response.status_code in (500, 503):
            raise ExchangeUnreachable(
                f"The Exchange server at {host} is not working right now; try again later."
            )
        raise ExchangeWrongURL(
            f"The address {ews_url} did not answer like an Exchange server (HTTP {response.status_code})."
        )


def pinned_session(allowed_networks: Sequence[str]) -> requests.Session:
    """A requests session whose connections go only to checked addresses (``ssrf.PinnedHTTPAdapter``)
    and that follows no redirect: EWS and autodiscover answers are never followed to another place,
    so the password is sent only to the URL it was meant for."""
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedHTTPAdapter(allowed_networks=allowed_networks)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _check(url: str, allowed_networks: Sequence[str]) -> None:
    try:
        check_url(url, allowed_networks=allowed_networks)
    except UnsafeURLError as error:
        raise ExchangeConnectError(str(error)) from error


_POX_REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
    "<Request><EMailAddress>{email}</EMailAddress>"
    "<AcceptableResponseSchema>"
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
    "</AcceptableResponseSchema></Request></Autodiscover>"
)
_POX_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def discover_ews_url(
    *,
    email: str,
    password: str,
    username: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allowed_networks: Sequence[str] = (),
    autodiscover_urls: Sequence[str] | None = None,
) -> str:
    """Find the EWS URL with POX autodiscover (MS-OXDSCLI 3.1.5), trying ``https://<domain>/`` and
    ``https://autodiscover.<domain>/``. Redirect answers (redirectAddr/redirectUrl) are not followed:
    when they happen, the user is asked for the EWS URL instead."""
    domain = email.rsplit("@", 1)[-1]
    candidates = list(autodiscover_urls or ()) or [
        f"https://{domain}/autodiscover/autodiscover.xml",
        f"https://autodiscover.{domain}/autodiscover/autodiscover.xml",
    ]
    body = _POX_REQUEST.format(email=escape(email)).encode()
    login = username or email
    for url in candidates:
        try:
            check_url(url, allowed_networks=allowed_networks)
        except UnsafeURLError:
            logger.info("Skipping autodiscover URL %s: not a public address", url)
            continue
        try:
            with pinned_session(allowed_networks) as session:
                first = session.post(url, data=body, allow_redirects=False, timeout=timeout)
                offered = first.headers.get("WWW-Authenticate", "").lower()
                if first.status_code == 401 and ("ntlm" in offered or "negotiate" in offered):
                    ntlm_user = login if "\\" in login else "\\" + login
                    session.auth = requests_ntlm.HttpNtlmAuth(ntlm_user, password)
                else:
                    session.auth = (login, password)
                response = session.post(
                    url,
                    data=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                    allow_redirects=False,
                    timeout=timeout,
                )
        except requests.exceptions.RequestException as error:
            logger.info("Autodiscover at %s failed: %s", url, error)
            continue
        if response.status_code == 401:
            raise ExchangeCredentialsError(CREDENTIALS_MESSAGE)
        if response.status_code != 200:
            continue
        try:
            root = etree.fromstring(response.content)
        except etree.XMLSyntaxError:
            continue
        by_type = {
            (p.findtext(f"{{{_POX_NS}}}Type") or ""): (p.findtext(f"{{{_POX_NS}}}EwsUrl") or "")
            for p in root.iter(f"{{{_POX_NS}}}Protocol")
        }
        ews_url = by_type.get("EXPR") or by_type.get("EXCH")
        if ews_url:
            if urlsplit(url).scheme == "https" and urlsplit(ews_url).scheme != "https":
                # The password would follow in clear: never step down from https to http.
                raise ExchangeConnectError(
                    f"Autodiscover for {domain} gave an unencrypted EWS address ({ews_url}); "
                    "Yoyaku sends your password only over https. Enter the https EWS address."
                )
            return ews_url
    raise ExchangeConnectError(
        f"Yoyaku could not find the Exchange server for {domain} automatically. Enter the EWS address, "
        "which usually ends in /EWS/Exchange.asmx (your administrator or Outlook's account settings know it)."
    )


def connect_exchange(
    *,
    email: str,
    password: str,
    username: str | None = None,
    ews_url: str | None = None,
    time_zone: str = "UTC",
    allowed_networks: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
    autodiscover_urls: Sequence[str] | None = None,
) -> ExchangeConnectionInfo:
    """Verify the account before it is saved: URL, auth type, credentials, server version, calendar.

    Fails fast (no retries) and raises :class:`ExchangeConnectError` subclasses whose text is meant
    for the user.
    """
    if not ews_url:
        ews_url = discover_ews_url(
            email=email,
            password=password,
            username=username,
            timeout=timeout,
            allowed_networks=allowed_networks,
            autodiscover_urls=autodiscover_urls,
        )
    auth_type = probe_ews_url(ews_url=ews_url, timeout=timeout, allowed_networks=allowed_networks)
    adapter = ExchangeAdapter(
        email=email,
        password=password,
        username=username,
        ews_url=ews_url,
        time_zone=time_zone,
        timeout=timeout,
        allowed_networks=allowed_networks,
        auth_type=auth_type,
        fail_fast=True,
    )
    try:
        build = adapter.server_build()
        if build < MINIMUM_BUILD:
            raise ExchangeVersionTooOld(
                f"This server runs Exchange {_product_name(build)}; Yoyaku needs Exchange 2010 SP2 or later."
            )
        calendars = adapter.list_calendars()
    except CalendarAuthError as error:
        raise ExchangeCredentialsError(CREDENTIALS_MESSAGE) from error
    except ExchangeConnectError:
        raise
    except CalendarUnavailable as error:
        raise ExchangeUnreachable(str(error)) from error
    except CalendarError as error:
        raise ExchangeConnectError(str(error)) from error
    finally:
        adapter.close()
    return ExchangeConnectionInfo(
        server_version=str(build), ews_url=ews_url, auth_type=auth_type, calendars=calendars
    )


# -- adapter -------------------------------------------------------------------------------------


def _pinned_raw_session(protocol: Protocol, allowed_networks: Sequence[str]) -> Any:
    """exchangelib's ``raw_session`` for one protocol, with ``ssrf.PinnedHTTPAdapter`` mounted for every
    URL (exchangelib posts with ``allow_redirects=False`` and raises on 301/302, so credentials are never
    carried to a redirect target)."""
    original = protocol.raw_session

    def raw_session(prefix: str, **kwargs: Any) -> requests.Session:
        session: requests.Session = original(prefix, **kwargs)
        session.trust_env = False
        adapter = PinnedHTTPAdapter(
            allowed_networks=allowed_networks,
            pool_block=True,
            pool_connections=protocol.CONNECTIONS_PER_SESSION,
            pool_maxsize=protocol.CONNECTIONS_PER_SESSION,
            max_retries=0,
        )
        for mounted in list(session.adapters):
            session.mount(mounted, adapter)
        return session

    return raw_session


class ExchangeAdapter:
    """Read busy time from and add meetings to one Exchange mailbox's calendar."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        email: str,
        password: str,
        username: str | None = None,
        ews_url: str | None = None,
        time_zone: str,
        timeout: float = DEFAULT_TIMEOUT,
        allowed_networks: Sequence[str] = (),
        auth_type: str | None = None,
        server_version: str | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        fail_fast: bool = False,
        autodiscover_urls: Sequence[str] | None = None,
    ) -> None:
        self.email = email
        self._password = password
        self.username = username
        self.ews_url = ews_url
        self.time_zone = time_zone
        self.timeout = timeout
        self.allowed_networks = tuple(allowed_networks)
        self.auth_type = auth_type
        self.server_version = server_version
        self.autodiscover_urls = autodiscover_urls
        self._policy: RetryPolicy = (
            FailFast() if fail_fast else BoundedFaultTolerance(max_wait=max_wait, max_retries=max_retries)
        )
        self._account: Account | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ExchangeAdapter(email={self.email!r}, ews_url={self.ews_url!r})"

    # -- plumbing ------------------------------------------------------------------------------

    def _zone(self) -> tzinfo:
        try:
            return ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return UTC

    def _ews_zone(self, name: str) -> EWSTimeZone:
        try:
            return EWSTimeZone(name)
        except UnknownTimeZone:
            # No Windows name for this IANA zone; UTC is always known to Exchange.
            return EWSTimeZone("UTC")

    def account(self) -> Account:
        with self._lock:
            if self._account is None:
                self._account = self._build_account()
            return self._account

    def _build_account(self) -> Account:
        if not self.ews_url:
            self.ews_url = discover_ews_url(
                email=self.email,
                password=self._password,
                username=self.username,
                timeout=self.timeout,
                allowed_networks=self.allowed_networks,
                autodiscover_urls=self.autodiscover_urls,
            )
        try:
            check_url(self.ews_url, allowed_networks=self.allowed_networks)
        except UnsafeURLError as error:
            raise CalendarError(str(error)) from error
        if self.auth_type is None:
            self.auth_type = probe_ews_url(
                ews_url=self.ews_url, timeout=self.timeout, allowed_networks=self.allowed_networks
            )
        version = Version(build=_parse_build(self.server_version)) if self.server_version else None
        config = Configuration(
            service_endpoint=self.ews_url,
            credentials=Credentials(self.username or self.email, self._password),
            auth_type=self.auth_type,
            version=version,
            retry_policy=self._policy,
        )
        # The Protocol cache would hand us an instance built from someone else's Configuration.
        with suppress(KeyError):
            del Protocol[config]
        # Built here so that Account finds it in the cache: its sessions get our pinned adapter (every
        # connection to a checked address) before the first request, which Account itself may send.
        protocol = Protocol(config=config)
        protocol.raw_session = _pinned_raw_session(protocol, self.allowed_networks)  # type: ignore[method-assign]
        account = Account(
            primary_smtp_address=self.email,
            config=config,
            autodiscover=False,
            access_type=DELEGATE,
            default_timezone=self._ews_zone(self.time_zone),
        )
        with suppress(KeyError):
            del Protocol[config]
        if account.protocol is not protocol or account.protocol.config is not config:
            raise CalendarUnavailable(
                "Another connection to this Exchange account was being set up; try again."
            )
        # Per-instance settings (exchangelib reads them as attributes of the protocol).
        account.protocol.TIMEOUT = self.timeout
        account.protocol.RETRY_WAIT = 1
        return account

    def close(self) -> None:
        with self._lock:
            if self._account is not None:
                self._account.protocol.close()
                self._account = None

    @contextmanager
    def _calls(self) -> Iterator[None]:
        """Translate exchangelib's errors into Yoyaku's, with messages fit for the user."""
        if isinstance(self._policy, BoundedFaultTolerance):
            self._policy.reset()
        try:
            yield
        except CalendarError:
            raise
        except UnauthorizedError as error:
            raise CalendarAuthError(CREDENTIALS_MESSAGE) from error
        except (ErrorAccessDenied, ErrorNonExistentMailbox) as error:
            raise CalendarAuthError(
                f"Exchange does not let this login open the mailbox {self.email}: {error}"
            ) from error
        except (ErrorServerBusy, ErrorInternalServerTransientError, RateLimitError) as error:
            raise CalendarUnavailable(
                f"The Exchange server at {self._host()} is busy or failing; Yoyaku will try again later."
            ) from error
        except ErrorTimeoutExpired as error:
            self._raise_connection_error(error)
        except RedirectError as error:
            raise CalendarUnavailable(
                f"The Exchange server at {self._host()} redirected to {error.value}; check the EWS address."
            ) from error
        except ErrorInvalidServerVersion as error:
            raise CalendarUnavailable(
                f"The Exchange server at {self._host()} accepted none of the EWS versions Yoyaku speaks."
            ) from error
        except ResponseMessageError as error:
            # A SOAP fault or error response the server gave instead of an answer (e.g. a 500 with
            # ErrorInternalServerError): not worth retrying here, the background task tries later.
            raise CalendarUnavailable(
                f"The Exchange server at {self._host()} reported an error: {error}"
            ) from error
        except TransportError as error:
            self._raise_connection_error(error)
        except EWSError as error:
            raise CalendarError(f"Exchange refused the request: {error}") from error
        except requests.exceptions.RequestException as error:
            self._raise_connection_error(error)

    def _raise_connection_error(self, error: Exception) -> NoReturn:
        chain: list[BaseException] = []
        current: BaseException | None = error
        while current is not None and len(chain) < 5:
            chain.append(current)
            current = current.__cause__ or current.__context__
        text = " ".join(f"{type(e).__name__} {e}" for e in chain)
        if "Timeout" in text or "timed out" in text:
            raise CalendarUnavailable(
                f"The Exchange server at {self._host()} did not answer within {self.timeout:g} seconds."
            ) from error
        if any(isinstance(e, (requests.exceptions.ConnectionError, ConnectionError)) for e in chain) or (
            "ConnectionError" in text or "Connection refused" in text
        ):
            raise CalendarUnavailable(
                f"The Exchange server at {self._host()} could not be reached."
            ) from error
        raise CalendarUnavailable(
            f"The Exchange server at {self._host()} sent an answer Yoyaku could not read ({error})."
        ) from error

    def _host(self) -> str:
        return _host(self.ews_url or self.email.rsplit("@", 1)[-1])

    def _calendar(self, calendar_id: str | None) -> Any:
        if calendar_id not in (None, PRIMARY_CALENDAR_ID):
            raise CalendarError("Only the main Exchange calendar can be used with Yoyaku.")
        return self.account().calendar

    # -- reading -------------------------------------------------------------------------------

    def server_build(self) -> Build:
        with self._calls():
            build: Build = self.account().version.build
            return build

    def list_calendars(self) -> list[CalendarInfo]:
        with self._calls():
            calendar = self._calendar(None)
            return [CalendarInfo(id=PRIMARY_CALENDAR_ID, name=calendar.name or "Calendar", primary=True)]

    BUSY_FIELDS = (
        "start",
        "end",
        "is_all_day",
        "legacy_free_busy_status",
        "is_cancelled",
        "my_response_type",
        "_start_timezone",
        "_end_timezone",
        # Only to name an event whose times cannot be read.
        "subject",
        "uid",
    )

    def busy(
        self,
        *,
        start: datetime,
        end: datetime,
        calendar_ids: Sequence[str] | None = None,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> list[BusyInterval]:
        """Busy time in ``[start, end)`` from ``FindItem`` with a ``CalendarView``.

        Why CalendarView and not ``GetUserAvailability``: we read our own mailbox, and CalendarView gives
        every occurrence (the server expands recurrences and applies modified/deleted occurrences) with
        the per-item facts the busy rules need — ``LegacyFreeBusyStatus``, ``IsCancelled``,
        ``MyResponseType``, ``IsAllDayEvent`` — so declined and cancelled meetings are decided here, the
        same way as for the other providers. GetUserAvailability returns an already-merged view (no
        response type, no all-day flag, times in a request time zone that must be built from a
        ``GetServerTimeZones`` round trip first) and depends on free/busy sharing permissions.

        FindItem answers only the properties asked for (``AdditionalProperties``), so ``BUSY_FIELDS``
        names every one the rules read. The rules are calendars/busy_rules.py's; ``MyResponseType`` is the
        mailbox owner's own answer. All-day items cover whole days in the user's zone. An item whose
        times cannot be read blocks what can be placed and is reported in ``unreadable``.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if end <= start:
            return []
        if any(c != PRIMARY_CALENDAR_ID for c in calendar_ids or ()):
            raise CalendarError("Only the main Exchange calendar can be used with Yoyaku.")
        zone = self._zone()
        result: list[BusyInterval] = []
        with self._calls():
            calendar = self._calendar(None)
            view = calendar.view(
                start=EWSDateTime.from_datetime(start.astimezone(UTC)).astimezone(EWSTimeZone("UTC")),
                end=EWSDateTime.from_datetime(end.astimezone(UTC)).astimezone(EWSTimeZone("UTC")),
            ).only(*self.BUSY_FIELDS)
            for item in view:
                if isinstance(item, Exception):
                    raise item
                interval = self._interval(item, zone, window=(start, end), unreadable=unreadable)
                if interval is not None and interval.end > start and interval.start < end:
                    result.append(interval)
        result.sort(key=lambda i: (i.start, i.end))
        return result

    @staticmethod
    def _interval(
        item: CalendarItem,
        zone: tzinfo,
        *,
        window: tuple[datetime, datetime] | None = None,
        unreadable: list[UnreadableEvent] | None = None,
    ) -> BusyInterval | None:
        status = ews_busy_status(item)
        if status is None:
            return None
        item_start, item_end = item.start, item.end
        if item_start is None or item_end is None or item_end < item_start:
            return ExchangeAdapter._unreadable_interval(
                item, zone, status, window=window, unreadable=unreadable
            )
        if item.is_all_day or not isinstance(item_start, datetime):
            # exchangelib gives all-day items as dates with an inclusive end date. They are days in
            # the item's own zone (StartTimeZone, as Exchange stored it), else the user's.
            own = getattr(item, "_start_timezone", None)
            day_zone: tzinfo = own if isinstance(own, ZoneInfo) else zone
            first = item_start if not isinstance(item_start, datetime) else item_start.date()
            last = item_end if not isinstance(item_end, datetime) else item_end.date()
            begin = _midnight(first, day_zone)
            finish = _midnight(date.fromordinal(max(last.toordinal(), first.toordinal()) + 1), day_zone)
            return BusyInterval(start=begin, end=finish, status=status)
        return BusyInterval(
            start=datetime.fromtimestamp(item_start.timestamp(), tz=UTC),
            end=datetime.fromtimestamp(item_end.timestamp(), tz=UTC),
            status=status,
        )

    @staticmethod
    def _unreadable_interval(
        item: CalendarItem,
        zone: tzinfo,
        status: BusyStatus,
        *,
        window: tuple[datetime, datetime] | None,
        unreadable: list[UnreadableEvent] | None,
    ) -> BusyInterval | None:
        """An item without readable times: the day of whichever end reads, else the whole window."""
        label = str(item.subject or item.uid or "?")
        inverted = item.start is not None and item.end is not None
        reason = "end" if inverted or item.start is not None else "start"
        detail = "the event ends before it starts" if inverted else f"no readable {reason} time"
        logger.warning("Unreadable Exchange item %r (%s): blocking what can be placed", label, detail)
        if unreadable is not None:
            unreadable.append(UnreadableEvent(event=label[:200], reason=reason, detail=detail))
        if inverted:
            return BusyInterval(
                start=datetime.fromtimestamp(item.end.timestamp(), tz=UTC),
                end=datetime.fromtimestamp(item.start.timestamp(), tz=UTC),
                status=status,
            )
        known = item.start if item.start is not None else item.end
        if known is not None:
            day = known.astimezone(zone).date() if isinstance(known, datetime) else known
            return BusyInterval(
                start=_midnight(day, zone), end=_midnight(day + timedelta(days=1), zone), status=status
            )
        if window is None:
            return None
        return BusyInterval(start=window[0], end=window[1], status=status)

    # -- writing -------------------------------------------------------------------------------

    def find_event_by_uid(self, *, uid: str, start: datetime, end: datetime) -> str | None:
        """The item id of the event with this UID inside ``[start, end)``, if Exchange has it.

        ``calendar:UID`` cannot be used in a FindItem restriction, so we list the (small) window.
        """
        with self._calls():
            calendar = self._calendar(None)
            for item in calendar.view(
                start=EWSDateTime.from_datetime(start.astimezone(UTC)).astimezone(EWSTimeZone("UTC")),
                end=EWSDateTime.from_datetime(end.astimezone(UTC)).astimezone(EWSTimeZone("UTC")),
            ).only("uid"):
                if isinstance(item, Exception):
                    raise item
                if item.uid == uid:
                    return str(item.id)
        return None

    def create_event(self, *, draft: EventDraft, calendar_id: str | None = None) -> str:
        """Create the meeting and let Exchange send the invitations (SendToAllAndSaveCopy).

        Idempotent: the draft's uid becomes the item's UID, and an item with that UID already in the
        window is returned instead of creating a second one (a retried write after a lost answer).
        """
        if draft.start.tzinfo is None or draft.end.tzinfo is None:
            raise ValueError("draft times must be timezone-aware")
        existing = self.find_event_by_uid(uid=draft.uid, start=draft.start, end=draft.end)
        if existing is not None:
            return existing
        event_zone = self._ews_zone(draft.time_zone)
        with self._calls():
            calendar = self._calendar(calendar_id)
            item = CalendarItem(
                account=self.account(),
                folder=calendar,
                subject=draft.title,
                body=draft.description or None,
                location=draft.location or None,
                start=EWSDateTime.from_datetime(draft.start.astimezone(UTC)).astimezone(event_zone),
                end=EWSDateTime.from_datetime(draft.end.astimezone(UTC)).astimezone(event_zone),
                uid=draft.uid,
                legacy_free_busy_status="Busy",
                is_response_requested=True,
                required_attendees=[
                    EwsAttendee(
                        mailbox=Mailbox(email_address=a.email, name=a.name or None), response_type="Unknown"
                    )
                    for a in draft.attendees
                ],
            )
            item.save(send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
            return str(item.id)

    def update_event(self, *, event_id: str, draft: EventDraft, calendar_id: str | None = None) -> None:
        raise CalendarOperationNotSupported(RESCHEDULE_UNSUPPORTED_MESSAGE)

    def cancel_event(self, *, event_id: str, calendar_id: str | None = None) -> None:
        raise CalendarOperationNotSupported(CANCEL_UNSUPPORTED_MESSAGE)

    def sync(self, *, token: str | None, calendar_id: str | None = None) -> SyncResult:
        raise CalendarOperationNotSupported(SYNC_UNSUPPORTED_MESSAGE)

    def sync_pages(self, *, token: str | None, calendar_id: str | None = None) -> Iterator[SyncPage]:
        raise CalendarOperationNotSupported(SYNC_UNSUPPORTED_MESSAGE)


def ews_busy_status(item: CalendarItem) -> BusyStatus | None:
    """How one EWS calendar item blocks the host's time (calendars/busy_rules.py); None leaves it free."""
    return busy_status(
        EventFacts(
            cancelled=bool(item.is_cancelled),
            show_as=lookup(EWS_SHOW_AS, item.legacy_free_busy_status or "Busy"),
            response=response_of(EWS_RESPONSE, item.my_response_type),
        )
    )


def _midnight(day: date, zone: tzinfo) -> datetime:
    # fold=0: a midnight that falls in a DST gap or overlap resolves like RFC 5545 says (the earlier one).
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


__all__ = [
    "CANCEL_UNSUPPORTED_MESSAGE",
    "CREDENTIALS_MESSAGE",
    "OWA_MESSAGE",
    "PROPOSED_TIMES_UNSUPPORTED_MESSAGE",
    "RESCHEDULE_UNSUPPORTED_MESSAGE",
    "SUPPORTS_PROPOSED_TIMES_IN_EMAIL",
    "SYNC_UNSUPPORTED_MESSAGE",
    "BoundedFaultTolerance",
    "ExchangeAdapter",
    "ExchangeConnectError",
    "ExchangeConnectionInfo",
    "ExchangeCredentialsError",
    "ExchangeUnreachable",
    "ExchangeVersionTooOld",
    "ExchangeWrongURL",
    "connect_exchange",
    "discover_ews_url",
    "probe_ews_url",
    "supports_proposed_times_in_email",
]
