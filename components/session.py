"""Who is looking at a page: captured once when the page is built, because bus callbacks run in other contexts."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from app.domain import Role
from app.domain.scope import AccessScope
from app.errors import NotAllowed
from app.schemas import Actor, HospitalView, UserView, WardView

from .live import HospitalChannel

ROLE_LABELS = {Role.NURSE: 'Nurse', Role.CHARGE_NURSE: 'Charge nurse', Role.PHYSICIAN: 'Physician',
               Role.ADMIN: 'Administrator'}


@dataclass(frozen=True)
class StaffSession:
    """The signed-in staff member of one page, their hospital, its wards and its live channel."""

    user: UserView
    actor: Actor
    hospital: HospitalView
    wards: tuple[WardView, ...]
    channel: HospitalChannel
    signed_in_at: datetime | None = None
    # Re-reads the account (role, wards, sign-in still valid) from the database; None once the sign-in has ended.
    reauthorize: Callable[[], Awaitable[Actor | None]] | None = None

    async def acting(self) -> Actor:
        """Return who acts now, re-read before every action: a changed role or an ended sign-in counts at once."""
        if self.reauthorize is None:
            return self.actor
        actor = await self.reauthorize()
        if actor is None:
            raise NotAllowed('Your sign-in has ended. Sign in again to continue.')
        return actor

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.user.role]

    @property
    def own_ward_names(self) -> tuple[str, ...]:
        return tuple(w.name for w in self.wards if w.id in self.user.ward_ids)

    @cached_property
    def scope(self) -> AccessScope:
        """What this person sees and acts on, as signed in when the page was built (bus callbacks check it)."""
        return AccessScope.of(self.actor)

    @property
    def visible_wards(self) -> tuple[WardView, ...]:
        """The wards whose patients this person sees (alerts of other wards may still reach them by escalation)."""
        return self.scope.patient_wards(self.wards)

    def ward_name(self, ward_id: int) -> str:
        return next((w.name for w in self.wards if w.id == ward_id), '?')
