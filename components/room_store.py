"""The element a page shows a live room with: the room's rows, kept and sorted in the browser (room_store.js).

The server sends the element the room's snapshot once, with the page; after that the room's events reach it over
the socket without any per-page work on the server. For the simulated test user (no JavaScript), the element
displays what its room shows: the rows' text, or the empty message, and the slots' texts.
"""

from collections.abc import Awaitable, Callable
from html import escape
from typing import Any, Protocol, Self

from nicegui import context, ui

from .live_rooms import Rooms, RoomViewLike, Row, html_text, on_connect

Guard = Callable[[], Awaitable[bool]]


class ShownRoom(Protocol):
    """What the element needs of a room (an alert room, live_rooms.py, or a cards room, card_rooms.py)."""

    @property
    def name(self) -> str: ...

    @property
    def view(self) -> RoomViewLike: ...

    @property
    def rows(self) -> dict[int, Row]: ...

    def snapshot(self) -> dict[str, Any]: ...

    def shown(self) -> list[Row]: ...

    def texts(self) -> list[str]: ...


class PageRows(Protocol):
    """What one page shows of its room when that is not simply the room's rows (its filters, its own rows)."""

    def shown(self) -> list[int]:
        """Return the ids of the rows the page shows, in order."""

    def row_html(self, alert_id: int) -> str | None:
        """Return the HTML of one row as the page shows it, None if it does not."""


class RoomStore(ui.element, component='room_store.js', dependencies=['dom_patch.js']):
    """The rows of one room on one page, joined to the room's socket.io room once the page's socket connects.

    `guard`, if given, runs before a socket that came back re-joins (a wall display re-checks its token there); when
    it says no, the page stays out of the room. `limit` overrides the view's (a page that filters in the browser
    gets every row and shows the first `limit` it admits); `morph` patches changed rows in place; `summary` names
    the texts of the page's `count` and `empty` slots ({'none': ..., 'filtered': ...}); `page` says what the page
    shows when that is not simply the room's rows.
    """

    def __init__(self, rooms: Rooms[Any], room: ShownRoom, *, slot_prefix: str, guard: Guard | None = None,
                 limit: int | None = None, morph: bool = False, summary: dict[str, str] | None = None,
                 page: PageRows | None = None) -> None:
        super().__init__()
        self.room = room
        self._rooms = rooms
        self._guard = guard
        self._page = page
        self._props['room'] = room.name
        self._props['initial'] = room.snapshot()
        self._props['limit'] = limit or room.view.limit or 0
        self._props['empty'] = room.view.empty_html
        self._props['prefix'] = slot_prefix
        if morph:
            self._props['morph'] = True
        if summary is not None:
            self._props['summary'] = summary
        client = context.client

        async def connected(reconnect: bool) -> None:
            if self._guard is not None and reconnect and not await self._guard():
                return
            # The page has its state now: the snapshot sent with it is not kept for each open page.
            self._props['initial'] = None
            await rooms.connected(client, reload=reconnect)

        async def resync() -> None:
            await rooms.send_snapshot(client)

        on_connect(client, connected)
        client.on_delete(lambda: rooms.leave(client))
        self.on('resync', resync)

    def show_filter(self, facets: dict[str, Any] | None) -> Self:
        """Show only the rows these facets admit (the page's own filters, applied in the browser)."""
        self._props['filter'] = facets
        self.update()
        return self

    def show_overrides(self, overrides: dict[int, str]) -> None:
        """Show the page's own HTML for these rows instead of the room's (state only this page has)."""
        self._props['overrides'] = {str(alert_id): html for alert_id, html in overrides.items()} or None
        self.update()

    def leave(self) -> None:
        """Take the page out of its room (it no longer shows it)."""
        self._rooms.leave(self.client)

    def rows(self) -> list[dict[str, Any]]:
        """Return the rows the page shows, in order (the server's view of what the browser paints)."""
        return self.room.shown()

    def shown(self) -> list[int]:
        """Return the ids of the rows the page shows, in order."""
        return self._page.shown() if self._page is not None else [r['id'] for r in self.room.shown()]

    def row_html(self, alert_id: int) -> str | None:
        """Return the HTML of one row as the page shows it, None if it does not show it."""
        if self._page is not None:
            return self._page.row_html(alert_id)
        return self.room.rows[alert_id]['html'] if alert_id in self.shown() else None

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        if self._page is None:
            return self.room.texts()
        return [html_text(self._page.row_html(i) or '') for i in self._page.shown()]


class RoomSlot(ui.element):
    """An element the browser's store fills in (`data-room-slot`); the simulated test user reads `text()` instead."""

    def __init__(self, name: str, text: Callable[[], str], *, tag: str = 'div') -> None:
        super().__init__(tag)
        self._slot_text = text
        self._props['data-room-slot'] = name

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        return [self._slot_text()]


class PanelTitle(ui.html):
    """A panel's title (<h2>) and the count the browser's store fills in (`data-room-slot`), in one element.

    The simulated test user reads `text()` as the count.
    NOTE: the server never changes the content: html.js would put the empty slot back.
    """

    def __init__(self, title: str, slot: str, text: Callable[[], str]) -> None:
        super().__init__(f'<h2 class="vigil-panel-title">{escape(title)}</h2>'
                         f'<span class="text-grey-8" data-room-slot="{escape(slot)}"></span>', sanitize=False)
        self._props.pop('sanitize', None)
        self._slot_text = text
        self.classes('row items-center gap-2')

    def _displayed_contents(self, *, only_visible: bool) -> list[Any]:
        return [self._slot_text()]
