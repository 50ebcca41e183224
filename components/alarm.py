"""The alarm signals of a page: which alerts in its scope wait, and the signals that say so in the browser.

The compact alarm state (unacknowledged alerts per priority, how many wait, the top waiting alert and the newest) is
computed once per room, not per page: a staff page's signals room sends it over the socket when it changes
(signal_rooms.py), a wall display's room writes it into the page's carrier (kiosk_board.py). The page keeps only its
user's settings (AlarmState). The browser (alarm.js) plays the IEC 60601-1-8 pattern of the highest priority it
sounds for, repeats it until every alert of that priority is acknowledged (anywhere: the state says so) or the sound
is paused for a bounded, visible time, and carries the count of waiting alerts in the tab title and favicon. Pausing
never hides anything on screen."""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nicegui import ui

from app.domain import AlertStatus, Priority
from app.domain.alerts import attention_key_of, is_waiting
from app.schemas import AlertView

from .assets import Asset
from .theme import PRIORITY_LABELS, PRIORITY_STYLES
from .toasts import MAX_TOASTS

SOUND_KEY = 'sound'
NOTIFY_KEY = 'notifications'
# A pause is bounded: it ends by itself, and a new alert that would sound ends it at once.
PAUSE_SECONDS = 120


@dataclass(frozen=True)
class Burst:
    """One IEC 60601-1-8 auditory signal: pulse onsets (seconds from the start), pulse length and pitch."""

    offsets: tuple[float, ...]
    pulse_seconds: float
    pitch_hz: float


# IEC 60601-1-8: high priority is a burst of 10 pulses of 75-200 ms, spaced 3+2, pause, 3+2; medium 3 pulses of
# 125-250 ms; low 1 pulse. The pitch stays within the standard's 150-1000 Hz fundamental.
IEC_BURSTS = {
    'high': Burst((0.0, 0.25, 0.5, 1.0, 1.25, 2.4, 2.65, 2.9, 3.4, 3.65), 0.15, 880.0),
    'medium': Burst((0.0, 0.4, 0.8), 0.2, 660.0),
    'low': Burst((0.0,), 0.2, 523.0),
}
# How often each Vigil priority's burst repeats (None: once per new alert). Its IEC category, and so its burst and
# its colour, come from the one priority table, theme.PRIORITY_STYLES.
REPEAT_SECONDS: dict[Priority, float | None] = {
    Priority.CRITICAL: 10.0, Priority.HIGH: 15.0, Priority.MEDIUM: 30.0, Priority.LOW: None,
}
# Staff screens sound for critical alerts (each user may switch it off); a wall display sounds for every priority.
STAFF_AUDIBLE = frozenset({Priority.CRITICAL})
KIOSK_AUDIBLE = frozenset(Priority)

ALARM_JS = Asset('alarm.js', 'text/javascript', (Path(__file__).parent / 'alarm.js').read_text(encoding='utf-8'))
_STYLE = '''<style>
.vigil-alarm-carrier:empty { display: none; }
.vigil-sound .q-btn__content { flex-wrap: nowrap; gap: 8px; }
.vigil-sound .q-btn__content > .on-left { margin: 0; }
.vigil-alarm-pause-box { display: contents; }
/* The pause button's icon is drawn by CSS, so its text is only its words ("Sound paused 1:42"). */
.vigil-alarm-pause { display: inline-flex; align-items: center; gap: 4px; min-height: 44px; padding: 0 12px;
  border-radius: 22px; border: 2px solid #fff; background: #fff; color: #b71c1c; font: inherit; font-weight: 700;
  cursor: pointer; white-space: nowrap; font-variant-numeric: tabular-nums; }
.vigil-alarm-pause::before { font-family: 'Material Icons'; font-size: 22px; font-weight: normal;
  content: 'notifications_paused'; }
.vigil-alarm-pause[aria-pressed="true"] { background: #fff3e0; color: #5d2a00; }
.vigil-alarm-pause[aria-pressed="true"]::before { content: 'volume_off'; }
.vigil-alarm-pause:focus-visible { outline: 3px solid #ffeb3b; outline-offset: 2px; }
.vigil-alarm-pause[hidden], .vigil-alarm-unlock[hidden] { display: none !important; }
.nicegui-header:has(.vigil-alarm-unlock:not([hidden])) { flex-wrap: wrap; }
.vigil-alarm-unlock { box-sizing: border-box; flex-basis: 100%; max-width: 100%; order: 99; margin: 2px 0 4px;
  padding: 6px 12px; border-radius: 6px;
  background: #fff3e0; color: #5d2a00; font-weight: 700; text-align: center; cursor: pointer; }
/* At the bottom: the most urgent rows at the top stay visible until someone taps. */
.vigil-kiosk-unlock { position: fixed; left: 0; right: 0; bottom: 0; z-index: 20; padding: 3vh 3vw; margin: 0;
  border-radius: 0; background: #fbc02d; color: #111; font-size: 4vh; font-weight: 900; }
/* A phone: the words give way to the icons (their accessible names stay), the countdown stays; while an alarm
   sounds the pause button takes the sound switch's place, so the header keeps to one line. */
@media (max-width: 599px) {
  .vigil-alarm-long { display: none !important; }  /* NOTE: the sound switch's word: components/theme.py */
  .vigil-alarm-pause { padding: 0 10px; }
  .q-header:has(.vigil-alarm-pause:not([hidden])) .vigil-sound { display: none; }
}
</style>'''


