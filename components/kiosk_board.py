"""The wall display's board: the hospital's open alerts by urgency, in type readable across a ward corridor.

Sized in viewport units so that a fixed number of rows fills any wall screen; the rest is summed up in the
footer. Every wall display of a hospital shows the same room (live_rooms.py): each row is rendered once per room
on the server and kept, sorted and painted by the browser's store; counts, footer and alarm state are the room's
slots. Flashing follows IEC 60601-1-8: an unanswered critical alert
flashes at 2 Hz (the standard's high priority, 1.4-2.8 Hz), unanswered high and medium ones at 0.6 Hz (its medium
priority, 0.4-0.8 Hz), low ones stay steady. An acknowledged alert stops flashing (somebody is on it) but keeps
its colour and its row. With reduced motion asked for, the flashing becomes a slow pulse of the priority label,
and critical rows get a heavy outline instead; nothing is hidden.
"""

import json
from collections import Counter
from datetime import datetime, timedelta
from html import escape

from nicegui import ui

from app.domain import AlertStatus, Priority
from app.domain.actors import display_actor
from app.schemas import AlertView

from .alarm import alarm_state
from .assets import Asset
from .connection import connection_indicator
from .headings import heading
from .live_rooms import LiveRooms, Room, Slots
from .room_store import Guard, RoomStore
from .theme import PRIORITY_LABELS, priority_css
from .times import age_html

ROWS = 8

