"""A patient's alerts, newest first, each with its audit trail: who did what, when, and why."""

from html import escape

from nicegui import ui

from app.domain import AlertEventType, AlertStatus, Priority
from app.domain.actors import display_actor
from app.schemas import AuditEntryView
from app.services.audit import AlertHistory

from .theme import priority_chip
from .timestamps import datetime_html

EVENT_LABELS = {
    AlertEventType.RAISED: 'Raised', AlertEventType.RETRIGGERED: 'Occurred again',
    AlertEventType.ACKNOWLEDGED: 'Acknowledged', AlertEventType.RESOLVED: 'Resolved',
    AlertEventType.ESCALATED: 'Escalated', AlertEventType.SNOOZED: 'Snoozed', AlertEventType.CLEARED: 'Recovered',
    AlertEventType.REACTIVATED: 'Re-alarmed', AlertEventType.UPDATED: 'Updated',
}
# A long trail (an alarm that came and went many times) shows its first and this many last steps.
SHOWN_STEPS = 4
STATUS_LABELS = {AlertStatus.ACTIVE: 'Active', AlertStatus.ACKNOWLEDGED: 'Acknowledged',
                 AlertStatus.RESOLVED: 'Resolved'}

_STYLE = '''
<style>
.vigil-history { display: flex; flex-direction: column; gap: 10px; }
.vigil-history-item { border: 1px solid #e0e0e0; border-left: 6px solid #9e9e9e; border-radius: 8px; padding: 8px 12px;
  background: #fff; min-width: 0; }
.vigil-history-critical { border-left-color: var(--vigil-critical); }
.vigil-history-high { border-left-color: var(--vigil-high); }
.vigil-history-medium { border-left-color: var(--vigil-medium); }
.vigil-history-low { border-left-color: var(--vigil-low); }
.vigil-history-head { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: center; }
.vigil-history-msg { font-weight: 600; overflow-wrap: anywhere; }
.vigil-history-meta { font-size: .85rem; color: #616161; }
.vigil-trail { margin-top: 6px; font-size: .86rem; container-type: inline-size; }
/* When and What are short and fixed; Who and Note share the rest and wrap rather than cut a name off. */
.vigil-trail-row { display: grid; grid-template-columns: 9.6rem 7.2rem minmax(7rem, 1fr) minmax(0, 1.2fr);
  gap: 0 8px; padding: 3px 0; border-top: 1px solid #f0f0f0; }
.vigil-trail-head { font-weight: 600; color: #616161; border-top: 0; }
.vigil-trail-row > span { overflow-wrap: break-word; min-width: 0; }
.vigil-trail-row > span:nth-child(-n+2) { white-space: nowrap; font-variant-numeric: tabular-nums; }
.vigil-trail details > summary { cursor: pointer; color: #0b5cad; line-height: 44px; list-style: none;
  border-top: 1px solid #f0f0f0; }
.vigil-trail details > summary::before { content: '▸ '; }
.vigil-trail details[open] > summary::before { content: '▾ '; }
/* The history sits in a side column or fills a phone: its own width decides. Narrow: the note goes under What
   and Who; very narrow: no headings, and the note under the whole step. */
@container (max-width: 38rem) {
  .vigil-trail-row { grid-template-columns: 9.6rem 7.2rem minmax(0, 1fr); }
  .vigil-trail-row > span:nth-child(4) { grid-column: 2 / -1; color: #424242; }
  .vigil-trail-head > span:nth-child(4) { display: none; }
}
@container (max-width: 24rem) {
  .vigil-trail-head { display: none; }
  .vigil-trail-row { grid-template-columns: auto auto minmax(0, 1fr); }
  .vigil-trail-row > span:nth-child(4) { grid-column: 1 / -1; }
}
</style>
'''


def install() -> None:
    """Add the history's styles to the page."""
    ui.add_head_html(_STYLE)