def signal_table() -> dict[str, dict[str, Any]]:
    """Return what the browser needs of each priority's signal (from PRIORITY_STYLES and the IEC bursts)."""
    table = {}
    for priority, style in PRIORITY_STYLES.items():
        burst = IEC_BURSTS[style.iec]
        table[priority.value] = {'iec': style.iec, 'offsets': burst.offsets, 'pulse': burst.pulse_seconds,
                                 'pitch': burst.pitch_hz, 'repeat': REPEAT_SECONDS[priority]}
    return table


def alarm_label(alert: AlertView) -> str:
    """Return how an alert is named outside the page (notifications): no patient name, lock screens are public."""
    where = f'Bed {alert.bed} · {alert.ward_name}' if alert.patient_id else f'{alert.ward_name} (ward)'
    return f'{PRIORITY_LABELS[alert.priority]} · {where} · {alert.message}'


def alarm_state(alerts: Iterable[AlertView]) -> dict[str, Any]:
    """Return the compact alarm state of these open alerts (what alarm.js reads from the carrier's data-state)."""
    unacknowledged = [a for a in alerts if a.status is AlertStatus.ACTIVE]
    waiting = [a for a in unacknowledged if is_waiting(a.status, a.priority, a.escalation_level)]
    top = min(waiting, key=attention_key_of, default=None)
    latest = max(waiting, key=lambda a: (a.waiting_since, a.id), default=None)
    return {
        'counts': {p.value: sum(1 for a in unacknowledged if a.priority is p) for p in Priority},
        'waiting': len(waiting),
        'top': None if top is None else {'id': top.id, 'priority': top.priority.value, 'label': alarm_label(top)},
        'latest': None if latest is None else {
            'id': latest.id, 'priority': latest.priority.value, 'label': alarm_label(latest),
            'priorityLabel': PRIORITY_LABELS[latest.priority],
            'key': f'{latest.id}@{latest.waiting_since.isoformat()}'},
    }


def state_signature(alert: AlertView) -> tuple[object, ...]:
    """Return what of an alert the alarm state depends on."""
    return (alert.status, alert.priority, alert.escalation_level, alert.waiting_since, alert.message, alert.bed,
            alert.ward_name, alert.is_open)


ALARM_CSS = Asset.inner('alarm.css', _STYLE, 'style')


def install() -> None:
    """Add the alarm script and styles to the page (part of the first HTML, never sent over the socket)."""
    ui.add_head_html(ALARM_CSS.stylesheet_tag())
    ui.add_body_html(ALARM_JS.script_tag())


class AlarmState:
    """One page's alarm settings (sound, browser notifications) on the element that carries them to alarm.js.

    The state itself is its room's: a staff page's signals room sends it over the socket (signal_rooms.py), a wall
    display's room writes it into the carrier (kiosk_board.py).
    """

    def __init__(self, *, title: str, audible: frozenset[Priority], enabled: bool, notify: bool = False,
                 kiosk: bool = False, carrier: ui.element | None = None) -> None:
        install()
        self._config: dict[str, Any] = {
            'signals': signal_table(), 'audible': sorted(p.value for p in audible), 'enabled': enabled,
            'notify': notify, 'title': title, 'kiosk': kiosk, 'pauseSeconds': PAUSE_SECONDS,
            'maxToasts': MAX_TOASTS}
        # The settings ride on an element of its own, or on the one given (SignalsLine: one element fewer per page).
        self.carrier = carrier if carrier is not None else \
            ui.element('div').classes('vigil-alarm-carrier').props('aria-hidden=true').mark('alarm-state')
        self.carrier.props['data-config'] = json.dumps(self._config)

    @property
    def enabled(self) -> bool:
        return bool(self._config['enabled'])

    @property
    def notify(self) -> bool:
        return bool(self._config['notify'])

    def configure(self, *, enabled: bool | None = None, notify: bool | None = None) -> None:
        """Switch the sound or the browser notifications of this page on or off."""
        if enabled is not None:
            self._config['enabled'] = enabled
        if notify is not None:
            self._config['notify'] = notify
        self.carrier.props['data-config'] = json.dumps(self._config)


def unlock_line(*, kiosk: bool = False) -> ui.html:
    """Add the line that asks for the one interaction browsers require before they play a sound (shown by the
    browser while audio is locked and an alarm would sound; on a wall display while audio is locked at all)."""
    text = 'Tap to enable alarm sound' if kiosk else 'Click anywhere to allow alarm sound'
    css = 'vigil-alarm-unlock vigil-kiosk-unlock' if kiosk else 'vigil-alarm-unlock'
    return ui.html(text).classes(css).props('role=alert hidden').mark('alarm-unlock')


class ShownSignals(Protocol):
    """What a page shows of its signals room (signal_rooms.PageToasts)."""

    def texts(self) -> list[str]:
        """Return the texts of the toasts the page shows."""


class SignalsLine(ui.html):
    """The pause button and the line that asks for the audio unlock as one element, which also names the page's
    signals room (`data-signals`: alarm.js takes its state and toasts from that room's events) and carries the
    page's alarm settings (AlarmState's `carrier`): each element costs every open page memory. Its box is left out of
    the layout (display: contents): the button sits where the element is, the line takes a line of its own at the
    end. The simulated test user, which runs no JavaScript, reads the toasts the page shows from `signals`."""

    def __init__(self, room: str, signals: 'ShownSignals') -> None:
        super().__init__('<button type="button" class="vigil-alarm-pause" aria-pressed="false" hidden>Pause sound'
                         '</button><div class="vigil-alarm-unlock" role="alert" hidden>Click anywhere to allow alarm '
                         'sound</div>', sanitize=False)
        self.signals = signals
        self.classes('vigil-alarm-pause-box vigil-alarm-carrier').mark('alarm-pause alarm-unlock alarm-state toasts')
        self._props['data-signals'] = room

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        return [*super()._displayed_contents(only_visible=only_visible), *self.signals.texts()]
