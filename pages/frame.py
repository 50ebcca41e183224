"""What every staff page shares: the session check, the header with navigation, presence and the connection state."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app as nicegui_app
from nicegui import context, ui
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from app.bootstrap import Vigil
from app.domain import Role
from app.schemas import Actor, UserView
from components import theme, times
from components.activity import track_activity
from components.connection import connection_indicator
from components.live import LiveHub, PresenceEntry
from components.preferences import Preferences
from components.session import ROLE_LABELS, StaffSession
from components.toasts import AlertToasts

__all__ = ['ROLE_LABELS', 'AuthMiddleware', 'StaffFrame', 'StaffSession', 'reload_after_reconnect',
           'sign_in_session', 'sign_out_session', 'staff_page', 'staff_session']

# Paths anyone may open: sign-in, the token-authenticated kiosk, NiceGUI's own assets and the HTTP API
# (which checks its bearer tokens itself).
PUBLIC_PREFIXES = ('/login', '/kiosk', '/_nicegui', '/api/', '/healthz', '/readyz', '/metrics', '/docs', '/redoc',
                   '/openapi.json', '/favicon.ico')


class AuthMiddleware(BaseHTTPMiddleware):
    """Send every request for a staff page without a signed-in session to the sign-in page."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if not path.startswith(PUBLIC_PREFIXES) and 'user_id' not in nicegui_app.storage.user:
            target = '/login' if path == '/' else f'/login?next={quote(path)}'
            return RedirectResponse(target)
        return await call_next(request)


def sign_in_session(user: UserView, now: datetime) -> None:
    """Store a fresh sign-in in the browser's server-side storage."""
    storage = nicegui_app.storage.user
    storage.clear()
    storage.update(user_id=user.id, hospital_id=user.hospital_id, signed_in_at=now.isoformat())


def sign_out_session() -> None:
    """Forget the sign-in of this browser (every tab of it)."""
    for key in ('user_id', 'hospital_id', 'signed_in_at'):
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
    toasts: AlertToasts


def staff_page(vigil: Vigil, hub: LiveHub, session: StaffSession, title: str, page_name: str) -> StaffFrame:
    """Build what every staff page shares: header, toasts, presence, and leaving when the sign-in ends."""
    ui.page_title(f'{title} · Vigil')
    ui.colors(primary='#0b5cad')
    theme.install()
    times.install(vigil.clock())
    client = context.client
    hub.join(session.hospital.id, PresenceEntry(
        client_id=client.id, user_id=session.user.id, name=session.user.display_name, role=session.role_label,
        wards=session.own_ward_names, page=page_name, since=datetime.now(UTC)))
    client.on_delete(lambda: hub.leave(session.hospital.id, client.id))
    track_activity(client, hub)  # the connections page shows when each browser last did something
    prefs = Preferences(session.user.id)
    toasts = AlertToasts(session, prefs)
    session.channel.alerts.subscribe(toasts.receive)

    def signed_out_elsewhere(user_id: int) -> None:
        if user_id == session.user.id:
            ui.navigate.to('/login')

    def check_expiry() -> None:
        # The page re-checks the sign-in when it is loaded; this catches the tab left open past the end of the shift.
        lifetime = timedelta(hours=vigil.settings.session_hours)
        if session.signed_in_at is not None and vigil.clock() - session.signed_in_at > lifetime:
            ui.navigate.to('/login')

    session.channel.signed_out.subscribe(signed_out_elsewhere)
    session.channel.tick.subscribe(check_expiry)

    async def sign_out(everywhere: bool) -> None:
        if everywhere:
            await vigil.users.end_all_sessions(session.actor)
        sign_out_session()
        if everywhere:
            await hub.announce_sign_out(session.hospital.id, session.user.id)  # pages on every process leave
        ui.navigate.to('/login')

    def toggle_sound() -> None:
        toasts.set_sound(not toasts.sound)
        sound.set_text(sound_label())

    def sound_label() -> str:
        return f'Sound for critical alerts: {"on" if toasts.sound else "off"}'

    with ui.header(elevated=True).classes('items-center gap-2 px-3 py-1 bg-primary text-white'):
        ui.link('Vigil', '/').classes('text-h6 text-weight-bold text-white no-underline')
        ui.label(session.hospital.name).classes('text-subtitle2 opacity-80 gt-sm')
        with ui.row().classes('gap-1 items-center'):
            nav_link('Dashboard', '/', 'dashboard')
            nav_link('Audit', '/audit', 'history')
            if session.user.role is Role.ADMIN:
                nav_link('Admin', '/admin', 'settings')
        ui.space()
        connection_indicator()
        account = ui.button(icon='account_circle').props('flat round color=white size=md aria-label="Account"') \
            .classes('vigil-touch').mark('account')
        with account, ui.menu().props('anchor="bottom right" self="top right"'):
            with ui.column().classes('px-4 py-2 gap-0'):
                ui.label(session.user.display_name).classes('text-weight-bold')
                wards = ', '.join(session.own_ward_names) or 'all wards'
                ui.label(f'{session.role_label} · {wards}').classes('text-caption text-grey-7')
            ui.separator()
            with ui.menu_item(on_click=toggle_sound, auto_close=False).classes('vigil-touch').mark('sound'):
                sound = ui.item_section(sound_label())
            ui.separator()
            ui.menu_item('Log out', lambda: sign_out(False)).classes('vigil-touch').mark('logout')
            ui.menu_item('Log out on all devices', lambda: sign_out(True)).classes('vigil-touch') \
                .mark('logout-everywhere')
    return StaffFrame(prefs=prefs, toasts=toasts)


def reload_after_reconnect(reload: Callable[[], Awaitable[None]]) -> None:
    """Reload a page's state from the database after its socket came back: events may have been missed meanwhile."""
    client = context.client
    lost = False

    def disconnected() -> None:
        nonlocal lost
        lost = True

    async def connected() -> None:
        nonlocal lost
        if lost:
            lost = False
            await reload()

    # NOTE: on_disconnect fires on every socket drop, also one that reconnects; on_connect also on the first connect.
    client.on_disconnect(disconnected)
    client.on_connect(connected)


def nav_link(label: str, target: str, icon: str) -> None:
    """Add a header navigation button with a touch target of at least 44 px."""
    ui.button(label, icon=icon, on_click=lambda: ui.navigate.to(target)) \
        .props('flat no-caps color=white').classes('min-h-[44px] gt-xs')
    ui.button(icon=icon, on_click=lambda: ui.navigate.to(target)) \
        .props(f'flat round color=white aria-label="{label}"').classes('min-h-[44px] lt-sm')