_STYLE = '''
body { background: #0b0f14; }
.vigil-kiosk { position: fixed; inset: 0; display: flex; flex-direction: column; background: #0b0f14;
  color: #e8edf2; font-family: system-ui, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  padding: 1.2vh 1.4vw; gap: 1vh; overflow: hidden; }
.vigil-kiosk-top { display: flex; align-items: center; gap: 2vw; height: 9vh; flex: none; }
.vigil-kiosk-name { font-size: 3.8vh; flex: 1 1 auto; font-weight: 800; line-height: 1.1; white-space: nowrap;
  overflow: hidden; text-overflow: ellipsis; min-width: 0; }
.vigil-kiosk-counts { display: flex; gap: .8vw; flex-wrap: nowrap; flex: none; }
.vigil-kiosk-count { font-size: 2.6vh; font-weight: 800; padding: .4vh 1vw; border-radius: 1vh; white-space: nowrap;
  background: #1c2430; color: #8b98a8; }
.vigil-kiosk-clock { font-size: 6vh; font-weight: 800; font-variant-numeric: tabular-nums;
  line-height: 1; white-space: nowrap; }
.vigil-kiosk-date { font-size: 2.2vh; color: #8b98a8; text-align: right; }
.vigil-kiosk-count:not(.vigil-kiosk-count-on) { display: none; }
.vigil-kiosk-count-critical.vigil-kiosk-count-on { background: var(--vigil-critical);
  color: var(--vigil-critical-text); }
.vigil-kiosk-count-high.vigil-kiosk-count-on { background: var(--vigil-high); color: var(--vigil-high-text); }
.vigil-kiosk-count-medium.vigil-kiosk-count-on { background: var(--vigil-medium); color: var(--vigil-medium-text); }
.vigil-kiosk-count-low.vigil-kiosk-count-on { background: var(--vigil-low); color: var(--vigil-low-text); }
.vigil-kiosk .vigil-conn { font-size: 2.4vh; min-height: 4.4vh; padding: .6vh 1.2vw; }
.vigil-kiosk .vigil-conn-dot { width: 1.6vh; height: 1.6vh; }
.vigil-kiosk-list { flex: 1; display: grid; grid-template-rows: repeat(8, minmax(0, 1fr)); gap: .8vh; min-height: 0; }
.vigil-kiosk-row { display: flex; align-items: stretch;
  border-radius: 1vh; background: #161d27; overflow: hidden; min-height: 0; }
.vigil-kiosk-prio { flex: 0 0 15vw; display: flex; flex-direction: column; align-items: center; justify-content: center;
  font-size: 3.4vh; font-weight: 900; letter-spacing: .05em; text-transform: uppercase; line-height: 1.1; }
.vigil-kiosk-prio small { font-size: 2.1vh; font-weight: 800; letter-spacing: 0; text-transform: none; }
.vigil-kiosk-row > * { min-height: 0; overflow: hidden; }
.vigil-kiosk-main { flex: 0 1 auto; padding: .6vh 1.4vw; min-width: 0; display: flex; flex-direction: column;
  justify-content: center; }
/* Bed, patient and message come first: the main column takes the width its text needs, the status column the
   rest (at least what "Not acknowledged" and the age need; a long "Acknowledged · ..." is cut there). Only when
   even that does not fit does the main column give way: the ward first, then the message and the name. */
.vigil-kiosk-who { font-size: 3.9vh; font-weight: 800; line-height: 1.15; white-space: nowrap; display: flex;
  align-items: baseline; gap: .7vw; min-width: 0; }
.vigil-kiosk-patient { flex: 0 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; }
.vigil-kiosk-ward { flex: 0 100000 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; font-size: 3vh;
  font-weight: 700; opacity: .7; }
.vigil-kiosk-msg { font-size: 3.2vh; line-height: 1.15; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
.vigil-kiosk-side { padding: .6vh 1.4vw; display: flex; flex-direction: column; justify-content: center;
  align-items: flex-end; gap: .4vh; font-size: 2.6vh; line-height: 1.15; white-space: nowrap;
  flex: 1 1 19vw; min-width: 19vw; max-width: 42vw; margin-left: auto; }
.vigil-kiosk-side > * { max-width: 100%; overflow: hidden; text-overflow: ellipsis; }
.vigil-kiosk-age { font-size: 3.2vh; line-height: 1.15; font-weight: 800; font-variant-numeric: tabular-nums; }
.vigil-kiosk-state-active { color: #ff8a80; font-weight: 800; }
.vigil-kiosk-critical.vigil-kiosk-active .vigil-kiosk-state-active { color: #fff; }
.vigil-kiosk-state-acknowledged { color: #90caf9; font-weight: 700; }
.vigil-kiosk-critical .vigil-kiosk-prio { --prio: var(--vigil-critical); background: var(--prio);
  color: var(--vigil-critical-text); box-shadow: inset 0 0 0 .3vh #fff; }
.vigil-kiosk-high .vigil-kiosk-prio { --prio: var(--vigil-high); background: var(--prio);
  color: var(--vigil-high-text); }
.vigil-kiosk-medium .vigil-kiosk-prio { --prio: var(--vigil-medium); background: var(--prio);
  color: var(--vigil-medium-text); }
.vigil-kiosk-low .vigil-kiosk-prio { --prio: var(--vigil-low); background: var(--prio); color: var(--vigil-low-text); }
.vigil-kiosk-critical.vigil-kiosk-active { background: #7f1010; animation: vigil-kiosk-fast 0.5s steps(1) infinite; }
.vigil-kiosk-high.vigil-kiosk-active .vigil-kiosk-prio,
.vigil-kiosk-medium.vigil-kiosk-active .vigil-kiosk-prio { animation: vigil-kiosk-slow 1.667s steps(1) infinite; }
@keyframes vigil-kiosk-fast { 0% { background: #b71c1c; } 50% { background: #2a0707; } }
/* The label's dark phase is white on the row's own dark background framed in its colour: readable in both phases
   (a dimmed label once fell to about 2:1). */
@keyframes vigil-kiosk-slow { 0% { background: var(--prio); } 50% { background: #161d27; color: #fff;
  box-shadow: inset 0 0 0 .5vh var(--prio); } }
@media (prefers-reduced-motion: reduce) {
  .vigil-kiosk-critical.vigil-kiosk-active { animation: none; background: #7f1010; box-shadow: inset 0 0 0 .6vh #fff; }
  .vigil-kiosk-active .vigil-kiosk-prio { animation: vigil-kiosk-slow 4s steps(1) infinite !important; }
}
.vigil-kiosk-empty { grid-row: 1 / -1; display: flex; flex-direction: column; align-items: center;
  justify-content: center; font-size: 6vh; font-weight: 800; color: #81c784; gap: 1vh; }
.vigil-kiosk-empty small { font-size: 2.8vh; color: #8b98a8; font-weight: 600; }
.vigil-kiosk-foot { flex: none; height: 4.6vh; display: flex; align-items: center; gap: 2vw; font-size: 2.6vh;
  color: #8b98a8; white-space: nowrap; }
.vigil-kiosk-more { color: #e8edf2; font-weight: 800; }
.vigil-kiosk-invalid { position: fixed; inset: 0; display: flex; flex-direction: column; align-items: center;
  justify-content: center; text-align: center; background: #0b0f14; color: #e8edf2; padding: 5vh 5vw; gap: 2vh; }
.vigil-kiosk-invalid h1 { font-size: 6vh; font-weight: 800; margin: 0; line-height: 1.2; }
.vigil-kiosk-invalid p { font-size: 3vh; color: #8b98a8; margin: 0; }
/* A display on its side: the width is the scarce dimension, so type follows it (vw); the status goes under the
   patient, and the message may take two lines. */
@media (max-aspect-ratio: 1/1) {
  .vigil-kiosk-top { height: 7vh; gap: 3vw; } .vigil-kiosk-counts { display: none; }
  .vigil-kiosk-name { font-size: 4.6vw; } .vigil-kiosk-clock { font-size: 8vw; }
  .vigil-kiosk-date { font-size: 2.6vw; white-space: nowrap; }
  .vigil-kiosk .vigil-conn { font-size: 3vw; }
  .vigil-kiosk-row { display: grid; grid-template-columns: 20vw minmax(0, 1fr);
    grid-template-rows: minmax(0, 1fr) auto; }
  /* "CRITICAL" and "escalated · level 1" fit the 20vw label of a portrait (phone-narrow) display */
  .vigil-kiosk-prio { grid-row: 1 / span 2; font-size: 3.1vw; letter-spacing: 0; padding: 0 .5vw; text-align: center; }
  .vigil-kiosk-prio small { font-size: 2.3vw; }
  .vigil-kiosk-main { padding: .4vh 2.4vw 0; }
  .vigil-kiosk-who { font-size: 4.4vw; } .vigil-kiosk-ward { font-size: 3.2vw; }
  .vigil-kiosk-msg { font-size: 3.6vw; white-space: normal; display: -webkit-box; -webkit-line-clamp: 2;
    -webkit-box-orient: vertical; }
  .vigil-kiosk-side { flex-direction: row; justify-content: flex-start; align-items: baseline; gap: 3vw;
    padding: 0 2.4vw .4vh; min-width: 0; max-width: none; margin: 0; font-size: 2.8vw; }
  .vigil-kiosk-age { font-size: 2.8vw; flex: none; }
  .vigil-kiosk-foot { font-size: 2.6vw; }
}
'''

