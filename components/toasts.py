"""Toasts for alerts in the user's scope, on every open screen of that user, following each alert's state.

A toast appears when an alert is raised into (or escalated or re-alarmed within) the scope, and goes when the alert
is acknowledged or resolved anywhere. Critical toasts stay until then or until someone dismisses them; after a
reload the waiting critical alerts are toasted again. On a phone the toasts collapse to the newest one on one line
plus "+N more" (a quarter of the screen at most). The alarm sound is components/alarm.py's.

Which alert to toast, and how it looks, is decided once per signals room (signal_rooms.py) from toast_of; the
browser (alarm.js) shows the toasts with Quasar's Notify, as NiceGUI's ui.notification does.
"""

from typing import Any, Final

from nicegui import ui

from app.domain import Priority
from app.events import AlertEscalated, AlertRaised, AlertReactivated
from app.events.models import AlertEventBase
from app.schemas import AlertView

from .assets import Asset
from .theme import PRIORITY_LABELS, PRIORITY_STYLES

# More toasts than this at once help nobody: the oldest ones that would time out anyway go first.
MAX_TOASTS = 5
TOAST_SECONDS = 10.0
COLOURS = {priority: (style.quasar, style.quasar_text) for priority, style in PRIORITY_STYLES.items()}

# NOTE: Quasar draws a toast's Close/Dismiss button 36 px tall; touch targets must be at least 44 px. Its flat button
# would take the theme's primary blue, unreadable on red: the button is white with dark red text on red toasts and
# near-black with white text on yellow and cyan ones (both far above 4.5:1).
_STYLE = '''<style>
.vigil-toast .q-btn { min-height: 44px; min-width: 44px; font-weight: 700; }
.vigil-toast-critical .q-btn, .vigil-toast-high .q-btn { background: #fff !important; color: #b71c1c !important; }
.vigil-toast-medium .q-btn, .vigil-toast-low .q-btn { background: #212121 !important; color: #fff !important; }
.vigil-toast .q-btn:focus-visible { outline: 3px solid currentColor; outline-offset: 2px; }
.q-notifications__list--bottom .vigil-toast { max-width: min(440px, calc(100vw - 24px)); }
/* Critical: its icon flashes at 2 Hz like every critical signal; the text stays still and readable. */
.vigil-toast-critical .q-notification__icon { animation: vigil-toast-flash .5s step-end infinite; }
@keyframes vigil-toast-flash { 50% { opacity: 0; } }
@media (prefers-reduced-motion: reduce) { .vigil-toast-critical .q-notification__icon { animation: none; } }
.vigil-toasts-more { display: none; }
/* A phone: one line per toast, only the newest shown, "+N more" opens the rest; at most a quarter of the screen. */
@media (max-width: 599px) {
  .q-notifications__list--bottom .vigil-toast { max-width: calc(100vw - 16px); min-height: 0; margin: 4px 8px;
    padding: 0 4px 0 10px; }
  .vigil-toast .q-notification__content { min-width: 0; flex-wrap: nowrap; padding: 4px 0; }
  .vigil-toast .q-notification__message { white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
    padding: 0; font-size: .9rem; }
  .vigil-toast .q-notification__actions { padding: 0 0 0 6px; margin: 0; flex: none; }
  .vigil-toast .q-notification__actions .q-btn { padding: 0 8px; }
  body:not(.vigil-toasts-open) .q-notifications__list--bottom .vigil-toast:not(:last-child) { display: none; }
  .vigil-toasts-more { display: block; position: fixed; right: 8px; bottom: 64px; z-index: 9600; min-height: 44px;
    padding: 0 16px; border: 0; border-radius: 22px; background: #212121; color: #fff; font: inherit;
    font-weight: 700; box-shadow: 0 2px 6px rgba(0,0,0,.3); cursor: pointer; }
  .vigil-toasts-more[hidden] { display: none; }
  body.vigil-toasts-open .vigil-toasts-more { bottom: auto; top: 64px; }
  .vigil-toasts-more .vigil-less, body.vigil-toasts-open .vigil-toasts-more .vigil-more-n { display: none; }
  body.vigil-toasts-open .vigil-toasts-more .vigil-less { display: inline; }
}
</style>'''
# Bottom right: the header (connection indicator, account menu) and the metrics stay visible while a critical
# toast waits for someone to dismiss it.
TOAST_POSITION: Final = 'bottom-right'
TOASTED = (AlertRaised, AlertEscalated, AlertReactivated)
# One toast as the browser gets it: {'id': alert id, 'critical': bool, 'options': Quasar Notify's options}.
Toast = dict[str, Any]


def toast_text(alert: AlertView, event: AlertEventBase | None = None) -> str:
    """Return what a toast says about an alert (and the event that brought it, if any)."""
    where = f'{alert.bed} {alert.patient_name}' if alert.patient_id else f'{alert.ward_name} (ward)'
    prefix = (f'Escalated to level {alert.escalation_level} · ' if isinstance(event, AlertEscalated)
              else 'Worse, waiting again · ' if isinstance(event, AlertReactivated) else '')
    return f'{prefix}{PRIORITY_LABELS[alert.priority]} · {where} · {alert.message}'


def toast_of(alert: AlertView, event: AlertEventBase | None) -> Toast:
    """Return the toast of an alert (and the event that brought it, if any): text, colours, icon, button, timeout.

    The options are those NiceGUI's ui.notification gives Quasar's Notify; the browser (alarm.js) shows the toast.
    Critical ones stay until answered or dismissed; the others go after TOAST_SECONDS.
    """
    critical = alert.priority is Priority.CRITICAL
    background, text = COLOURS[alert.priority]
    options = {'message': toast_text(alert, event), 'position': TOAST_POSITION, 'multiLine': False,
               'closeBtn': 'Dismiss' if critical else True, 'timeout': 0 if critical else int(TOAST_SECONDS * 1000),
               'group': False, 'color': background, 'textColor': text,
               'classes': f'vigil-toast vigil-toast-{alert.priority.value}',
               'icon': 'notification_important' if critical else 'notifications'}
    return {'id': alert.id, 'critical': critical, 'options': options}


TOASTS_CSS = Asset.inner('toasts.css', _STYLE, 'style')  # served once as a file (components/assets.py)


def install() -> None:
    """Add the toasts' styles to the page (alarm.js shows the toasts its signals room sends)."""
    ui.add_head_html(TOASTS_CSS.stylesheet_tag())
