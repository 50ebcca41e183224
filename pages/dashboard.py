"""The dashboard (`/`): metrics, the Alert List, the Patient Cards and who is online, all live."""

import asyncio

from fastapi.responses import RedirectResponse
from nicegui import app as nicegui_app
from nicegui import context, ui

from app.bootstrap import Vigil
from app.events.models import AlertEventBase
from app.schemas import AlertFilter, AlertView, PatientView
from components.alert_list import AlertList, alerts_view
from components.card_grid import PatientCards
from components.headings import heading
from components.live import LiveHub
from components.metrics_overview import MetricsFeed, MetricsOverview
from components.presence import PresenceList
from components.raise_alert import RaiseAlertDialog

from .frame import reload_after_reconnect, staff_page, staff_session


def register(vigil: Vigil, hub: LiveHub, feed: MetricsFeed) -> None:
    """Add the dashboard page to the app."""
    nicegui_app.state.metrics_feed = feed  # NOTE: tests look for leaked subscriptions here

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
        raise_dialog = RaiseAlertDialog(vigil.alerts, vigil.patients, session)
        # The header says where this is; the heading is for screen readers (the design has no room for a title).
        heading(f'Dashboard · {session.hospital.name}').classes('sr-only')
        # The grid's areas are the blocks' own elements (fewer wrappers: each element costs every open page memory).
        with ui.element('div').classes('vigil-page vigil-dash'):
            metrics = MetricsOverview(feed, hub, session)
            metrics.element.classes('vigil-area-metrics min-w-0')
            # Alerts and presence share one column beside the patients (on narrow screens they join the grid).
            with ui.element('div').classes('vigil-area-side'):
                alerts = AlertList(vigil.alerts, session, vigil.clock, frame.prefs, hub.rooms, room,
                                   on_raise=raise_dialog.open)
                alerts.element.classes('vigil-area-alerts min-w-0')
                presence = PresenceList(hub, session)
                presence.element.classes('vigil-area-presence min-w-0')
            with ui.element('div').classes('vigil-area-patients min-w-0'):
                PatientCards(hub.card_rooms, cards_room, session, frame.prefs, on_raise=raise_dialog.open)

        channel = session.channel

        def on_alert(event: AlertEventBase) -> None:
            # The rows and the patient's card went out through their rooms (the hub fed them first).
            metrics.alerts_changed()

        def on_tick() -> None:
            metrics.alerts_changed()  # "last hour" and "last 24 h" slide even when nothing happens

        reloading = asyncio.Lock()

        async def reload(*, rows: bool = True) -> None:
            async with reloading:  # a resync and a reconnect at once must not interleave their snapshots
                # The cards' room reloads on its own: on a resync (the hub) and on a reconnect (its store).
                if rows:
                    await alerts.reload()
                await metrics.load()

        # Subscribe first, then load: whatever happens in between is buffered and applied if newer than the load.
        channel.alerts.subscribe(on_alert)
        channel.presence.subscribe(presence.refresh)
        channel.presence.subscribe(metrics.staff_changed)
        channel.resync.subscribe(reload)
        channel.tick.subscribe(on_tick)
        metrics.subscribe()
        reload_after_reconnect(reload)
        frame.queue.subscribe(alerts.queued_outcome)  # acknowledgements taken while offline
        await reload(rows=False)  # the room has just been loaded (or was already, for another page)
        return None
