"""The wall display: `/kiosk?token=...` (or `#token=...`) for a screen on a ward wall, no user login.

Three routes:
- `GET /kiosk`: a small static page (no NiceGUI client) that keeps the display alive by itself: it opens the
  display session, embeds the board and reloads it after network blips and server restarts (see kiosk_shell.html).
- `POST /kiosk/session`: exchanges the kiosk token for a display session; the browser keeps the token, the
  server keeps only the token's id in the session, so the secret appears in no further address or log line.
- `/kiosk/display`: the live board, read-only; it re-checks its token on every reconnect and every shared tick.
  Every display of a hospital is in one room (components/live_rooms.py): an alert is rendered once and sent to all
  of them in one socket emit; a display that reconnects re-joins and the room reloads from the database.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from fastapi import Response
from fastapi.responses import HTMLResponse, JSONResponse
from nicegui import app as nicegui_app
from nicegui import context, ui
from pydantic import BaseModel, Field

from app.bootstrap import Vigil
from app.domain.actors import display_actor
from app.domain.scope import AccessScope
from app.errors import TokenInvalid
from app.schemas import Actor, AlertView
from components import kiosk_board, times
from components.alarm import KIOSK_AUDIBLE, AlarmState, alarm_state, unlock_line
from components.kiosk_board import KIOSK_VIEW, KioskBoard, invalid_token_screen
from components.live import LiveHub, PresenceEntry

SESSION_KEY = 'kiosk_token_id'
# A display whose network drops keeps its place on the server this long, so it resumes without a reload.
RECONNECT_SECONDS = 600.0
_SHELL = (Path(__file__).parent / 'kiosk_shell.html').read_text(encoding='utf-8')


class KioskSignIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)


def register(vigil: Vigil, hub: LiveHub) -> None:
    """Add the kiosk shell, its session route and the live display to the app."""

    @nicegui_app.get('/kiosk', include_in_schema=False)
    def shell() -> HTMLResponse:
        # Never cached: a display must pick up a new shell after an upgrade.
        return HTMLResponse(_SHELL, headers={'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer'})

    @nicegui_app.post('/kiosk/session', include_in_schema=False)
    async def open_session(body: KioskSignIn) -> Response:
        try:
            actor = await vigil.kiosk.sign_in(body.token)
        except TokenInvalid as error:
            nicegui_app.storage.user.pop(SESSION_KEY, None)
            return JSONResponse({'detail': error.message}, status_code=401)
        nicegui_app.storage.user[SESSION_KEY] = actor.token_id
        return Response(status_code=204, headers={'Cache-Control': 'no-store'})

    @ui.page('/kiosk/display', title='Vigil · Wall display', dark=True, reconnect_timeout=RECONNECT_SECONDS)
    async def display() -> None:
        kiosk_board.install()
        actor = await _resume(vigil, nicegui_app.storage.user.get(SESSION_KEY))
        if actor is None or actor.hospital_id is None:
            invalid_token_screen()
            return
        hospital = await vigil.hospitals.by_id(actor.hospital_id)
        times.install(vigil.clock())
        client = context.client
        token_id = actor.token_id
        revoked = False

        async def load() -> list[AlertView]:
            return await vigil.alerts.list_alerts(actor)

        async def still_valid() -> bool:
            nonlocal revoked
            if revoked or token_id is None:
                return False
            if await _resume(vigil, token_id) is not None:
                return True
            revoked = True
            board.close()
            # A revoked display goes quiet: a fresh carrier (the room no longer writes to it) with nothing waiting.
            alarm.carrier.delete()
            with client.content:
                quiet = AlarmState(title='Vigil · Wall display', audible=KIOSK_AUDIBLE, enabled=False, kiosk=True)
                quiet.carrier.props['data-state'] = json.dumps(alarm_state([]))
                invalid_token_screen()
            return False

        # Every wall display of the hospital shares one room: the scope of a display session is the hospital's.
        room = await hub.rooms.enter(client, KIOSK_VIEW, hospital.id, AccessScope.of(actor), load)
        board = KioskBoard(hospital.name, board_name(actor), hub.rooms, room, guard=still_valid)
        # A wall display sounds for every priority from the start: nobody is there to switch it on. Browsers still
        # want one tap first (or a kiosk browser started with --autoplay-policy=no-user-gesture-required). The
        # room writes the alarm state into the carrier (its `alarm` slot).
        alarm = AlarmState(title='Vigil · Wall display', audible=KIOSK_AUDIBLE, enabled=True, kiosk=True)
        alarm.carrier.props['data-room-slot'] = 'kiosk-alarm'
        alarm.carrier.props['data-state'] = room.slots['alarm']['attrs']['data-state']
        unlock_line(kiosk=True)
        channel = hub.channel(hospital.id)
        channel.tick.subscribe(still_valid)
        hub.join(hospital.id, PresenceEntry(
            client_id=client.id, user_id=None, name=board_name(actor), role='Wall display', wards=(), page='kiosk',
            since=datetime.now(UTC)))
        client.on_delete(lambda: hub.leave(hospital.id, client.id))


def board_name(actor: Actor) -> str:
    """Return the name a display goes by in the presence list (its token's name)."""
    return display_actor(actor.name)


async def _resume(vigil: Vigil, token_id: object) -> Actor | None:
    if not isinstance(token_id, int):
        return None
    try:
        return await vigil.kiosk.resume(token_id)
    except TokenInvalid:
        return None
