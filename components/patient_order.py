"""The Patient Cards' toolbar: most urgent first or bed order, all wards or some, remembered per user."""

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from app.domain import AlertStatus, Priority
from app.schemas import AlertView, PatientView

from .choices import Choices, Field
from .preferences import Preferences

if TYPE_CHECKING:  # NOTE: the cards rooms (card_rooms.py, fed by live.py) key cards here; session.py imports live.py
    from .session import StaffSession

CardOrder = Literal['acuity', 'bed']
ORDER_OPTIONS: dict[str, str] = {'acuity': 'Most urgent first', 'bed': 'Bed order'}
CARDS_KEY = 'patient_cards'
ALL_WARDS, MY_WARDS = 'all', 'mine'
WardChoice = int | str  # ALL_WARDS, MY_WARDS or one ward's id

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
    """The order toggle and the ward select of the Patient Cards, in one element (choices.py); every change is
    applied at once and remembered."""

    def __init__(self, prefs: Preferences, session: 'StaffSession', *, on_change: Callable[[], None]) -> None:
        self._prefs = prefs
        self._on_change = on_change
        self._own = frozenset(session.user.ward_ids)
        saved = prefs.get(CARDS_KEY)
        saved = saved if isinstance(saved, dict) else {}
        options = ward_options(session)
        self.order: CardOrder = 'bed' if saved.get('order') == 'bed' else 'acuity'
        self.wards: WardChoice = saved['wards'] if saved.get('wards') in options else ALL_WARDS
        fields = [Field('order', 'Order of the patient cards', 'toggle', list(ORDER_OPTIONS.items()))]
        if options:  # one ward in scope (most nurses): nothing to choose
            fields.append(Field('wards', 'Ward', 'select', list(options.items())))
        self.element = Choices(fields, {'order': self.order, 'wards': self.wards}, on_change=self._changed) \
            .mark('card-tools card-order' + (' card-wards' if options else ''))

    def chosen_wards(self) -> list[int] | None:
        """Return the ids of the chosen wards (None: every ward of the scope), as the browser's store filters them."""
        if self.wards == ALL_WARDS:
            return None
        if self.wards == MY_WARDS:
            return sorted(self._own)
        return [self.wards] if isinstance(self.wards, int) else []

    def _changed(self) -> None:
        values = self.element.values
        self.order = 'bed' if values['order'] == 'bed' else 'acuity'
        self.wards = values['wards']
        self._prefs.set(CARDS_KEY, {'order': self.order, 'wards': self.wards})
        self._on_change()
