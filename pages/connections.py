"""`/admin/connections`: for the hospital's administrators, the sessions open right now (on every process with Redis).
"""

import socket

from fastapi.responses import RedirectResponse
from nicegui import app as nicegui_app
from nicegui import context, ui

from app.bootstrap import Vigil
from app.domain import Role
from app.session_directory import SessionDirectory
from components.connections import ConnectionsPanel, share_snapshot
from components.headings import heading
from components.live import LiveHub

from .admin import STYLE, administrators_only
from .frame import staff_page, staff_session

_STYLE = '''
<style>
.vigil-connections-counts { display: grid; gap: 16px; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); }
.vigil-count { text-align: right; width: 6rem; }
/* On a phone the table has no header row: say which age is which. */
@media (max-width: 799px) { .vigil-conn-age::before { content: attr(data-label) ' '; color: #546e7a; } }
</style>
'''


def register(vigil: Vigil, hub: LiveHub) -> None:
    """Add the connection analytics page to the app (and, with Redis, share this process's sessions)."""
    settings = vigil.settings
    process = f'{socket.gethostname()}:{settings.port}'
    directory = None
    if settings.redis_url:
        directory = SessionDirectory(settings.redis_url, prefix=settings.redis_prefix, process=process)
        nicegui_app.on_startup(lambda: directory.start(lambda: share_snapshot(hub, process)))
        nicegui_app.on_shutdown(directory.close)
    nicegui_app.state.sessions = directory  # NOTE: tests reach the directory through this

    @ui.page('/admin/connections')
    async def connections_page() -> RedirectResponse | None:
        session = await staff_session(vigil, hub)
        if session is None:
            return RedirectResponse('/login')
        await staff_page(vigil, hub, session, 'Connections', 'connections')
        if session.user.role is not Role.ADMIN:
            administrators_only(session)
            return None
        ui.add_head_html(STYLE + _STYLE)
        with ui.element('div').classes('vigil-page column gap-3 q-pa-md'):
            with ui.row().classes('items-center gap-2'):
                ui.button(icon='arrow_back', on_click=lambda: ui.navigate.to('/admin')) \
                    .props('flat round aria-label="Administration"').classes('min-h-[44px]')
                heading(f'Connections · {session.hospital.name}').classes('text-h5')
            panel = ConnectionsPanel(hub, session, context.client.id, process, directory)
        await panel.refresh()
        return None