# The clock runs in the browser: no server timer per display. A heartbeat tells the page that embeds the display
# (the kiosk shell) that this page is alive and connected, so it can reload it after an outage.
_SCRIPT = '''(() => {
  // 24-hour time, as clinical records use it, whatever the display's locale would pick.
  const time = new Intl.DateTimeFormat([], {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});
  const day = new Intl.DateTimeFormat([], {weekday: 'long', day: 'numeric', month: 'long'});
  function tick() {
    const now = new Date();
    const clock = document.getElementById('vigil-kiosk-clock');
    const date = document.getElementById('vigil-kiosk-date');
    if (clock) clock.textContent = time.format(now);
    if (date) date.textContent = day.format(now);
  }
  function beat() {
    const invalid = !!document.querySelector('.vigil-kiosk-invalid');
    const live = !!(window.socket && window.socket.connected && window.did_handshake);
    window.parent.postMessage({vigilKiosk: 1, live: live && !invalid, invalid: invalid}, location.origin);
  }
  setInterval(tick, 1000);
  setInterval(beat, 2000);
  document.addEventListener('DOMContentLoaded', tick);
})();
'''


KIOSK_CSS = Asset('kiosk.css', 'text/css', priority_css() + _STYLE)
KIOSK_JS = Asset('kiosk.js', 'text/javascript', _SCRIPT)


def install() -> None:
    """Link the board's styles and script from the page (files the browser caches, not copies kept per page)."""
    ui.add_head_html(KIOSK_CSS.stylesheet_tag())
    ui.add_body_html(KIOSK_JS.script_tag())


def invalid_token_screen() -> None:
    """Fill the screen with the one message a display with a bad token shows (and nothing else)."""
    with ui.element('div').classes('vigil-kiosk-invalid').props('role=alert').mark('kiosk-invalid'):
        ui.html("<h1>This display's token is not valid</h1>", sanitize=False)
        ui.html('<p>Ask IT to set this display up again with a kiosk token.</p>', sanitize=False)


