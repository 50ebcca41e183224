"""A browser tab emulated in asyncio: the page over HTTP, then NiceGUI's Socket.IO over a websocket of its own.

NiceGUI 3.x sends the initial element tree inside the HTML and every later change as a Socket.IO message
(Engine.IO v4 framing) on a websocket. A load test must speak exactly that, for hundreds of tabs in one process.
python-socketio's own client would decode every frame into Python objects and start a task per message; with
hundreds of tabs that work lands on the same two cores as the server being measured, so frames are kept as text
here and searched for what the benchmark waits for. aiohttp (already a NiceGUI dependency) carries HTTP and the
websockets.
"""

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

_ELEMENTS = re.compile(r'parseElements\(String\.raw`(.*?)`\)', re.S)
_CLIENT_ID = re.compile(r"'client_id': '([0-9a-f-]+)'")
_PREFIX = re.compile(r'\bprefix: "([^"]*)"')
# The HTML escapes these five inside the element tree; NiceGUI's parseElements() undoes them in this order.
_ENTITIES = (('&#36;', '$'), ('&#96;', '`'), ('&gt;', '>'), ('&lt;', '<'), ('&amp;', '&'))
ACK_SECONDS = 3.0  # NiceGUI's browser code acknowledges received messages every 3 s
ANSWER_SECONDS = 30.0  # a loaded server may take a while, but not forever


class BrowserError(Exception):
    """The server did not answer as a browser expects; the message says what happened."""


@dataclass(frozen=True)
class Page:
    """A page as its HTML arrived: the UI client the server holds for it and the initial element tree."""

    path: str
    client_id: str
    prefix: str
    elements: dict[str, dict[str, Any]]
    cookie: str | None
    html_bytes: int

    def element(self, tag: str, **props: str) -> int:
        """Return the id of the one element with this tag and these props (e.g. label='Username')."""
        found = [int(key) for key, element in self.elements.items() if element.get('tag') == tag
                 and all(element.get('props', {}).get(k) == v for k, v in props.items())]
        if len(found) != 1:
            raise BrowserError(f'{self.path}: expected one {tag} with {props}, found {len(found)}')
        return found[0]

    def listener(self, element_id: int, event_type: str) -> str:
        """Return the listener id the element registered for an event type (e.g. 'click')."""
        for event in self.elements[str(element_id)].get('events', []):
            if event['type'] == event_type:
                return str(event['listener_id'])
        raise BrowserError(f'{self.path}: element {element_id} does not listen to {event_type}')


def parse_page(path: str, html: str, cookie: str | None) -> Page:
    """Read the client id, the socket path prefix and the element tree out of a NiceGUI page."""
    raw, client_id, prefix = _ELEMENTS.search(html), _CLIENT_ID.search(html), _PREFIX.search(html)
    if raw is None or client_id is None or prefix is None:
        raise BrowserError(f'{path}: not a NiceGUI page (no element tree, client id or socket prefix)')
    text = raw.group(1)
    for entity, character in _ENTITIES:
        text = text.replace(entity, character)
    return Page(path=path, client_id=client_id.group(1), prefix=prefix.group(1), elements=json.loads(text),
                cookie=cookie, html_bytes=len(html))


async def load_page(http: aiohttp.ClientSession, base: str, path: str, cookie: str | None) -> Page:
    """GET a page as a browser does (with the session cookie, if any) and parse it; a redirect is an error."""
    headers = {'Cookie': f'session={cookie}'} if cookie else {}
    async with http.get(base + path, headers=headers, allow_redirects=False) as response:
        if response.status != 200:
            raise BrowserError(f'GET {path}: HTTP {response.status} {response.headers.get("location", "")}'.strip())
        html = await response.text()
        if 'session' in response.cookies:
            cookie = response.cookies['session'].value
    return parse_page(path, html, cookie)


FrameHandler = Callable[['Tab', str, float], None]


