"""Connection analytics for administrators: who has which Vigil page open, where, and how recently used.

This process's sessions come from the live hub's presence; with Redis, the other processes' sessions come from the
session directory (each process shares its own every 15 s). Ages are kept current by the browser
(components/times). The block repaints when the hub's coalesced presence event says a page opened or closed, on
the shared 30-second tick and on its Refresh button: no timer of its own.
"""

from collections import Counter
from datetime import UTC, datetime
from html import escape

from nicegui import ui

from app.session_directory import DirectoryUnavailable, SessionDirectory, SessionRecord

from . import times
from .headings import heading
from .live import LiveHub
from .session import StaffSession

PAGE_LABELS = {'dashboard': 'Dashboard', 'patient': 'Patient', 'audit': 'Audit trail', 'admin': 'Administration',
               'connections': 'Connections', 'kiosk': 'Wall display'}


def page_label(page: str) -> str:
    """Return the name people know a page by."""
    return PAGE_LABELS.get(page, page.capitalize())


def plural(n: int, one: str, many: str | None = None) -> str:
    """Return "1 session", "2 sessions"."""
    return f'{n} {one if n == 1 else many or one + "s"}'


def local_sessions(hub: LiveHub, hospital_id: int, process: str) -> list[SessionRecord]:
    """Return this process's open pages of a hospital as session records."""
    return [SessionRecord(process=process, client_id=e.client_id, user_id=e.user_id, name=e.name, role=e.role,
                          wards=e.wards, page=e.page, since=e.since, last_activity=e.last_activity or e.since)
            for e in hub.sessions(hospital_id)]


def share_snapshot(hub: LiveHub, process: str) -> dict[int, list[SessionRecord]]:
    """Return this process's sessions of every hospital, for the session directory."""
    return {h: local_sessions(hub, h, process) for h in hub.hospitals_present()}


def counts_html(title: str, counts: Counter[str]) -> str:
    """Return a small two-column table of counts, largest first (every value from outside is escaped)."""
    rows = ''.join(f'<tr><td>{escape(name)}</td><td class="vigil-count">{n}</td></tr>'
                   for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return (f'<table class="vigil-admin-table"><thead><tr><th>{title}</th><th class="vigil-count">Sessions</th>'
            f'</tr></thead><tbody>{rows}</tbody></table>')


def sessions_html(sessions: list[SessionRecord], now: datetime, own_client_id: str, *, servers: bool) -> str:
    """Return every session as a table row, most recently active first (every value from outside is escaped)."""
    rows = []
    for entry in sorted(sessions, key=lambda e: e.last_activity, reverse=True):
        you = ' <span class="text-grey-7">(this page)</span>' if entry.client_id == own_client_id else ''
        wards = ', '.join(entry.wards) or ('—' if entry.user_id is None else 'hospital-wide')
        server = f'<td>{escape(entry.process)}</td>' if servers else ''
        rows.append(f'<tr data-client="{escape(entry.client_id)}"><td><b>{escape(entry.name)}</b>{you}</td>'
                    f'<td>{escape(entry.role)}</td><td>{escape(wards)}</td><td>{escape(page_label(entry.page))}</td>'
                    f'{server}<td class="vigil-conn-age" data-label="opened">{times.age_html(entry.since, now)}</td>'
                    f'<td class="vigil-conn-age" data-label="active">{times.age_html(entry.last_activity, now)}</td>'
                    '</tr>')
    titles = ('Name', 'Role', 'Wards', 'Page', *(('Server',) if servers else ()), 'Opened', 'Last activity')
    head = ''.join(f'<th>{h}</th>' for h in titles)
    return f'<table class="vigil-admin-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class ConnectionsPanel:
    """Counts by role, page and server, and the table of sessions, for the administrator's own hospital only."""

    def __init__(self, hub: LiveHub, session: StaffSession, client_id: str, process: str,
                 directory: SessionDirectory | None) -> None:
        self._hub = hub
        self._session = session
        self._client_id = client_id
        self._process = process
        self._directory = directory
        hospital = session.hospital.name
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Connections"'):
            with ui.row().classes('items-center w-full gap-2'):
                self._total = ui.label().classes('vigil-panel-title').mark('connections-total')
                ui.space()
                ui.button('Refresh', icon='refresh', on_click=self.refresh) \
                    .props('flat no-caps').classes('min-h-[44px]').mark('connections-refresh')
            if directory is None:
                scope = (f'Pages of {hospital} open on this server process ({process}), wall displays included. '
                         'Behind a load balancer every process has its own sessions: open this page on each of '
                         'them to see them all.')
            else:
                scope = (f'Pages of {hospital} open on every Vigil server process that shares this Redis, wall '
                         f'displays included. This page is served by {process}; the other processes report their '
                         'sessions every 15 seconds.')
            self._scope_text = scope
            self._scope = ui.label(scope).classes('text-caption text-grey-7').mark('connections-scope')
            with ui.element('div').classes('vigil-connections-counts w-full'):
                # NOTE: sanitize=False is safe: counts_html and sessions_html escape every value from outside.
                self._roles = ui.html('', sanitize=False).mark('connections-roles')
                self._pages = ui.html('', sanitize=False).mark('connections-pages')
                self._servers = ui.html('', sanitize=False).mark('connections-servers')
                self._servers.set_visibility(directory is not None)
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Sessions"'):
            heading('Sessions', 2).classes('vigil-panel-title')
            self._table = ui.html('', sanitize=False).classes('w-full overflow-x-auto').mark('connections-sessions')
        channel = hub.channel(session.hospital.id)
        channel.presence.subscribe(self.refresh)
        channel.tick.subscribe(self.refresh)

    async def refresh(self) -> None:
        """Show the sessions open now."""
        hospital_id = self._session.hospital.id
        sessions = local_sessions(self._hub, hospital_id, self._process)
        if self._directory is not None:
            try:
                for records in (await self._directory.others(hospital_id)).values():
                    sessions.extend(records)
                self._scope.set_text(self._scope_text)
            except DirectoryUnavailable as error:
                self._scope.set_text(f'Only this server process ({self._process}): the other processes cannot be '
                                     f'reached through Redis ({error}).')
        people = {e.user_id for e in sessions if e.user_id is not None}
        walls = sum(e.user_id is None for e in sessions)
        self._total.set_text(f'{plural(len(sessions), "open session")} · {plural(len(people), "person", "people")} · '
                             f'{plural(walls, "wall display")}')
        self._roles.set_content(counts_html('Role', Counter(e.role for e in sessions)))
        self._pages.set_content(counts_html('Page', Counter(page_label(e.page) for e in sessions)))
        self._servers.set_content(counts_html('Server', Counter(e.process for e in sessions)))
        self._table.set_content(sessions_html(sessions, datetime.now(UTC), self._client_id,
                                              servers=self._directory is not None))
