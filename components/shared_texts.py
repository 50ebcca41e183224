"""One copy of a card's or an alert row's HTML for all the pages that show it, held only while a page shows it.

Every open page renders its own cards and rows, and the same patient's card (or the same alert's row) says the same
thing on every page of the hospital: each page would otherwise keep its own copy of the same few KB per card and
row, for its whole life. A page hands over each text it made and keeps what it gets back: the copy some page already
holds if one says the same, else its own, which becomes the copy handed to the next page.
"""

import weakref


class _Text(str):
    """A text pages hold in common (a str subclass, so that the store can refer to it without keeping it alive)."""

    __slots__ = ('__weakref__',)


class SharedTexts:
    """Equal texts handed over by any page, reduced to one copy; a text no page holds any more is forgotten."""

    def __init__(self) -> None:
        # Keyed by hash and length: the texts themselves as keys would keep them alive. Two different texts with the
        # same key each stay with the pages that made them (the newer is the one handed out); nothing is mixed up.
        self._held: weakref.WeakValueDictionary[tuple[int, int], _Text] = weakref.WeakValueDictionary()

    def share(self, text: str) -> str:
        """Return the copy of `text` already held for the pages, if one is equal, else `text` (held from now on)."""
        key = (hash(text), len(text))
        held = self._held.get(key)
        if held is not None and held == text:
            return held
        shared = _Text(text)
        self._held[key] = shared
        return shared
