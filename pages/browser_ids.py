"""Browser ids: which requests get one, and a new one at every sign-in and sign-out.

NiceGUI keeps per-browser storage (`app.storage.user`) under a random browser id in Starlette's signed session
cookie (`request.session['id']`). Left to itself it gives every request that comes without a cookie a new id and a
storage object, so every health check, Prometheus scrape and device call left one behind in memory; and the id
never changes, so a cookie copied before a sign-in or a sign-out was signed in again by the next sign-in on that
browser. Here:
- probes, the HTTP API and static files never touch per-browser storage;
- only the pages a signed-out browser may open (sign-in, the wall display and its session) create an id; every
  other request uses the id it brings, if any (without one, a staff page sends the browser to sign in);
- a sign-in is parked in the old id's storage with a single-use ticket and finished by an HTTP request (the
  socket of the sign-in form cannot set a cookie) that moves it to a new id and deletes the old id's storage;
- signing out deletes the storage and drops the id.
Everything stays in NiceGUI's user storage, which is files under the data folder or, with Redis, shared by
every process, so a ticket parked on one process can be finished by another.
"""

import functools
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from nicegui import app as nicegui_app
from nicegui import storage as nicegui_storage
from nicegui.persistence import PersistentDict
from starlette.exceptions import HTTPException
from starlette.middleware.base import RequestResponseEndpoint
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.schemas import UserView

SESSION_KEYS = ('user_id', 'hospital_id', 'signed_in_at')
TICKET_KEY = 'sign_in_ticket'
# From the click on "Log in" to the request that finishes it: one redirect, so seconds at most.
TICKET_LIFETIME = timedelta(seconds=60)
COMPLETE_PATH = '/login/complete'

# Never read or write per-browser storage: no id is made for them and none is loaded.
STORAGE_FREE_PREFIXES = ('/_nicegui', '/api/', '/healthz', '/readyz', '/metrics', '/docs', '/redoc',
                         '/openapi.json', '/favicon.ico', '/manifest.webmanifest', '/sw.js', '/pwa/')
STORAGE_FREE_PATHS = frozenset({'/kiosk'})  # the wall display's static shell
# The only requests that give a browser without a cookie a new id: pages a signed-out browser may open.
OPENS_A_BROWSER_ID = frozenset({'/login', '/kiosk/display', '/kiosk/session'})


def storage_free(path: str) -> bool:
    """Return whether a request for this path never uses per-browser storage."""
    return path in STORAGE_FREE_PATHS or path.startswith(STORAGE_FREE_PREFIXES)


def has_browser_id(request: Request) -> bool:
    """Return whether this request carries a browser id (then its storage is loaded, unless storage-free)."""
    return 'id' in request.session


class BrowserIdMiddleware:
    """NiceGUI's request tracking, but only for requests that use per-browser storage.

    Plain ASGI in front: storage-free requests (the HTTP API, probes, static files) skip NiceGUI's tracking, a
    Starlette BaseHTTPMiddleware that would run the rest of the app in a task of its own for each of them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._tracking = _Tracking(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http' and not storage_free(str(scope['path'])):
            await self._tracking(scope, receive, send)
        else:
            await self._app(scope, receive, send)


class _Tracking(nicegui_storage.RequestTrackingMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not has_browser_id(request) and request.url.path not in OPENS_A_BROWSER_ID:
            return await call_next(request)
        return await super().dispatch(request, call_next)


def install_browser_ids() -> None:
    """Make NiceGUI use BrowserIdMiddleware, and answer a 404 without a page where no browser id is at hand.

    Call before ui.run (which adds the middleware). NOTE: NiceGUI adds its request tracking by the module-level
    name `nicegui.storage.RequestTrackingMiddleware` when it sets up the session cookie (ui.run under the test
    runner, Server.run otherwise); tests/test_sessions.py fails if a NiceGUI upgrade goes around it.
    """
    nicegui_storage.RequestTrackingMiddleware = BrowserIdMiddleware  # type: ignore[misc,assignment]
    handler = nicegui_app.exception_handlers[404]
    page_404 = getattr(handler, '__wrapped__', handler)  # NiceGUI's own, also when its test runner serves again
    nicegui_app.add_exception_handler(404, _plain_not_found(page_404))


def _plain_not_found(page_404: Any) -> Callable[[Request, Exception], Awaitable[Response]]:
    # NiceGUI answers an unknown address with an error page, a UI client that lives a minute: a scanner probing
    # /api/... would pile them up. Such requests get FastAPI's plain JSON 404 instead; and NiceGUI's storage
    # pruning expects every UI client to have a browser id.
    @functools.wraps(page_404)
    async def not_found(request: Request, error: Exception) -> Response:
        if isinstance(error, HTTPException) and (storage_free(request.url.path) or not has_browser_id(request)):
            return await http_exception_handler(request, error)
        page: Response = await page_404(request, error)
        return page

    return not_found


def park_sign_in(user: UserView, now: datetime, target: str) -> str:
    """Park a successful sign-in in this browser's storage; return the address that finishes it with a new id.

    Until then the browser is not signed in: the ticket lives under its own key, not the session's.
    """
    ticket = secrets.token_urlsafe(32)
    nicegui_app.storage.user[TICKET_KEY] = {'ticket': ticket, 'user_id': user.id, 'hospital_id': user.hospital_id,
                                            'signed_in_at': now.isoformat()}
    return f'{COMPLETE_PATH}?{urlencode({"ticket": ticket, "next": target})}'


async def finish_sign_in(request: Request, ticket: str, now: datetime) -> bool:
    """Move a parked sign-in to a new browser id (set in the response's cookie); False if there is none to finish.

    The old id's storage is deleted (its file or Redis key too): a copy of the cookie from before the sign-in is
    worth nothing, and the ticket can be used once.
    """
    if not has_browser_id(request):
        return False
    old = nicegui_app.storage.user
    parked = old.get(TICKET_KEY)
    if not isinstance(parked, dict) or not isinstance(parked.get('ticket'), str):
        return False
    if not secrets.compare_digest(parked['ticket'].encode(), ticket.encode()):
        return False  # another tab's sign-in, or a guess: the parked one stays for its own tab
    try:
        signed_in_at = datetime.fromisoformat(parked['signed_in_at'])
        session = {'user_id': int(parked['user_id']), 'hospital_id': int(parked['hospital_id']),
                   'signed_in_at': signed_in_at.isoformat()}
    except (KeyError, TypeError, ValueError):
        old.pop(TICKET_KEY, None)
        return False
    old.clear()
    if now - signed_in_at > TICKET_LIFETIME:
        return False
    fresh = await _new_storage(request)
    fresh.update(session)
    return True


def forget_browser(request: Request) -> None:
    """Delete this browser's storage and drop its id (the response deletes the cookie): the next page makes one."""
    if has_browser_id(request):
        nicegui_app.storage.user.clear()
        request.session.pop('id', None)


async def _new_storage(request: Request) -> PersistentDict:
    """Give this request's browser a new id with empty storage, and return that storage."""
    browser_id = str(uuid.uuid4())
    # NOTE: NiceGUI has no public call to make the storage of an id other than the request's own: this is the one
    # its middleware calls (nicegui/storage.py); tests/test_sessions.py covers it.
    await nicegui_app.storage._create_user_storage(browser_id)
    request.session['id'] = browser_id
    return nicegui_app.storage.user  # now this id's
