"""The Patient Cards' toolbar: most urgent first or bed order, all wards or some, remembered per user."""

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from nicegui import ui

from app.domain import AlertStatus, Priority
from app.schemas import AlertView, PatientView

from .assets import Asset
from .preferences import Preferences

if TYPE_CHECKING:  # NOTE: the cards rooms (card_rooms.py, fed by live.py) key cards here; session.py imports live.py
    from .session import StaffSession

CardOrder = Literal['acuity', 'bed']
ORDER_OPTIONS: dict[str, str] = {'acuity': 'Most urgent first', 'bed': 'Bed order'}
CARDS_KEY = 'patient_cards'
ALL_WARDS, MY_WARDS = 'all', 'mine'
WardChoice = int | str  # ALL_WARDS, MY_WARDS or one ward's id

_STYLE = '''
<style>
.vigil-card-tools .q-btn-toggle { border: 1px solid currentColor; }
.vigil-card-tools .q-btn-toggle .q-btn { min-height: 44px; padding: 0 14px; }
.vigil-card-tools .q-field { min-width: 150px; }
</style>
'''
CARD_TOOLS_CSS = Asset.inner('card-tools.css', _STYLE, 'style')  # served once as a file (components/assets.py)


def acuity_key(patient: PatientView, alerts: list[AlertView], now: datetime) -> tuple[int, int, int, int, float]:
    """Most urgent first: an open alert nobody acknowledged (the most urgent such alert first: priority, then
    escalation), then NEWS2 (highest first, none last), then observations overdue (longest overdue first); the
    caller breaks ties by bed."""
    unanswered = min(((a.priority.rank, -a.escalation_level) for a in alerts if a.status is AlertStatus.ACTIVE),
                     default=None)
    score = patient.news2.total if patient.news2 is not None else -1
    due = patient.observations_due_at
    overdue = due is not None and due <= now
    return (*(unanswered or (len(Priority), 0)), -score, 0 if overdue else 1,
            due.timestamp() if due is not None and overdue else 0.0)


def ward_options(session: 'StaffSession') -> dict[WardChoice, str]:
    """Return the ward choices that narrow something: all wards, the user's own, each ward (none for one ward)."""
    visible = {w.id for w in session.visible_wards}
    if len(visible) < 2:
        return {}
    options: dict[WardChoice, str] = {ALL_WARDS: 'All wards'}
    own = set(session.user.ward_ids) & visible
    if own and own != visible:
        options[MY_WARDS] = 'My wards'
    options.update({w.id: w.name for w in session.visible_wards})
    return options


class CardToolbar:
    """The order toggle and the ward select of the Patient Cards; every change is applied at once and remembered."""

    def __init__(self, prefs: Preferences, session: 'StaffSession', *, on_change: Callable[[], None]) -> None:
        self._prefs = prefs
        self._on_change = on_change
        self._own = frozenset(session.user.ward_ids)
        saved = prefs.get(CARDS_KEY)
        saved = saved if isinstance(saved, dict) else {}
        options = ward_options(session)
        self.order: CardOrder = 'bed' if saved.get('order') == 'bed' else 'acuity'
        self.wards: WardChoice = saved['wards'] if saved.get('wards') in options else ALL_WARDS
        ui.add_head_html(CARD_TOOLS_CSS.stylesheet_tag())
        with ui.row().classes('w-full items-center gap-2 vigil-card-tools'):
            self._order = ui.toggle(ORDER_OPTIONS, value=self.order, on_change=self._changed) \
                .props('no-caps unelevated rounded toggle-color=primary aria-label="Order of the patient cards"') \
                .mark('card-order')
            # One ward in scope (most nurses): nothing to choose.
            self._wards = ui.select(options, value=self.wards, label='Ward', on_change=self._changed) \
                .props('outlined options-dense').classes('grow basis-0').mark('card-wards') if options else None

    def chosen_wards(self) -> list[int] | None:
        """Return the ids of the chosen wards (None: every ward of the scope), as the browser's store filters them."""
        if self.wards == ALL_WARDS:
            return None
        if self.wards == MY_WARDS:
            return sorted(self._own)
        return [self.wards] if isinstance(self.wards, int) else []

    def _changed(self) -> None:
        self.order = 'bed' if self._order.value == 'bed' else 'acuity'
        chosen = self._wards.value if self._wards is not None else None
        self.wards = chosen if chosen is not None else ALL_WARDS
        self._prefs.set(CARDS_KEY, {'order': self.order, 'wards': self.wards})
        self._on_change()
