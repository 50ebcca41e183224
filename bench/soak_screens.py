"""The soak benchmark's open screens: staff dashboards and wall displays emulated as browsers, and staff who answer.

Every screen is a bench.browser Tab (page GET, NiceGUI's Socket.IO, pings and acknowledgements answered). A screen
notes the first moment each alert id reaches it (`alert_ids` reads the frames); emulated staff acknowledge alerts
the way a click does: the dashboard's alert list gets the same `click` event its delegated listener sends.
"""

import asyncio
import json
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from app.domain.scope import AccessScope
from app.schemas import AlertView
from bench.browser import BrowserError, Page, Tab, load_page, sign_in
from bench.soak_hospital import Hospital, Staff
from data.enums import Role

# NOTE: how many alerts a screen lists at most: the dashboard's alert list (components/alert_list.py MAX_ROWS) and
# the wall display's board (components/kiosk_board.py ROWS), both in the needs-attention order.
DASHBOARD_ROWS = 100
KIOSK_ROWS = 8
# A page that does not answer in time (NiceGUI answers 500 when building it takes longer than its response timeout)
# is reloaded, as a person would, after a pause that grows; every failed load is counted.
RELOADS = 8
_ALERT_ROW = re.compile(r'data-alert=\\"(\d+)\\"')


def alert_ids(frame: str) -> set[int]:
    """Return the ids of the alerts a Socket.IO frame shows: rows carry `data-alert="<id>"` in their HTML.

    NOTE: the one place that knows how an alert looks on the wire; a board that sends rows as data (e.g. a custom
    element's payload with `"id": <id>`) is read here too.
    """
    if 'data-alert' not in frame:
        return set()
    return {int(found) for found in _ALERT_ROW.findall(frame)}


@dataclass(eq=False)
class Screen:
    """One open page: who looks at it, what it may show, and when each alert first arrived on it."""

    name: str
    role: str  # a staff role, or 'kiosk'
    scope: AccessScope
    rows: int
    username: str | None = None
    tab: Tab | None = None
    list_element: int | None = None  # the dashboard's alert list (its click listener takes the row buttons)
    list_listener: str | None = None
    arrivals: dict[int, float] = field(default_factory=dict)
    cookie: str | None = None
    reconnects: int = 0
    reloads: int = 0
    failed_loads: int = 0

    def on_frame(self, _: Tab | None, frame: str, __: float) -> None:
        ids = alert_ids(frame)
        if ids:
            now = time.time()
            for alert_id in ids:
                self.arrivals.setdefault(alert_id, now)

    @property
    def path(self) -> str:
        return '/kiosk/display' if self.role == 'kiosk' else '/'

    async def load(self, http: aiohttp.ClientSession, base: str) -> None:
        """Load the page (again) and connect its socket; alerts the page arrives with count as arrived now."""
        for attempt in range(RELOADS + 1):
            try:
                page = await load_page(http, base, self.path, self.cookie)
                break
            except BrowserError:
                self.failed_loads += 1
                if attempt == RELOADS:
                    raise
                await asyncio.sleep(min(10.0, 1.0 + attempt * 2))
        if self.role != 'kiosk':
            self.list_element, self.list_listener = alert_list(page)
        self.on_frame(None, json.dumps(page.elements), 0.0)
        self.tab = Tab(http, base, page, self.on_frame)
        await self.tab.connect()

    async def recover(self, http: aiohttp.ClientSession, base: str) -> None:
        """The server closed the socket: reconnect as the browser does, or reload the page if it is gone."""
        assert self.tab is not None
        self.reconnects += 1
        if not await self.tab.reconnect():
            self.reloads += 1
            await self.load(http, base)

    async def click(self, action: str, alert_id: int) -> None:
        """Press a row's Acknowledge or Resolve button (what the list's JavaScript handler emits for that click)."""
        assert self.tab is not None and self.list_element is not None and self.list_listener is not None
        await self.tab.fire(self.list_element, self.list_listener, {'action': action, 'alert': alert_id})


