"""What browsers are told about every response (security headers), and which pages may open the live socket.

`SecurityHeaders` (main.py wraps the whole app in it) adds the headers to every HTTP response, without buffering
it: the event stream and large files pass through as they are written. A header that a route sets itself (the
kiosk shell's stricter Referrer-Policy) is left as it is.

`SocketOrigins` decides, for NiceGUI's Socket.IO server, whether a browser page may connect: only one served by
this server (by its address as the browser sees it, also behind a proxy) or one listed in VIGIL_ALLOWED_ORIGINS.
Without it, any web site a member of staff visits could open a socket in their name.
"""

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # only the types: app/config.py imports this module, and must stay quick to import
    from app.observability.http import ASGIApp, Message, Receive, Scope, Send

# NiceGUI 3 renders every page with inline scripts and compiles Vue templates in the browser (new Function), and
# Quasar sets inline styles: without 'unsafe-inline' and 'unsafe-eval' no page works, and NiceGUI has no nonces.
# What the policy still guarantees: nothing is loaded from, sent to or framed by another origin, no plugins, no
# <base> or form redirected elsewhere. 'self' in connect-src covers the page's own ws:/wss: socket (CSP Level 3).
# NOTE: pages/static/sw.js (a worker: this policy applies to it too) fetches from its own origin only.
PAGE_POLICY = '; '.join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",  # every NiceGUI page shows a data: image (Chromium refused it without data:)
    "font-src 'self'",
    "connect-src 'self'",
    "media-src 'self'",  # the alarm's tones are Web Audio oscillators: no media is fetched
    "worker-src 'self'",
    "frame-src 'self'",  # the kiosk shell embeds the board
    "manifest-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",  # the kiosk shell (same origin) may embed the board; nobody else may frame a page
))
# FastAPI's /docs and /redoc load Swagger UI and ReDoc from their CDN (and ReDoc its fonts and a blob: worker).
DOCS_POLICY = '; '.join((
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
    "font-src 'self' data: https://fonts.gstatic.com",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
))
DOCS_PATHS = ('/docs', '/docs/oauth2-redirect', '/redoc')
# JSON, FHIR, the event stream, images, metrics: nothing in them may run, load anything or be framed if a browser
# is tricked into opening one as a document.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
REFERRER_POLICY = 'same-origin'  # addresses carry patient ids: they never go to another site
HSTS_SECONDS = 365 * 24 * 3600

_DEFAULT_PORTS = {'http': 80, 'https': 443}
MAX_ORIGINS_LOGGED = 64  # each refused origin is logged once; a page cycling through names cannot flood the log

log = logging.getLogger(__name__)


def response_headers(path: str, content_type: str, *, hsts: bool) -> list[tuple[bytes, bytes]]:
    """Return the security headers for a response to `path` with this Content-Type."""
    document = content_type.startswith(('text/html', 'text/javascript', 'application/javascript'))
    policy = DOCS_POLICY if path in DOCS_PATHS else PAGE_POLICY if document else DATA_POLICY
    headers = [
        (b'content-security-policy', policy.encode()),
        (b'x-frame-options', b'SAMEORIGIN' if document else b'DENY'),  # frame-ancestors for older browsers
        (b'x-content-type-options', b'nosniff'),
        (b'referrer-policy', REFERRER_POLICY.encode()),
    ]
    if hsts:
        headers.append((b'strict-transport-security', f'max-age={HSTS_SECONDS}'.encode()))
    return headers


class SecurityHeaders:
    """Add the security headers to every HTTP response (WebSockets and lifespan pass through untouched)."""

    def __init__(self, app: 'ASGIApp', *, hsts: bool = False) -> None:
        self._app = app
        self._hsts = hsts

    async def __call__(self, scope: 'Scope', receive: 'Receive', send: 'Send') -> None:
        if scope['type'] != 'http':
            await self._app(scope, receive, send)
            return
        path = str(scope.get('path', ''))

        async def sending(message: 'Message') -> None:
            if message['type'] == 'http.response.start':
                headers = list(message.get('headers', []))
                present = {bytes(name).lower() for name, _ in headers}
                content_type = next((bytes(value).decode('latin-1').lower() for name, value in headers
                                     if bytes(name).lower() == b'content-type'), '')
                headers += [(name, value) for name, value in response_headers(path, content_type, hsts=self._hsts)
                            if name not in present]
                message = {**message, 'headers': headers}
            await send(message)

        await self._app(scope, receive, sending)


def normalized_origin(origin: str) -> str | None:
    """Return `scheme://host[:port]` in lower case without a default port, or None if `origin` is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or '')
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ('', '/') or parts.query or parts.fragment:
        return None
    if ':' in host:
        host = f'[{host}]'  # IPv6
    return f'{scheme}://{host}' if port in (None, _DEFAULT_PORTS[scheme]) else f'{scheme}://{host}:{port}'


def _first(value: object) -> str:
    return value.split(',')[0].strip() if isinstance(value, str) else ''


class SocketOrigins:
    """Tell whether a page of `origin` may open the socket: this server's own origin, or one configured."""

    def __init__(self, configured: Iterable[str] = ()) -> None:
        self._configured = frozenset(filter(None, (normalized_origin(origin) for origin in configured)))
        self._logged: set[str] = set()

    def own_origins(self, environ: Mapping[str, Any]) -> set[str]:
        """Return the origins this request's server goes by: its Host, and what a proxy in front says it got.

        The forwarded headers can be trusted here: a page of another site cannot set them on a WebSocket, and a
        cross-origin request that sets them needs a preflight first, which carries no such header and is refused.
        """
        scope = environ.get('asgi.scope') or {}
        schemes = {'https' if scope.get('scheme') in ('https', 'wss') else 'http'}
        if forwarded_scheme := _first(environ.get('HTTP_X_FORWARDED_PROTO')):
            schemes.add(forwarded_scheme.lower())
        hosts = {_first(environ.get('HTTP_HOST')), _first(environ.get('HTTP_X_FORWARDED_HOST'))} - {''}
        found = (normalized_origin(f'{scheme}://{host}') for scheme in schemes for host in hosts)
        return {origin for origin in found if origin}

    def __call__(self, origin: str | None, environ: Mapping[str, Any]) -> bool:
        # NOTE: engine.io calls this with (origin, environ) for every request of the socket that has an Origin
        # header; a request without one comes from no web page, and engine.io lets it through before asking.
        if not origin:
            return False
        wanted = normalized_origin(origin)
        own = self.own_origins(environ)
        if wanted is not None and (wanted in self._configured or wanted in own):
            return True
        self._log_refusal(origin, own)
        return False

    def _log_refusal(self, origin: str, own: set[str]) -> None:
        # Another site's page, or Vigil behind a proxy that hides the address staff use: then no page goes live,
        # and this line says what to change.
        if origin in self._logged or len(self._logged) >= MAX_ORIGINS_LOGGED:
            return
        self._logged.add(origin)
        log.warning('refused the live connection of a page from %s: this server is %s; behind a proxy, pass the '
                    'address staff use in X-Forwarded-Host (see deploy/nginx/vigil.conf) or list it in '
                    'VIGIL_ALLOWED_ORIGINS', origin, ' or '.join(sorted(own)) or 'unknown',
                    extra={'event': 'socket.origin_refused', 'origin': origin})


def without_engineio_origin_errors(record: logging.LogRecord) -> bool:
    """Drop engine.io's own ERROR for a refused origin (a logging filter): SocketOrigins logs it with advice."""
    return 'is not an accepted origin' not in record.getMessage()
