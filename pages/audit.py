"""`/audit`: the hospital's audit trail (who did what, when), searchable, paged, newest first, exported as CSV.

What a user may read is decided by the audit service (app/services/audit.py): admins and physicians the whole
hospital, charge nurses their wards plus escalated alerts, nurses their wards. Dates are days of the reader's own
time zone, which the page asks the browser for once.
"""

import logging
from datetime import date, datetime, time, timedelta, tzinfo
from html import escape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi.responses import RedirectResponse
from nicegui import context, ui

from app.bootstrap import Vigil
from app.domain import AlertEventType
from app.domain.actors import display_actor
from app.errors import DomainError
from app.events.models import AlertEventBase
from app.services.audit import AuditPage, AuditQuery, AuditRow
from app.services.audit_csv import audit_csv
from components import timestamps
from components.alert_history import EVENT_LABELS, shown_note
from components.headings import heading
from components.live import LiveHub
from components.session import StaffSession
from components.theme import priority_chip

from .frame import staff_page, staff_session

log = logging.getLogger(__name__)

PAGE_SIZE = 50

_STYLE = '''
<style>
.vigil-audit { width: 100%; border-collapse: collapse; font-size: .9rem; }
.vigil-audit th { text-align: left; font-weight: 600; color: #546e7a; padding: 6px 8px;
  border-bottom: 2px solid #e0e0e0; white-space: nowrap; position: sticky; top: 0; background: #fff; }
.vigil-audit td { padding: 6px 8px; border-bottom: 1px solid #eeeeee; vertical-align: top; overflow-wrap: break-word; }
.vigil-audit td.vigil-audit-when { white-space: nowrap; }
.vigil-audit-event { font-weight: 600; white-space: nowrap; }
.vigil-audit-sub { display: block; font-size: .8rem; color: #757575; }
@media (max-width: 799px) {
  .vigil-audit thead { display: none; }
  .vigil-audit tr { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 2px 8px; padding: 8px 0;
    border-bottom: 1px solid #e0e0e0; }
  .vigil-audit td { border: 0; padding: 0; }
  .vigil-audit td:nth-child(n+3) { grid-column: 1 / -1; }
}
</style>
'''


def row_html(row: AuditRow) -> str:
    """Return one line of the trail as a table row (every value from outside is escaped)."""
    if row.patient_id is not None:
        patient = (f'<a href="/patients/{row.patient_id}">{escape(row.patient_name or "")}</a>'
                   f'<span class="vigil-audit-sub">Bed {escape(row.bed or "")} · MRN {escape(row.patient_mrn or "")}'
                   '</span>')
    else:
        patient = '<span class="vigil-audit-sub">whole ward</span>'
    status = (f'{row.from_status.value} → {row.to_status.value}' if row.from_status and row.from_status != row.to_status
              else row.to_status.value)
    level = f' · level {row.escalation_level}' if row.escalation_level else ''
    return (f'<tr><td class="vigil-audit-when">{timestamps.datetime_html(row.at)}</td>'
            f'<td><span class="vigil-audit-event">{EVENT_LABELS[row.type]}</span>'
            f'<span class="vigil-audit-sub">{escape(status)}{level}</span></td>'
            f'<td>{escape(display_actor(row.actor))}</td><td>{patient}</td><td>{escape(row.ward_name)}</td>'
            f'<td>{priority_chip(row.priority)} {escape(row.message)}'
            f'<span class="vigil-audit-sub">Alert {row.alert_id} · {escape(row.alert_kind.value.replace("_", " "))}'
            f'</span></td><td>{escape(shown_note(row.note, row.message))}</td></tr>')


def table_html(page: AuditPage) -> str:
    """Return a page of the trail as a table."""
    head = ''.join(f'<th>{name}</th>' for name in ('When', 'What', 'Who', 'Patient', 'Ward', 'Alert', 'Note'))
    return (f'<table class="vigil-audit"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(row_html(row) for row in page.rows)}</tbody></table>')


