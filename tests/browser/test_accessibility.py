"""axe-core in real Chromium on every page, light and dark, with alerts on screen: no serious or critical violation.

axe-core comes from npm, pinned by .ci/axe/package-lock.json (`.ci/run` installs it with `npm ci`). axe judges the
page as painted at the moment it runs, so a flashing chip is checked in both phases of its flash: the page's
animations are paused at each phase in turn (Web Animations API) before axe runs.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from ..conftest import unavailable
from .conftest import OpenAs
from .harness import REPO, VigilServer

pytestmark = pytest.mark.browser

AXE_SCRIPT = REPO / '.ci' / 'axe' / 'node_modules' / 'axe-core' / 'axe.min.js'
SEVERE = frozenset({'serious', 'critical'})
# Each running animation paused a quarter and three quarters into its cycle: both halves of a two-state flash.
PHASES = (0.25, 0.75)
_PAUSE_ANIMATIONS = '''(fraction) => {
  for (const animation of document.getAnimations()) {
    if (animation instanceof CSSTransition) { animation.finish(); continue; }
    const duration = Number(animation.effect.getComputedTiming().duration) || 0;
    animation.pause();
    animation.currentTime = duration * fraction;
  }
}'''
_RUN_AXE = '''async () => {
  const results = await axe.run(document, {resultTypes: ['violations'], iframes: false});
  return results.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({impact: n.impact, target: n.target.join(' '), summary: n.failureSummary}))}));
}'''


@pytest.fixture(scope='module')
def axe_script() -> Path:
    if not AXE_SCRIPT.is_file():
        unavailable(f'axe-core is not installed at {AXE_SCRIPT.relative_to(REPO)} (npm ci --prefix .ci/axe)')
    return AXE_SCRIPT


@pytest.fixture(scope='module')
def alerting(tmp_path_factory: pytest.TempPathFactory, axe_script: Path) -> Iterator[dict[str, Any]]:
    """A demo server of this module with a critical and a high alert open (chips, flashing, cards with badges)."""
    vigil = VigilServer(tmp_path_factory.mktemp('a11y'))
    vigil.start()
    token = vigil.create_token('integration', 'Bedside monitor gateway')
    critical = vigil.post_alert(token, patient_mrn='G100101', priority='critical', message='Cardiac arrest')
    vigil.post_alert(token, patient_mrn='G100103', priority='high', message='Infusion pump occlusion on line 2')
    yield {'server': vigil, 'token': token, 'critical': critical}
    vigil.stop()


def severe_violations(target: Page | Frame, axe: Path) -> list[str]:
    """Run axe in a page or frame in both phases of its animations; describe its serious and critical violations.

    Nodes failing a rule for the same reason are grouped (one line per rule and reason, with their targets).
    """
    if not target.evaluate('() => typeof window.axe === "object"'):
        target.add_script_tag(path=str(axe))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for phase in PHASES:
        target.evaluate(_PAUSE_ANIMATIONS, phase)
        for violation in target.evaluate(_RUN_AXE):
            if violation['impact'] not in SEVERE:
                continue
            for node in violation['nodes']:
                summary = ' '.join((node['summary'] or '').split())
                group = found.setdefault((violation['id'], summary), {
                    'head': f'{violation["id"]} ({violation["impact"]}, animations at {phase:.0%}): '
                            f'{violation["help"]}', 'targets': []})
                if node['target'] not in group['targets']:
                    group['targets'].append(node['target'])
    return [f'{group["head"]}\n    {summary}\n    at {", ".join(group["targets"][:4])}'
            + (f' and {len(group["targets"]) - 4} more' if len(group['targets']) > 4 else '')
            for (_, summary), group in found.items()]


def assert_accessible(page: Page, axe: Path, where: str) -> None:
    problems = []
    for frame in page.frames:
        if frame.url.startswith('http'):
            problems += severe_violations(frame, axe)
    assert not problems, f'axe: {len(problems)} serious or critical violation(s) on {where}:\n' + '\n'.join(problems)


def assert_one_top_level_heading(page: Page, where: str) -> None:
    headings = page.locator('h1').all_inner_texts()
    assert len(headings) == 1, f'{where}: one <h1> expected, found {headings}'


def set_scheme(page: Page, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]


@pytest.fixture(params=['light', 'dark'])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def staff_page(open_as: OpenAs, server: VigilServer, user: str, path: str, scheme: str) -> Page:
    page = open_as(server, user, path=path)
    set_scheme(page, scheme)
    page.reload()
    expect(page.locator('header .vigil-conn')).to_have_text('Live')
    return page


def test_the_login_page_has_no_serious_violations(alerting: dict[str, Any], browser: Browser, scheme: str,
                                                  axe_script: Path) -> None:
    context = browser.new_context(viewport={'width': 1280, 'height': 800}, color_scheme=scheme)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        page.goto(f'{alerting["server"].url}/login')
        expect(page.get_by_label('Username')).to_be_visible()
        assert_one_top_level_heading(page, 'the login page')
        assert_accessible(page, axe_script, f'the login page ({scheme})')
    finally:
        context.close()


@pytest.mark.parametrize(('user', 'path'), [('charge', '/'), ('charge', '/audit'), ('admin', '/admin'),
                                            ('admin', '/admin/connections'), ('admin', '/admin/webhooks')])
def test_staff_pages_have_no_serious_violations(alerting: dict[str, Any], open_as: OpenAs, scheme: str,
                                                axe_script: Path, user: str, path: str) -> None:
    page = staff_page(open_as, alerting['server'], user, path, scheme)
    assert_one_top_level_heading(page, path)
    assert_accessible(page, axe_script, f'{path} as {user} ({scheme})')


def test_the_patient_page_has_no_serious_violations(alerting: dict[str, Any], open_as: OpenAs, scheme: str,
                                                    axe_script: Path) -> None:
    page = staff_page(open_as, alerting['server'], 'doctor', f'/patients/{alerting["critical"]["patient_id"]}',
                      scheme)
    expect(page.get_by_text('Cardiac arrest').first).to_be_visible()
    assert_one_top_level_heading(page, 'the patient page')
    assert_accessible(page, axe_script, f'the patient page ({scheme})')

    page.get_by_role('button', name='Change SpO₂ scale').click()
    expect(page.get_by_role('dialog', name='Change the SpO2 scale')).to_be_visible()
    assert_accessible(page, axe_script, f'the SpO2 scale dialog ({scheme})')


def test_the_dashboard_with_fresh_toasts_and_the_raise_dialog_has_no_serious_violations(
        alerting: dict[str, Any], open_as: OpenAs, scheme: str, axe_script: Path) -> None:
    server: VigilServer = alerting['server']
    page = staff_page(open_as, server, 'charge', '/', scheme)
    server.post_alert(alerting['token'], patient_mrn='G100102', priority='critical', message='Asystole on monitor')
    server.post_alert(alerting['token'], patient_mrn='G100104', priority='high', message='SpO2 probe off')
    expect(page.locator('.q-notification').filter(has_text='Asystole on monitor').first).to_be_visible()
    expect(page.locator('.q-notification').filter(has_text='SpO2 probe off').first).to_be_visible()
    assert_accessible(page, axe_script, f'the dashboard with toasts ({scheme})')

    page.get_by_role('button', name='Raise alert for Eleanor Whitfield').click()
    expect(page.get_by_role('dialog', name='Raise an alert')).to_be_visible()
    assert_accessible(page, axe_script, f'the Raise alert dialog ({scheme})')
    page.keyboard.press('Escape')
    expect(page.get_by_role('dialog')).to_be_hidden()

    page.keyboard.press('?')
    expect(page.get_by_role('dialog', name='Keyboard shortcuts')).to_be_visible()
    assert_accessible(page, axe_script, f'the Keyboard shortcuts dialog ({scheme})')


def test_the_dashboard_on_a_phone_with_toasts_has_no_serious_violations(
        alerting: dict[str, Any], open_as: OpenAs, scheme: str, axe_script: Path) -> None:
    server: VigilServer = alerting['server']
    page = open_as(server, 'charge', viewport={'width': 390, 'height': 844})
    set_scheme(page, scheme)
    page.reload()
    expect(page.locator('header .vigil-conn')).to_have_text('Live')
    message = f'Seizure, bed 5 ({scheme})'
    server.post_alert(alerting['token'], patient_mrn='G100105', priority='critical', message=message)
    expect(page.get_by_role('listitem').filter(has_text=message)).to_be_visible()
    expect(page.locator('.q-notification:visible').first).to_be_visible()  # on a phone, the stack shows the newest few
    assert_accessible(page, axe_script, f'the dashboard on a phone ({scheme})')


def test_the_kiosk_has_no_serious_violations(alerting: dict[str, Any], anonymous: Page, axe_script: Path) -> None:
    server: VigilServer = alerting['server']
    anonymous.goto(f'{server.url}/kiosk?token={server.create_token("kiosk", "Corridor wall display")}')
    board = anonymous.frame_locator('#display')
    expect(board.locator('.vigil-conn-live')).to_be_visible()
    expect(board.get_by_role('listitem').filter(has_text='Cardiac arrest')).to_be_visible()
    assert_accessible(anonymous, axe_script, 'the kiosk')