def plan_screens(hospital: Hospital, count: int) -> list[Screen]:
    """Split `count` screens: a tenth wall displays, a tenth physicians, a tenth charge nurses, the rest ward nurses."""
    by_role: dict[Role, list[Staff]] = {}
    for person in hospital.staff:
        by_role.setdefault(person.role, []).append(person)
    kiosks = physicians = charge = max(1, count // 10) if count >= 4 else 0
    nurses = count - kiosks - physicians - charge
    screens = [Screen(f'kiosk {n + 1}', 'kiosk', hospital.kiosk_scope, KIOSK_ROWS) for n in range(kiosks)]
    for role, amount in ((Role.PHYSICIAN, physicians), (Role.CHARGE_NURSE, charge), (Role.NURSE, nurses)):
        people = by_role[role]
        for n in range(amount):
            person = people[n % len(people)]
            screens.append(Screen(f'{person.username} #{n // len(people) + 1}', role.value,
                                  person.scope(hospital.hospital_id), DASHBOARD_ROWS, username=person.username))
    return screens


async def kiosk_cookie(http: aiohttp.ClientSession, base: str, secret: str) -> str:
    """Open a wall display's session with its kiosk token, as the kiosk shell does, and return the session cookie."""
    async with http.post(f'{base}/kiosk/session', json={'token': secret}) as response:
        if response.status != 204 or 'session' not in response.cookies:
            raise BrowserError(f'POST /kiosk/session: HTTP {response.status} {(await response.text())[:200]}')
        return response.cookies['session'].value


async def open_screens(http: aiohttp.ClientSession, base: str, hospital: Hospital, screens: list[Screen],
                       parallel: int) -> None:
    """Sign every person in once through the sign-in page, then open every screen, `parallel` at a time."""
    cookies: dict[str, str] = {}
    for username in sorted({s.username for s in screens if s.username}):
        cookies[username] = await sign_in(http, base, username, hospital.password)
    kiosks = [s for s in screens if s.role == 'kiosk']
    for index, screen in enumerate(kiosks):
        cookies[screen.name] = await kiosk_cookie(http, base, hospital.kiosks[index % len(hospital.kiosks)])
    gate = asyncio.Semaphore(parallel)

    async def one(screen: Screen) -> None:
        screen.cookie = cookies[screen.username or screen.name]
        async with gate:
            await screen.load(http, base)

    await asyncio.gather(*(one(s) for s in screens))


async def keep_open(http: aiohttp.ClientSession, base: str, screens: list[Screen]) -> None:
    """Until cancelled: bring back every screen whose socket the server closed, as a browser would, every 2 s."""
    while True:
        await asyncio.sleep(2.0)
        closed = [s for s in screens if s.tab is not None and s.tab.closed_by_server]
        await asyncio.gather(*(s.recover(http, base) for s in closed), return_exceptions=True)


def alert_list(page: Page) -> tuple[int, str]:
    """Return the dashboard's alert list element and its click listener."""
    for key, element in page.elements.items():
        if 'vigil-alerts' in element.get('class', []):
            return int(key), page.listener(int(key), 'click')
    raise BrowserError(f'{page.path}: no alert list')


@dataclass
class Responders:
    """Acknowledge a share of the alerts from a screen that shows them, after a human delay; resolve them later."""

    screens: list[Screen]
    seed: int
    share: float = 0.8
    acknowledge_after: tuple[float, float] = (15.0, 60.0)
    resolve_after: tuple[float, float] = (30.0, 120.0)
    clicked: dict[int, float] = field(default_factory=dict)  # alert id -> when Acknowledge was pressed
    failures: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._rng = random.Random(f'{self.seed}:responders')

    def raised(self, view: AlertView) -> None:
        """Decide who answers a new alert: a nurse of its ward, else a charge nurse, else a physician."""
        if self._rng.random() >= self.share:
            return
        order = {'nurse': 0, 'charge_nurse': 1, 'physician': 2}
        candidates = sorted((s for s in self.screens if s.role in order and s.scope.sees(view)),
                            key=lambda s: order[s.role])
        if not candidates:
            return
        first = [s for s in candidates if s.role == candidates[0].role]
        screen = self._rng.choice(first)
        task = asyncio.create_task(self._answer(screen, view.id, self._rng.uniform(*self.acknowledge_after),
                                                self._rng.uniform(*self.resolve_after)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, screen: Screen, alert_id: int, acknowledge_in: float, resolve_in: float) -> None:
        await asyncio.sleep(acknowledge_in)
        if alert_id not in screen.arrivals or screen.tab is None or not screen.tab.is_open:
            self.failures += 1  # the screen never showed it: nobody could have pressed the button
            return
        self.clicked[alert_id] = time.time()
        try:
            await screen.click('acknowledge', alert_id)
            await asyncio.sleep(resolve_in)
            await screen.click('resolve', alert_id)
        except (aiohttp.ClientError, ConnectionError):
            self.failures += 1

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def close_all(screens: list[Screen]) -> Any:
    return asyncio.gather(*(s.tab.close() for s in screens if s.tab is not None), return_exceptions=True)


async def wind_down(responders: 'Responders', tasks: list[asyncio.Task[Any]], screens: list[Screen]) -> None:
    """End a run: no more clicks, the background tasks stopped, every screen's socket closed."""
    await responders.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await close_all(screens)
