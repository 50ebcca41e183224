"""An ASGI middleware timing every HTTP request by method, route template and status class."""

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .metrics import Telemetry

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def route_label(scope: Scope) -> str:
    """Return the matched route's template (`/api/v1/alerts/{alert_id}`), never a raw path with ids in it."""
    route = scope.get('route')
    template = getattr(route, 'path', None)
    if isinstance(template, str):
        return template
    path = str(scope.get('path', ''))
    if path.startswith('/_nicegui'):
        return '/_nicegui/*'  # NiceGUI's static files and its socket's HTTP polling: one label for all
    return 'unmatched'


class HttpMetricsMiddleware:
    """Observe the duration of each HTTP request (WebSockets and lifespan pass through untouched)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self._app = app
        self._telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message['type'] == 'http.response.start':
                status = int(message['status'])
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            self._telemetry.observe_http(str(scope.get('method', '?')), route_label(scope), status,
                                         time.perf_counter() - started)
