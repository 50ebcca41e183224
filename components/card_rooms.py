"""The Patient Cards' rooms: each card rendered once for every open dashboard of one hospital and scope.

A cards room holds the patients one AccessScope sees and their open alerts (the card's badge and the acuity order);
a vitals flush or an alert event re-renders the cards it changed, once per room, and sends them in one socket.io
event to every page of the room (live_rooms.py: sequence numbers, snapshot on a gap, reload on a reconnect). Each
card goes with its sort keys (patient_order.acuity_key, then the ward-and-bed place; the acuity key depends on the
time, so the shared slow tick re-keys the cards) and its ward; the browser's store (room_store.js) orders them by
the user's choice and shows the user's wards. Which patients and alerts a room holds is decided here, on the server.

NOTE: the hub (live.py) feeds every alert event and every vitals flush here, before the per-page callbacks.
"""

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from nicegui import Client, background_tasks

from app.clock import Clock
from app.domain.alerts import attention_key_of
from app.domain.scope import AccessScope
from app.schemas import AlertView, PatientView

from .live_rooms import RoomBase, RoomKey, Rooms, Row, html_text
from .patient_cards import card_element
from .patient_order import acuity_key

log = logging.getLogger(__name__)

CardsLoader = Callable[[], Awaitable[tuple[list[PatientView], list[AlertView]]]]
VIEW = 'cards'


class CardsView:
    """What a page's store needs of the room's view: every card goes to the browser; no empty row of its own."""

    name = VIEW
    limit: int | None = None
    empty_html = ''


def _newest(patient: PatientView) -> datetime | None:
    return max((v.measured_at for v in patient.latest.values()), default=None)


def _newer(patient: PatientView, held: PatientView | None) -> bool:
    """Tell whether a view may replace the one held (a coalesced update may be newer than a snapshot, or older)."""
    if held is None:
        return True
    newest, shown = _newest(patient), _newest(held)
    return shown is None or (newest is not None and newest >= shown)


class CardsRoom(RoomBase):
    """The patients one scope of one hospital sees, with their open alerts, as cards, and the pages showing them."""

    view = CardsView()

    def __init__(self, name: str, key: RoomKey, load: CardsLoader, clock: Clock) -> None:
        super().__init__(name, key)  # no page lays its own HTML over a card: no watchers
        self._load = load
        self._clock = clock
        self.patients: dict[int, PatientView] = {}
        self.alerts: dict[int, AlertView] = {}  # the open alerts of its patients that the scope sees
        self.beds: dict[int, int] = {}  # patient id -> place in ward and bed order (the service's order)
        self.rows: dict[int, Row] = {}
        self._revision = 0
        # While a reload runs: what events brought meanwhile (the reload must not undo it).
        self._arrived: dict[int, int] | None = None
        self._buffered: dict[int, PatientView] | None = None
        # A patient of this scope the room does not hold yet came with the vitals (admitted or moved into one of its
        # wards while pages were open): the room reloads, which puts the card in its ward-and-bed place.
        self.missing = False

    # --- state ---------------------------------------------------------------------------------------------------

    def alerts_of(self, patient_id: int) -> list[AlertView]:
        """Return a patient's open alerts, the most urgent priority first (the card's colour and badge)."""
        return sorted((a for a in self.alerts.values() if a.patient_id == patient_id),
                      key=lambda a: (a.priority.rank, attention_key_of(a)))

    def _render(self, patient_id: int, now: datetime) -> Row | None:
        """Render one card again; return its row if it changed (its HTML or its place)."""
        patient = self.patients[patient_id]
        alerts = self.alerts_of(patient_id)
        bed = self.beds.get(patient_id, len(self.beds))
        key = [*acuity_key(patient, alerts, now), bed]
        html = card_element(patient, alerts, now)
        held = self.rows.get(patient_id)
        if held is not None and held['html'] == html and held['key'] == key:
            return None
        self._revision += 1
        row = self.rows[patient_id] = {'id': patient_id, 'v': self._revision, 'key': key, 'bed': [bed],
                                       'html': html, 'f': [patient.ward_id]}
        return row

    def _sees(self, patient: PatientView) -> bool:
        return patient.hospital_id == self.key.hospital_id and self.key.scope.sees_patient(patient.hospital_id,
                                                                                           patient.ward_id)

    def apply_vitals(self, patients: Iterable[PatientView]) -> tuple[list[Row], list[int]]:
        """Take the coalesced newest views of a hospital's patients; return the changed cards and those gone."""
        if self._buffered is not None:
            self._buffered.update((p.id, p) for p in patients)  # a reload runs: applied after it, if newer
        now = self._clock()
        changed: list[Row] = []
        gone: list[int] = []
        for patient in patients:
            held = self.patients.get(patient.id)
            if held is None:
                self.missing = self.missing or self._sees(patient)
                continue  # not in this scope, or new to it (then the room reloads: CardRooms.vitals)
            if not _newer(patient, held):
                continue  # older than shown
            if not self._sees(patient):  # moved to a ward this scope does not see
                self._drop(patient.id)
                gone.append(patient.id)
                continue
            self.patients[patient.id] = patient
            if (row := self._render(patient.id, now)) is not None:
                changed.append(row)
        return changed, gone

    def _drop(self, patient_id: int) -> None:
        self.patients.pop(patient_id, None)
        self.rows.pop(patient_id, None)
        for alert_id in [i for i, a in self.alerts.items() if a.patient_id == patient_id]:
            del self.alerts[alert_id]

    def apply_alert(self, alert: AlertView) -> Row | None:
        """Apply an alert event's snapshot; return the card it changed, if any."""
        if alert.patient_id is None:
            return None  # a ward alert: no card shows it
        if self._arrived is not None:
            self._arrived[alert.id] = max(alert.version, self._arrived.get(alert.id, 0))
        held = self.alerts.get(alert.id)
        if held is not None and alert.version <= held.version:
            return None
        if alert.is_open and self.key.scope.sees(alert):
            self.alerts[alert.id] = alert
        elif held is None:
            return None
        else:
            del self.alerts[alert.id]
        if alert.patient_id not in self.patients:
            return None
        return self._render(alert.patient_id, self._clock())

    def rekey(self) -> list[Row]:
        """Render every card for the current time (ages, observations due or overdue, the acuity key)."""
        now = self._clock()
        return [row for patient_id in list(self.patients) if (row := self._render(patient_id, now)) is not None]

    def ordered(self, by: str = 'key') -> list[Row]:
        """Return every card in the order of `by` ('key': acuity, then bed; 'bed': ward and bed)."""
        return sorted(self.rows.values(), key=lambda r: r[by])

    def shown(self) -> list[Row]:
        return self.ordered()

    def snapshot(self) -> dict[str, Any]:
        """Return the whole room as one event (what a page loads, or gets after a gap or a reconnect)."""
        return {'room': self.name, 'seq': self.seq, 'snapshot': True, 'rows': self.ordered(), 'slots': {}}

    def texts(self) -> list[str]:
        return [html_text(r['html']) for r in self.ordered()]

    # --- loading -------------------------------------------------------------------------------------------------

    async def _run_reload(self) -> bool:
        """Reload patients and open alerts (one load for all who ask meanwhile: RoomBase)."""
        self._arrived, self._buffered = {}, {}
        self.missing = False
        try:
            patients, alerts = await self._load()
            arrived, buffered = self._arrived, self._buffered
        finally:
            self._arrived, self._buffered = None, None
        before = dict(self.rows)
        held_alerts = self.alerts
        self.alerts = {}
        for alert in alerts:
            if alert.version < arrived.get(alert.id, 0):
                continue  # an event newer than the query (maybe its resolution) was applied meanwhile
            if alert.is_open and alert.patient_id is not None and self.key.scope.sees(alert):
                self.alerts[alert.id] = alert
        for alert_id, alert in held_alerts.items():  # brought by an event newer than the query
            if alert_id in arrived and alert.version >= arrived[alert_id]:
                self.alerts[alert_id] = alert
        fresh: dict[int, PatientView] = {}
        for patient in patients:
            if not self._sees(patient):
                continue
            for newer in (self.patients.get(patient.id), buffered.get(patient.id)):
                if newer is not None and not _newer(patient, newer):
                    patient = newer
            fresh[patient.id] = patient
        self.patients = fresh
        self.beds = {patient_id: index for index, patient_id in enumerate(fresh)}
        self.rows = {i: r for i, r in self.rows.items() if i in fresh}
        now = self._clock()
        for patient_id in fresh:
            self._render(patient_id, now)
        changed = before != self.rows
        self.unsent = self.unsent or changed
        return changed