def row_html(alert: AlertView, now: datetime) -> str:
    """Return what one row of the board says (every value from outside is escaped)."""
    if alert.patient_id is not None:
        who = (f'<span class="vigil-kiosk-patient">{escape(alert.bed or "?")} · {escape(alert.patient_name or "")}'
               f'</span><span class="vigil-kiosk-ward">({escape(alert.ward_name)})</span>')
    else:
        who = f'<span class="vigil-kiosk-patient">{escape(alert.ward_name)} · whole ward</span>'
    if alert.status is AlertStatus.ACKNOWLEDGED:
        by = escape(display_actor(alert.acknowledged_by))
        state = f'<span class="vigil-kiosk-state-acknowledged" title="{by}">Acknowledged · {by}</span>'
    else:
        state = '<span class="vigil-kiosk-state-active">Not acknowledged</span>'
    escalated = f'<small>escalated · level {alert.escalation_level}</small>' if alert.escalation_level else ''
    return (f'<div class="vigil-kiosk-prio">{PRIORITY_LABELS[alert.priority]}{escalated}</div>'
            f'<div class="vigil-kiosk-main"><div class="vigil-kiosk-who">{who}</div>'
            f'<div class="vigil-kiosk-msg">{escape(alert.message)}</div></div>'
            f'<div class="vigil-kiosk-side">{age_html(alert.created_at, now, "vigil-kiosk-age")}{state}'
            '</div>')


def row_element(alert: AlertView, now: datetime) -> str:
    """Return one row of the board as an element (the list item the browser's store places by its attention key)."""
    classes = f'vigil-kiosk-row vigil-kiosk-{alert.priority.value} vigil-kiosk-{alert.status.value}'
    # NOTE: data-alert carries the alert's id: the store keys rows by it and bench/ detects arrivals by it.
    return f'<div class="{classes}" role="listitem" data-alert="{alert.id}">{row_html(alert, now)}</div>'


class KioskView:
    """How a room of wall displays shows its alerts: the rows, the counts per priority, the footer, the alarm."""

    name = 'kiosk'
    limit: int | None = ROWS
    linger: timedelta | None = None  # a resolved alert leaves the wall at once
    empty_html = ('<div class="vigil-kiosk-empty">No open alerts<small>Every alert of the hospital is resolved.'
                  '</small></div>')

    def row_html(self, alert: AlertView, now: datetime) -> str:
        return row_element(alert, now)

    def slots(self, ordered: list[AlertView]) -> Slots:
        counts = Counter(a.priority for a in ordered)
        slots: Slots = {
            f'count-{p.value}': {'text': f'{counts[p]} {PRIORITY_LABELS[p]}',
                                 'cls': f'vigil-kiosk-count vigil-kiosk-count-{p.value}'
                                        + (' vigil-kiosk-count-on' if counts[p] else '')}
            for p in Priority}
        hidden = ordered[ROWS:]
        more = Counter(a.priority for a in hidden)
        slots['more'] = {'text': f'+{len(hidden)} more open: ' + ', '.join(
            f'{more[p]} {PRIORITY_LABELS[p].lower()}' for p in Priority if more[p]) if hidden else ''}
        # A wall display sounds for every alert of its scope, shown in a row or only counted in the footer.
        slots['alarm'] = {'attrs': {'data-state': json.dumps(alarm_state(ordered))}}
        return slots


KIOSK_VIEW = KioskView()


class KioskBoard:
    """The board of one wall display: the layout, and the room's store in the middle (rows kept in the browser)."""

    def __init__(self, hospital_name: str, display_name: str, rooms: LiveRooms, room: Room, *,
                 guard: Guard | None = None) -> None:
        with ui.element('main').classes('vigil-kiosk').mark('kiosk') as self.element:
            with ui.element('header').classes('vigil-kiosk-top'):
                heading(hospital_name).classes('vigil-kiosk-name')
                with ui.element('div').classes('vigil-kiosk-counts'):
                    for p in Priority:
                        # Filled in by the browser's store from the room's slots.
                        ui.element('div').classes('vigil-kiosk-count').props(f'data-room-slot=kiosk-count-{p.value}')
                with ui.element('div').classes('vigil-kiosk-clock-box').style('margin-left: auto'):
                    ui.label('--:--').classes('vigil-kiosk-clock').props('id=vigil-kiosk-clock')
                    ui.label().classes('vigil-kiosk-date').props('id=vigil-kiosk-date')
                connection_indicator()
            self.store = RoomStore(rooms, room, slot_prefix='kiosk-', guard=guard) \
                .classes('vigil-kiosk-list').props('role=list aria-label="Open alerts"').mark('kiosk-list')
            with ui.element('footer').classes('vigil-kiosk-foot'):
                ui.element('div').classes('vigil-kiosk-more').props('data-room-slot=kiosk-more')
                ui.space()
                ui.label(f'Wall display · {display_name} · read-only')

    def close(self) -> None:
        """Leave the room and take the board off the screen (the display's token is no longer valid)."""
        self.store.leave()
        self.element.delete()
