"""`/admin/webhooks`: for the hospital's administrators, outbound webhooks and what was sent to them."""

from fastapi.responses import RedirectResponse
from nicegui import ui

from app.bootstrap import Vigil
from app.domain import Role
from components import timestamps
from components.headings import heading
from components.live import LiveHub
from components.webhooks import WebhooksPanel

from .admin import STYLE, administrators_only
from .frame import staff_page, staff_session


def register(vigil: Vigil, hub: LiveHub) -> None:
    """Add the webhooks page to the app."""

    @ui.page('/admin/webhooks')
    async def webhooks_page() -> RedirectResponse | None:
        session = await staff_session(vigil, hub)
        if session is None:
            return RedirectResponse('/login')
        await staff_page(vigil, hub, session, 'Webhooks', 'webhooks')
        if session.user.role is not Role.ADMIN:
            administrators_only(session)
            return None
        ui.add_head_html(STYLE)
        timestamps.install()
        with ui.element('div').classes('vigil-page column gap-3 q-pa-md'):
            with ui.row().classes('items-center gap-2'):
                ui.button(icon='arrow_back', on_click=lambda: ui.navigate.to('/admin')) \
                    .props('flat round aria-label="Administration"').classes('min-h-[44px]')
                heading(f'Webhooks · {session.hospital.name}').classes('text-h5')
            panel = WebhooksPanel(vigil.webhooks, session.acting, session.wards)
        await panel.show()
        return None
