"""The live hub: one bridge per process from Vigil's event bus into NiceGUI, with one set of events per hospital.

Pages subscribe to their hospital's channel inside the page function, so the callback runs in that browser's
context and NiceGUI drops it when the tab is gone. Pages filter by their own user's scope before touching an
element. Pages that show what others of the same scope show (wall displays, the dashboard's Alert List and Patient
Cards, and every staff page's alarm state and toasts) join a room instead (live_rooms.py, card_rooms.py,
signal_rooms.py): the hub hands each alert event and each vitals flush to
the rooms first, which render what changed once per room and send it to all their pages in one socket emit.
"""

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from nicegui import Event, background_tasks

from app.clock import Clock, system_clock
from app.events import BaseEvent, EventBus, PatientUpdated, Subscription, VitalsRecorded
from app.events.models import AlertEventBase
from app.events.signals import ACCOUNT_CHANGED, AccountChange
from app.schemas import AccountState, PatientView

from .card_rooms import CardRooms
from .live_rooms import LiveRooms
from .shared_texts import SharedTexts
from .signal_rooms import SignalRooms

log = logging.getLogger(__name__)

# NOTE: the issue asks for at most one visible vitals update per patient card per second.
VITALS_COALESCE_SECONDS = 1.0
# One shared clock tick per process for slow chores of open pages (expired sign-ins, sliding metric windows,
# clearing resolved rows): pages never run timers of their own.
TICK_SECONDS = 30.0
# With several processes, two events of one hospital committed by different processes can arrive in either order:
# a sequence number that is missing for this long was really lost, and pages reload from the database.
GAP_GRACE_SECONDS = 2.0
# A gap this large is not waited for: pages reload at once.
GAP_WAIT_LIMIT = 1000
# How often each process re-reads the accounts of the people with pages open: it catches what no signal brought
# (an operator CLI without Redis, a signal lost while Redis was away).
ACCOUNT_CHECK_SECONDS = 5.0

AccountStates = Callable[[Collection[int]], Awaitable[list[AccountState]]]


class HospitalFollower(Protocol):
    """Blocks shared by many pages (the metrics tiles, who is online) that the hub tells, once per hospital, what
    changed: the pages themselves do no work for it."""

    @property
    def member_count(self) -> int:
        """Return how many pages show the block (a leak shows here)."""

    def alerts_changed(self, hospital_id: int) -> None:
        """An alert of the hospital changed."""

    def presence_changed(self, hospital_id: int) -> None:
        """Someone of the hospital opened or closed a page (coalesced)."""

    def tick(self) -> None:
        """The shared slow tick."""

    def resync(self, hospital_id: int) -> None:
        """Events of the hospital may have been missed."""


@dataclass(frozen=True)
class PresenceEntry:
    """Someone who has a Vigil page open right now."""

    client_id: str
    user_id: int | None
    name: str
    role: str
    wards: tuple[str, ...]
    page: str
    since: datetime
    # When the browser last sent an event (a click, a keystroke); filled in by `LiveHub.sessions`.
    last_activity: datetime | None = None


@dataclass(frozen=True)
class AccountNotice:
    """A user's account changed: their open pages leave (sign-in ended) or re-check it and reload (scope changed)."""

    user_id: int
    change: AccountChange = AccountChange.SIGNED_OUT