class Tab:
    """One open page: the socket answers pings, acknowledges messages and hands every message frame to a handler."""

    def __init__(self, http: aiohttp.ClientSession, base: str, page: Page,
                 on_frame: FrameHandler | None = None) -> None:
        self.page = page
        self.on_frame = on_frame
        self.next_message_id = 0
        self.closed_by_server = False
        self._http = http
        self._base = base
        self._acked = 0
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._document_id = str(uuid.uuid4())
        self._tab_id = str(uuid.uuid4())

    async def connect(self) -> None:
        """Open the socket on a new TCP connection and finish the implicit handshake NiceGUI's page asks for.

        Called again after the server closed the socket, it reconnects as NiceGUI's browser code does: the same
        document and tab, asking for the messages from the next one it has not seen (the server replays them).
        """
        query = urlencode({'client_id': self.page.client_id, 'next_message_id': self.next_message_id,
                           'implicit_handshake': 'true', 'document_id': self._document_id, 'tab_id': self._tab_id,
                           'EIO': 4, 'transport': 'websocket'})
        url = self._base.replace('http', 'ws', 1) + f'{self.page.prefix}/_nicegui_ws/socket.io/?{query}'
        headers = {'Cookie': f'session={self.page.cookie}'} if self.page.cookie else {}
        ws = await self._http.ws_connect(url, headers=headers, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(
            ws_receive=None, ws_close=5.0))
        self._ws = ws
        async with asyncio.timeout(ANSWER_SECONDS):
            opening = await ws.receive_str()  # Engine.IO "open": 0{"sid": ..., "pingInterval": ...}
            if not opening.startswith('0'):
                raise BrowserError(f'{self.page.path}: expected an Engine.IO open packet, got {opening[:80]!r}')
            await ws.send_str('40')  # Socket.IO CONNECT to the default namespace
            answer = await ws.receive_str()
            while answer == '2':  # a ping may come first on a busy server
                await ws.send_str('3')
                answer = await ws.receive_str()
            if not answer.startswith('40'):
                raise BrowserError(f'{self.page.path}: socket refused: {answer[:120]!r}')
        self.closed_by_server = False
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._acknowledge())]

    async def reconnect(self) -> bool:
        """After the server closed the socket: connect again; False if the server no longer knows the page (a
        browser then reloads it)."""
        await self.close()
        try:
            await self.connect()
        except (BrowserError, aiohttp.ClientError, TimeoutError):
            if self._ws is not None:
                await self._ws.close()
            return False
        return True

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        """Send a Socket.IO event as NiceGUI's browser code does."""
        assert self._ws is not None, 'connect() first'
        await self._ws.send_str('42' + json.dumps([event, data], separators=(',', ':')))

    async def fire(self, element_id: int, listener_id: str, *args: Any) -> None:
        """Fire an element's event listener (a click, a typed value) with JSON-encoded arguments."""
        await self.emit('event', {'id': element_id, 'client_id': self.page.client_id, 'listener_id': listener_id,
                                  'args': [json.dumps(a) for a in args]})

    async def close(self) -> None:
        """Close the socket, like closing the tab."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ws is not None:
            await self._ws.close()

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._ws.closed and not self.closed_by_server

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:  # ends when the socket closes
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            received = time.perf_counter()
            data: str = message.data
            if data == '2':
                await self._ws.send_str('3')
            elif data.startswith('42["try_reconnect"'):  # the server cannot replay what was missed: reload
                self.closed_by_server = True
                await self._ws.close()
                return
            elif data.startswith('42'):
                # NiceGUI appends the message id last: ...,"_id":17}]
                at = data.rfind('"_id":')
                if at != -1:
                    end = at + 6
                    while end < len(data) and data[end].isdigit():
                        end += 1
                    self.next_message_id = int(data[at + 6:end]) + 1
                if self.on_frame is not None:
                    self.on_frame(self, data, received)
            elif data.startswith(('41', '1')):  # Socket.IO DISCONNECT or Engine.IO CLOSE
                self.closed_by_server = True
                return
        self.closed_by_server = True

    async def _acknowledge(self) -> None:
        while self._ws is not None and not self._ws.closed:  # ends with the socket (or when cancelled)
            await asyncio.sleep(ACK_SECONDS)
            if self.next_message_id > self._acked and not self._ws.closed:
                self._acked = self.next_message_id
                await self.emit('ack', {'client_id': self.page.client_id, 'next_message_id': self._acked})


async def sign_in(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    """Sign in through the real sign-in page (type, click, follow) and return the session cookie."""
    page = await load_page(http, base, '/login', None)
    if page.cookie is None:
        raise BrowserError('/login set no session cookie')
    user_field = page.element('nicegui-input', label='Username')
    password_field = page.element('nicegui-input', label='Password')
    button = page.element('q-btn', label='Log in')
    navigated: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    said: list[str] = []

    def watch(_: Tab, frame: str, __: float) -> None:
        event, data = json.loads(frame[2:])
        if event == 'open' and not navigated.done():
            navigated.set_result(str(data['path']))
        elif event == 'update':
            said.extend(str(e['text']) for e in data.values() if isinstance(e, dict) and e.get('text'))

    tab = Tab(http, base, page, watch)
    await tab.connect()
    try:
        await tab.fire(user_field, page.listener(user_field, 'update:value'), username)
        await tab.fire(password_field, page.listener(password_field, 'update:value'), password)
        await tab.fire(button, page.listener(button, 'click'))
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                target = await navigated
        except TimeoutError:
            raise BrowserError(f'sign-in as {username} did not navigate: {" / ".join(said) or "no answer"}') from None
    finally:
        await tab.close()
    cookie = page.cookie
    if target.startswith('/login/complete'):
        # The form parks the sign-in and sends the browser to finish it with an HTTP request of its own, which
        # renews the session cookie and redirects to where the person was going.
        async with http.get(base + target, headers={'Cookie': f'session={cookie}'},
                            allow_redirects=False) as response:
            if 'session' in response.cookies:
                cookie = response.cookies['session'].value
            target = response.headers.get('location', '') if response.status in (302, 303, 307) else '/login'
    if target.startswith('/login'):
        raise BrowserError(f'sign-in as {username} went back to {target}')
    return cookie
