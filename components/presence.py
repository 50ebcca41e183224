"""Who of the hospital's staff has a Vigil page open right now: name, role and wards, kept live."""

from html import escape

from nicegui import ui

from .headings import heading
from .live import LiveHub, PresenceEntry
from .session import StaffSession


def person_html(entry: PresenceEntry, is_you: bool) -> str:
    """Return one person's chip: name (and "you"), role, wards."""
    wards = ', '.join(entry.wards) or 'hospital-wide'
    you = ' <span class="text-grey-7">(you)</span>' if is_you else ''
    return (f'<div class="vigil-person" role="listitem"><div class="text-weight-bold">{escape(entry.name)}{you}</div>'
            f'<div class="vigil-person-role">{escape(entry.role)} · {escape(wards)}</div></div>')


class PresenceList:
    """The presence block: one HTML element, repainted when the hub says presence changed (at most once a second)."""

    def __init__(self, hub: LiveHub, session: StaffSession) -> None:
        self._hub = hub
        self._session = session
        self._html = ''
        with ui.element('section').classes('vigil-panel column gap-2').props('aria-label="Staff online"'):
            with ui.row().classes('w-full items-center gap-2'):
                heading('Staff online', 2).classes('vigil-panel-title')
                self._count = ui.label().classes('text-grey-8').mark('presence-count')
            # NOTE: sanitize=False is safe here: person_html escapes every value that comes from outside.
            self._people = ui.html('', sanitize=False).classes('vigil-people').props('role=list').mark('presence')
        self.refresh()

    def refresh(self) -> None:
        """Show who is online now."""
        people = self._hub.online(self._session.hospital.id)
        html = ''.join(person_html(p, p.user_id == self._session.user.id) for p in people) \
            or '<span class="text-grey-7">Nobody else is signed in.</span>'
        if html != self._html:
            self._html = html
            self._people.set_content(html)
            self._count.set_text(f'{len(people)} now')