def shown_note(note: str | None, message: str) -> str:
    """Return a step's note as the screens show it: nothing when it only repeats the alert's message.

    Raising an alert records its message as the note of the first step, which the message column shows already.
    """
    text = (note or '').strip()
    return '' if text == message.strip() else text


def trail_row(entry: AuditEntryView, message: str) -> str:
    """Return one step of an alert's trail."""
    return (f'<div class="vigil-trail-row"><span>{datetime_html(entry.at)}</span>'
            f'<span>{EVENT_LABELS[entry.type]}</span><span>{escape(display_actor(entry.actor))}</span>'
            f'<span>{escape(shown_note(entry.note, message))}</span></div>')


def history_html(history: AlertHistory) -> str:
    """Return one alert with its trail; a long trail shows its first and last steps, the rest folded away."""
    alert = history.alert
    flash = alert.priority is Priority.CRITICAL and alert.status is AlertStatus.ACTIVE
    extra = [f'{alert.occurrences} occurrences'] if alert.occurrences > 1 else []
    if alert.escalation_level:
        extra.append(f'escalation level {alert.escalation_level}')
    steps = [trail_row(entry, alert.message) for entry in history.trail]
    if len(steps) > SHOWN_STEPS + 1:
        folded = steps[1:-SHOWN_STEPS]
        more = f'{len(folded)} more step{"s" if len(folded) > 1 else ""}'
        steps = [steps[0], f'<details><summary>{more}</summary>{"".join(folded)}</details>',
                 *steps[-SHOWN_STEPS:]]
    head = ''.join(f'<span>{name}</span>' for name in ('When', 'What', 'Who', 'Note'))
    return (f'<div class="vigil-history-head">{priority_chip(alert.priority, flash=flash)}'
            f'<span class="vigil-history-msg">{escape(alert.message)}</span>'
            f'<span class="vigil-status-{alert.status.value}">{STATUS_LABELS[alert.status]}</span></div>'
            f'<div class="vigil-history-meta">Alert {alert.id} · {escape(alert.kind.value.replace("_", " "))}'
            f'{"".join(" · " + escape(e) for e in extra)}</div>'
            f'<div class="vigil-trail"><div class="vigil-trail-row vigil-trail-head">{head}</div>'
            f'{"".join(steps)}</div>')


class AlertHistoryList:
    """The alert history of one patient page, patched in place alert by alert."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[ui.html, AlertHistory]] = {}
        self._empty = ui.label('No alerts for this patient yet.').classes('text-grey-7').mark('history-empty')
        self._list = ui.element('div').classes('vigil-history w-full').props('role=list')

    def replace(self, histories: list[AlertHistory]) -> None:
        """Show exactly these alerts."""
        fresh = {h.alert.id for h in histories}
        for alert_id in [i for i in self._items if i not in fresh]:
            self._list.remove(self._items.pop(alert_id)[0])
        for history in histories:
            self.upsert(history)

    def upsert(self, history: AlertHistory) -> None:
        """Add or update one alert, unless an equal or newer state is shown already."""
        alert = history.alert
        held = self._items.get(alert.id)
        if held is not None:
            element, shown = held
            if (shown.alert.version, len(shown.trail)) >= (alert.version, len(history.trail)):
                return
            element.set_content(history_html(history))
            element.classes(replace=f'vigil-history-item vigil-history-{alert.priority.value}')
        else:
            with self._list:
                # NOTE: sanitize=False is safe: history_html escapes every value that comes from outside.
                element = ui.html(history_html(history), sanitize=False).props('role=listitem') \
                    .classes(f'vigil-history-item vigil-history-{alert.priority.value}').mark(f'history-{alert.id}')
        self._items[alert.id] = (element, history)
        order = sorted(self._items.values(), key=lambda item: (item[1].alert.created_at, item[1].alert.id),
                       reverse=True)
        for index, (item, _) in enumerate(order):
            if self._list.default_slot.children.index(item) != index:
                item.move(self._list, target_index=index)
        self._empty.set_visibility(not self._items)
