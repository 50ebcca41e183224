"""Webhooks on /admin/webhooks: the hospital's subscriptions (create, pause, resume, delete), the secret shown once,
and the latest deliveries with every attempt, a failed one retried by a click."""

from collections.abc import Awaitable, Callable
from html import escape

from nicegui import ui

from app.domain import Priority
from app.errors import DomainError
from app.schemas import Actor, WardView
from app.webhooks.rules import DeliveryStatus, WebhookEvent
from app.webhooks.service import WebhookService
from app.webhooks.views import DeliveryView, WebhookView

from . import timestamps
from .headings import heading

Acting = Callable[[], Awaitable[Actor]]
STATUS_LABELS = {DeliveryStatus.PENDING: 'waiting', DeliveryStatus.DELIVERED: 'delivered',
                 DeliveryStatus.FAILED: 'failed'}


def filters_text(hook: WebhookView, wards: dict[int, str]) -> str:
    """Return what a subscription sends, in words."""
    parts = [', '.join(p.value for p in hook.priorities) if hook.priorities else 'every priority',
             ', '.join(wards.get(w, f'ward {w}') for w in hook.wards) if hook.wards else 'every ward',
             ', '.join(t.value for t in hook.event_types) if hook.event_types else 'every alert event']
    return ' · '.join(parts)


