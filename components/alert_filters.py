"""The Alert List's filters (ward, priority, status), remembered per user across reloads, sign-ins and devices."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.domain import AlertStatus, Priority
from app.schemas import AlertView, WardView

from .choices import Choices, Field
from .preferences import Preferences
from .theme import PRIORITY_LABELS

StatusFilter = Literal['open', 'active', 'acknowledged']
STATUS_OPTIONS: dict[str, str] = {'open': 'Active and acknowledged', 'active': 'Active only',
                                  'acknowledged': 'Acknowledged only'}
FILTERS_KEY = 'alert_filters'
ALL_WARDS = 0  # ward ids start at 1


@dataclass(frozen=True)
class AlertFilters:
    """What the user chose to see in the list: one ward or all, some priorities or all, which statuses."""

    ward_id: int | None = None
    priorities: tuple[Priority, ...] = ()
    status: StatusFilter = 'open'

    def admits(self, alert: AlertView) -> bool:
        if self.ward_id is not None and alert.ward_id != self.ward_id:
            return False
        if self.priorities and alert.priority not in self.priorities:
            return False
        if alert.status is AlertStatus.RESOLVED or self.status == 'open':
            return True  # a resolved row lingers wherever it was shown
        return alert.status.value == self.status

    def dump(self) -> dict[str, Any]:
        return {'ward_id': self.ward_id, 'priorities': [p.value for p in self.priorities], 'status': self.status}

    @classmethod
    def load(cls, raw: object, ward_ids: set[int]) -> 'AlertFilters':
        """Rebuild saved filters, dropping whatever no longer applies (a ward that is gone, an unknown value)."""
        if not isinstance(raw, dict):
            return cls()
        ward_id = raw.get('ward_id')
        priorities = tuple(Priority(p) for p in raw.get('priorities') or () if p in {q.value for q in Priority})
        status = raw.get('status')
        return cls(ward_id=ward_id if ward_id in ward_ids else None, priorities=priorities,
                   status=status if status in STATUS_OPTIONS else 'open')


class FilterBar:
    """Three choices in one element (choices.py); every change is applied at once and remembered."""

    def __init__(self, prefs: Preferences, wards: Sequence[WardView], *, on_change: Callable[[], None]) -> None:
        self._prefs = prefs
        self._on_change = on_change
        self.filters = AlertFilters.load(prefs.get(FILTERS_KEY), {w.id for w in wards})
        fields = [Field('ward', 'Ward', 'select', [(ALL_WARDS, 'All wards'), *((w.id, w.name) for w in wards)]),
                  Field('priorities', 'Priority', 'multi', [(p.value, PRIORITY_LABELS[p]) for p in Priority]),
                  Field('status', 'Status', 'select', list(STATUS_OPTIONS.items()))]
        values = {'ward': self.filters.ward_id or ALL_WARDS, 'priorities': [p.value for p in self.filters.priorities],
                  'status': self.filters.status}
        self.element = Choices(fields, values, on_change=self._changed) \
            .mark('alert-filters filter-ward filter-priority filter-status')

    def _changed(self) -> None:
        values = self.element.values
        self.filters = AlertFilters(ward_id=values['ward'] or None,
                                    priorities=tuple(Priority(p) for p in values['priorities']),
                                    status=values['status'])
        self._prefs.set(FILTERS_KEY, self.filters.dump())
        self._on_change()