def date_field(label: str, marker: str) -> ui.input:
    """Return a date field written YYYY-MM-DD, typed or picked from a calendar (whatever the browser's locale).

    A native `type=date` field shows the browser's locale (mm/dd/yyyy in a US one); Quasar's picker keeps ISO dates.
    """
    field = ui.input(label, placeholder='YYYY-MM-DD').props('outlined stack-label clearable mask="####-##-##"') \
        .classes('grow min-w-[10rem]').mark(marker)
    with field:
        with ui.menu().props('no-parent-event') as menu:
            # first-day-of-week 1: Monday, as ISO 8601 and most hospitals' rotas count weeks.
            ui.date(mask='YYYY-MM-DD', on_change=menu.close).bind_value(field) \
                .props('first-day-of-week=1 minimal').mark(f'{marker}-picker')
        with field.add_slot('append'):
            ui.button(icon='event', on_click=menu.open).props(f'flat round aria-label="Pick the {label} date"') \
                .classes('vigil-touch')
    return field


def register(vigil: Vigil, hub: LiveHub) -> None:
    """Add the audit page to the app."""

    @ui.page('/audit')
    async def audit_page() -> RedirectResponse | None:
        session = await staff_session(vigil, hub)
        if session is None:
            return RedirectResponse('/login')
        await staff_page(vigil, hub, session, 'Audit trail', 'audit')
        ui.add_head_html(_STYLE)
        timestamps.install()
        trail = AuditTrail(vigil, session)
        session.channel.alerts.subscribe(trail.on_alert)
        context.client.on_connect(trail.learn_zone)
        await trail.search()
        return None