@dataclass
class HospitalChannel:
    """The live events of one hospital, created once per process and shared by all its pages."""

    hospital_id: int
    # Every alert event of the hospital, unfiltered: each page applies its own user's scope.
    alerts: Event[AlertEventBase] = field(default_factory=Event)
    # Coalesced vitals: the newest PatientView of each patient that changed, at most once per second.
    vitals: Event[list[PatientView]] = field(default_factory=Event)
    # A patient's record changed (e.g. the SpO2 scale prescribed), not coalesced: rare, and each one matters. The
    # new PatientView also goes out with the coalesced vitals, so cards follow without subscribing to this.
    patients: Event[PatientUpdated] = field(default_factory=Event)
    # Someone opened or closed a page of this hospital (coalesced: at most once per second).
    presence: Event[[]] = field(default_factory=Event)
    # Events may have been missed (a gap in the sequence, a slow subscriber, a transport reconnect): reload.
    resync: Event[[]] = field(default_factory=Event)
    # The shared slow clock (every TICK_SECONDS).
    tick: Event[[]] = field(default_factory=Event)
    # A user's account changed ("log out on all devices", deactivated, role or wards): their open pages follow.
    signed_out: Event[AccountNotice] = field(default_factory=Event)
    # The cards' and alert rows' HTML its pages show, one copy for all of them.
    texts: SharedTexts = field(default_factory=SharedTexts)
    last_seq: int = 0
    # Sequence numbers skipped so far, with the loop time they were first missed.
    missing: dict[int, float] = field(default_factory=dict)

    @property
    def events(self) -> tuple[Event[Any], ...]:
        return (self.alerts, self.vitals, self.patients, self.presence, self.resync, self.tick, self.signed_out)


# The bus signal sent when a user logs out on all devices (or their account changes otherwise).
SIGNED_OUT = ACCOUNT_CHANGED

# Pages served between two yields to the event loop while fanning out one alert.
FAN_OUT_SLICE = 20


async def emit_in_slices(event: Event[AlertEventBase], value: AlertEventBase) -> None:
    """Run every page's callback like `Event.emit`, yielding to the event loop every few pages.

    NOTE: `Event.emit` runs all callbacks back to back; with hundreds of open pages that blocks the loop (HTTP
    requests, socket pings, other hospitals) for the whole fan-out. Slicing keeps the server responsive.
    """
    for index, callback in enumerate(list(event.callbacks)):
        if index and index % FAN_OUT_SLICE == 0:
            await asyncio.sleep(0)
        try:
            result = callback.run(value)
            if inspect.isawaitable(result):
                background_tasks.create(callback.await_result(result), name='vigil-live-alert')
        except Exception:
            log.exception('a page failed to apply %s of alert %d', type(value).__name__, value.alert.id)


