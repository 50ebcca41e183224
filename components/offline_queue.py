"""Clicks while offline: Acknowledge/Resolve are queued visibly and sent on reconnect; anything else says it failed.

NOTE: the contract, for any page (the Alert List rows, the patient page):
- A button with the class `vigil-queueable` and `data-vigil-action` ("acknowledge" or "resolve"), `data-alert` (the
  alert's id) and `data-version` (the version of the alert the page shows) is queued when clicked while the socket
  is down: its click never reaches the server, the nearest ancestor with the class `vigil-queue-host` gets the class
  `vigil-queue-pending` and says "Acknowledge pending: sent when the connection returns" in its `[data-queue-note]`
  descendant (or in a line added at its end), and every queueable button of that alert is disabled.
- The queue lives in the tab's sessionStorage, so it survives the page reload that follows a server restart. Once
  the socket is live again it is sent to the page's `QueuedActions` (the `vigil_queued_actions` event), which applies
  each action only if the alert still has the version the user saw, and otherwise refuses it with what changed
  ("the alert was re-alarmed at 03:02"); listeners (`subscribe`) show the outcome on their rows, a notification says
  it in any case. An action older than MAX_AGE, or queued by another sign-in of the tab, is refused.
- A button with the class `vigil-online-only` (raising an alert, snoozing; also the patient cards' `data-vigil-raise`
  buttons) is stopped while offline: the element whose id is its `data-offline-target` (else its host's
  `[data-queue-note]`, else a notification in the middle of the screen) says its `data-offline-message` (else
  RAISE_OFFLINE) at once, so that nobody waits for a click that went nowhere (NiceGUI would send it whenever the
  socket came back, maybe minutes later).
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nicegui import ui
from nicegui.events import GenericEventArguments
from pydantic import BaseModel, Field, ValidationError

from app.domain import AlertEventType, AlertStatus
from app.domain.actors import person_name
from app.errors import DomainError, NotAllowed, NotFound
from app.schemas import Actor, AlertView
from app.services.alerts import AlertService

from .assets import Asset
from .session import StaffSession

log = logging.getLogger(__name__)

EVENT = 'vigil_queued_actions'
# An acknowledgement that waited longer than this is not what the nurse would decide now: look again instead.
MAX_AGE = timedelta(minutes=10)
RAISE_OFFLINE = 'Nothing was sent: Vigil has no connection. For an emergency, use the phone now.'
MAX_BATCH = 50  # one tab queues one action per alert it shows; more is not a browser of ours
NOUNS = {'acknowledge': 'acknowledgement', 'resolve': 'resolution'}
# What the last step of an alert's trail did to it, said as the reason a queued action was not sent.
CHANGES = {
    AlertEventType.RAISED: 'the alert was raised', AlertEventType.RETRIGGERED: 'the alert occurred again',
    AlertEventType.REACTIVATED: 'the alert was re-alarmed', AlertEventType.UPDATED: "the alert's priority changed",
    AlertEventType.ESCALATED: 'the alert was escalated', AlertEventType.SNOOZED: 'the alert was snoozed',
    AlertEventType.CLEARED: "the alert's condition recovered",
    AlertEventType.ACKNOWLEDGED: 'the alert was acknowledged', AlertEventType.RESOLVED: 'the alert was resolved',
}

_SCRIPT = '''
<script>
(() => {
  if (window.vigilQueue) return;
  const KEY = 'vigil.queued-actions', USER = window.vigilQueueUser;  // set inline just before this script
  const LABELS = {acknowledge: 'Acknowledge', resolve: 'Resolve'};
  const RAISE_OFFLINE = '%(raise_offline)s';
  const live = () => !!(window.vigilConnection && window.vigilConnection.live());
  let sending = false;
  function load() {
    try {
      const entries = JSON.parse(sessionStorage.getItem(KEY) || '[]');
      return Array.isArray(entries) ? entries : [];
    } catch (error) { return []; }
  }
  function save(entries) {
    try { sessionStorage.setItem(KEY, JSON.stringify(entries)); } catch (error) { /* private mode: page memory */ }
    memory = entries;
  }
  let memory = load();
  const entries = () => { const stored = load(); return stored.length || !memory.length ? stored : memory; };
  function buttonsOf(alertId) {
    return document.querySelectorAll('.vigil-queueable[data-alert="' + Number(alertId) + '"]');
  }
  function note(host, text) {
    let line = host.querySelector('[data-queue-note]');
    if (!line && text) {
      line = document.createElement('div');
      line.setAttribute('data-queue-note', '');
      line.className = 'vigil-queue-note';
      host.appendChild(line);
    }
    if (line && line.textContent !== text) line.textContent = text;
    if (line) line.setAttribute('role', 'status');
    host.classList.toggle('vigil-queue-pending', !!text);
  }
  function paint() {
    const queued = new Map(entries().filter((e) => e.user === USER).map((e) => [String(e.alert), e]));
    for (const host of document.querySelectorAll('.vigil-queue-host')) {
      const button = host.querySelector('.vigil-queueable');
      const entry = button && queued.get(button.dataset.alert);
      if (entry) {
        const label = LABELS[entry.action] || 'Action';
        note(host, sending && live() ? label + ': sending…' : label + ' pending: sent when the connection returns');
        for (const other of buttonsOf(entry.alert)) other.disabled = true;
      } else if (host.classList.contains('vigil-queue-pending')) {
        note(host, '');
      }
    }
  }
  function send() {
    const mine = entries().filter((e) => e.user === USER);
    if (!live() || sending || !mine.length || typeof emitEvent !== 'function') return;
    sending = true;
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    emitEvent('%(event)s', {actions: mine, tz: tz, now: Date.now()});
    paint();
  }
  document.addEventListener('click', (event) => {
    if (live() || !(event.target instanceof Element)) return;
    const button = event.target.closest('.vigil-queueable, .vigil-online-only, [data-vigil-raise]');
    if (!button || button.disabled) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    if (!button.classList.contains('vigil-queueable')) {
      const host = button.closest('.vigil-queue-host');
      const target = document.getElementById(button.dataset.offlineTarget || '')
        || (host && host.querySelector('[data-queue-note]'));
      const message = button.dataset.offlineMessage || RAISE_OFFLINE;
      if (target) {
        target.textContent = message;
        target.classList.add('vigil-offline-refusal');
      } else if (window.Quasar) {
        Quasar.Notify.create({message: message, type: 'negative', position: 'center', timeout: 8000,
          classes: 'vigil-offline-notify', attrs: {role: 'alert'}});
      }
      return;
    }
    const alertId = Number(button.dataset.alert), version = Number(button.dataset.version);
    const action = button.dataset.vigilAction;
    if (!LABELS[action] || !Number.isInteger(alertId) || !Number.isInteger(version)) return;
    const rest = entries().filter((e) => e.alert !== alertId);
    const key = Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    save([...rest, {key: key, user: USER, action: action, alert: alertId, version: version, at: Date.now()}]);
    paint();
  }, true);
  window.addEventListener('vigil-connection', (event) => {
    if (!event.detail.live) sending = false;  // an answer lost with the socket: send again on the next connect
    for (const refusal of document.querySelectorAll('.vigil-offline-refusal')) {
      if (event.detail.live) { refusal.textContent = ''; refusal.classList.remove('vigil-offline-refusal'); }
    }
    send();
    paint();
  });
  window.vigilQueue = {
    settle(keys) {
      const done = new Set(keys);
      save(entries().filter((e) => !done.has(e.key)));
      sending = false;
      paint();
      send();  // queued meanwhile
    },
    pending: () => entries(),
  };
  setInterval(paint, 500);  // rows the server re-rendered get their note back
})();
</script>
<style>
.vigil-queue-note { font-weight: 700; font-size: .9rem; color: #4a2600; background: #ffe0b2; border-radius: 4px;
  padding: 2px 8px; margin-top: 4px; }
.vigil-queue-note:empty { display: none; }
.vigil-queue-pending { outline: 3px dashed #e65100; outline-offset: -3px; }
.vigil-offline-note:empty { display: none; }
.vigil-offline-refusal { display: block; padding: 10px 12px; border-radius: 6px; background: #b71c1c; color: #fff;
  font-weight: 700; font-size: 1.05rem; }
</style>
'''


class QueuedAction(BaseModel):
    """One action a tab kept while offline, as its script stored it."""

    key: Annotated[str, Field(min_length=1, max_length=40)]
    user: int
    action: Literal['acknowledge', 'resolve']
    alert: Annotated[int, Field(gt=0)]
    version: Annotated[int, Field(ge=0)]
    at: int  # milliseconds since the epoch, on the browser's clock


class QueuedBatch(BaseModel):
    actions: Annotated[list[dict[str, object]], Field(max_length=MAX_BATCH)]
    tz: Annotated[str, Field(max_length=64)] = 'UTC'
    now: int  # the browser's clock when it sent the batch: ages are measured on one clock


# Served once as files (components/assets.py): inlined, each open page would hold its own copy.
QUEUE_JS = Asset.inner('queue.js', _SCRIPT % {'event': EVENT, 'raise_offline': RAISE_OFFLINE}, 'script')
QUEUE_CSS = Asset.inner('queue.css', _SCRIPT, 'style')


@dataclass(frozen=True)
class QueuedOutcome:
    """What became of one queued action: applied or refused, as `message` says; `view` is the alert now, if known."""

    alert_id: int
    action: str
    applied: bool
    message: str
    view: AlertView | None = None


class QueuedActions:
    """The page's receiver of actions queued while offline (one per staff page, mounted by the frame)."""

    def __init__(self, service: AlertService, session: StaffSession) -> None:
        self._service = service
        self._session = session
        self._listeners: list[Callable[[QueuedOutcome], None]] = []
        ui.add_body_html(f'<script>window.vigilQueueUser = {int(session.user.id)};</script>'
                         + QUEUE_JS.script_tag() + QUEUE_CSS.stylesheet_tag())
        ui.on(EVENT, self._received)

    def subscribe(self, listener: Callable[[QueuedOutcome], None]) -> None:
        """Call `listener` with the outcome of every queued action this page receives."""
        self._listeners.append(listener)

    async def _received(self, event: GenericEventArguments) -> None:
        raw = event.args if isinstance(event.args, dict) else {}
        keys = [a['key'] for a in raw.get('actions') or [] if isinstance(a, dict) and isinstance(a.get('key'), str)]
        try:
            batch = QueuedBatch.model_validate(raw)
        except ValidationError:
            self._notify('The actions you took while offline could not be read; none was sent. Look at the alerts '
                         'again.', applied=False)
            self._settle(keys)
            return
        zone = _zone(batch.tz)
        for entry in batch.actions:
            try:
                action = QueuedAction.model_validate(entry)
            except ValidationError:
                self._notify('An action you took while offline could not be read and was not sent. Look at the '
                             'alerts again.', applied=False)
                continue
            outcome = await self.apply(action, batch.now, zone)
            self._notify(outcome.message, applied=outcome.applied)
            for listener in self._listeners:
                listener(outcome)
        self._settle(keys)

    async def apply(self, action: QueuedAction, sent_at: int, zone: ZoneInfo) -> QueuedOutcome:
        """Apply one queued action if the alert is still as the user saw it; otherwise say what changed."""
        noun = NOUNS[action.action]
        clicked = datetime.fromtimestamp(action.at / 1000, UTC).astimezone(zone)
        mine = f'Your {noun} from {clicked:%H:%M}'

        def refused(reason: str, current: AlertView | None = None) -> QueuedOutcome:
            return QueuedOutcome(action.alert, action.action, False, f'{mine} was not sent: {reason}', current)

        if action.user != self._session.user.id:
            return refused('it was taken by another sign-in on this browser.')
        if not 0 <= sent_at - action.at <= MAX_AGE.total_seconds() * 1000:
            return refused(f'it waited more than {MAX_AGE.total_seconds() / 60:g} minutes; look at the alert again.')
        try:
            actor = await self._session.acting()
            current = await self._service.get(actor, action.alert)
        except (NotFound, NotAllowed) as error:
            return refused(error.message)
        except Exception:
            log.exception('could not load alert %d for a queued %s', action.alert, action.action)
            return refused('the server could not load the alert. Try again.')
        if current.version != action.version:
            if _already_done(current, action.action, actor):
                return QueuedOutcome(action.alert, action.action, True, f'{mine} had already been saved.', current)
            return refused(f'{await self._what_changed(actor, current, zone)}, look again.', current)
        try:
            if action.action == 'acknowledge':
                view = await self._service.acknowledge(actor, action.alert, expected_version=action.version)
            else:
                view = await self._service.resolve(actor, action.alert, expected_version=action.version)
        except DomainError as error:
            return refused(error.message)
        except Exception:
            log.exception('could not apply a queued %s of alert %d', action.action, action.alert)
            return refused('the server could not save it. Try again.')
        return QueuedOutcome(action.alert, action.action, True, f'{mine} was sent when the connection returned.',
                             view)

    async def _what_changed(self, actor: Actor, current: AlertView, zone: ZoneInfo) -> str:
        try:
            trail = await self._service.audit_trail(actor, current.id)
        except Exception:
            log.exception('could not load the trail of alert %d', current.id)
            trail = []
        if not trail:
            return 'the alert changed meanwhile'
        last = trail[-1]
        what = CHANGES[last.type]
        if last.type is AlertEventType.ESCALATED:
            what += f' to level {last.escalation_level}'
        if last.type in (AlertEventType.ACKNOWLEDGED, AlertEventType.RESOLVED, AlertEventType.SNOOZED):
            what += f' by {person_name(last.actor)}'
        return f'{what} at {last.at.astimezone(zone):%H:%M}'

    def _notify(self, message: str, *, applied: bool) -> None:
        if applied:
            ui.notify(message, type='positive', multi_line=True)
        else:  # stays until read: the nurse must look at the alert again
            ui.notify(message, type='warning', multi_line=True, timeout=0, close_button='OK')

    @staticmethod
    def _settle(keys: list[str]) -> None:
        ui.run_javascript(f'window.vigilQueue && window.vigilQueue.settle({json.dumps(keys)})')


def _already_done(alert: AlertView, action: str, actor: Actor) -> bool:
    if action == 'acknowledge':
        return alert.status is AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == actor.name
    return alert.status is AlertStatus.RESOLVED and alert.resolved_by == actor.name


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo('UTC')
