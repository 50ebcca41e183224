"""One row of the Alert List: a single HTML element that says everything and carries its buttons.

A row is rendered once per room (components/live_rooms.py) for every open page of the same scope and role, and
patched into the shown nodes by the browser's store; its buttons are plain HTML buttons whose clicks the list
receives through one delegated listener (see CLICK_JS).
"""

from datetime import datetime
from html import escape

from app.domain import AlertKind, AlertStatus, Priority, Role
from app.domain.actors import person_name
from app.domain.limits import trigger_of
from app.schemas import AlertView
from app.services.alerts import SNOOZABLE_KINDS, SNOOZING_ROLES

from .morph_html import MorphHtml
from .shared_texts import SharedTexts
from .theme import priority_chip
from .times import age_html, clock_html

ACTIONS = {'acknowledge': AlertStatus.ACKNOWLEDGED, 'resolve': AlertStatus.RESOLVED}
SNOOZE = 'snooze'
# The list's click listener: only clicks on an enabled row button reach the server, with just what it needs.
# NOTE: while the socket is down, components/offline_queue.py catches the clicks on Acknowledge and Resolve first
# (they carry its `vigil-queueable` contract) and queues them; this listener sees only clicks made while live.
CLICK_JS = '''(event) => {
  const button = event.target.closest('button[data-vigil-action]');
  if (button && !button.disabled) emit({action: button.dataset.vigilAction, alert: Number(button.dataset.alert)});
}'''


def _who(alert: AlertView) -> str:
    if alert.patient_id is None:
        return f'Ward alert · {escape(alert.ward_name)}'
    return (f'<a href="/patients/{alert.patient_id}">{escape(alert.patient_name or "")}</a>'
            f' · Bed {escape(alert.bed or "?")} · {escape(alert.ward_name)}')


def _state(alert: AlertView, pending: AlertStatus | None) -> str:
    if pending is not None:
        return f'{"Acknowledged" if pending is AlertStatus.ACKNOWLEDGED else "Resolved"} · saving…'
    if alert.status is AlertStatus.ACKNOWLEDGED:
        return f'Acknowledged by {escape(person_name(alert.acknowledged_by) or "?")}'
    if alert.status is AlertStatus.RESOLVED:
        return f'Resolved by {escape(person_name(alert.resolved_by) or "?")}'
    return 'Active'


def _button(action: str, label: str, alert: AlertView, css: str, enabled: bool) -> str:
    disabled = '' if enabled else ' disabled'
    return (f'<button type="button" class="vigil-btn vigil-queueable {css}" data-version="{alert.version}" '
            f'data-vigil-action="{action}" data-alert="{alert.id}"{disabled}>{label}</button>')


def _snooze_button(alert_id: int, enabled: bool) -> str:
    # On a narrow list only the icon shows (theme.py); the accessible name stays "Snooze".
    disabled = '' if enabled else ' disabled'
    return (f'<button type="button" class="vigil-btn vigil-btn-quiet vigil-alert-snooze vigil-online-only" '
            'data-offline-message="Snooze needs the connection: try again when it is back." '
            f'data-vigil-action="{SNOOZE}" data-alert="{alert_id}" aria-label="Snooze" '
            f'title="Snooze re-alerting of this condition"{disabled}>'
            '<i class="q-icon notranslate material-icons" aria-hidden="true">snooze</i>'
            '<span class="vigil-btn-label">Snooze</span></button>')


def may_snooze(role: Role | None) -> bool:
    """Tell whether someone of this role may snooze alerts at all (their rows show the Snooze button)."""
    return role in SNOOZING_ROLES


def snoozable(alert: AlertView) -> bool:
    """Tell whether this alert can be snoozed by someone whose role may (an open, detected alert of a patient)."""
    return alert.is_open and alert.kind in SNOOZABLE_KINDS and trigger_of(alert.dedup_key, alert.patient_id) is not None


def can_snooze(role: Role | None, alert: AlertView) -> bool:
    """Tell whether someone of this role may snooze this alert (the service checks again, and has the last word)."""
    return may_snooze(role) and snoozable(alert)


