"""The element a page shows a live room with: the room's rows, kept and sorted in the browser (room_store.js).

The server sends the element the room's snapshot once, with the page; after that the room's events reach it over
the socket without any per-page work on the server. For the simulated test user (no JavaScript), the element
displays what its room shows: the rows' text, or the empty message, and the slots' texts.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import context, ui

from .live_rooms import LiveRooms, Room

Guard = Callable[[], Awaitable[bool]]


class RoomStore(ui.element, component='room_store.js'):
    """The rows of one room on one page, joined to the room's socket.io room once the page's socket connects.

    `guard`, if given, runs before a socket that came back re-joins (a wall display re-checks its token there); when
    it says no, the page stays out of the room.
    """

    def __init__(self, rooms: LiveRooms, room: Room, *, slot_prefix: str, guard: Guard | None = None) -> None:
        super().__init__()
        self.room = room
        self._rooms = rooms
        self._guard = guard
        self._props['room'] = room.name
        self._props['initial'] = room.snapshot()
        self._props['limit'] = room.view.limit or 0
        self._props['empty'] = room.view.empty_html
        self._props['prefix'] = slot_prefix
        client = context.client
        lost = False

        def disconnected() -> None:
            nonlocal lost
            lost = True

        async def connected() -> None:
            nonlocal lost
            reconnect, lost = lost, False
            if self._guard is not None and reconnect and not await self._guard():
                return
            # The page has its state now: the snapshot sent with it is not kept for each open page.
            self._props['initial'] = None
            await rooms.connected(client, reload=reconnect)

        async def resync() -> None:
            await rooms.send_snapshot(client)

        # NOTE: on_disconnect fires on every socket drop, also one that reconnects; on_connect also on the first.
        client.on_disconnect(disconnected)
        client.on_connect(connected)
        client.on_delete(lambda: rooms.leave(client))
        self.on('resync', resync)

    def leave(self) -> None:
        """Take the page out of its room (it no longer shows it)."""
        self._rooms.leave(self.client)

    def rows(self) -> list[dict[str, Any]]:
        """Return the rows the page shows, in order (the server's view of what the browser paints)."""
        return self.room.shown()

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        return self.room.texts()
