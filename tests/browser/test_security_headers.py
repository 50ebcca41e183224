"""Every page works under its Content-Security-Policy in real Chromium: nothing is refused, live updates arrive."""

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from app.web_security import PAGE_POLICY

from .harness import VigilServer, sign_in
from .test_live_ui import alert_row, connection, kiosk_row

pytestmark = pytest.mark.browser

# In every frame (the kiosk shell's board too), from the first script on: report each refusal to the test.
_COLLECT = '''document.addEventListener('securitypolicyviolation', (event) => window.vigilCspViolation({
  page: location.pathname, directive: event.effectiveDirective, blocked: event.blockedURI,
  sample: event.sample, line: event.lineNumber}));'''

_PROBE = '''() => new Promise((resolve) => {
  document.addEventListener('securitypolicyviolation', (event) => resolve(event.effectiveDirective), {once: true});
  new Image().src = 'http://127.0.0.2:9/probe.png';
})'''


class Violations:
    """The CSP refusals one browser context met: reported events, and the console's 'Refused to ...' lines."""

    def __init__(self, context: BrowserContext) -> None:
        self.found: list[Any] = []
        context.expose_binding('vigilCspViolation', lambda _source, violation: self.found.append(violation))
        context.add_init_script(_COLLECT)
        context.on('page', self.watch)

    def watch(self, page: Page) -> None:
        page.on('console', self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if 'Content Security Policy' in message.text:
            self.found.append(message.text)


@pytest.fixture
def watched(browser: Browser) -> Iterator[tuple[BrowserContext, Violations]]:
    context = browser.new_context(viewport={'width': 1280, 'height': 800})
    context.set_default_timeout(15_000)
    violations = Violations(context)
    yield context, violations
    context.close()


def test_no_page_breaks_a_rule_of_its_policy_and_live_updates_still_arrive(
        server: VigilServer, watched: tuple[BrowserContext, Violations]) -> None:
    context, violations = watched
    staff = context.new_page()
    sockets: list[str] = []
    staff.on('websocket', lambda socket: sockets.append(socket.url))
    response = staff.goto(f'{server.url}/login')
    assert response is not None and response.headers['content-security-policy'] == PAGE_POLICY
    sign_in(staff, server, 'admin')
    expect(connection(staff)).to_have_text('Live')
    assert any('/_nicegui_ws/' in url for url in sockets)  # the socket is a WebSocket, not a polling fallback
    kiosk = context.new_page()  # the shell and the board in its frame, both under the policy
    kiosk.goto(f'{server.url}/kiosk?token={server.create_token("kiosk", "CSP check display")}')
    expect(kiosk.frame_locator('#display').locator('.vigil-conn-live')).to_be_visible()

    token = server.create_token('integration', 'CSP check gateway')
    posted = server.post_alert(token, patient_mrn='G100103', priority='high', message='Checked under the policy')
    expect(alert_row(staff, 'Priya Raman', 'Checked under the policy')).to_contain_text('Active')
    expect(kiosk_row(kiosk, 'Checked under the policy')).to_contain_text('Not acknowledged')

    for path, shows in ((f'/patients/{posted["patient_id"]}', 'Priya Raman'), ('/audit', 'Audit trail'),
                        ('/admin', 'Administration'), ('/admin/connections', 'Connections'),
                        ('/admin/webhooks', 'Webhooks'), ('/pwa/offline.html', 'Vigil is offline')):
        staff.goto(f'{server.url}{path}')
        expect(staff.get_by_role('heading', name=shows).first).to_be_visible()
        if not path.startswith('/pwa/'):
            expect(staff.locator('.vigil-conn-live').first).to_be_visible()
        if path == '/audit':  # a download from the page (a blob: address)
            with staff.expect_download() as download:
                staff.get_by_role('button', name='Export CSV').click()
            assert download.value.suggested_filename.endswith('.csv')
    assert violations.found == []

    # The policy is in force and the collector sees a refusal: an image from another origin (on this machine).
    with staff.expect_console_message(lambda message: 'Content Security Policy' in message.text):
        assert staff.evaluate(_PROBE) == 'img-src'
    reported = [found for found in violations.found if isinstance(found, dict)]
    logged = [found for found in violations.found if isinstance(found, str)]
    assert [found['directive'] for found in reported] == ['img-src']
    assert len(logged) == 1 and 'http://127.0.0.2:9/probe.png' in logged[0]
