"""One row of the Alert List: the row element, one HTML block with everything it says, and its two buttons."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from html import escape

from nicegui import ui

from app.domain import AlertStatus, Priority
from app.schemas import AlertView

from .theme import priority_chip
from .times import age_html, clock_html

Act = Callable[[int, AlertStatus], Awaitable[None]]


def alert_html(alert: AlertView, now: datetime, pending: AlertStatus | None = None, error: str | None = None) -> str:
    """Return what a row says about an alert; `pending` is an action shown before the server confirmed it."""
    status = pending or alert.status
    flash = alert.priority is Priority.CRITICAL and status is AlertStatus.ACTIVE
    if alert.patient_id is not None:
        who = (f'<a href="/patients/{alert.patient_id}">{escape(alert.patient_name or "")}</a>'
               f' · Bed {escape(alert.bed or "?")} · {escape(alert.ward_name)}')
    else:
        who = f'Ward alert · {escape(alert.ward_name)}'
    if pending is not None:
        state = f'{"Acknowledged" if pending is AlertStatus.ACKNOWLEDGED else "Resolved"} · saving…'
    elif status is AlertStatus.ACKNOWLEDGED:
        state = f'Acknowledged by {escape(alert.acknowledged_by or "?")}'
    elif status is AlertStatus.RESOLVED:
        state = f'Resolved by {escape(alert.resolved_by or "?")}'
    else:
        state = 'Active'
    meta = [f'<span class="vigil-status-{status.value}">{state}</span>']
    if alert.escalation_level:
        meta.append(f'<span>Escalated · level {alert.escalation_level}</span>')
    if alert.occurrences > 1:
        meta.append(f'<span>{alert.occurrences} occurrences</span>')
    if alert.cleared_at is not None:
        meta.append(f'<span>Recovered {clock_html(alert.cleared_at)}</span>')
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        meta.append(f'<span>Snoozed until {clock_html(alert.snoozed_until)}</span>')
    if alert.kind.value == 'manual':
        meta.append(f'<span>Raised by {escape(alert.created_by)}</span>')
    parts = [
        f'<div class="vigil-alert-head">{priority_chip(alert.priority, flash=flash)}'
        f'<span class="vigil-alert-who">{who}</span>{age_html(alert.created_at, now)}</div>',
        f'<div class="vigil-alert-msg">{escape(alert.message)}</div>',
        f'<div class="vigil-alert-meta">{"".join(meta)}</div>',
    ]
    if error:
        parts.append(f'<div class="vigil-alert-error" role="alert">{escape(error)}</div>')
    return ''.join(parts)


class AlertRow:
    """A row patched in place: `show` sends only what changed (the HTML block, the row's classes, the buttons)."""

    def __init__(self, alert_id: int, act: Act) -> None:
        self._html = ''
        self._classes = ''
        with ui.element('div').props(f'role=listitem data-alert={alert_id}') as self.element:
            self._body = ui.html('', sanitize=False).classes('vigil-alert-body').mark(f'alert-{alert_id}')
            # NOTE: sanitize=False is safe here: alert_html escapes every value that comes from outside.
            self._acknowledge = ui.button('Acknowledge', on_click=lambda: act(alert_id, AlertStatus.ACKNOWLEDGED)) \
                .props('unelevated no-caps color=primary').classes('vigil-touch vigil-alert-acknowledge') \
                .mark(f'acknowledge-{alert_id}')
            self._resolve = ui.button('Resolve', on_click=lambda: act(alert_id, AlertStatus.RESOLVED)) \
                .props('outline no-caps color=positive').classes('vigil-touch vigil-alert-resolve') \
                .mark(f'resolve-{alert_id}')

    def show(self, alert: AlertView, now: datetime, pending: AlertStatus | None, error: str | None) -> None:
        """Make the row say what `alert` (with a pending action, or an error) says."""
        status = pending or alert.status
        html = alert_html(alert, now, pending, error)
        if html != self._html:
            self._html = html
            self._body.set_content(html)
        classes = f'vigil-alert vigil-alert-{alert.priority.value} vigil-alert-{status.value}'
        if classes != self._classes:
            self._classes = classes
            self.element.classes(replace=classes)
        _set(self._acknowledge, visible=status is AlertStatus.ACTIVE, enabled=pending is None)
        _set(self._resolve, visible=status is not AlertStatus.RESOLVED, enabled=pending is None)


def _set(button: ui.button, *, visible: bool, enabled: bool) -> None:
    if button.visible != visible:
        button.set_visibility(visible)
    if button.enabled != enabled:
        button.set_enabled(enabled)
