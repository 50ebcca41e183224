"""What every staff page shares: the session check, the header with navigation, presence and the connection state."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import Client, background_tasks, context, ui
from nicegui import app as nicegui_app
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.bootstrap import Vigil
from app.domain import Role
from app.events.signals import AccountChange
from app.schemas import Actor, AlertView
from components import dark_theme, focus, theme, times
from components.activity import track_activity
from components.alarm import NOTIFY_KEY, SOUND_KEY, STAFF_AUDIBLE, AlarmState, SignalsLine
from components.connection import connection_line
from components.keyboard import ShortcutsHelp
from components.live import AccountNotice, LiveHub, PresenceEntry
from components.live_rooms import on_connect
from components.offline_queue import QueuedActions
from components.preferences import Preferences
from components.session import ROLE_LABELS, StaffSession
from components.signal_rooms import PageToasts
from components.signal_rooms import follow as follow_signals
from components.toasts import install as toasts_install

from . import pwa
from .browser_ids import SESSION_KEYS, has_browser_id

log = logging.getLogger(__name__)

# A page that must leave (sign-in ended, account changed) has this long to send its browser away before the server
# drops it.
LEAVE_GRACE_SECONDS = 1.0

__all__ = ['ROLE_LABELS', 'AuthMiddleware', 'StaffFrame', 'StaffSession', 'reload_after_reconnect',
           'sign_out_session', 'staff_page', 'staff_session']

# Paths anyone may open: sign-in and sign-out, the token-authenticated kiosk, NiceGUI's and Vigil's shared scripts and
# styles (components/assets.py), the HTTP API (which checks its bearer tokens itself) and the installable web app's
# manifest, service worker, icons and offline page (pages/pwa).
PUBLIC_PREFIXES = ('/login', '/logout', '/kiosk', '/assets/', '/_nicegui', '/api/', '/healthz', '/readyz', '/metrics',
                   '/docs', '/redoc', '/openapi.json', '/favicon.ico', '/manifest.webmanifest', '/sw.js', '/pwa/')


class AuthMiddleware:
    """Send every request for a staff page without a signed-in session to the sign-in page.

    Plain ASGI, so that public paths (the HTTP API, probes, static files) pass straight through: Starlette's
    BaseHTTPMiddleware runs the rest of the app in a task of its own with streams between, about 0.13 ms of server
    CPU per request (pages/plain_middlewares.py); only staff pages need the session check.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._check = _SignInCheck(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http' and not str(scope['path']).startswith(PUBLIC_PREFIXES):
            await self._check(scope, receive, send)
        else:
            await self._app(scope, receive, send)


class _SignInCheck(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        # Without a browser id nothing was loaded for this request (pages/browser_ids.py): not signed in.
        if not (has_browser_id(request) and 'user_id' in nicegui_app.storage.user):
            path = request.url.path
            target = '/login' if path == '/' else f'/login?next={quote(path)}'
            return RedirectResponse(target)
        return await call_next(request)


def sign_out_session() -> None:
    """Forget the sign-in of this browser (every tab of it); /logout then also drops the browser's id."""
    for key in SESSION_KEYS:
        nicegui_app.storage.user.pop(key, None)


async def staff_session(vigil: Vigil, hub: LiveHub) -> StaffSession | None:
    """Return the signed-in staff member of this request, or None (then the caller sends them to sign in).

    The account is re-read from the database on every page load: a disabled account, a changed role or a
    "sign out everywhere" takes effect at the next page load, and every action re-checks the role in the service.
    """
    storage = nicegui_app.storage.user
    try:
        user_id = int(storage['user_id'])
        signed_in_at = datetime.fromisoformat(storage['signed_in_at'])
    except (KeyError, TypeError, ValueError):
        sign_out_session()
        return None
    if vigil.clock() - signed_in_at > timedelta(hours=vigil.settings.session_hours):
        sign_out_session()
        return None
    user = await vigil.users.session_user(user_id, signed_in_at)
    if user is None:
        sign_out_session()
        return None
    hospital = await vigil.hospitals.by_id(user.hospital_id)
    wards = tuple(await vigil.hospitals.wards_of(user.hospital_id))

    async def reauthorize() -> Actor | None:
        current = await vigil.users.session_user(user_id, signed_in_at)
        if current is None or vigil.clock() - signed_in_at > timedelta(hours=vigil.settings.session_hours):
            return None
        return Actor.for_user(current)

    return StaffSession(user=user, actor=Actor.for_user(user), hospital=hospital, wards=wards,
                        channel=hub.channel(user.hospital_id), signed_in_at=signed_in_at, reauthorize=reauthorize)


@dataclass(frozen=True)
class StaffFrame:
    """What the shared frame gives the page it frames."""

    prefs: Preferences
    alarm: AlarmState  # the page's alarm settings
    signals: PageToasts  # what its browser shows of its signals room (the toasts)
    queue: QueuedActions  # actions taken while offline, sent on reconnect (components/offline_queue.py)


async def staff_page(vigil: Vigil, hub: LiveHub, session: StaffSession, title: str, page_name: str) -> StaffFrame:
    """Build what every staff page shares: header, alarm signals and toasts, presence, and leaving when the sign-in
    ends.

    The alarm state and the toasts come from the signals room of the user's hospital and scope (one for all its
    pages: components/signal_rooms.py); the page keeps only its user's settings.
    """
    ui.page_title(f'{title} · Vigil')
    theme.install()
    times.install(vigil.clock())
    focus.install()
    toasts_install()
    shortcuts = ShortcutsHelp()
    client = context.client
    hub.join(session.hospital.id, PresenceEntry(
        client_id=client.id, user_id=session.user.id, name=session.user.display_name, role=session.role_label,
        wards=session.own_ward_names, page=page_name, since=datetime.now(UTC)))
    client.on_delete(lambda: hub.leave(session.hospital.id, client.id))
    track_activity(client, hub)  # the connections page shows when each browser last did something
    prefs = Preferences(session.user.id)
    dark = dark_theme.install(dark_theme.mode_of(prefs))
    pwa.install()

    async def load() -> list[AlertView]:
        return await vigil.alerts.list_alerts(session.actor)

    signals_room = await hub.signal_rooms.enter(client, session.hospital.id, session.scope, load)
    signals = PageToasts(signals_room)
    follow_signals(hub.signal_rooms, client)
    alarm: AlarmState  # made with the header, whose pause button carries its settings

    left = False  # the sign-in ended while the page was open: it applies nothing more (its room sends it nothing)

    def leave(ended: str, *, forget_browser: bool = False) -> None:
        # forget_browser: through /logout, an HTTP request that drops the browser's id from its cookie (sign-out).
        nonlocal left
        if not left:
            left = True
            hub.signal_rooms.leave(client)
            leave_page(f'/logout?ended={ended}' if forget_browser else f'/login?ended={ended}')

    async def account_changed(notice: AccountNotice) -> None:
        nonlocal left
        if notice.user_id != session.user.id or left:
            return
        if notice.change is AccountChange.CHANGED:
            # Re-read: the account may be fine (a sign-out everywhere before this page's sign-in), or its scope moved.
            current = await session.reauthorize() if session.reauthorize is not None else session.actor
            if current is not None:
                if current.role is not session.user.role or set(current.ward_ids) != set(session.user.ward_ids):
                    left = True
                    hub.signal_rooms.leave(client)
                    reload_page()  # built again with the new role and wards, or refused if no longer allowed
                return
        leave(AccountChange.DEACTIVATED.value if notice.change is AccountChange.DEACTIVATED else 'signed_out')

    def reconnected() -> None:
        # A browser that left (or should have) and comes back on the same page gets nothing more from it.
        if left and not client.is_deleted:
            client.delete()

    client.on_connect(reconnected)

    def check_expiry() -> None:
        # The page re-checks the sign-in when it is loaded; this catches the tab left open past the end of the shift.
        lifetime = timedelta(hours=vigil.settings.session_hours)
        if session.signed_in_at is not None and vigil.clock() - session.signed_in_at > lifetime:
            leave('expired')

    session.channel.signed_out.subscribe(account_changed)
    session.channel.tick.subscribe(check_expiry)

    async def sign_out(everywhere: bool) -> None:
        if everywhere:
            await vigil.users.end_all_sessions(session.actor)
        sign_out_session()  # at once, also if the browser never makes the request leave() sends it to
        if everywhere:
            await hub.announce_sign_out(session.hospital.id, session.user.id)  # pages on every process leave
        leave('signed_out' if everywhere else 'logged_out', forget_browser=True)

    def toggle_sound() -> None:
        alarm.configure(enabled=not alarm.enabled)
        prefs.set(SOUND_KEY, alarm.enabled)
        paint_sound()

    def paint_sound() -> None:
        on = alarm.enabled
        sound.set_text('Sound on' if on else 'Sound off')
        sound.props['icon'] = 'volume_up' if on else 'volume_off'
        sound.props(f'aria-pressed={"true" if on else "false"} aria-label="{"Sound on" if on else "Sound off"}"')
        sound.props(f'title="{"Alarm sound for critical alerts is on" if on else "Alarm sound is off"}"')

    def toggle_notify(item: ui.item_section) -> None:
        alarm.configure(notify=not alarm.notify)
        prefs.set(NOTIFY_KEY, alarm.notify)
        item.set_text(notify_label())

    def notify_label() -> str:
        return f'Browser notifications: {"on" if alarm.notify else "off"}'

    menu_built = False

    def account_menu() -> None:
        # Built when first opened (most pages never open it; a dozen elements cost every open page ~4 KB each), then
        # opened and closed by the browser alone.
        nonlocal menu_built
        if menu_built:
            return
        menu_built = True
        with account, ui.menu(value=True).props('anchor="bottom right" self="top right"'):
            # Who is signed in: fixed for the page's life, so one element rather than a column and two labels.
            wards = ', '.join(session.own_ward_names) or 'all wards'
            ui.html(f'<div class="text-weight-bold">{escape(session.user.display_name)}</div>'
                    f'<div class="text-caption text-grey-7">{escape(f"{session.role_label} · {wards}")}</div>',
                    sanitize=False).classes('nicegui-column px-4 py-2 gap-0')
            ui.separator()
            # NOTE: alarm.js asks the browser for permission inside this click (.vigil-notify-toggle).
            with ui.menu_item(auto_close=False).classes('vigil-touch vigil-notify-toggle').mark('notify') as item:
                notify = ui.item_section(notify_label())
            item.on_click(lambda: toggle_notify(notify))
            with ui.item().classes('vigil-touch'):
                dark_theme.theme_choice(prefs, dark)
            ui.menu_item('Keyboard shortcuts', shortcuts.open).classes('vigil-touch').mark('shortcuts')
            ui.separator()
            ui.menu_item('Log out', lambda: sign_out(False)).classes('vigil-touch').mark('logout')
            ui.menu_item('Log out on all devices', lambda: sign_out(True)).classes('vigil-touch') \
                .mark('logout-everywhere')

    with ui.header(elevated=True).classes('items-center gap-2 px-3 py-1 bg-primary text-white'):
        # The name and the hospital never change while the page is open: one element.
        # NOTE: sanitize=False is safe here: the hospital's name is escaped.
        ui.html(f'<a href="/" class="nicegui-link text-h6 text-weight-bold text-white no-underline">Vigil</a>'
                f'<div class="text-subtitle2 opacity-80 gt-sm">{escape(session.hospital.name)}</div>',
                sanitize=False).classes('row no-wrap items-center gap-2')
        # The links sit 4 px apart, and the last one's margin takes the room up to the controls on the right (no row
        # and no ui.space: each element costs every open page memory; components/theme.py, .vigil-nav).
        nav_link('Dashboard', '/', 'dashboard')
        nav_link('Audit', '/audit', 'history')
        if session.user.role is Role.ADMIN:
            nav_link('Admin', '/admin', 'settings')
        alarm = AlarmState(title=f'{title} · Vigil', audible=STAFF_AUDIBLE, enabled=bool(prefs.get(SOUND_KEY, True)),
                           notify=bool(prefs.get(NOTIFY_KEY, False)),
                           carrier=SignalsLine(signals_room.name, signals))
        # The sound's state is always in sight, as a button with its word (on a phone the word goes, the icon stays).
        sound = ui.button(on_click=toggle_sound).props('flat no-caps color=white') \
            .classes('vigil-touch vigil-sound').mark('sound')
        paint_sound()
        connection_line()
        account = ui.button(icon='account_circle', on_click=account_menu) \
            .props('flat round color=white size=md aria-label="Account"').classes('vigil-touch').mark('account')
    queue = QueuedActions(vigil.alerts, session)
    return StaffFrame(prefs=prefs, alarm=alarm, signals=signals, queue=queue)


def leave_page(target: str) -> None:
    """Send this browser to target, then drop the page on the server: a browser that ignores the navigation (or
    comes back to the page) gets nothing more from it."""
    client = context.client
    ui.navigate.to(target)
    background_tasks.create(_drop_page(client), name='vigil-drop-page')


def reload_page() -> None:
    """Load this page again (built for the account as it is now), then drop the old one on the server."""
    client = context.client
    ui.navigate.reload()
    background_tasks.create(_drop_page(client), name='vigil-drop-page')


async def _drop_page(client: Client) -> None:
    await asyncio.sleep(LEAVE_GRACE_SECONDS)  # the navigation goes out first (the outbox sends every few ms)
    # NOTE: a page whose socket is already gone is deleted by NiceGUI after the reconnect timeout (deleting it here as
    # well would delete it twice); if that browser reconnects first, staff_page's connect handler drops it.
    if not client.is_deleted and client.has_socket_connection:
        client.delete()


def reload_after_reconnect(reload: Callable[[], Awaitable[None]]) -> None:
    """Reload a page's state from the database after its socket came back: events may have been missed meanwhile."""

    async def connected(reconnect: bool) -> None:
        if reconnect:
            await reload()

    on_connect(context.client, connected)


def nav_link(label: str, target: str, icon: str) -> None:
    """Add a header navigation button with a touch target of at least 44 px: icon and word, on a phone the icon alone
    (components/theme.py, .vigil-nav), its name the same at every width."""
    ui.button(label, icon=icon, on_click=lambda: ui.navigate.to(target)) \
        .props(f'flat no-caps color=white aria-label="{label}"').classes('min-h-[44px] vigil-nav')