def alert_html(alert: AlertView, now: datetime, pending: AlertStatus | None = None, error: str | None = None, *,
               snooze: bool = False) -> str:
    """Return what a row says about an alert; `pending` is an action shown before the server confirmed it.

    `snooze` adds the Snooze button (for the roles and alerts `can_snooze` admits).
    """
    status = pending or alert.status
    flash = alert.priority is Priority.CRITICAL and status is AlertStatus.ACTIVE
    meta = [f'<span class="vigil-status-{status.value}">{_state(alert, pending)}</span>']
    if alert.escalation_level:
        meta.append(f'<span>Escalated · level {alert.escalation_level}</span>')
    if alert.occurrences > 1:
        meta.append(f'<span>{alert.occurrences} occurrences</span>')
    if alert.cleared_at is not None:
        meta.append(f'<span>Recovered {clock_html(alert.cleared_at)}</span>')
    if alert.snoozed_until is not None and alert.snoozed_until > now:
        meta.append(f'<span>Snoozed until {clock_html(alert.snoozed_until)}</span>')
    if alert.kind is AlertKind.MANUAL:
        meta.append(f'<span>Raised by {escape(person_name(alert.created_by))}</span>')
    parts = [
        f'<div class="vigil-alert-body" data-alert="{alert.id}" data-version="{alert.version}">'
        f'<div class="vigil-alert-head">{priority_chip(alert.priority, flash=flash)}'
        f'<span class="vigil-alert-who">{_who(alert)}</span>{age_html(alert.created_at, now)}</div>'
        f'<div class="vigil-alert-msg">{escape(alert.message)}</div>'
        f'<div class="vigil-alert-meta">{"".join(meta)}</div>',
        '<div class="vigil-queue-note" data-queue-note></div>',  # actions queued while offline (offline_queue.py)
    ]
    if error:
        parts.append(f'<div class="vigil-alert-error" role="alert">{escape(error)}</div>')
    parts.append('</div>')
    buttons = []
    if status is AlertStatus.ACTIVE:
        buttons.append(_button('acknowledge', 'Acknowledge', alert, 'vigil-btn-primary vigil-alert-acknowledge',
                               pending is None))
    if status is not AlertStatus.RESOLVED:
        buttons.append(_button('resolve', 'Resolve', alert, 'vigil-btn-outline vigil-alert-resolve',
                               pending is None))
        if snooze:
            buttons.append(_snooze_button(alert.id, pending is None))
    if buttons:
        parts.append(f'<div class="vigil-alert-actions">{"".join(buttons)}</div>')
    return ''.join(parts)


def row_element(alert: AlertView, now: datetime, pending: AlertStatus | None = None, error: str | None = None, *,
                snooze: bool = False) -> str:
    """Return one row of the list as a whole element: what `alert_html` says inside the list item around it.

    Rendered once per room for everyone of a scope (no `pending` or `error`), or by one page for its own state.
    """
    status = pending or alert.status
    classes = f'vigil-alert vigil-queue-host vigil-alert-{alert.priority.value} vigil-alert-{status.value}'
    # NOTE: data-alert-row carries the alert's id for bench/ and the browser tests; the buttons carry data-alert.
    return (f'<div class="{classes}" role="listitem" data-alert-row="{alert.id}">'
            f'{alert_html(alert, now, pending, error, snooze=snooze)}</div>')


class AlertRow:
    """A row of its own element (the patient page's), patched in place: `show` re-sends it only when it changed."""

    def __init__(self, alert_id: int, texts: SharedTexts) -> None:
        self._texts = texts
        self._html = ''
        self._classes = ''
        # NOTE: not sanitized: alert_html escapes every value that comes from outside. Patched in place, so a press on
        # Acknowledge that an update of the row (an escalation, a repeat) interrupts still becomes a click.
        self.element = MorphHtml().props('role=listitem').mark(f'alert-{alert_id}')

    def show(self, alert: AlertView, now: datetime, pending: AlertStatus | None, error: str | None, *,
             snooze: bool = False) -> None:
        """Make the row say what `alert` (with a pending action, or an error) says."""
        status = pending or alert.status
        html = self._texts.share(alert_html(alert, now, pending, error, snooze=snooze))
        classes = f'vigil-alert vigil-queue-host vigil-alert-{alert.priority.value} vigil-alert-{status.value}'
        if classes != self._classes:
            self._classes = classes
            self.element.classes(replace=classes)
        if html != self._html:
            self._html = html
            self.element.set_content(html)
