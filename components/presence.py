"""Who of the hospital's staff has a Vigil page open right now: name, role and wards, kept live.

Every page of a hospital shows the same people, so the list is a block room per hospital (block_rooms.py): rendered
once when presence changes (the hub coalesces it: at most once a second) and sent to all its pages in one event. The
browser marks the page's own user "(you)" from the data-user attribute each person carries.
"""

import re
from html import escape

from nicegui import Client

from app.clock import system_clock
from app.domain.scope import AccessScope, AlertReach

from .block_rooms import BLOCK_ID, BlockRoom, BlockRooms, BlockStore
from .live import LiveHub, PresenceEntry
from .live_rooms import RoomKey
from .session import StaffSession

VIEW = 'presence'
NOBODY = 'Nobody else is signed in.'
# "(you)" is in every person's chip, shown on the one whose data-user is the page's own user (data-mine).
YOU = '<span class="vigil-you text-grey-7"> (you)</span>'
_CHIP_YOU = re.compile(r'(<div class="vigil-person"[^>]*data-user="(\d+)">.*?)' + re.escape(YOU))


def person_html(entry: PresenceEntry) -> str:
    """Return one person's chip: name (and "you", shown on the page of that user), role, wards."""
    wards = ', '.join(entry.wards) or 'hospital-wide'
    return (f'<div class="vigil-person" role="listitem" data-user="{entry.user_id}">'
            f'<div class="text-weight-bold">{escape(entry.name)}{YOU}</div>'
            f'<div class="vigil-person-role">{escape(entry.role)} · {escape(wards)}</div></div>')


def presence_html(people: list[PresenceEntry]) -> str:
    """Return the presence block: title, count and people.

    NOTE: trusted HTML: person_html escapes every value that comes from outside.
    """
    chips = ''.join(person_html(p) for p in people) or f'<span class="text-grey-7">{NOBODY}</span>'
    return (f'<section class="vigil-panel column gap-2" aria-label="Staff online">'
            f'<div class="nicegui-row row w-full items-center gap-2">'
            f'<h2 class="vigil-panel-title">Staff online</h2><div class="text-grey-8">{len(people)} now</div></div>'
            f'<div class="vigil-people" role="list">{chips}</div></section>')


def hospital_key(hospital_id: int) -> RoomKey:
    """Return the room of a hospital's presence list: everyone of the hospital sees the same people."""
    return RoomKey(VIEW, hospital_id, AccessScope(hospital_id=hospital_id, wards=None, alerts=AlertReach.EVERY,
                                                  staff=True))


class PresenceRooms(BlockRooms):
    """The presence lists of one process: one room per hospital, repainted when the hub says presence changed."""

    what = 'presence'

    def __init__(self, hub: LiveHub) -> None:
        super().__init__(system_clock)
        self._hub = hub

    async def enter(self, client: Client, hospital_id: int) -> BlockRoom:
        """Put a page into its hospital's room (a new room renders who is online now).

        NOTE: a page that joins an existing room shows its user with the hub's next presence flush (at most a second
        later), like every other page: an event per page opened would repaint every page once per page opened.
        """
        async def render() -> str:
            return presence_html(self._hub.online(hospital_id))

        return await self.enter_block(client, hospital_key(hospital_id), render)

    def presence_changed(self, hospital_id: int) -> None:
        for room in self.rooms_of(hospital_id):
            self.send(room, presence_html(self._hub.online(hospital_id)))

    def alerts_changed(self, hospital_id: int) -> None:
        pass

    def tick(self) -> None:
        pass

    def resync(self, hospital_id: int) -> None:
        pass


class PresenceList:
    """The presence block of one page: its hospital's room, with the page's own user marked."""

    def __init__(self, rooms: PresenceRooms, room: BlockRoom, session: StaffSession) -> None:
        self._room = room
        self._you = session.user.id
        self.element = BlockStore(rooms, room, mine=session.user.id, page=self).mark('presence presence-count')

    # --- what the page shows (the browser marks "(you)" the same way: room_store.js, `mine`) -----------------------

    def shown(self) -> list[int]:
        return [BLOCK_ID]

    def row_html(self, row_id: int) -> str | None:
        """Return the block as this page shows it: "(you)" only in the chip of the page's own user."""
        return _CHIP_YOU.sub(lambda m: m[0] if m[2] == str(self._you) else m[1], self._room.html)
