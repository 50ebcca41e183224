"""Sign-in throttles on /admin: who is being made to wait after failed sign-ins, and a Clear button for each."""

from collections.abc import Awaitable, Callable

from nicegui import ui

from app.errors import DomainError
from app.schemas import Actor, ThrottleView
from app.services.sign_in_throttle import SignInThrottleService

from . import timestamps
from .headings import heading

Acting = Callable[[], Awaitable[Actor]]


def describe(view: ThrottleView) -> str:
    """Return what a throttle counts, in words."""
    if view.username and view.address:
        return f'{view.username} from {view.address}'
    if view.username:
        return f'{view.username} from any address'
    return f'any account from {view.address}'


class SignInThrottles:
    """The panel: one row per throttle (what it counts, failures, blocked until), refreshed after each change."""

    def __init__(self, throttles: SignInThrottleService, acting: Acting) -> None:
        self._throttles = throttles
        self._acting = acting
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Sign-in throttles"'):
            with ui.row().classes('items-center w-full'):
                heading('Sign-in throttles', 2).classes('vigil-panel-title')
                ui.space()
                ui.button('Refresh', icon='refresh', on_click=self.show).props('flat no-caps').classes('min-h-[44px]')
            self._rows = ui.column().classes('w-full gap-1').mark('admin-throttles')
            self._status = ui.label().classes('text-caption').props('role=status')
            ui.label('Failed sign-ins slow down the client that made them (up to 15 minutes) and, briefly, the '
                     'account (up to 30 s). Clearing forgets the failures at once.').classes('text-caption text-grey-7')

    async def show(self) -> None:
        """Load the current throttles and draw them."""
        try:
            views = await self._throttles.current(await self._acting())
        except DomainError as error:
            self._status.set_text(error.message)
            return
        self._rows.clear()
        with self._rows:
            if not views:
                ui.label('Nobody is being slowed down after failed sign-ins.').classes('text-grey-7')
            for view in views:
                key = f'{view.username or "*"}@{view.address or "*"}'
                with ui.row().classes('items-center w-full gap-3'):
                    ui.label(f'{describe(view)}: {view.failures:g} recent failure(s)').mark(f'throttle:{key}')
                    if view.blocked_until is not None:
                        ui.html(f'waits until {timestamps.datetime_html(view.blocked_until)}', sanitize=False)
                    ui.space()
                    ui.button('Clear', on_click=lambda v=view: self.clear(v)) \
                        .props(f'outline no-caps aria-label="Clear sign-in throttle: {describe(view)}"') \
                        .classes('min-h-[44px]').mark(f'clear-throttle:{key}')

    async def clear(self, view: ThrottleView) -> None:
        """Forget the failures this row counts (for an account: from every address; for an address: every account)."""
        try:
            await self._throttles.clear(await self._acting(), username=view.username, address=view.address)
        except DomainError as error:
            self._status.set_text(f'Not cleared: {error.message}')
            return
        self._status.set_text(f'Cleared: {describe(view)}.')
        await self.show()
