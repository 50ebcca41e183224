"""The admin page's staff accounts: who has an account, in which role and wards, whether it is active, and, for each
account, Deactivate or Reactivate behind a confirmation that asks why.

Deactivating signs the person out on every device at once (the service sends the signal their pages follow); the
service checks the administrator, the hospital, oneself and the last administrator again, and has the last word.
"""

import logging
from collections.abc import Awaitable, Callable
from html import escape

from nicegui import context, ui
from nicegui.events import GenericEventArguments

from app.domain.scope import AccessScope
from app.errors import DomainError
from app.schemas import Actor, UserView, WardView
from app.services.users import MAX_REASON, UserService

from .session import ROLE_LABELS

log = logging.getLogger(__name__)

DEACTIVATE, REACTIVATE = 'deactivate', 'reactivate'
# One listener for the whole table: only clicks on a row's account button reach the server, with what it needs.
CLICK_JS = '''(event) => {
  const button = event.target.closest('button[data-vigil-account]');
  if (button && !button.disabled) emit({action: button.dataset.vigilAccount, user: Number(button.dataset.user)});
}'''
STYLE = '''
<style>
.vigil-account-off { color: #b71c1c; font-weight: 600; }
.vigil-btn-danger { background: transparent; color: #b71c1c; border-color: #b71c1c; }
.vigil-btn-danger:hover:enabled { background: #fdecea; }
body.body--dark .vigil-account-off, body.body--dark .vigil-btn-danger { color: #ef9a9a; border-color: #ef9a9a; }
body.body--dark .vigil-btn-danger:hover:enabled { background: #3b1f1f; }
</style>
'''


def _button(user: UserView, own_id: int) -> str:
    if user.id == own_id:
        return '<span class="text-grey-7">you</span>'
    action, label, css = ((REACTIVATE, 'Reactivate', 'vigil-btn-outline') if not user.active
                          else (DEACTIVATE, 'Deactivate', 'vigil-btn-danger'))
    return (f'<button type="button" class="vigil-btn {css}" data-vigil-account="{action}" data-user="{user.id}" '
            f'aria-label="{label} {escape(user.username)}">{label}</button>')


def users_html(users: list[UserView], wards: tuple[WardView, ...], own_id: int) -> str:
    """Return the staff accounts as a table with a button per account (every value from outside is escaped)."""
    names = {w.id: w.name for w in wards}
    rows = []
    for user in users:
        sees_all = AccessScope.of(Actor.for_user(user)).sees_every_ward
        assigned = ', '.join(names.get(w, '?') for w in user.ward_ids) or ('all wards' if sees_all else 'none')
        state = 'Active' if user.active else '<span class="vigil-account-off">Deactivated</span>'
        rows.append(f'<tr data-user="{user.id}"><td><b>{escape(user.username)}</b></td>'
                    f'<td>{escape(user.display_name)}</td><td>{ROLE_LABELS[user.role]}</td><td>{escape(assigned)}</td>'
                    f'<td>{state}</td><td>{_button(user, own_id)}</td></tr>')
    head = ''.join(f'<th>{h}</th>' for h in ('Username', 'Name', 'Role', 'Wards', 'Account', ''))
    return f'<table class="vigil-admin-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class StaffAccounts:
    """The accounts table of one admin page and its confirmation dialog."""

    def __init__(self, service: UserService, acting: Callable[[], Awaitable[Actor]], own_id: int,
                 users: list[UserView], wards: tuple[WardView, ...]) -> None:
        self._service = service
        self._acting = acting
        self._own_id = own_id
        self._wards = wards
        self._users = {u.id: u for u in users}
        self._target: tuple[str, UserView] | None = None
        ui.add_head_html(STYLE)
        self._status = ui.label().props('role=status').classes('text-body2').mark('account-status')
        # NOTE: sanitize=False is safe: users_html escapes every value from outside.
        self._table = ui.html('', sanitize=False).classes('w-full overflow-x-auto').mark('admin-users') \
            .on('click', self._clicked, js_handler=CLICK_JS)
        with context.client.content, ui.dialog().props('aria-label="Change an account"').mark('account-dialog') \
                as self._dialog, ui.card().classes('w-[32rem] max-w-full gap-3'):
            self._title = ui.label().classes('text-h6').mark('account-dialog-title')
            self._explain = ui.label().classes('text-body2')
            self._reason = ui.input('Reason (kept in the server log)',
                                    validation={f'At most {MAX_REASON} characters':
                                                lambda v: len(v or '') <= MAX_REASON}) \
                .props(f'outlined maxlength={MAX_REASON} autofocus').classes('w-full').mark('account-reason')
            self._error = ui.label().classes('text-negative').props('role=alert').mark('account-error')
            with ui.row().classes('w-full justify-end gap-2'):
                ui.button('Cancel', on_click=self._dialog.close).props('flat no-caps').classes('vigil-touch') \
                    .mark('account-cancel')
                self._confirm = ui.button(on_click=self._apply).props('unelevated no-caps') \
                    .classes('vigil-touch').mark('account-confirm')
        self._paint()

    def _paint(self) -> None:
        users = sorted(self._users.values(), key=lambda u: u.username)
        self._table.set_content(users_html(users, self._wards, self._own_id))

    async def _clicked(self, event: GenericEventArguments) -> None:
        """A row's button was pressed (the browser says which; anything else is ignored)."""
        args = event.args if isinstance(event.args, dict) else {}
        action, user_id = args.get('action'), args.get('user')
        user = self._users.get(user_id) if isinstance(user_id, int) else None
        if user is None or action not in (DEACTIVATE, REACTIVATE) or user.id == self._own_id:
            return
        self._open(action, user)

    def _open(self, action: str, user: UserView) -> None:
        self._target = (action, user)
        who = f'{user.display_name} ({user.username})'
        if action == DEACTIVATE:
            self._title.set_text(f'Deactivate {who}?')
            self._explain.set_text('They are signed out at once on every device, their open pages close, and they '
                                   'cannot sign in until an administrator reactivates the account.')
            self._confirm.set_text('Deactivate')
            self._confirm.props('color=negative')
        else:
            self._title.set_text(f'Reactivate {who}?')
            self._explain.set_text('They can sign in again with their password.')
            self._confirm.set_text('Reactivate')
            self._confirm.props('color=positive')
        self._reason.set_value('')
        self._error.set_text('')
        self._confirm.set_enabled(True)
        self._dialog.open()

    async def _apply(self) -> None:
        if self._target is None:
            return
        action, user = self._target
        reason = (self._reason.value or '').strip()
        if not reason:
            self._error.set_text('Say why (a few words): it goes in the log.')
            return
        self._confirm.set_enabled(False)
        try:
            actor = await self._acting()
            change = self._service.deactivate if action == DEACTIVATE else self._service.reactivate
            view = await change(actor, user.id, reason=reason)
            users = await self._service.list_users(actor)
        except DomainError as error:
            self._error.set_text(error.message)
            return
        except Exception:
            log.exception('could not %s account %d', action, user.id)
            self._error.set_text('The change could not be saved. Try again.')
            return
        finally:
            self._confirm.set_enabled(True)
        self._users = {u.id: u for u in users}
        self._paint()
        self._dialog.close()
        self._target = None
        self._status.set_text(f'{view.username} is deactivated and signed out everywhere.' if action == DEACTIVATE
                              else f'{view.username} is active again and can sign in.')
