"""A local Exchange Web Services (EWS) server that speaks SOAP 1.1 the way exchangelib expects.

Covered: version negotiation (``RequestServerVersion`` in, ``ServerVersionInfo`` out, with the
``ErrorInvalidServerVersion`` fault an older server gives a newer request), ``ConvertId`` (exchangelib's
probe), ``GetFolder`` for distinguished folders, ``FindItem`` with a ``CalendarView`` (recurring series
expanded server-side, with modified and deleted occurrences), ``GetItem``, ``CreateItem`` (records
``SendMeetingInvitations`` and attendees), ``GetUserAvailability``, ``GetServerTimeZones`` (minimal),
the POX autodiscover endpoint, and an OWA login page at ``/owa/``.

Authentication: Basic and NTLM, advertised in ``WWW-Authenticate``. NTLM is a real NTLMv2 check: the
server issues a challenge per TCP connection and verifies the client's NTProofStr against the known
password (MS-NLMP 3.3.2), so a wrong password fails exactly as it would on IIS.

Faults: the shared FaultInjector is consulted after authentication, so one fault hits one EWS call.
``soap_fault()`` builds the body of an EWS SOAP fault (e.g. ``ErrorServerBusy`` with a back-off).
"""

from __future__ import annotations

import base64
import hmac
import io
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP
from lxml import etree
from spnego._ntlm_raw.crypto import hmac_md5, ntowfv1, ntowfv2
from spnego._ntlm_raw.messages import (
    Authenticate,
    AvId,
    Challenge,
    FileTime,
    NegotiateFlags,
    TargetInfo,
)
from spnego._ntlm_raw.messages import Version as NtlmVersion
from werkzeug.wrappers import Request, Response

from yoyaku.emulators.base import FaultInjector, ServerThread, WSGIApp

SOAPNS = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NS = {"s": SOAPNS, "m": MNS, "t": TNS}

# API versions in the order Exchange introduced them; a server accepts requests for its own or older.
API_VERSIONS = [
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
]
# Build numbers as real servers report them. Exchange 2016 reports a "V2017_07_11"-style version string.
SERVER_BUILDS: dict[str, tuple[tuple[int, int, int, int], str]] = {
    "Exchange2007_SP1": ((8, 3, 83, 6), "Exchange2007_SP1"),
    "Exchange2010": ((14, 0, 639, 21), "Exchange2010"),
    "Exchange2010_SP1": ((14, 1, 218, 15), "Exchange2010_SP1"),
    "Exchange2010_SP2": ((14, 2, 247, 5), "Exchange2010_SP2"),
    "Exchange2013": ((15, 0, 516, 32), "Exchange2013"),
    "Exchange2016": ((15, 1, 2507, 6), "V2017_07_11"),
}

FREE_BUSY = ("Free", "Tentative", "Busy", "OOF", "WorkingElsewhere", "NoData")

OWA_PAGE = b"""<!DOCTYPE html>
<html><head><title>Outlook</title></head>
<body><form action="/owa/auth.owa" method="POST" name="logonForm">
<label for="username">Domain\\user name:</label><input id="username" name="username">
<label for="password">Password:</label><input id="password" name="password" type="password">
<input type="submit" value="sign in"></form></body></html>"""


