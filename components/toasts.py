"""Toasts for alerts in the user's scope, on every open screen of that user, following each alert's state.

A toast appears when an alert is raised into (or escalated or re-alarmed within) the scope, and goes when the alert
is acknowledged or resolved anywhere. Critical toasts stay until then or until someone dismisses them; after a
reload the waiting critical alerts are toasted again. On a phone the toasts collapse to the newest one on one line
plus "+N more" (a quarter of the screen at most). The alarm sound is components/alarm.py's.
"""

import asyncio
from typing import Final

from nicegui import background_tasks, context, ui

from app.domain import AlertStatus, Priority
from app.events import AlertEscalated, AlertRaised, AlertReactivated
from app.events.models import AlertEventBase
from app.schemas import AlertView

from .assets import Asset
from .session import StaffSession
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
# A toast dismissed by the server (its alert was acknowledged elsewhere) is removed by the browser, which reports it;
# the element is deleted here after this long anyway.
# NOTE: NiceGUI sends element deletions before method calls: deleting at once would drop the call to dismiss.
DISMISS_GRACE_SECONDS = 0.5
TOASTED = (AlertRaised, AlertEscalated, AlertReactivated)


def toast_text(alert: AlertView, event: AlertEventBase | None = None) -> str:
    """Return what a toast says about an alert (and the event that brought it, if any)."""
    where = f'{alert.bed} {alert.patient_name}' if alert.patient_id else f'{alert.ward_name} (ward)'
    prefix = (f'Escalated to level {alert.escalation_level} · ' if isinstance(event, AlertEscalated)
              else 'Worse, waiting again · ' if isinstance(event, AlertReactivated) else '')
    return f'{prefix}{PRIORITY_LABELS[alert.priority]} · {where} · {alert.message}'


TOASTS_CSS = Asset.inner('toasts.css', _STYLE, 'style')  # served once as a file (components/assets.py)


class AlertToasts:
    """Shows a toast for each alert raised into (or escalated within) one page user's scope, while it waits."""

    def __init__(self, session: StaffSession) -> None:
        self._session = session
        self._shown: dict[int, ui.notification] = {}
        ui.add_head_html(TOASTS_CSS.stylesheet_tag())
        # The "+N more" button (a phone shows one toast at a time) is made when a second toast first appears, in the
        # slot the toasts were set up in: most pages never need it, and each element costs every open page memory.
        self._slot = context.slot
        self._more: ui.html | None = None

    def receive(self, event: AlertEventBase) -> None:
        """Follow an alert event: toast a new, escalated or re-alarmed alert; take the toast away once answered."""
        alert = event.alert
        if alert.status is not AlertStatus.ACTIVE:
            self._take_away(alert.id)
            return
        if isinstance(event, TOASTED) and self._visible(alert):
            self._show(alert, event)

    def restore(self, alerts: list[AlertView]) -> None:
        """Match a fresh snapshot: waiting critical alerts are toasted again (after a reload), answered ones go."""
        active = {a.id: a for a in alerts if a.status is AlertStatus.ACTIVE}
        for alert_id in [i for i in self._shown if i not in active]:
            self._take_away(alert_id)
        for alert in active.values():
            if alert.priority is Priority.CRITICAL and alert.id not in self._shown and self._visible(alert):
                self._show(alert, None)

    @property
    def shown(self) -> list[int]:
        """Return the ids of the alerts toasted now, oldest toast first."""
        return list(self._shown)

    def _visible(self, alert: AlertView) -> bool:
        return self._session.scope.sees(alert)

    def _show(self, alert: AlertView, event: AlertEventBase | None) -> None:
        self._take_away(alert.id)
        critical = alert.priority is Priority.CRITICAL
        passing = [i for i, t in self._shown.items() if t.timeout]  # critical ones stay until answered or dismissed
        while len(self._shown) >= MAX_TOASTS and passing:
            self._take_away(passing.pop(0))
        background, text = COLOURS[alert.priority]
        toast = ui.notification(
            toast_text(alert, event), position=TOAST_POSITION,
            close_button='Dismiss' if critical else True, timeout=None if critical else TOAST_SECONDS,
            color=background, textColor=text, classes=f'vigil-toast vigil-toast-{alert.priority.value}',
            icon='notification_important' if critical else 'notifications').mark('toast')
        toast.on_dismiss(lambda: self._forget(alert.id, toast))
        self._shown[alert.id] = toast
        self._paint_more()

    def _forget(self, alert_id: int, toast: ui.notification) -> None:
        if self._shown.get(alert_id) is toast:
            del self._shown[alert_id]
            self._paint_more()

    def _take_away(self, alert_id: int) -> None:
        toast = self._shown.pop(alert_id, None)
        if toast is None:
            return
        self._paint_more()
        if toast.is_deleted:
            return
        toast.dismiss()

        async def delete_later() -> None:
            await asyncio.sleep(DISMISS_GRACE_SECONDS)
            if not toast.is_deleted:
                toast.delete()

        background_tasks.create(delete_later(), name='vigil-toast-dismiss')

    def _paint_more(self) -> None:
        more = len(self._shown) - 1
        if self._more is None:
            if more <= 0:
                return
            with self._slot:
                self._more = ui.html('', sanitize=False, tag='button').classes('vigil-toasts-more') \
                    .props('type=button hidden').mark('toasts-more')
        self._more.set_content(f'<span class="vigil-more-n">+{more} more</span>'
                               '<span class="vigil-less">Show fewer</span>')
        if more > 0:
            self._more.props(remove='hidden')
        else:
            self._more.props('hidden')
