"""Who of the hospital's staff has a Vigil page open right now: name, role and wards, kept live."""

from html import escape

from .live import LiveHub, PresenceEntry
from .morph_html import MorphHtml
from .session import StaffSession


def person_html(entry: PresenceEntry, is_you: bool) -> str:
    """Return one person's chip: name (and "you"), role, wards."""
    wards = ', '.join(entry.wards) or 'hospital-wide'
    you = ' <span class="text-grey-7">(you)</span>' if is_you else ''
    return (f'<div class="vigil-person" role="listitem"><div class="text-weight-bold">{escape(entry.name)}{you}</div>'
            f'<div class="vigil-person-role">{escape(entry.role)} · {escape(wards)}</div></div>')


class PresenceList:
    """The presence block: one HTML element (title, count and people), repainted when the hub says presence changed
    (at most once a second)."""

    def __init__(self, hub: LiveHub, session: StaffSession) -> None:
        self._hub = hub
        self._session = session
        # One element rather than five (each costs the server ~4 KB per open page): the title never changes, the
        # count and the people change together.
        # NOTE: the element is trusted HTML: person_html escapes every value that comes from outside.
        self.element = MorphHtml(tag='section').classes('vigil-panel column gap-2') \
            .props('aria-label="Staff online"').mark('presence presence-count')
        self.refresh()

    def refresh(self) -> None:
        """Show who is online now."""
        people = self._hub.online(self._session.hospital.id)
        html = ''.join(person_html(p, p.user_id == self._session.user.id) for p in people) \
            or '<span class="text-grey-7">Nobody else is signed in.</span>'
        html = (f'<div class="nicegui-row row w-full items-center gap-2">'
                f'<h2 class="vigil-panel-title">Staff online</h2><div class="text-grey-8">{len(people)} now</div></div>'
                f'<div class="vigil-people" role="list">{html}</div>')
        if html != self.element.content:
            self.element.set_content(html)
