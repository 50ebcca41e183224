"""The dashboard (`/`): metrics, the Alert List, the Patient Cards and who is online, all live."""

import asyncio

from fastapi.responses import RedirectResponse
from nicegui import app as nicegui_app
from nicegui import context, ui

from app.bootstrap import Vigil
from app.schemas import AlertFilter, AlertView, PatientView
from components.alert_list import AlertList, alerts_view
from components.block_rooms import BlockStore
from components.card_grid import PatientCards
from components.headings import heading
from components.live import LiveHub
from components.metrics_overview import TILES, MetricsFeed
from components.presence import PresenceList, PresenceRooms
from components.raise_alert import RaiseAlertDialog

from .frame import reload_after_reconnect, staff_page, staff_session


def register(vigil: Vigil, hub: LiveHub, feed: MetricsFeed) -> None:
    """Add the dashboard page to the app."""
    nicegui_app.state.metrics_feed = feed  # NOTE: tests look for leaked subscriptions here
    # The tiles and who is online: one block per scope (per hospital) for all its pages; the hub tells them the news.
    presence_rooms = PresenceRooms(hub)
    hub.follow(feed)
    hub.follow(presence_rooms)

    @ui.page('/')
    async def dashboard() -> RedirectResponse | None:
        session = await staff_session(vigil, hub)
        if session is None:
            return RedirectResponse('/login')
        async def load() -> list[AlertView]:
            return await vigil.alerts.list_alerts(session.actor, AlertFilter())

        # The Alert List's room: every dashboard of this hospital with the same scope and role shows the same rows.
        room = await hub.rooms.enter(context.client, alerts_view(session.user.role), session.hospital.id,
                                     session.scope, load)

        async def load_cards() -> tuple[list[PatientView], list[AlertView]]:
            return await vigil.patients.list_patients(session.actor), await load()

        # The Patient Cards' room: every dashboard of this hospital with the same scope shows the same cards.
        cards_room = await hub.card_rooms.enter(context.client, session.hospital.id, session.scope, load_cards)

        frame = await staff_page(vigil, hub, session, 'Dashboard', 'dashboard')
        # After the frame: it puts this page's user among those online (the staff tile and the presence list).
        metrics_room = await feed.enter(context.client, session)
        presence_room = await presence_rooms.enter(context.client, session.hospital.id)
        raise_dialog = RaiseAlertDialog(vigil.alerts, vigil.patients, session)
        # The header says where this is; the heading is for screen readers (the design has no room for a title).
        heading(f'Dashboard · {session.hospital.name}').classes('sr-only')
        # The grid's areas are the blocks' own elements (fewer wrappers: each element costs every open page memory).
        with ui.element('div').classes('vigil-page vigil-dash'):
            # NOTE: each tile's marker stays on the block (tests find a tile by its data-metric).
            BlockStore(feed, metrics_room).classes('vigil-area-metrics min-w-0') \
                .mark(' '.join(['metrics', *(f'metric-{name}' for name in TILES)]))
            # Alerts and presence share one column beside the patients (on narrow screens they join the grid).
            with ui.element('div').classes('vigil-area-side'):
                alerts = AlertList(vigil.alerts, session, vigil.clock, frame.prefs, hub.rooms, room,
                                   on_raise=raise_dialog.open)
                alerts.element.classes('vigil-area-alerts min-w-0')
                presence = PresenceList(presence_rooms, presence_room, session)
                presence.element.classes('vigil-area-presence min-w-0')
            PatientCards(hub.card_rooms, cards_room, session, frame.prefs, on_raise=raise_dialog.open) \
                .element.classes('vigil-area-patients min-w-0')

        reloading = asyncio.Lock()

        async def reload() -> None:
            async with reloading:  # a resync and a reconnect at once must not interleave their snapshots
                # The rooms of the cards, the tiles and presence reload on their own: on a resync (the hub) and on
                # a reconnect (their stores); the alert rows too, and this page lays its own rows over them again.
                await alerts.reload()

        # The page does no work per alert: the rooms were fed by the hub, the tiles' feed was told once per hospital.
        session.channel.resync.subscribe(reload)
        reload_after_reconnect(reload)
        frame.queue.subscribe(alerts.queued_outcome)  # acknowledgements taken while offline
        return None
