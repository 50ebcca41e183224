"""Sign-in and sign-out."""

from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import app as nicegui_app
from nicegui import ui

from app.bootstrap import Vigil
from app.client_address import client_address
from app.errors import AuthenticationFailed
from components import dark_theme, focus
from components.headings import heading

from . import pwa
from .browser_ids import COMPLETE_PATH, finish_sign_in, forget_browser, park_sign_in

UNFINISHED = 'The sign-in did not finish: please log in again.'


def safe_next(target: str | None) -> str:
    """Return a same-origin path to continue to after sign-in; anything else (another site, however spelled) is '/'.

    NOTE: browsers read a backslash as a slash and drop tabs and newlines inside addresses, so `/\\evil.example`
    and a tab between two slashes lead off-site although neither starts with `//`: only printable paths without
    backslashes whose second character is not a slash survive.
    """
    if not target or not target.startswith('/') or target.startswith('//'):
        return '/'
    if '\\' in target or any(ord(c) < 0x21 or ord(c) == 0x7F for c in target):
        return '/'
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return '/'
    return target


# Why an open page sent its browser here (`/login?ended=...`, pages/frame.py); fixed words, never text from the address.
ENDED = {
    'deactivated': 'Your account has been deactivated. Ask an administrator of your hospital if you need it again.',
    'signed_out': 'You were signed out on all devices. Sign in again to continue.',
    'expired': 'Your sign-in has expired. Sign in again to continue.',
    'logged_out': 'You have logged out.',
}


def register(vigil: Vigil) -> None:
    """Add /login, the request that finishes a sign-in, and /logout to the app."""

    @nicegui_app.get('/logout', include_in_schema=False)
    def logout(request: Request, ended: str | None = None) -> RedirectResponse:
        forget_browser(request)  # the browser's next page gets a new id: a copy of the old cookie is worth nothing
        target = f'/login?ended={ended}' if ended in ENDED else '/login'  # only the fixed reasons, never other text
        return RedirectResponse(target, status_code=303, headers={'Cache-Control': 'no-store'})

    @nicegui_app.get(COMPLETE_PATH, include_in_schema=False)
    async def complete(request: Request, ticket: str = '', next: str | None = None) -> RedirectResponse:
        # NOTE: reached from the sign-in form below, which parks the sign-in (browser_ids.park_sign_in).
        target = safe_next(next)
        if not await finish_sign_in(request, ticket, vigil.clock()):
            target = f'/login?{urlencode({"unfinished": "1"} | ({"next": target} if target != "/" else {}))}'
        return RedirectResponse(target, status_code=303, headers={'Cache-Control': 'no-store'})

    @ui.page('/login', title='Vigil · Sign in')
    def login(request: Request, next: str | None = None, ended: str | None = None,
              unfinished: str | None = None) -> None:
        # The page's own request: the socket's peer, or the client a trusted proxy names (sign-in throttling).
        address = client_address(request.client.host if request.client else None,
                                 request.headers.getlist('x-forwarded-for'), vigil.settings.trusted_networks)

        def refuse(text: str) -> None:
            message.set_text(text)
            message.classes(replace='text-center text-negative')

        async def sign_in() -> None:
            if not (username.value or '').strip() or not password.value:
                refuse('Enter your username and password.')
                return
            button.disable()
            try:
                user = await vigil.users.authenticate(username.value, password.value, address=address)
            except AuthenticationFailed as error:
                refuse(error.message)
                password.set_value('')
                return
            finally:
                button.enable()
            # The sign-in ends on an HTTP request that gives this browser a new id: see pages/browser_ids.py.
            ui.navigate.to(park_sign_in(user, vigil.clock(), safe_next(next)))

        dark_theme.install()  # nobody is signed in yet: the system's choice
        pwa.install()
        ui.colors(primary='#0b5cad')  # the staff pages' blue: NiceGUI's lighter default fails 4.5:1 under white text
        focus.install()
        with ui.column().classes('absolute-center items-stretch w-80 gap-4'):
            heading('Vigil').classes('text-h4 text-weight-bold text-center')
            ui.label('Hospital alert system').classes('text-subtitle1 text-grey-7 text-center -mt-3')
            username = ui.input('Username').props('outlined autocomplete=username autofocus')
            password = ui.input('Password', password=True).props('outlined autocomplete=current-password')
            button = ui.button('Log in', on_click=sign_in).props('unelevated no-caps size=lg')
            message = ui.label(ENDED.get(ended or '', '')).classes('text-center').props('role=alert') \
                .mark('login-message')
            if unfinished:  # the ticket was used, expired, or the browser's cookie changed in between
                message.set_text(UNFINISHED)
                message.classes(replace='text-center text-negative')
            password.on('keydown.enter', sign_in)