def deliveries_html(deliveries: list[DeliveryView], names: dict[int, str]) -> str:
    """Return the latest deliveries as a table; every value from outside is escaped."""
    if not deliveries:
        return '<p class="text-grey-7">Nothing sent yet.</p>'
    rows = []
    for d in deliveries:
        last = d.history[0] if d.history else None
        answer = ('no attempt yet' if last is None else
                  f'{last.status_code} in {last.milliseconds} ms' if last.error is None else escape(last.error))
        state = STATUS_LABELS[d.status]
        if d.status is DeliveryStatus.PENDING and d.next_attempt_at is not None:
            state += f', next {timestamps.datetime_html(d.next_attempt_at)}'
        css = ' class="vigil-admin-off"' if d.status is DeliveryStatus.DELIVERED else ''
        rows.append(f'<tr{css}><td>{timestamps.datetime_html(d.created_at)}</td>'
                    f'<td>{escape(names.get(d.subscription_id, "?"))}</td><td><code>{d.event_type.value}</code> '
                    f'#{d.event_seq}</td><td><b>{state}</b></td><td>{d.attempts}</td><td>{answer}</td></tr>')
    head = ''.join(f'<th>{h}</th>' for h in ('Queued', 'Webhook', 'Event', 'State', 'Attempts', 'Last answer'))
    return f'<table class="vigil-admin-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class WebhooksPanel:
    """The page's body: a form to add a webhook, the list, and the latest deliveries."""

    def __init__(self, webhooks: WebhookService, acting: Acting, wards: tuple[WardView, ...]) -> None:
        self._webhooks = webhooks
        self._acting = acting
        self._wards = {w.id: w.name for w in wards}
        self._names: dict[int, str] = {}
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="New webhook"'):
            heading('New webhook', 2).classes('vigil-panel-title')
            with ui.row().classes('w-full items-start gap-3'):
                self._name = ui.input('Name').props('maxlength=100').classes('w-56').mark('webhook-name')
                self._url = ui.input('URL (https://...)').props('maxlength=2000').classes('grow min-w-[16rem]') \
                    .mark('webhook-url')
            with ui.row().classes('w-full items-start gap-3'):
                self._priorities = ui.select({p.value: p.value for p in Priority}, multiple=True,
                                             label='Priorities (none: all)').classes('w-56').props('use-chips') \
                    .mark('webhook-priorities')
                self._ward_choice = ui.select(self._wards, multiple=True, label='Wards (none: all)') \
                    .classes('w-56').props('use-chips').mark('webhook-wards')
                self._types = ui.select({t.value: t.value for t in WebhookEvent}, multiple=True,
                                        label='Events (none: all)').classes('w-72').props('use-chips') \
                    .mark('webhook-events')
            with ui.row().classes('items-center gap-3'):
                ui.button('Create webhook', icon='add', on_click=self.create).props('no-caps') \
                    .classes('min-h-[44px]').mark('webhook-create')
                self._status = ui.label().classes('text-caption').props('role=status').mark('webhook-status')
            self._secret = ui.column().classes('w-full gap-1').mark('webhook-secret')
            ui.label('Each alert event is POSTed as JSON, signed with the webhook\'s secret (X-Vigil-Signature: '
                     'HMAC-SHA256); failures are retried for about 85 minutes, then wait here for a retry.') \
                .classes('text-caption text-grey-7')
        with ui.element('section').classes('vigil-panel w-full column gap-2').props('aria-label="Webhooks"'):
            with ui.row().classes('items-center w-full'):
                self._title = heading('Webhooks', 2).classes('vigil-panel-title')
                ui.space()
                ui.button('Refresh', icon='refresh', on_click=self.show).props('flat no-caps').classes('min-h-[44px]')
            self._rows = ui.column().classes('w-full gap-1').mark('webhook-list')
        with ui.element('section').classes('vigil-panel w-full column gap-2') \
                .props('aria-label="Recent deliveries"'):
            heading('Recent deliveries', 2).classes('vigil-panel-title')
            self._failed = ui.column().classes('w-full gap-1').mark('webhook-failed')
            # NOTE: sanitize=False is safe: deliveries_html escapes every value from outside.
            self._deliveries = ui.html('', sanitize=False).classes('w-full overflow-x-auto') \
                .mark('webhook-deliveries')

    async def show(self) -> None:
        """Load the subscriptions and the latest deliveries and draw them."""
        try:
            actor = await self._acting()
            hooks = await self._webhooks.subscriptions(actor)
            deliveries = await self._webhooks.deliveries(actor, limit=50)
            failed = await self._webhooks.deliveries(actor, limit=20, status=DeliveryStatus.FAILED)
        except DomainError as error:
            self._status.set_text(error.message)
            return
        self._names = {h.id: h.name for h in hooks}
        self._title.set_text(f'Webhooks ({len(hooks)})')
        self._rows.clear()
        with self._rows:
            if not hooks:
                ui.label('No webhooks yet: alert events leave Vigil only through its screens and the event stream.') \
                    .classes('text-grey-7')
            for hook in hooks:
                self._row(hook)
        self._failed.clear()
        with self._failed:
            for delivery in failed:
                with ui.row().classes('items-center w-full gap-3 text-negative'):
                    last = delivery.last_error or 'failed'
                    ui.label(f'{self._names.get(delivery.subscription_id, "?")}: {delivery.event_type.value} '
                             f'#{delivery.event_seq} given up after {delivery.attempts} attempts ({last})') \
                        .mark(f'failed-delivery:{delivery.id}')
                    ui.space()
                    ui.button('Retry', icon='replay', on_click=lambda d=delivery: self.retry(d)) \
                        .props(f'outline no-caps aria-label="Retry delivery {delivery.id}"') \
                        .classes('min-h-[44px]').mark(f'retry-delivery:{delivery.id}')
        self._deliveries.set_content(deliveries_html(deliveries, self._names))

    def _row(self, hook: WebhookView) -> None:
        with ui.row().classes('items-center w-full gap-3'):
            with ui.column().classes('gap-0 grow min-w-[14rem]'):
                state = 'sending' if hook.enabled else 'paused'
                ui.label(f'{hook.name} · {state}').classes('text-weight-medium' + (
                    '' if hook.enabled else ' vigil-admin-off')).mark(f'webhook:{hook.name}')
                ui.label(hook.url).classes('text-caption').style('overflow-wrap: anywhere')
                ui.label(f'{filters_text(hook, self._wards)} · secret {hook.secret_hint} · {hook.pending} waiting, '
                         f'{hook.failed} failed').classes('text-caption text-grey-7')
            ui.button('Pause' if hook.enabled else 'Resume', icon='pause' if hook.enabled else 'play_arrow',
                      on_click=lambda h=hook: self.toggle(h)) \
                .props(f'outline no-caps aria-label="{"Pause" if hook.enabled else "Resume"} webhook {hook.name}"') \
                .classes('min-h-[44px]').mark(f'toggle-webhook:{hook.name}')
            ui.button('Delete', icon='delete', on_click=lambda h=hook: self.confirm_delete(h)) \
                .props(f'flat no-caps color=negative aria-label="Delete webhook {hook.name}"') \
                .classes('min-h-[44px]').mark(f'delete-webhook:{hook.name}')

    async def create(self) -> None:
        """Create the webhook of the form and show its secret, once."""
        self._secret.clear()
        try:
            created = await self._webhooks.create(
                await self._acting(), name=self._name.value or '', url=self._url.value or '',
                priorities=list(self._priorities.value or []) or None,
                wards=list(self._ward_choice.value or []) or None, event_types=list(self._types.value or []) or None)
        except DomainError as error:
            self._status.set_text(f'Not created: {error.message}')
            return
        self._status.set_text(f'Created: {created.name}.')
        with self._secret:
            ui.label('The signing secret, shown this once: copy it to the receiver now.').classes('text-weight-medium')
            with ui.row().classes('items-center gap-2'):
                ui.label(created.secret).style('font-family: monospace; user-select: all; overflow-wrap: anywhere') \
                    .mark('webhook-secret-value')
                ui.button(icon='content_copy', on_click=lambda: ui.clipboard.write(created.secret)) \
                    .props('flat round aria-label="Copy the secret"').classes('min-h-[44px]')
        self._name.value, self._url.value = '', ''
        await self.show()

    async def toggle(self, hook: WebhookView) -> None:
        """Pause a sending webhook, resume a paused one."""
        try:
            await self._webhooks.set_enabled(await self._acting(), hook.id, not hook.enabled)
        except DomainError as error:
            self._status.set_text(error.message)
            return
        self._status.set_text(f'{"Paused" if hook.enabled else "Resumed"}: {hook.name}.')
        await self.show()

    def confirm_delete(self, hook: WebhookView) -> None:
        """Ask before deleting: its waiting deliveries and its history go with it."""
        with ui.dialog() as dialog, ui.card().props('role=alertdialog'):
            ui.label(f'Delete webhook "{hook.name}"?').classes('text-h6')
            ui.label(f'{hook.pending} waiting deliveries and the delivery history go with it. Pause it instead to '
                     'keep them.')
            with ui.row().classes('justify-end w-full'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps').classes('min-h-[44px]')
                ui.button('Delete', on_click=lambda: self.delete(hook, dialog)) \
                    .props('no-caps color=negative').classes('min-h-[44px]').mark('confirm-delete-webhook')
        dialog.open()

    async def delete(self, hook: WebhookView, dialog: ui.dialog) -> None:
        dialog.close()
        try:
            await self._webhooks.delete(await self._acting(), hook.id)
        except DomainError as error:
            self._status.set_text(error.message)
            return
        self._status.set_text(f'Deleted: {hook.name}.')
        await self.show()

    async def retry(self, delivery: DeliveryView) -> None:
        """Send a given-up delivery again, with a fresh round of retries."""
        try:
            await self._webhooks.retry(await self._acting(), delivery.id)
        except DomainError as error:
            self._status.set_text(error.message)
            return
        self._status.set_text(f'Delivery {delivery.id} will be sent again within seconds.')
        await self.show()
