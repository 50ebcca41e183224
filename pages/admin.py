"""`/admin`: for the hospital's administrators: staff accounts, API tokens (never their secrets) and the alarm rules.

Everyone else gets a page that says so. Every change re-reads the administrator's account first (a role taken away
counts at once) and the rules service checks the role again.
"""

from html import escape

from fastapi.responses import RedirectResponse
from nicegui import ui

from app.bootstrap import Vigil
from app.domain import Role
from app.domain.actors import display_actor
from app.schemas import RuleChangeView, TokenView
from components import rules_editor, timestamps
from components.headings import heading
from components.live import LiveHub
from components.rules_editor import RulesEditor
from components.session import StaffSession
from components.sign_in_throttles import SignInThrottles
from components.staff_accounts import StaffAccounts

from .frame import staff_page, staff_session

TOKEN_KINDS = {'device': 'Device', 'kiosk': 'Wall display', 'integration': 'Integration'}

STYLE = '''
<style>
.vigil-admin-table { width: 100%; border-collapse: collapse; font-size: .92rem; }
.vigil-admin-table th { text-align: left; font-weight: 600; color: #546e7a; padding: 6px 8px;
  border-bottom: 2px solid #e0e0e0; white-space: nowrap; }
.vigil-admin-table td { padding: 6px 8px; border-bottom: 1px solid #eeeeee; vertical-align: top;
  overflow-wrap: anywhere; }
.vigil-admin-off { color: #9e9e9e; }
@media (max-width: 799px) {
  .vigil-admin-table thead { display: none; }
  .vigil-admin-table tr { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 2px 8px;
    padding: 8px 0; border-bottom: 1px solid #e0e0e0; }
  .vigil-admin-table td { border: 0; padding: 0; }
}
</style>
'''


def tokens_html(tokens: list[TokenView]) -> str:
    """Return the API tokens as a table: kind, name, prefix, created, revoked; never a secret (none is stored)."""
    if not tokens:
        return '<p class="text-grey-7">No API tokens yet.</p>'
    rows = []
    for token in tokens:
        revoked = (f'<span class="vigil-admin-off">revoked {timestamps.datetime_html(token.revoked_at)}</span>'
                   if token.revoked_at else 'in use')
        rows.append(f'<tr><td>{TOKEN_KINDS.get(token.kind.value, escape(token.kind.value))}</td>'
                    f'<td><b>{escape(token.name)}</b></td><td><code>{escape(token.prefix)}…</code></td>'
                    f'<td>{timestamps.datetime_html(token.created_at)}</td><td>{revoked}</td></tr>')
    head = ''.join(f'<th>{h}</th>' for h in ('Kind', 'Name', 'Starts with', 'Created', 'State'))
    return f'<table class="vigil-admin-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def changes_html(changes: list[RuleChangeView]) -> str:
    """Return the latest alarm-rule changes as a table: when, who, what (every value from outside is escaped)."""
    if not changes:
        return '<p class="text-grey-7">The alarm rules have not been changed: the defaults apply.</p>'
    rows = [f'<tr><td>{timestamps.datetime_html(c.at)}</td><td>{escape(display_actor(c.actor))}</td>'
            f'<td>{escape(c.change)}</td></tr>' for c in changes]
    head = ''.join(f'<th>{h}</th>' for h in ('When', 'Who', 'Change'))
    return f'<table class="vigil-admin-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def administrators_only(session: StaffSession) -> None:
    """Show, instead of an admin page, that it is for administrators."""
    with ui.column().classes('items-center gap-3 q-pa-xl w-full text-center').props('role=alert'):
        ui.icon('lock', size='3rem').classes('text-grey-6')
        heading('Administrators only').classes('text-h5').mark('page-message')
        ui.label(f'This page is for the administrators of {session.hospital.name}. Ask one of them if a '
                 'rule or an account needs changing.').classes('text-grey-8')


def register(vigil: Vigil, hub: LiveHub) -> None:
    """Add the admin page to the app."""

    @ui.page('/admin')
    async def admin_page() -> RedirectResponse | None:
        session = await staff_session(vigil, hub)
        if session is None:
            return RedirectResponse('/login')
        await staff_page(vigil, hub, session, 'Administration', 'admin')
        if session.user.role is not Role.ADMIN:
            administrators_only(session)
            return None
        ui.add_head_html(STYLE)
        rules_editor.install()
        timestamps.install()
        users = await vigil.users.list_users(session.actor)
        tokens = await vigil.tokens.list_tokens(hospital_slug=session.hospital.slug)
        rules = await vigil.rules.get(session.actor)
        with ui.element('div').classes('vigil-page column gap-3 q-pa-md'):
            with ui.row().classes('items-center w-full gap-2'):
                heading(f'Administration · {session.hospital.name}').classes('text-h5')
                ui.space()
                ui.button('Connections', icon='lan', on_click=lambda: ui.navigate.to('/admin/connections')) \
                    .props('outline no-caps').classes('min-h-[44px]').mark('admin-connections')
                ui.button('Webhooks', icon='webhook', on_click=lambda: ui.navigate.to('/admin/webhooks')) \
                    .props('outline no-caps').classes('min-h-[44px]').mark('admin-webhooks')
            RulesEditor(vigil.rules, session.acting, rules)
            with ui.element('section').classes('vigil-panel w-full column gap-2') \
                    .props('aria-label="Rule changes"'):
                with ui.row().classes('items-center w-full'):
                    heading('Recent rule changes', 2).classes('vigil-panel-title')
                    ui.space()
                    ui.button('Refresh', icon='refresh', on_click=lambda: show_changes()) \
                        .props('flat no-caps').classes('min-h-[44px]')
                changes = ui.html('', sanitize=False).classes('w-full overflow-x-auto').mark('admin-rule-changes')

                async def show_changes() -> None:
                    changes.set_content(changes_html(await vigil.rules.history(session.actor, limit=50)))

                await show_changes()
            # --- staff accounts: the list, deactivate and reactivate (components/staff_accounts.py) ---
            with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Staff"'):
                heading(f'Staff accounts ({len(users)})', 2).classes('vigil-panel-title')
                StaffAccounts(vigil.users, session.acting, session.user.id, users, session.wards)
                ui.label('Accounts are created on the server: python main.py user create --help; deactivated and '
                         'reactivated here or with python main.py user deactivate --help') \
                    .classes('text-caption text-grey-7')
            # --- end of staff accounts ---
            # Sign-in throttles: see and clear (components/sign_in_throttles.py).
            await SignInThrottles(vigil.sign_in_throttle, session.acting).show()
            with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="API tokens"'):
                heading(f'API tokens ({len(tokens)})', 2).classes('vigil-panel-title')
                # NOTE: sanitize=False is safe: tokens_html escapes every value from outside.
                ui.html(tokens_html(tokens), sanitize=False).classes('w-full overflow-x-auto').mark('admin-tokens')
                ui.label('Tokens are created and revoked on the server: python main.py token --help. A secret is '
                         'shown once when it is created; Vigil keeps only its fingerprint.') \
                    .classes('text-caption text-grey-7')
        return None
