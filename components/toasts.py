"""Toasts for new alerts in the user's scope, on every open screen of that user, with an optional alarm sound.

Critical toasts stay until someone dismisses them. The sound (a short WebAudio beep, off by default) needs one
interaction with the page first: browsers refuse to play audio before that.
"""

from collections import deque

from nicegui import ui

from app.domain import Priority
from app.domain.alerts import can_see
from app.events import AlertEscalated, AlertRaised, AlertReactivated
from app.events.models import AlertEventBase

from .preferences import Preferences
from .session import StaffSession
from .theme import PRIORITY_LABELS

SOUND_KEY = 'sound'
# More toasts than this at once help nobody: the oldest ones that would time out anyway go first.
MAX_TOASTS = 5
TOAST_SECONDS = 10.0
COLOURS = {Priority.CRITICAL: ('red-9', 'white'), Priority.HIGH: ('deep-orange-9', 'white'),
           Priority.MEDIUM: ('amber-6', 'grey-10'), Priority.LOW: ('cyan-3', 'grey-10')}

_SOUND_SCRIPT = '''
<script>
(() => {
  if (window.vigilBeep) return;
  let context = null;
  function unlock() {
    try {
      context = context || new (window.AudioContext || window.webkitAudioContext)();
      if (context.state === 'suspended') context.resume();
    } catch (error) { context = null; }
  }
  for (const type of ['pointerdown', 'keydown', 'touchstart']) document.addEventListener(type, unlock, {passive: true});
  window.vigilBeep = (count) => {
    if (!context || context.state !== 'running') return false;
    const start = context.currentTime + 0.01;
    for (let i = 0; i < (count || 3); i++) {
      const at = start + i * 0.3, tone = context.createOscillator(), gain = context.createGain();
      tone.type = 'square';
      tone.frequency.value = 988;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.2);
      tone.connect(gain).connect(context.destination);
      tone.start(at);
      tone.stop(at + 0.22);
    }
    return true;
  };
})();
</script>
'''
# NOTE: Quasar draws a toast's Close/Dismiss button 36 px tall; touch targets must be at least 44 px. Its flat button
# would take the theme's primary blue, unreadable on red: Dismiss is white with the toast's own red as text instead.
_STYLE = '''<style>
.vigil-toast .q-btn { min-height: 44px; min-width: 44px; color: inherit !important; }
.vigil-toast-critical .q-btn { background: #fff !important; color: #b71c1c !important; font-weight: 700; }
.vigil-toast-critical .q-btn:focus-visible { outline: 3px solid #fff; outline-offset: 2px; }
.q-notifications__list--bottom .vigil-toast { max-width: min(440px, calc(100vw - 24px)); }
</style>'''
# Bottom right: the header (connection indicator, account menu) and the metrics stay visible while a critical
# toast waits for someone to dismiss it.
TOAST_POSITION = 'bottom-right'


def toast_text(event: AlertEventBase) -> str:
    """Return what a toast says about an alert event."""
    alert = event.alert
    where = f'{alert.bed} {alert.patient_name}' if alert.patient_id else f'{alert.ward_name} (ward)'
    prefix = (f'Escalated to level {alert.escalation_level} · ' if isinstance(event, AlertEscalated)
              else 'Worse, waiting again · ' if isinstance(event, AlertReactivated) else '')
    return f'{prefix}{PRIORITY_LABELS[alert.priority]} · {where} · {alert.message}'


class AlertToasts:
    """Shows a toast for each alert raised into (or escalated within) one page user's scope."""

    def __init__(self, session: StaffSession, prefs: Preferences) -> None:
        self._session = session
        self._prefs = prefs
        self.sound = bool(prefs.get(SOUND_KEY, False))
        self._shown: deque[ui.notification] = deque()
        ui.add_body_html(_SOUND_SCRIPT)
        ui.add_head_html(_STYLE)

    def set_sound(self, on: bool) -> None:
        """Switch the alarm sound on or off for this user (and play it once, so they know what it sounds like)."""
        self.sound = on
        self._prefs.set(SOUND_KEY, on)
        if on:
            ui.run_javascript('window.vigilBeep && window.vigilBeep(1)')

    def receive(self, event: AlertEventBase) -> None:
        """Toast an event if it brings a new, escalated or re-alarmed (worse) alert into this user's scope."""
        if not isinstance(event, AlertRaised | AlertEscalated | AlertReactivated):
            return
        alert, actor = event.alert, self._session.actor
        if not alert.is_open or not can_see(actor, alert.hospital_id, alert.ward_id, alert.priority,
                                            alert.escalation_level):
            return
        critical = alert.priority is Priority.CRITICAL
        background, text = COLOURS[alert.priority]
        self._shown = deque(t for t in self._shown if not t.is_deleted)
        passing = [t for t in self._shown if t.timeout]  # critical ones stay until a person dismisses them
        while len(self._shown) >= MAX_TOASTS and passing:
            oldest = passing.pop(0)
            self._shown.remove(oldest)
            oldest.dismiss()
        toast = ui.notification(
            toast_text(event), position=TOAST_POSITION, multi_line=True, close_button='Dismiss' if critical else True,
            timeout=None if critical else TOAST_SECONDS, color=background, textColor=text,
            classes=f'vigil-toast vigil-toast-{alert.priority.value}',
            icon='notification_important' if critical else 'notifications').mark('toast')
        self._shown.append(toast)
        if critical and self.sound:
            ui.run_javascript('window.vigilBeep && window.vigilBeep(3)')