# What BaseShape "Default" returns for a calendar item (the rest needs AdditionalProperties).
_DEFAULT_SHAPE = frozenset(
    {
        "item:ParentFolderId",
        "item:ItemClass",
        "item:Subject",
        "calendar:Start",
        "calendar:End",
        "calendar:LegacyFreeBusyStatus",
        "calendar:Location",
        "calendar:CalendarItemType",
        "calendar:Organizer",
    }
)


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with persistent connections in front of a WSGI app.

    Werkzeug's development server closes every connection. NTLM authenticates the TCP connection
    (the challenge of the second leg is bound to it), and exchangelib reads ``Connection: close`` on an
    error answer as "server busy", so the EWS emulator needs keep-alive like IIS has.
    """

    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections end on their own

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        address = self.server.server_address
        assert isinstance(address, tuple)  # an IP socket
        host, port = address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(parts.path),
            "QUERY_STRING": parts.query,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[name] = f"{environ[name]},{value}" if name in environ else value
        status_headers: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status_headers[:] = [status, headers]
            return lambda data: None

        app: WSGIApp = self.server.app  # type: ignore[attr-defined]
        chunks = app(environ, start_response)
        try:
            payload = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        status, headers = status_headers
        code, _, reason = status.partition(" ")
        try:
            self.send_response(int(code), reason)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a slow-response fault past its timeout).
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle


class _KeepAliveServerThread(ServerThread):
    def __init__(self, app: WSGIApp, *, port: int = 0) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", port), _KeepAliveHandler)
        server.daemon_threads = True
        server.app = app  # type: ignore[attr-defined]
        self.server = server  # type: ignore[assignment]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _children(elem: etree._Element | None) -> list[etree._Element]:
    return list(elem) if elem is not None else []


def windows_zone(ms_id: str) -> ZoneInfo:
    return ZoneInfo(MS_TIMEZONE_TO_IANA_MAP[ms_id])


@dataclass
class Occurrence:
    """An override of one instance of a series, keyed by its original start (UTC)."""

    start: datetime
    end: datetime
    subject: str | None = None
    free_busy: str | None = None


@dataclass
class EwsEvent:
    item_id: str
    change_key: str
    uid: str
    subject: str
    start: datetime
    end: datetime
    time_zone: str = "UTC"  # Windows time zone id, as Exchange stores it
    is_all_day: bool = False
    free_busy: str = "Busy"
    is_cancelled: bool = False
    my_response_type: str = "Organizer"
    organizer: str = ""
    required_attendees: list[str] = field(default_factory=list)
    optional_attendees: list[str] = field(default_factory=list)
    location: str = ""
    body: str = ""
    # Simple recurrence: {"freq": "daily"|"weekly", "interval": n, "count": n}
    recurrence: dict[str, Any] | None = None
    modified: dict[datetime, Occurrence] = field(default_factory=dict)
    deleted: set[datetime] = field(default_factory=set)
    send_meeting_invitations: str | None = None
    created_via_ews: bool = False


@dataclass
class _Instance:
    event: EwsEvent
    item_id: str
    start: datetime
    end: datetime
    subject: str
    free_busy: str
    item_type: str
    original_start: datetime | None = None


class ExchangeEmulator:
    def __init__(
        self,
        *,
        email: str = "alice@example.com",
        password: str = "s3cret",  # noqa: S107 - the emulator's made-up mailbox
        username: str | None = None,
        server_version: str = "Exchange2016",
        auth_types: tuple[str, ...] = ("ntlm", "basic"),
        domain: str = "CORP",
    ) -> None:
        self.email = email
        self.password = password
        self.username = username
        self.server_version = server_version
        self.auth_types = auth_types
        self.domain = domain
        self.faults = FaultInjector()
        self.lock = threading.Lock()
        self.events_by_id: dict[str, EwsEvent] = {}
        self.calendar_folder_id = base64.b64encode(b"calendar-" + email.encode()).decode()
        self.root_folder_id = base64.b64encode(b"root-" + email.encode()).decode()
        self._ntlm_challenges: dict[str, bytes] = {}
        self.requests: list[str] = []  # SOAP operation names in order, for tests
        self.auth_log: list[str] = []  # auth scheme that succeeded per request
        self._server: ServerThread | None = None
        self._stopped = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> ExchangeEmulator:
        self._server = _KeepAliveServerThread(self.wsgi).start()
        return self

    def stop(self) -> None:
        if self._server is not None and not self._stopped:
            self._server.stop()
            self._stopped = True

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    @property
    def ews_url(self) -> str:
        return f"{self.url}/EWS/Exchange.asmx"

    # -- Python control API --------------------------------------------------------------------

    def add_event(
        self,
        *,
        subject: str,
        start: datetime | date,
        end: datetime | date,
        time_zone: str = "UTC",
        free_busy: str = "Busy",
        is_cancelled: bool = False,
        my_response_type: str = "Organizer",
        uid: str | None = None,
        recurrence: dict[str, Any] | None = None,
        organizer: str | None = None,
    ) -> EwsEvent:
        """Seed one. Dates (not datetimes) make an all-day event, midnight to midnight in ``time_zone``."""
        if free_busy not in FREE_BUSY:
            raise ValueError(free_busy)
        all_day = not isinstance(start, datetime)
        if all_day:
            assert not isinstance(start, datetime) and not isinstance(end, datetime)
            zone = windows_zone(time_zone)
            start_dt = datetime.combine(start, time(0), tzinfo=zone).astimezone(UTC)
            end_dt = datetime.combine(end, time(0), tzinfo=zone).astimezone(UTC)
        else:
            assert isinstance(start, datetime) and isinstance(end, datetime)
            start_dt, end_dt = start.astimezone(UTC), end.astimezone(UTC)
        event = EwsEvent(
            item_id=self._new_id(),
            change_key=self._new_change_key(),
            uid=uid or f"{uuid.uuid4().hex}@emulator",
            subject=subject,
            start=start_dt,
            end=end_dt,
            time_zone=time_zone,
            is_all_day=all_day,
            free_busy=free_busy,
            is_cancelled=is_cancelled,
            my_response_type=my_response_type,
            organizer=organizer or self.email,
            recurrence=recurrence,
        )
        with self.lock:
            self.events_by_id[event.item_id] = event
        return event

    def modify_occurrence(
        self, event: EwsEvent, *, original_start: datetime, start: datetime, end: datetime, **changes: Any
    ) -> None:
        event.modified[original_start.astimezone(UTC)] = Occurrence(
            start=start.astimezone(UTC), end=end.astimezone(UTC), **changes
        )

    def delete_occurrence(self, event: EwsEvent, *, original_start: datetime) -> None:
        event.deleted.add(original_start.astimezone(UTC))

    def events(self) -> list[EwsEvent]:
        with self.lock:
            return list(self.events_by_id.values())

    def set_password(self, password: str) -> None:
        self.password = password

    @staticmethod
    def soap_fault(code: str, message: str, *, back_off_ms: int | None = None) -> bytes:
        """The body of an EWS SOAP fault, for ``faults.add(status=500, body=..., content_type=...)``."""
        message_xml = ""
        if back_off_ms is not None:
            message_xml = (
                f'<t:MessageXml xmlns:t="{TNS}"><t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value>'
                "</t:MessageXml>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<s:Envelope xmlns:s="{SOAPNS}"><s:Body><s:Fault>'
            f'<faultcode xmlns:a="{TNS}">a:{code}</faultcode>'
            f'<faultstring xml:lang="en-US">{escape(message)}</faultstring>'
            f'<detail><e:ResponseCode xmlns:e="{ENS}">{code}</e:ResponseCode>'
            f'<e:Message xmlns:e="{ENS}">{escape(message)}</e:Message>{message_xml}</detail>'
            "</s:Fault></s:Body></s:Envelope>"
        ).encode()

    # -- WSGI ----------------------------------------------------------------------------------

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/").lower()
        if path.startswith("/owa") or path == "":
            # The site root of an Exchange server lands on the OWA sign-in page.
            return Response(OWA_PAGE, content_type="text/html; charset=utf-8")
        if path == "/_emulator/faults" and request.method == "POST":
            spec = json.loads(request.get_data() or b"{}")
            self.faults.add(**spec)
            return Response(b"{}", content_type="application/json")
        if path == "/_emulator/events":
            return self._control_events(request)
        if path == "/autodiscover/autodiscover.xml" and request.method == "POST":
            user = self._authenticate(request)
            if isinstance(user, Response):
                return user
            return self._autodiscover(request)
        if path != "/ews/exchange.asmx":
            return Response(b"Not found", status=404, content_type="text/plain")
        if request.method != "POST":
            # IIS answers GET on the EWS endpoint with an auth challenge too; keep it simple.
            return self._unauthorized()
        user = self._authenticate(request)
        if isinstance(user, Response):
            return user
        injected = self.faults.apply(request)
        if injected is not None:
            return injected
        return self._soap(request)

    def _control_events(self, request: Request) -> Response:
        if request.method == "POST":
            spec = json.loads(request.get_data() or b"{}")
            event = self.add_event(
                subject=spec["subject"],
                start=_parse_ts(spec["start"]),
                end=_parse_ts(spec["end"]),
                free_busy=spec.get("free_busy", "Busy"),
            )
            return Response(json.dumps({"id": event.item_id}), content_type="application/json")
        body = [
            {
                "id": e.item_id,
                "uid": e.uid,
                "subject": e.subject,
                "start": _ts(e.start),
                "end": _ts(e.end),
                "required_attendees": e.required_attendees,
                "send_meeting_invitations": e.send_meeting_invitations,
            }
            for e in self.events()
        ]
        return Response(json.dumps(body), content_type="application/json")

    # -- authentication ------------------------------------------------------------------------

    def _unauthorized(self, extra: list[tuple[str, str]] | None = None) -> Response:
        headers: list[tuple[str, str]] = list(extra or [])
        if not extra:
            if "ntlm" in self.auth_types:
                headers.append(("WWW-Authenticate", "Negotiate"))
                headers.append(("WWW-Authenticate", "NTLM"))
            if "basic" in self.auth_types:
                headers.append(("WWW-Authenticate", 'Basic realm="mail.example.com"'))
        return Response(b"", status=401, headers=headers, content_type="text/html")

    def _user_matches(self, user: str, domain: str = "") -> bool:
        user = user.lower()
        names = {self.email.lower()}
        if self.username:
            names.add(self.username.lower())
            if "\\" in self.username:
                names.add(self.username.split("\\", 1)[1].lower())
        if domain and domain.lower() != self.domain.lower():
            return "\\".join((domain.lower(), user)) in names
        return user in names

    def _authenticate(self, request: Request) -> str | Response:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic" and "basic" in self.auth_types:
            try:
                user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
            except ValueError:
                return self._unauthorized()
            if self._user_matches(user) and hmac.compare_digest(password, self.password):
                self.auth_log.append("basic")
                return user
            return self._unauthorized()
        if scheme in ("ntlm", "negotiate") and "ntlm" in self.auth_types and value:
            return self._ntlm(request, scheme, base64.b64decode(value))
        return self._unauthorized()

    def _connection_key(self, request: Request) -> str:
        return f"{request.environ.get('REMOTE_ADDR')}:{request.environ.get('REMOTE_PORT')}"

    def _ntlm(self, request: Request, scheme: str, token: bytes) -> str | Response:
        """MS-NLMP over HTTP: Negotiate -> 401 with Challenge -> Authenticate, on one connection."""
        label = "Negotiate" if scheme == "negotiate" else "NTLM"
        if not token.startswith(b"NTLMSSP\x00") or len(token) < 12:
            return self._unauthorized()
        message_type = int.from_bytes(token[8:12], "little")
        key = self._connection_key(request)
        if message_type == 1:
            server_challenge = secrets.token_bytes(8)
            with self.lock:
                self._ntlm_challenges[key] = server_challenge
            flags = (
                NegotiateFlags.unicode
                | NegotiateFlags.request_target
                | NegotiateFlags.ntlm
                | NegotiateFlags.always_sign
                | NegotiateFlags.target_type_domain
                | NegotiateFlags.extended_session_security
                | NegotiateFlags.target_info
                | NegotiateFlags.version
                | NegotiateFlags.key_128
                | NegotiateFlags.key_exch
                | NegotiateFlags.key_56
                | NegotiateFlags.sign
                | NegotiateFlags.seal
            )
            info = TargetInfo()
            info[AvId.nb_domain_name] = self.domain
            info[AvId.nb_computer_name] = "EXCH01"
            info[AvId.dns_domain_name] = f"{self.domain.lower()}.example.com"
            info[AvId.dns_computer_name] = f"exch01.{self.domain.lower()}.example.com"
            info[AvId.timestamp] = FileTime.now()
            challenge = Challenge(
                flags=flags,
                server_challenge=server_challenge,
                target_name=self.domain,
                target_info=info,
                version=NtlmVersion(major=10, minor=0, build=14393),
            )
            encoded = base64.b64encode(challenge.pack()).decode()
            return self._unauthorized([("WWW-Authenticate", f"{label} {encoded}")])
        if message_type == 3:
            with self.lock:
                server_challenge_or_none = self._ntlm_challenges.pop(key, None)
            if server_challenge_or_none is None:
                return self._unauthorized()
            message = Authenticate.unpack(token)
            user = message.user_name or ""
            domain = message.domain_name or ""
            nt_response = message.nt_challenge_response or b""
            if len(nt_response) <= 24 or not self._user_matches(user, domain):
                # Only NTLMv2 is accepted, as on any Exchange configured after 2010.
                return self._unauthorized()
            # MS-NLMP 3.3.2: NTProofStr = HMAC_MD5(NTOWFv2, ServerChallenge || temp)
            response_key = ntowfv2(user, ntowfv1(self.password), domain)
            proof = hmac_md5(response_key, server_challenge_or_none + nt_response[16:])
            if not hmac.compare_digest(proof, nt_response[:16]):
                return self._unauthorized()
            self.auth_log.append("ntlm")
            return user
        return self._unauthorized()

    # -- autodiscover (POX) --------------------------------------------------------------------

    def _autodiscover(self, request: Request) -> Response:
        root = etree.fromstring(request.get_data())
        ns = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
        email = root.findtext(f".//{{{ns}}}EMailAddress") or ""
        if email.lower() != self.email.lower():
            body = (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
                '<Response><Error Time="00:00:00" Id="1"><ErrorCode>500</ErrorCode>'
                "<Message>The email address can't be found.</Message><DebugData /></Error></Response>"
                "</Autodiscover>"
            )
        else:
            body = (
                '<?xml version="1.0" encoding="utf-8"?>'
                '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
                '<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">'
                f"<User><DisplayName>Alice</DisplayName><AutoDiscoverSMTPAddress>{escape(self.email)}"
                "</AutoDiscoverSMTPAddress></User>"
                "<Account><AccountType>email</AccountType><Action>settings</Action>"
                f"<Protocol><Type>EXPR</Type><EwsUrl>{escape(self.ews_url)}</EwsUrl>"
                "<AuthPackage>Ntlm</AuthPackage></Protocol>"
                f"<Protocol><Type>EXCH</Type><EwsUrl>{escape(self.ews_url)}</EwsUrl></Protocol>"
                "</Account></Response></Autodiscover>"
            )
        return Response(body.encode(), content_type="text/xml; charset=utf-8")

    # -- SOAP ----------------------------------------------------------------------------------

    def _soap(self, request: Request) -> Response:
        try:
            envelope = etree.fromstring(request.get_data())
        except etree.XMLSyntaxError:
            return self._fault_response("ErrorSchemaValidation", "The request failed schema validation.")
        requested = envelope.find("s:Header/t:RequestServerVersion", NS)
        api_version = requested.get("Version") if requested is not None else "Exchange2007"
        max_version = SERVER_BUILDS[self.server_version][1]
        if max_version.startswith("V"):
            max_version = "Exchange2016"
        if api_version not in API_VERSIONS or API_VERSIONS.index(api_version) > API_VERSIONS.index(
            max_version
        ):
            return self._fault_response(
                "ErrorInvalidServerVersion", "The specified server version is invalid."
            )
        body = envelope.find("s:Body", NS)
        if body is None or len(body) == 0:
            return self._fault_response("ErrorSchemaValidation", "The request failed schema validation.")
        operation = body[0]
        name = etree.QName(operation).localname
        if name == "GetUserAvailabilityRequest":  # the one operation whose element carries a suffix
            name = "GetUserAvailability"
        self.requests.append(name)
        handler = getattr(self, f"_op_{name}", None)
        if handler is None:
            return self._fault_response("ErrorInvalidRequest", f"The operation {name} is not supported.")
        content = handler(operation)
        return self._envelope(content)

    def _version_header(self) -> str:
        (major, minor, build, revision), version = SERVER_BUILDS[self.server_version]
        return (
            f'<h:ServerVersionInfo MajorVersion="{major}" MinorVersion="{minor}" MajorBuildNumber="{build}" '
            f'MinorBuildNumber="{revision}" Version="{version}" xmlns:h="{TNS}" xmlns="{TNS}"/>'
        )

    def _envelope(self, content: str) -> Response:
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<s:Envelope xmlns:s="{SOAPNS}"><s:Header>{self._version_header()}</s:Header>'
            f'<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema">{content}</s:Body></s:Envelope>'
        )
        return Response(xml.encode(), content_type="text/xml; charset=utf-8")

    def _fault_response(self, code: str, message: str) -> Response:
        return Response(self.soap_fault(code, message), status=500, content_type="text/xml; charset=utf-8")

    @staticmethod
    def _wrap(operation: str, messages: list[str]) -> str:
        return (
            f'<m:{operation}Response xmlns:m="{MNS}" xmlns:t="{TNS}"><m:ResponseMessages>'
            + "".join(messages)
            + f"</m:ResponseMessages></m:{operation}Response>"
        )

    @staticmethod
    def _error_message(operation: str, code: str, text: str) -> str:
        return (
            f'<m:{operation}ResponseMessage ResponseClass="Error">'
            f"<m:MessageText>{escape(text)}</m:MessageText>"
            f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
            f"</m:{operation}ResponseMessage>"
        )

    def _op_ConvertId(self, operation: etree._Element) -> str:
        # exchangelib probes with a dummy id; a real server answers that it is malformed.
        count = max(1, len(operation.findall("m:SourceIds/*", NS)))
        return self._wrap(
            "ConvertId",
            [self._error_message("ConvertId", "ErrorInvalidIdMalformed", "Id is malformed.")] * count,
        )

    def _folder_xml(self, distinguished: str) -> str:
        if distinguished == "calendar":
            return (
                f'<t:CalendarFolder><t:FolderId Id="{self.calendar_folder_id}" ChangeKey="AgAAABYAAAA="/>'
                f'<t:ParentFolderId Id="{self.root_folder_id}" ChangeKey="AQAAAA=="/>'
                "<t:FolderClass>IPF.Appointment</t:FolderClass><t:DisplayName>Calendar</t:DisplayName>"
                "<t:TotalCount>%d</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
                "</t:CalendarFolder>" % len(self.events_by_id)
            )
        return (
            f'<t:Folder><t:FolderId Id="{self.root_folder_id}" ChangeKey="AQAAAA=="/>'
            "<t:FolderClass>IPF.Note</t:FolderClass><t:DisplayName>Top of Information Store</t:DisplayName>"
            "<t:TotalCount>0</t:TotalCount><t:ChildFolderCount>1</t:ChildFolderCount>"
            "<t:UnreadCount>0</t:UnreadCount></t:Folder>"
        )

    def _resolve_folder(self, elem: etree._Element) -> str | None:
        tag = etree.QName(elem).localname
        if tag == "DistinguishedFolderId":
            mailbox = elem.findtext("t:Mailbox/t:EmailAddress", namespaces=NS)
            if mailbox and mailbox.lower() != self.email.lower():
                return None
            return elem.get("Id")
        if tag == "FolderId":
            return {self.calendar_folder_id: "calendar", self.root_folder_id: "msgfolderroot"}.get(
                elem.get("Id") or ""
            )
        return None

    def _op_GetFolder(self, operation: etree._Element) -> str:
        messages = []
        for elem in _children(operation.find("m:FolderIds", NS)):
            folder = self._resolve_folder(elem)
            if folder in ("calendar", "msgfolderroot", "root"):
                messages.append(
                    '<m:GetFolderResponseMessage ResponseClass="Success">'
                    "<m:ResponseCode>NoError</m:ResponseCode>"
                    f"<m:Folders>{self._folder_xml(folder)}</m:Folders></m:GetFolderResponseMessage>"
                )
            else:
                messages.append(
                    self._error_message(
                        "GetFolder",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )
                )
        return self._wrap("GetFolder", messages)

    # -- calendar items ------------------------------------------------------------------------

    def _expand(self, event: EwsEvent) -> list[_Instance]:
        if not event.recurrence:
            return [
                _Instance(
                    event, event.item_id, event.start, event.end, event.subject, event.free_busy, "Single"
                )
            ]
        zone = windows_zone(event.time_zone)
        freq = event.recurrence.get("freq", "weekly")
        step = timedelta(days=1 if freq == "daily" else 7) * int(event.recurrence.get("interval", 1))
        count = int(event.recurrence.get("count", 10))
        local_start = event.start.astimezone(zone)
        duration = event.end - event.start
        instances = []
        for index in range(count):
            # Recurrence follows wall-clock time in the series' zone, across DST changes.
            original = (local_start.replace(tzinfo=None) + step * index).replace(tzinfo=zone).astimezone(UTC)
            if original in event.deleted:
                continue
            occurrence_id = base64.b64encode(f"{event.item_id}:{index + 1}".encode()).decode()
            override = event.modified.get(original)
            if override is not None:
                instances.append(
                    _Instance(
                        event,
                        occurrence_id,
                        override.start,
                        override.end,
                        override.subject or event.subject,
                        override.free_busy or event.free_busy,
                        "Exception",
                        original,
                    )
                )
            else:
                instances.append(
                    _Instance(
                        event,
                        occurrence_id,
                        original,
                        original + duration,
                        event.subject,
                        event.free_busy,
                        "Occurrence",
                        original,
                    )
                )
        return instances

    def _item_xml(self, inst: _Instance, shape: frozenset[str] | None = None) -> str:
        """The item as EWS answers it: only the properties ``shape`` names (FieldURIs), all when None."""
        e = inst.event

        def mailboxes(emails: list[str]) -> str:
            return "".join(
                f"<t:Attendee><t:Mailbox><t:Name>{escape(a)}</t:Name><t:EmailAddress>{escape(a)}</t:EmailAddress>"
                "<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>OneOff</t:MailboxType></t:Mailbox>"
                "<t:ResponseType>Unknown</t:ResponseType></t:Attendee>"
                for a in emails
            )

        tz_id = quoteattr(e.time_zone)
        meeting = str(bool(e.required_attendees or e.optional_attendees)).lower()
        # In the order of the EWS schema's CalendarItemType.
        properties: list[tuple[str, str]] = [
            (
                "item:ParentFolderId",
                f'<t:ParentFolderId Id="{self.calendar_folder_id}" ChangeKey="AgAAAA=="/>',
            ),
            ("item:ItemClass", "<t:ItemClass>IPM.Appointment</t:ItemClass>"),
            ("item:Subject", f"<t:Subject>{escape(inst.subject)}</t:Subject>"),
            ("item:Body", f'<t:Body BodyType="Text">{escape(e.body)}</t:Body>'),
            ("calendar:UID", f"<t:UID>{escape(e.uid)}</t:UID>"),
            ("calendar:Start", f"<t:Start>{_ts(inst.start)}</t:Start>"),
            ("calendar:End", f"<t:End>{_ts(inst.end)}</t:End>"),
            (
                "calendar:OriginalStart",
                f"<t:OriginalStart>{_ts(inst.original_start)}</t:OriginalStart>"
                if inst.original_start
                else "",
            ),
            ("calendar:IsAllDayEvent", f"<t:IsAllDayEvent>{str(e.is_all_day).lower()}</t:IsAllDayEvent>"),
            (
                "calendar:LegacyFreeBusyStatus",
                f"<t:LegacyFreeBusyStatus>{inst.free_busy}</t:LegacyFreeBusyStatus>",
            ),
            ("calendar:Location", f"<t:Location>{escape(e.location)}</t:Location>"),
            ("calendar:IsMeeting", f"<t:IsMeeting>{meeting}</t:IsMeeting>"),
            ("calendar:IsCancelled", f"<t:IsCancelled>{str(e.is_cancelled).lower()}</t:IsCancelled>"),
            (
                "calendar:IsRecurring",
                f"<t:IsRecurring>{str(inst.item_type != 'Single').lower()}</t:IsRecurring>",
            ),
            ("calendar:CalendarItemType", f"<t:CalendarItemType>{inst.item_type}</t:CalendarItemType>"),
            ("calendar:MyResponseType", f"<t:MyResponseType>{e.my_response_type}</t:MyResponseType>"),
            (
                "calendar:Organizer",
                f"<t:Organizer><t:Mailbox><t:Name>{escape(e.organizer)}</t:Name>"
                f"<t:EmailAddress>{escape(e.organizer)}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
                "</t:Mailbox></t:Organizer>",
            ),
            (
                "calendar:RequiredAttendees",
                f"<t:RequiredAttendees>{mailboxes(e.required_attendees)}</t:RequiredAttendees>"
                if e.required_attendees
                else "",
            ),
            (
                "calendar:OptionalAttendees",
                f"<t:OptionalAttendees>{mailboxes(e.optional_attendees)}</t:OptionalAttendees>"
                if e.optional_attendees
                else "",
            ),
            ("calendar:StartTimeZone", f"<t:StartTimeZone Id={tz_id}/>"),
            ("calendar:EndTimeZone", f"<t:EndTimeZone Id={tz_id}/>"),
        ]
        body = "".join(xml for uri, xml in properties if shape is None or uri in shape)
        item_id = f'<t:ItemId Id="{inst.item_id}" ChangeKey="{e.change_key}"/>'
        return f"<t:CalendarItem>{item_id}{body}</t:CalendarItem>"

    @staticmethod
    def _shape(operation: etree._Element, shape_tag: str) -> frozenset[str] | None:
        """The FieldURIs a request's ItemShape asks for (BaseShape plus AdditionalProperties); None: all.

        EWS answers only those: IdOnly gives the item id alone, Default a fixed set, AllProperties all.
        """
        shape = operation.find(f"m:{shape_tag}", NS)
        if shape is None:
            return _DEFAULT_SHAPE
        base = (shape.findtext("t:BaseShape", default="Default", namespaces=NS) or "Default").strip()
        if base == "AllProperties":
            return None
        fields = set(_DEFAULT_SHAPE) if base == "Default" else set()
        extra = shape.find("t:AdditionalProperties", NS)
        for path in extra if extra is not None else []:
            if uri := path.get("FieldURI"):
                fields.add(uri)
        return frozenset(fields)

    def _op_FindItem(self, operation: etree._Element) -> str:
        view = operation.find("m:CalendarView", NS)
        folders = operation.find("m:ParentFolderIds", NS)
        folder_names = [self._resolve_folder(f) for f in (folders if folders is not None else [])]
        if any(name != "calendar" for name in folder_names):
            return self._wrap(
                "FindItem",
                [
                    self._error_message(
                        "FindItem", "ErrorFolderNotFound", "The specified folder could not be found."
                    )
                ],
            )
        if view is None:
            instances = [
                _Instance(
                    e,
                    e.item_id,
                    e.start,
                    e.end,
                    e.subject,
                    e.free_busy,
                    "RecurringMaster" if e.recurrence else "Single",
                )
                for e in self.events()
            ]
        else:
            window_start = _parse_ts(view.get("StartDate", ""))
            window_end = _parse_ts(view.get("EndDate", ""))
            if window_end - window_start > timedelta(days=2 * 365):
                return self._wrap(
                    "FindItem",
                    [
                        self._error_message(
                            "FindItem",
                            "ErrorCalendarViewRangeTooBig",
                            "The Calendar view range is too big.",
                        )
                    ],
                )
            instances = [
                inst
                for e in self.events()
                for inst in self._expand(e)
                if inst.start < window_end and inst.end > window_start
            ]
            instances.sort(key=lambda i: i.start)
        shape = self._shape(operation, "ItemShape")
        items = "".join(self._item_xml(i, shape) for i in instances)
        return self._wrap(
            "FindItem",
            [
                '<m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
                f'<m:RootFolder TotalItemsInView="{len(instances)}" IncludesLastItemInRange="true">'
                f"<t:Items>{items}</t:Items></m:RootFolder></m:FindItemResponseMessage>"
            ],
        )

    def _find_instance(self, item_id: str) -> _Instance | None:
        event = self.events_by_id.get(item_id)
        if event is not None:
            kind = "RecurringMaster" if event.recurrence else "Single"
            return _Instance(
                event, event.item_id, event.start, event.end, event.subject, event.free_busy, kind
            )
        # Occurrence ids name their series and index, like OccurrenceItemId does.
        try:
            master_id, _, _index = base64.b64decode(item_id).decode().rpartition(":")
        except ValueError:
            return None
        event = self.events_by_id.get(master_id)
        if event is None:
            return None
        for inst in self._expand(event):
            if inst.item_id == item_id:
                return inst
        return None

    def _op_GetItem(self, operation: etree._Element) -> str:
        messages = []
        for elem in _children(operation.find("m:ItemIds", NS)):
            inst = self._find_instance(elem.get("Id") or "")
            if inst is None:
                messages.append(
                    self._error_message(
                        "GetItem", "ErrorItemNotFound", "The specified object was not found in the store."
                    )
                )
                continue
            messages.append(
                '<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
                f"<m:Items>{self._item_xml(inst, self._shape(operation, 'ItemShape'))}</m:Items>"
                "</m:GetItemResponseMessage>"
            )
        return self._wrap("GetItem", messages)

    def _op_CreateItem(self, operation: etree._Element) -> str:
        send = operation.get("SendMeetingInvitations")
        messages = []
        for item in operation.findall("m:Items/t:CalendarItem", NS):

            def text(path: str, item: etree._Element = item) -> str:
                return item.findtext(path, default="", namespaces=NS) or ""

            start_text, end_text = text("t:Start"), text("t:End")
            if not start_text or not end_text:
                messages.append(
                    self._error_message("CreateItem", "ErrorSchemaValidation", "Start and End are required.")
                )
                continue
            tz = item.find("t:StartTimeZone", NS)
            event = EwsEvent(
                item_id=self._new_id(),
                change_key=self._new_change_key(),
                uid=text("t:UID") or f"{uuid.uuid4().hex}@emulator",
                subject=text("t:Subject"),
                start=_parse_ts(start_text),
                end=_parse_ts(end_text),
                time_zone=tz.get("Id", "UTC") if tz is not None else "UTC",
                is_all_day=text("t:IsAllDayEvent") == "true",
                free_busy=text("t:LegacyFreeBusyStatus") or "Busy",
                organizer=self.email,
                required_attendees=[
                    a.text or ""
                    for a in item.findall("t:RequiredAttendees/t:Attendee/t:Mailbox/t:EmailAddress", NS)
                ],
                optional_attendees=[
                    a.text or ""
                    for a in item.findall("t:OptionalAttendees/t:Attendee/t:Mailbox/t:EmailAddress", NS)
                ],
                location=text("t:Location"),
                body=text("t:Body"),
                send_meeting_invitations=send,
                created_via_ews=True,
            )
            with self.lock:
                self.events_by_id[event.item_id] = event
            messages.append(
                '<m:CreateItemResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode>"
                f'<m:Items><t:CalendarItem><t:ItemId Id="{event.item_id}" ChangeKey="{event.change_key}"/>'
                "</t:CalendarItem></m:Items></m:CreateItemResponseMessage>"
            )
        return self._wrap("CreateItem", messages)

    def _op_GetServerTimeZones(self, operation: etree._Element) -> str:
        ids = [e.text or "" for e in operation.findall("m:Ids/t:Id", NS)] or ["UTC"]
        definitions = "".join(
            f"<t:TimeZoneDefinition Id={quoteattr(i)} Name={quoteattr(i)}><t:Periods>"
            '<t:Period Bias="PT0M" Name="Standard" Id="trule:Microsoft/Registry/X/1-Standard"/></t:Periods>'
            '<t:TransitionsGroups><t:TransitionsGroup Id="0"><t:Transition>'
            '<t:To Kind="Period">trule:Microsoft/Registry/X/1-Standard</t:To></t:Transition>'
            "</t:TransitionsGroup></t:TransitionsGroups><t:Transitions><t:Transition>"
            '<t:To Kind="Group">0</t:To></t:Transition></t:Transitions></t:TimeZoneDefinition>'
            for i in ids
        )
        return self._wrap(
            "GetServerTimeZones",
            [
                '<m:GetServerTimeZonesResponseMessage ResponseClass="Success"><m:ResponseCode>NoError'
                f"</m:ResponseCode><m:TimeZoneDefinitions>{definitions}</m:TimeZoneDefinitions>"
                "</m:GetServerTimeZonesResponseMessage>"
            ],
        )

    def _op_GetUserAvailability(self, operation: etree._Element) -> str:
        """FreeBusyView with a CalendarEventArray (DetailedMerged); times are UTC here."""
        window = operation.find("t:FreeBusyViewOptions/t:TimeWindow", NS)
        if window is None:
            window = operation.find("m:FreeBusyViewOptions/t:TimeWindow", NS)
        mailboxes = operation.findall("m:MailboxDataArray/t:MailboxData", NS)
        start = _parse_ts(window.findtext("t:StartTime", namespaces=NS) or "") if window is not None else None
        end = _parse_ts(window.findtext("t:EndTime", namespaces=NS) or "") if window is not None else None
        responses = []
        for mailbox in mailboxes:
            address = mailbox.findtext("t:Email/t:Address", namespaces=NS) or ""
            if address.lower() != self.email.lower() or start is None or end is None:
                responses.append(
                    '<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Error">'
                    "<m:MessageText>Mailbox not found.</m:MessageText>"
                    "<m:ResponseCode>ErrorMailRecipientNotFound</m:ResponseCode></m:ResponseMessage>"
                    "</m:FreeBusyResponse>"
                )
                continue
            events = "".join(
                "<t:CalendarEvent>"
                f"<t:StartTime>{inst.start.strftime('%Y-%m-%dT%H:%M:%S')}</t:StartTime>"
                f"<t:EndTime>{inst.end.strftime('%Y-%m-%dT%H:%M:%S')}</t:EndTime>"
                f"<t:BusyType>{'Free' if inst.event.is_cancelled else inst.free_busy}</t:BusyType>"
                "</t:CalendarEvent>"
                for e in self.events()
                for inst in self._expand(e)
                if inst.start < end and inst.end > start and e.my_response_type != "Decline"
            )
            responses.append(
                '<m:FreeBusyResponse><m:ResponseMessage ResponseClass="Success">'
                "<m:ResponseCode>NoError</m:ResponseCode></m:ResponseMessage>"
                "<m:FreeBusyView><t:FreeBusyViewType>FreeBusy</t:FreeBusyViewType>"
                f"<t:CalendarEventArray>{events}</t:CalendarEventArray></m:FreeBusyView></m:FreeBusyResponse>"
            )
        return (
            f'<m:GetUserAvailabilityResponse xmlns:m="{MNS}" xmlns:t="{TNS}">'
            f"<m:FreeBusyResponseArray>{''.join(responses)}</m:FreeBusyResponseArray>"
            "</m:GetUserAvailabilityResponse>"
        )

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _new_id() -> str:
        return base64.b64encode(b"AAMk" + secrets.token_bytes(24)).decode()

    @staticmethod
    def _new_change_key() -> str:
        return base64.b64encode(b"DwAAABYA" + secrets.token_bytes(6)).decode()


def start(**kwargs: Any) -> ExchangeEmulator:
    """Start an emulator on loopback; see ExchangeEmulator for the options."""
    return ExchangeEmulator(**kwargs).start()


__all__ = ["EwsEvent", "ExchangeEmulator", "start"]
