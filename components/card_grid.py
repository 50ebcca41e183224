"""The Patient Cards of one page: its cards room's cards (card_rooms.py), in the user's order, of the user's wards.

The page holds no card: the browser's store (room_store.js) keeps the room's cards, orders them by the key the user
chose (most urgent first, or ward and bed), shows the chosen wards' only, counts them and says when none is shown.
The choice is the user's (remembered per user, CardToolbar); the cards are the room's, rendered once for all its
pages. A card's NEWS2 breakdown opens and closes in the browser only (dom_patch.js keeps it through patches).
"""

from collections.abc import Callable
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from app.schemas import PatientView

from .card_rooms import CardRooms, CardsRoom
from .live_rooms import Row
from .patient_order import CardToolbar
from .preferences import Preferences
from .room_store import PanelTitle, RoomSlot, RoomStore
from .session import StaffSession

# One listener on the grid takes every card's raise button (the card is the room's HTML, not an element).
CLICK_JS = '''(event) => {
  const button = event.target.closest('button[data-vigil-raise]');
  if (button) emit({patient: Number(button.dataset.vigilRaise)});
}'''
SUMMARY = {'all': '{total} in your scope', 'some': '{shown} of {total} in your scope shown',
           'none': 'No patients on your wards.', 'filtered': 'No patients on the chosen ward.'}


class PatientCards:
    """The cards of every patient in the user's scope, most urgent first (or by ward and bed), of the chosen wards."""

    def __init__(self, rooms: CardRooms, room: CardsRoom, session: StaffSession, prefs: Preferences, *,
                 on_raise: Callable[[PatientView], Any]) -> None:
        self._room = room
        self._on_raise = on_raise
        self.element = ui.element('section').classes('vigil-panel column gap-2').props('aria-label="Patients"')
        with self.element:
            PanelTitle('Patients', 'cards-count', lambda: self.summary()[0]).classes('w-full').mark('patient-count')
            self._toolbar = CardToolbar(prefs, session, on_change=self._changed)
            RoomSlot('cards-empty', lambda: self.summary()[1]).classes('text-grey-7 q-pa-md') \
                .props('hidden').mark('patients-empty')
            self._store = RoomStore(rooms, room, slot_prefix='cards-', morph=True, summary=SUMMARY, page=self) \
                .classes('vigil-cards w-full').mark('patient-grid').on('click', self._clicked, js_handler=CLICK_JS)
            self._store.props['order'] = self._order()
            self._store.props['filter'] = self._filter()

    # --- what the page shows (the browser computes the same from the room's cards) --------------------------------

    def _filter(self) -> dict[str, list[int]] | None:
        """Return the chosen wards as the store's filter (None: every ward of the scope)."""
        wards = self._toolbar.chosen_wards()
        return None if wards is None else {'wards': wards}

    def _order(self) -> str:
        """Return which of a card's keys the chosen order sorts by (the acuity key ends with the bed's place)."""
        return 'bed' if self._toolbar.order == 'bed' else 'key'

    def _admitted(self) -> tuple[list[Row], list[Row]]:
        rows = self._room.ordered(self._order())
        chosen = self._filter()
        return rows, [r for r in rows if chosen is None or r['f'][0] in chosen['wards']]

    def summary(self) -> tuple[str, str]:
        """Return the count line and the empty message the page shows.

        NOTE: room_store.js (count) says the same in the browser; this copy tells what the page shows.
        """
        rows, admitted = self._admitted()
        total, shown = len(rows), len(admitted)
        count = SUMMARY['all' if shown == total else 'some'].format(shown=shown, total=total)
        empty = '' if admitted else SUMMARY['filtered'] if total else SUMMARY['none']
        return count, empty

    def shown(self) -> list[int]:
        """Return the ids of the patients whose cards the page shows, in order."""
        return [r['id'] for r in self._admitted()[1]]

    def row_html(self, patient_id: int) -> str | None:
        """Return the HTML of a patient's card as the page shows it, None if it does not show it."""
        row = self._room.rows.get(patient_id)
        return row['html'] if row is not None and patient_id in self.shown() else None

    # --- the user's choices and presses ----------------------------------------------------------------------------

    def _changed(self) -> None:
        self._store.props['order'] = self._order()
        self._store.props['filter'] = self._filter()
        self._store.update()

    async def _clicked(self, event: GenericEventArguments) -> None:
        """A card's raise-alert button was pressed (the browser says whose card; anything else is ignored)."""
        args = event.args if isinstance(event.args, dict) else {}
        patient_id = args.get('patient')
        patient = self._room.patients.get(patient_id) if isinstance(patient_id, int) else None
        if patient is not None:
            await self._on_raise(patient)
