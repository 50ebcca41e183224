"""NiceGUI's two response middlewares as plain ASGI: the same headers, without a task and streams per request.

NiceGUI adds them in ui.run as Starlette BaseHTTPMiddleware subclasses, which run the rest of the app in a task of
their own with memory streams between. Four of those (these two, the sign-in check and NiceGUI's request tracking)
cost every request 0.5 ms of server CPU, measured: a health check took 0.70 ms, and 0.18 ms with all four plain,
a device's one-reading POST 3.0 ms and 2.1 ms. Hand-written: each only rewrites one response header, and no library
ships them as plain ASGI.
"""

from nicegui import core
from nicegui import ui_run as nicegui_ui_run
from nicegui.version import __version__
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RedirectWithPrefix:
    """Prefix a redirect's Location with the proxy's X-Forwarded-Prefix (NiceGUI's RedirectWithPrefixMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            await self._app(scope, receive, send)
            return
        prefix = Headers(scope=scope).get('x-forwarded-prefix', '')
        if not prefix:  # prefixing with '' changes nothing
            await self._app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message['type'] == 'http.response.start':
                headers = MutableHeaders(scope=message)
                location = headers.get('location')
                if location is not None and location.startswith('/'):
                    headers['location'] = prefix + location
            await send(message)

        await self._app(scope, receive, sending)


class SetCacheControl:
    """Let browsers cache NiceGUI's versioned static files (NiceGUI's SetCacheControlMiddleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get('path', ''))
        if scope['type'] != 'http' or not path.startswith(f'/_nicegui/{__version__}/') \
                or path.startswith(f'/_nicegui/{__version__}/dynamic_resources/'):
            await self._app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message['type'] == 'http.response.start':
                MutableHeaders(scope=message)['cache-control'] = core.app.config.cache_control_directives
            await send(message)

        await self._app(scope, receive, sending)


def install_plain_middlewares() -> None:
    """Make ui.run add these instead of NiceGUI's BaseHTTPMiddleware versions; call before ui.run.

    NOTE: ui.run adds them by its module-level names; tests/test_server.py fails if a NiceGUI upgrade goes around it.
    """
    nicegui_ui_run.RedirectWithPrefixMiddleware = RedirectWithPrefix  # type: ignore[attr-defined,assignment]
    nicegui_ui_run.SetCacheControlMiddleware = SetCacheControl  # type: ignore[attr-defined,assignment]