class LiveHub:
    """Subscribes once to the bus and fans events out to the pages of each hospital."""

    def __init__(self, bus: EventBus, *, coalesce_seconds: float = VITALS_COALESCE_SECONDS,
                 tick_seconds: float = TICK_SECONDS, gap_grace_seconds: float = GAP_GRACE_SECONDS,
                 accounts: AccountStates | None = None,
                 account_check_seconds: float = ACCOUNT_CHECK_SECONDS, clock: Clock = system_clock) -> None:
        self._bus = bus
        # The rooms of this process (one emit per room and event); fed from this hub's own bus subscription.
        self.rooms = LiveRooms(clock)
        # The Patient Cards' rooms: each card rendered once per hospital and scope, fed vitals and alerts from here.
        self.card_rooms = CardRooms(clock)
        # The alarm state and the toasts of every staff page, computed once per hospital and scope.
        self.signal_rooms = SignalRooms(clock)
        # Shared blocks told of alerts, presence, the tick and resyncs once per hospital (MetricsFeed, PresenceRooms).
        self._followers: list[HospitalFollower] = []
        self._accounts = accounts
        self._account_check_seconds = account_check_seconds
        # The accounts of people with pages open, as last read (what a change is measured against).
        self._known_accounts: dict[int, AccountState] = {}
        self._account_watch: asyncio.Task[None] | None = None
        self._gap_grace_seconds = gap_grace_seconds
        self._coalesce_seconds = coalesce_seconds
        self._tick_seconds = tick_seconds
        self._presence_changed: set[int] = set()
        self._channels: dict[int, HospitalChannel] = {}
        self._pending_vitals: dict[int, dict[int, PatientView]] = defaultdict(dict)
        self._presence: dict[int, dict[str, PresenceEntry]] = defaultdict(dict)
        # Last event per client, apart from the (frozen, shared) entries: written on every browser event.
        self._activity: dict[str, datetime] = {}
        self._subscription: Subscription | None = None
        self._flusher: asyncio.Task[None] | None = None

    def follow(self, follower: HospitalFollower) -> None:
        """Tell this block of alerts, presence, the tick and resyncs from now on."""
        self._followers.append(follower)

    def _tell(self, what: Callable[[HospitalFollower], None]) -> None:
        for follower in self._followers:
            try:
                what(follower)
            except Exception:  # one block's failure must not keep the news from the others, nor from the pages
                log.exception('live UI could not update %s', type(follower).__name__)

    def channel(self, hospital_id: int) -> HospitalChannel:
        """Return the channel of a hospital (one per process, created on first use and kept)."""
        channel = self._channels.get(hospital_id)
        if channel is None:
            channel = self._channels[hospital_id] = HospitalChannel(hospital_id)
        return channel

    def start(self) -> None:
        """Subscribe to the bus and start the vitals coalescer; call once the event loop runs."""
        if self._subscription is None:
            self._subscription = self._bus.subscribe(self._on_event, name='live-ui', queue_size=10_000)
            # After a Redis outage events may be lost for good: every page reloads from the database.
            self._bus.on_resync(self.request_resync)
            self._bus.on_signal(self._on_signal)
            self._flusher = background_tasks.create(self._flush_vitals_forever(), name='vigil-vitals-coalescer')
            if self._accounts is not None:
                self._account_watch = background_tasks.create(self._watch_accounts_forever(),
                                                              name='vigil-account-watch')

    def stop(self) -> None:
        """Unsubscribe from the bus and stop the coalescer."""
        if self._subscription is not None:
            self._subscription()
            self._subscription = None
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        if self._account_watch is not None:
            self._account_watch.cancel()
            self._account_watch = None

    @property
    def subscription_count(self) -> int:
        """Return how many page callbacks are subscribed across all hospitals (a leak shows here)."""
        return sum(len(e.callbacks) for c in self._channels.values() for e in c.events) + self.rooms.member_count \
            + self.card_rooms.member_count + self.signal_rooms.member_count \
            + sum(f.member_count for f in self._followers)

    async def _on_event(self, event: BaseEvent) -> None:
        channel = self.channel(event.hospital_id)
        if channel.last_seq and event.seq > channel.last_seq + 1:
            if event.seq - channel.last_seq > GAP_WAIT_LIMIT:
                log.warning('live UI missed events %d-%d of hospital %d: pages reload their state',
                            channel.last_seq + 1, event.seq - 1, event.hospital_id)
                self._resync_channel(channel)
            else:
                noticed = asyncio.get_running_loop().time()
                for seq in range(channel.last_seq + 1, event.seq):
                    channel.missing.setdefault(seq, noticed)
        else:
            channel.missing.pop(event.seq, None)
        channel.last_seq = max(channel.last_seq, event.seq)
        if isinstance(event, AlertEventBase):
            await self.rooms.on_alert(event.hospital_id, event.alert)
            self.card_rooms.on_alert(event.hospital_id, event.alert)
            await self.signal_rooms.on_alert(event)
            self._tell(lambda f: f.alerts_changed(event.hospital_id))
            await emit_in_slices(channel.alerts, event)
        elif isinstance(event, VitalsRecorded):
            self._pending_vitals[event.hospital_id][event.patient.id] = event.patient
        elif isinstance(event, PatientUpdated):
            # NOTE: patient cards and pages apply the newest PatientView of the vitals stream: this one joins it.
            self._pending_vitals[event.hospital_id][event.patient.id] = event.patient
            channel.patients.emit(event)

    def request_resync(self, hospital_id: int | None = None) -> None:
        """Tell pages (of one hospital, or all) to reload their state from the database."""
        for channel in list(self._channels.values()):
            if hospital_id is None or channel.hospital_id == hospital_id:
                self._resync_channel(channel)

    def _resync_channel(self, channel: HospitalChannel) -> None:
        channel.missing.clear()
        channel.resync.emit()
        self._tell(lambda f: f.resync(channel.hospital_id))
        if self.rooms.rooms_of(channel.hospital_id):
            background_tasks.create(self.rooms.reload(channel.hospital_id), name='vigil-room-resync')
        if self.card_rooms.rooms_of(channel.hospital_id):
            background_tasks.create(self.card_rooms.reload(channel.hospital_id), name='vigil-cards-resync')
        if self.signal_rooms.rooms_of(channel.hospital_id):
            background_tasks.create(self.signal_rooms.reload(channel.hospital_id), name='vigil-signals-resync')

    def check_gaps(self) -> None:
        """Resync the pages of every hospital with a sequence number still missing after the grace period."""
        now = asyncio.get_running_loop().time()
        for channel in list(self._channels.values()):
            if channel.missing and now - min(channel.missing.values()) >= self._gap_grace_seconds:
                lost = sorted(channel.missing)
                log.warning('live UI missed %d event(s) of hospital %d (seq %d-%d): pages reload their state',
                            len(lost), channel.hospital_id, lost[0], lost[-1])
                self._resync_channel(channel)

    async def _flush_vitals_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time() + self._tick_seconds
        while True:
            await asyncio.sleep(self._coalesce_seconds)
            try:
                self.flush_vitals()
                self.flush_presence()
                self.check_gaps()
                if loop.time() >= next_tick:
                    next_tick = loop.time() + self._tick_seconds
                    self.tick()
            except Exception:
                log.exception('live UI failed to deliver coalesced updates')

    def flush_vitals(self) -> None:
        """Deliver the vitals collected since the last flush (the coalescer calls this every second)."""
        pending, self._pending_vitals = self._pending_vitals, defaultdict(dict)
        for hospital_id, patients in pending.items():
            views = list(patients.values())
            self.card_rooms.vitals(hospital_id, views)  # once per room, before the pages that still follow vitals
            self.channel(hospital_id).vitals.emit(views)

    def flush_presence(self) -> None:
        """Tell each hospital whose presence changed since the last flush."""
        # Coalesced like vitals: 300 pages opening at once must not repaint every presence list 300 times.
        changed, self._presence_changed = self._presence_changed, set()
        for hospital_id in changed:
            self._tell(lambda f: f.presence_changed(hospital_id))  # noqa: B023 (called at once, in the loop)
            self.channel(hospital_id).presence.emit()

    def tick(self) -> None:
        """Emit the shared slow clock tick to every hospital (the coalescer calls this every TICK_SECONDS)."""
        for channel in list(self._channels.values()):
            channel.tick.emit()
        if self.rooms.rooms_of():
            background_tasks.create(self.rooms.prune(), name='vigil-room-prune')
        self.card_rooms.tick()
        self._tell(lambda f: f.tick())

    def end_sessions(self, hospital_id: int, user_id: int, change: AccountChange = AccountChange.SIGNED_OUT) -> None:
        """Tell every open page of this user (in this process) that their account changed: they leave or re-check."""
        self.channel(hospital_id).signed_out.emit(AccountNotice(user_id, change))

    async def announce_sign_out(self, hospital_id: int, user_id: int) -> None:
        """Send every open page of this user, in every process, back to the sign-in page."""
        await self._bus.signal(SIGNED_OUT, hospital_id=hospital_id, user_id=user_id,
                               reason=AccountChange.SIGNED_OUT.value)

    def _on_signal(self, message: dict[str, Any]) -> None:
        if message.get('kind') == SIGNED_OUT:
            hospital_id, user_id = message.get('hospital_id'), message.get('user_id')
            if isinstance(hospital_id, int) and isinstance(user_id, int):
                try:
                    change = AccountChange(message.get('reason', AccountChange.SIGNED_OUT.value))
                except ValueError:  # a newer process's reason: the pages re-read the account and decide
                    change = AccountChange.CHANGED
                self.end_sessions(hospital_id, user_id, change)

    # --- the account watch --------------------------------------------------------------------------------------

    async def _watch_accounts_forever(self) -> None:
        while True:
            await asyncio.sleep(self._account_check_seconds)
            try:
                await self.check_accounts()
            except Exception:
                log.exception('live UI could not re-read the accounts of open pages')

    async def check_accounts(self) -> None:
        """Re-read the accounts of everyone with a page open here; tell the pages of each one that changed.

        A deactivated account's pages leave; for a new "log out on all devices" (or a user first seen, whose page may
        predate a change) and a changed role or wards, the pages re-read the account themselves and leave or reload.
        """
        if self._accounts is None:
            return
        hospital_of = {e.user_id: hospital_id for hospital_id, entries in self._presence.items()
                       for e in list(entries.values()) if e.user_id is not None}
        states = {s.user_id: s for s in await self._accounts(hospital_of.keys())} if hospital_of else {}
        for user_id, hospital_id in hospital_of.items():
            state, known = states.get(user_id), self._known_accounts.get(user_id)
            if state is None or not state.active:
                self.end_sessions(hospital_id, user_id, AccountChange.DEACTIVATED)
            elif known is None or (state.sessions_revoked_at, state.role, state.ward_ids) != (
                    known.sessions_revoked_at, known.role, known.ward_ids):
                self.end_sessions(hospital_id, user_id, AccountChange.CHANGED)
        self._known_accounts = states

    # --- presence ------------------------------------------------------------------------------------------------

    def join(self, hospital_id: int, entry: PresenceEntry) -> None:
        """Record that a page of this hospital is open."""
        self._presence[hospital_id][entry.client_id] = entry
        self._presence_changed.add(hospital_id)
        log.info('page %s opened by %s (%s)', entry.page, entry.name, entry.role,
                 extra={'event': 'connection.opened', 'hospital_id': hospital_id, 'user_id': entry.user_id,
                        'role': entry.role, 'page': entry.page, 'client_id': entry.client_id})

    def leave(self, hospital_id: int, client_id: str) -> None:
        """Record that a page is gone for good (the tab was closed, not a socket blip)."""
        self._activity.pop(client_id, None)
        entry = self._presence[hospital_id].pop(client_id, None)
        if entry is not None:
            self._presence_changed.add(hospital_id)
            log.info('page %s closed by %s (%s) after %.0f s', entry.page, entry.name, entry.role,
                     (datetime.now(UTC) - entry.since).total_seconds(),
                     extra={'event': 'connection.closed', 'hospital_id': hospital_id, 'user_id': entry.user_id,
                            'role': entry.role, 'page': entry.page, 'client_id': client_id})

    def touch(self, client_id: str) -> None:
        """Record that this page's browser just sent an event (one dict write: it runs on every click)."""
        # NOTE: no presence event on purpose: repainting every presence list on every click would cost far more.
        self._activity[client_id] = datetime.now(UTC)

    def online(self, hospital_id: int) -> list[PresenceEntry]:
        """Return one entry per signed-in person with a page open (their earliest), by name; kiosks excluded."""
        people: dict[int, PresenceEntry] = {}
        for entry in self._presence[hospital_id].values():
            if entry.user_id is None:
                continue
            known = people.get(entry.user_id)
            if known is None or entry.since < known.since:
                people[entry.user_id] = entry
        return sorted(people.values(), key=lambda e: e.name.lower())

    def hospitals_present(self) -> list[int]:
        """Return the hospitals with at least one page open in this process."""
        return [hospital_id for hospital_id, entries in self._presence.items() if entries]

    def sessions(self, hospital_id: int) -> list[PresenceEntry]:
        """Return every open page of a hospital, kiosks included, with its last activity (its opening if none)."""
        return [replace(e, last_activity=self._activity.get(e.client_id, e.since))
                for e in self._presence[hospital_id].values()]