class AuditTrail:
    """The search form, one page of results, the pager and the export of one audit page."""

    def __init__(self, vigil: Vigil, session: StaffSession) -> None:
        self._vigil = vigil
        self._session = session
        self._zone: tzinfo = ZoneInfo('UTC')
        self._page = 1
        with ui.element('div').classes('vigil-page column gap-3 q-pa-md'):
            with ui.row().classes('w-full items-baseline gap-3'):
                heading('Audit trail').classes('text-h5')
                ui.label('Every step of every alert you may see: who did what, and when.').classes('text-grey-7')
            with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Search"'):
                with ui.row().classes('w-full gap-2 items-start'):
                    self._text = ui.input('Search', placeholder='patient, ward, person, message, note') \
                        .props('outlined clearable').classes('grow min-w-[14rem]').mark('audit-text')
                    self._text.on('keydown.enter', self._first_page)
                    self._types = ui.select({t.value: EVENT_LABELS[t] for t in AlertEventType}, multiple=True,
                                            label='Event', on_change=self._first_page) \
                        .props('outlined use-chips clearable options-dense').classes('grow min-w-[12rem]') \
                        .mark('audit-types')
                    with ui.row().classes('gap-2 grow'):
                        self._since = date_field('From', 'audit-from')
                        self._until = date_field('To', 'audit-to')
                with ui.row().classes('w-full gap-2 items-center'):
                    ui.button('Search', icon='search', on_click=self._first_page) \
                        .props('unelevated no-caps').classes('vigil-touch').mark('audit-search')
                    ui.button('Clear', on_click=self._clear).props('flat no-caps').classes('vigil-touch')
                    ui.space()
                    self._export = ui.button('Export CSV', icon='download', on_click=self.export) \
                        .props('outline no-caps').classes('vigil-touch').mark('audit-export')
                self._error = ui.label().classes('text-negative').props('role=alert').mark('audit-error')
            with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Entries"'):
                with ui.row().classes('w-full items-center gap-2'):
                    self._summary = ui.label().classes('text-weight-medium').mark('audit-summary')
                    self._fresh = ui.button('New entries: show them', icon='refresh', on_click=self._first_page) \
                        .props('flat dense no-caps color=primary').classes('vigil-touch').mark('audit-fresh')
                    self._fresh.set_visibility(False)
                    ui.space()
                    with ui.row().classes('items-center gap-1 no-wrap'):
                        self._newer = ui.button('Newer', icon='chevron_left', on_click=lambda: self._go(-1)) \
                            .props('flat no-caps').classes('vigil-touch').mark('audit-newer')
                        self._position = ui.label().classes('whitespace-nowrap').mark('audit-position')
                        self._older = ui.button('Older', on_click=lambda: self._go(1)) \
                            .props('flat no-caps icon-right=chevron_right').classes('vigil-touch').mark('audit-older')
                # NOTE: sanitize=False is safe: row_html escapes every value that comes from outside.
                self._table = ui.html('', sanitize=False).classes('w-full overflow-x-auto').mark('audit-table')

    def query(self, page: int = 1, page_size: int = PAGE_SIZE) -> AuditQuery:
        """Return the query the form describes; raise ValueError with a message when a date cannot be read."""
        since = self._day(self._since.value, 'From')
        until = self._day(self._until.value, 'To')
        return AuditQuery(
            text=(self._text.value or '')[:200], types=tuple(AlertEventType(t) for t in self._types.value or ()),
            since=since, until=until + timedelta(days=1) if until else None, page=page, page_size=page_size)

    def _day(self, value: str | None, label: str) -> datetime | None:
        if not value:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise ValueError(f'{label}: enter a date as YYYY-MM-DD.') from None
        return datetime.combine(day, time(), tzinfo=self._zone)

    async def search(self, page: int = 1) -> None:
        """Show one page of entries matching the form."""
        try:
            result = await self._vigil.audit.search(self._session.actor, self.query(page))
        except (ValueError, DomainError) as error:
            self._error.set_text(error.message if isinstance(error, DomainError) else str(error))
            return
        self._error.set_text('')
        self._page = result.page
        self._fresh.set_visibility(False)
        noun = 'entry' if result.total == 1 else 'entries'
        self._summary.set_text(f'{result.total:,} {noun}' if result.total else 'No entries match.')
        self._position.set_text(f'Page {result.page} of {result.pages}')
        self._newer.set_enabled(result.page > 1)
        self._older.set_enabled(result.page < result.pages)
        self._table.set_content(table_html(result) if result.rows else '')

    async def _first_page(self) -> None:
        await self.search(1)

    async def _go(self, step: int) -> None:
        await self.search(max(1, self._page + step))

    async def _clear(self) -> None:
        self._text.set_value('')
        self._types.set_value([])
        self._since.set_value('')
        self._until.set_value('')
        await self.search(1)

    async def export(self) -> None:
        """Download every entry matching the form (all pages) as CSV."""
        self._export.disable()
        try:
            rows = await self._vigil.audit.export(self._session.actor, self.query())
        except (ValueError, DomainError) as error:
            self._error.set_text(error.message if isinstance(error, DomainError) else str(error))
            return
        finally:
            self._export.enable()
        self._error.set_text('')
        stamp = self._vigil.clock().astimezone(self._zone).strftime('%Y%m%d-%H%M')
        ui.download.content(audit_csv(rows, self._zone), f'vigil-audit-{self._session.hospital.slug}-{stamp}.csv',
                            'text/csv')

    def on_alert(self, event: AlertEventBase) -> None:
        """Offer to show new entries when a step of an alert the user may read was recorded."""
        if self._session.scope.reads_trail_of(event.alert):
            self._fresh.set_visibility(True)

    async def learn_zone(self) -> None:
        """Ask the browser for its time zone, so that typed dates and the export use the reader's days."""
        try:
            name = await ui.run_javascript(timestamps.ZONE_SCRIPT, timeout=5)
            self._zone = ZoneInfo(str(name))
        except (TimeoutError, ZoneInfoNotFoundError, ValueError):
            log.info('browser time zone unknown; the audit page reads dates as UTC')