class CardRooms(Rooms[CardsRoom]):
    """The cards rooms of one process: the hub hands them every alert event, every vitals flush and the slow tick."""

    what = 'patients'

    async def enter(self, client: Client, hospital_id: int, scope: AccessScope, load: CardsLoader) -> CardsRoom:
        """Put a page into the cards room of its hospital and scope; a new room first loads from the database.

        Any member's loader serves the room: equal scopes see exactly the same patients and alerts.
        """
        key = RoomKey(VIEW, hospital_id, scope)
        return await self._enter(client, key, lambda name: CardsRoom(name, key, load, self._clock))

    def _send(self, room: CardsRoom, rows: list[Row], gone: Iterable[int] = ()) -> None:
        """Send the changed cards to every page of the room in one event (the sequence number is taken now)."""
        removed = list(gone)
        if not rows and not removed:
            return
        room.seq += 1
        payload: dict[str, Any] = {'room': room.name, 'seq': room.seq, 'upsert': rows, 'remove': removed,
                                   'slots': {}}
        self.send_in_order(room, payload)

    def on_alert(self, hospital_id: int, alert: AlertView) -> None:
        """Apply an alert event to every cards room of its hospital (the card's badge, colour and place)."""
        for room in self.rooms_of(hospital_id):
            try:
                row = room.apply_alert(alert)
            except Exception:  # one room's failure must not keep the event from the others, nor from the pages
                log.exception('room %s could not apply alert %d', room.name, alert.id)
                continue
            if row is not None:
                self._send(room, [row])

    def vitals(self, hospital_id: int, patients: list[PatientView]) -> None:
        """Apply the coalesced vitals of a hospital's patients to each of its cards rooms (one event per room)."""
        for room in self.rooms_of(hospital_id):
            try:
                changed, gone = room.apply_vitals(patients)
            except Exception:
                log.exception('room %s could not apply the vitals of %d patients', room.name, len(patients))
                continue
            self._send(room, changed, gone)
            if room.missing:
                background_tasks.create(self._add_patients(room), name='vigil-cards-new-patient')

    async def _add_patients(self, room: CardsRoom) -> None:
        """Reload a room that met a patient of its scope it does not hold; its pages get the snapshot."""
        try:
            await self.refresh(room)
        except Exception:
            log.exception('room %s could not load a patient new to it', room.name)

    def tick(self) -> None:
        """Render every card again for the current time (on the shared slow tick) and send those that changed."""
        for room in self.rooms_of():
            try:
                changed = room.rekey()
            except Exception:
                log.exception('room %s could not render its cards for the time', room.name)
                continue
            self._send(room, changed)

