"""Block rooms: one block of a page (the metrics tiles, who is online) rendered once for every page that shows the same.

A block room holds one piece of HTML, rendered on the server for all its pages (its hospital and scope) and sent to
them in one socket.io event when it changes (live_rooms.py: sequence numbers, a snapshot on a gap or a reconnect).
The browser's store (room_store.js) patches the shown block in place; what differs per page (whose "(you)" it is)
the browser marks itself from a data attribute (`mine`). A page holds one element for the block and no subscription.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import Client

from .live_rooms import RoomBase, RoomKey, Rooms, Row, html_text
from .room_store import PageRows, RoomStore

BLOCK_ID = 0  # the block is the room's one row
Render = Callable[[], Awaitable[str]]


class BlockView:
    """What a page's store needs of the room's view: one row, always there."""

    limit: int | None = None
    empty_html = ''


class BlockRoom(RoomBase):
    """One block's HTML for one hospital and scope, and the pages showing it."""

    view = BlockView()

    def __init__(self, name: str, key: RoomKey, render: Render) -> None:
        super().__init__(name, key)  # no page lays its own HTML over the block: no watchers
        self._render = render
        self.html = ''
        self._revision = 0

    @property
    def rows(self) -> dict[int, Row]:
        return {BLOCK_ID: self._row()}

    def _row(self) -> Row:
        return {'id': BLOCK_ID, 'v': self._revision, 'key': [0], 'html': self.html}

    def show(self, html: str) -> Row | None:
        """Hold new HTML; return the row to send if it changed."""
        if html == self.html:
            return None
        self._revision += 1
        self.html = html
        return self._row()

    def shown(self) -> list[Row]:
        return [self._row()] if self.html else []

    def snapshot(self) -> dict[str, Any]:
        """Return the whole room as one event (what a page loads, or gets after a gap or a reconnect)."""
        return {'room': self.name, 'seq': self.seq, 'snapshot': True, 'rows': self.shown(), 'slots': {}}

    def texts(self) -> list[str]:
        return [html_text(self.html)]

    async def _run_reload(self) -> bool:
        changed = self.show(await self._render()) is not None
        self.unsent = self.unsent or changed
        return changed


class BlockRooms(Rooms[BlockRoom]):
    """Block rooms of one kind in one process."""

    what = 'block'

    async def enter_block(self, client: Client, key: RoomKey, render: Render) -> BlockRoom:
        """Put a page into the room of this key; a new room first renders its block (with `render`)."""
        return await self._enter(client, key, lambda name: BlockRoom(name, key, render))

    def send(self, room: BlockRoom, html: str) -> None:
        """Show new HTML on every page of the room (one event, none if nothing changed)."""
        row = room.show(html)
        if row is not None:
            room.seq += 1
            self.send_in_order(room, {'room': room.name, 'seq': room.seq, 'upsert': [row], 'slots': {}})


class BlockStore(RoomStore):
    """The block of a room on one page: one element, the block patched in place in the browser.

    `mine` (a user id) marks the parts of the block tagged `data-user="<id>"` with `data-mine` (the page's own user);
    `page` tells the simulated test user what the page shows when that differs from the room's HTML.
    """

    def __init__(self, rooms: BlockRooms, room: BlockRoom, *, mine: int | None = None,
                 page: PageRows | None = None) -> None:
        super().__init__(rooms, room, slot_prefix='', morph=True, page=page)
        if mine is not None:
            self._props['mine'] = mine

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        page = self._page
        return [page.row_html(BLOCK_ID) if page is not None else self.room.rows[BLOCK_ID]['html']]
