"""Screenshots of every page of the demo, as a browser shows them, for a person to look at.

    python -m bench.screens [--out DIR] [--simulate SECONDS]

Starts the demo server in a temporary folder with quiet patients, raises a few alerts through the HTTP API so the
pages are not empty (optionally streams simulated vital signs for a while first, with `python main.py simulate`
through the HTTP API as a monitor gateway would, so cards and charts show believable data), signs in with Debian's
Chromium and writes PNGs of the login page, the dashboard on a 1080p screen, a 10-inch tablet (also with the toast
of a critical alert arriving while it is open) and a phone, a patient page, the audit trail, the admin page and
the kiosk wall display. Nothing is asserted: the point is to look at them.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.harness import REPO, VigilServer, launch_chromium, sign_in

DEFAULT_OUT = REPO / 'bench' / 'screens-out'
DESKTOP = {'width': 1920, 'height': 1080}
TABLET = {'width': 1280, 'height': 800}
PHONE = {'width': 390, 'height': 844}
# Patients of the demo's Vigil General Hospital (data/seed.py): AMU-01, AMU-03 and CAR-02; and one ward alert.
DEMO_ALERTS = [
    {'patient_mrn': 'G100101', 'priority': 'critical', 'message': 'Code Blue: unresponsive, no palpable pulse'},
    {'patient_mrn': 'G100103', 'priority': 'high', 'message': 'Patient fall beside the bed, head wound'},
    {'patient_mrn': 'G100202', 'priority': 'medium', 'message': 'Assistance needed: agitated, pulling at IV line'},
    {'ward': 'Acute Medical Unit', 'priority': 'low', 'message': 'Infusion pump battery low in bay 2'},
]
# Raised while a dashboard is open, to show the toast it gets (RES-02).
TOAST_ALERT = {'patient_mrn': 'G100302', 'priority': 'critical', 'message': 'Code Blue: respiratory arrest'}
# Charts animate and fonts load after the page is live; a screenshot a moment later shows what a person sees.
SETTLE_SECONDS = 1.5


@dataclass
class Demo:
    """What the script set up on the server: an integration token, a kiosk token and the alerts it raised."""

    integration_token: str
    kiosk_token: str
    alerts: list[dict[str, Any]] = field(default_factory=list)


def raise_demo_alerts(server: VigilServer) -> Demo:
    """Raise the demo alerts through the HTTP API as an integration would, and acknowledge the high one."""
    demo = Demo(server.create_token('integration', 'Nurse call system'),
                server.create_token('kiosk', 'AMU corridor display'))
    for alert in DEMO_ALERTS:
        try:
            demo.alerts.append(server.post_alert(demo.integration_token, **alert))
        except RuntimeError as error:
            print(f'warning: alert not raised: {error}', file=sys.stderr)
    high = next((a for a in demo.alerts if a.get('priority') == 'high'), None)
    if high is not None:
        with server.api(demo.integration_token) as client:
            response = client.post(f'/api/v1/alerts/{high["id"]}/acknowledge', json={'acted_by': 'Jordan Ellis'})
        if response.status_code != 200:
            print(f'warning: not acknowledged: {response.status_code} {response.text[:300]}', file=sys.stderr)
    return demo


def simulate(server: VigilServer, seconds: float) -> None:
    """Stream simulated vital signs into the server for this long, through its HTTP API (the simulate verb)."""
    token = server.create_token('device', 'Screenshot monitor gateway')
    # NOTE: the token goes in the environment variable the simulate verb reads, never on a command line.
    env = {**server.env, 'VIGIL_SIMULATOR_TOKEN': token}
    print(f'streaming simulated vital signs for {seconds:g} s ...')
    result = subprocess.run([sys.executable, 'main.py', 'simulate', '--url', server.url, '--duration', str(seconds)],  # noqa: S603
                            cwd=REPO, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=seconds + 120, check=False)
    if result.returncode != 0:
        print(f'warning: the simulator stopped with code {result.returncode}: {result.stderr.strip()[-500:]}',
              file=sys.stderr)
    else:
        print(result.stdout.strip().splitlines()[-1] if result.stdout.strip() else 'simulator done')


def settle(page: Page) -> None:
    """Wait until the page is connected and has finished drawing."""
    page.wait_for_load_state('networkidle')
    live = page.locator('.vigil-conn-live')
    if page.locator('.vigil-conn').count():
        expect(live.first).to_be_visible(timeout=15_000)
    time.sleep(SETTLE_SECONDS)  # animations finish before the picture


def shoot(page: Page, out: Path, name: str, *, full_page: bool = True) -> None:
    settle(page)
    path = out / f'{name}.png'
    page.screenshot(path=str(path), full_page=full_page)
    print(f'wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}')


def take(browser: Browser, server: VigilServer, out: Path, demo: Demo) -> None:
    """Write every screenshot."""
    login = browser.new_page(viewport=TABLET)
    login.goto(f'{server.url}/login')
    shoot(login, out, 'login')
    login.context.close()

    for name, viewport in (('dashboard-1920x1080', DESKTOP), ('dashboard-1280x800', TABLET),
                           ('dashboard-390x844', PHONE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        sign_in(page, server, 'admin')
        shoot(page, out, name, full_page=viewport is not PHONE)
        if viewport is PHONE:  # what a phone shows first, and the whole page scrolled through
            shoot(page, out, f'{name}-full')
        if viewport is TABLET:  # a critical alert arrives while the dashboard is open: its toast
            try:
                server.post_alert(demo.integration_token, **TOAST_ALERT)
                expect(page.locator('.q-notification').first).to_be_visible()
                shoot(page, out, 'dashboard-toast-1280x800', full_page=False)
            except RuntimeError as error:
                print(f'warning: no toast: {error}', file=sys.stderr)
        if viewport is DESKTOP:
            patient_id = next((a['patient_id'] for a in demo.alerts if a.get('patient_id')), 1)
            page.goto(f'{server.url}/patients/{patient_id}')
            shoot(page, out, 'patient-1920x1080')
            page.goto(f'{server.url}/audit')
            shoot(page, out, 'audit-1920x1080')
            page.goto(f'{server.url}/admin')
            shoot(page, out, 'admin-1920x1080')
        context.close()

    kiosk = browser.new_page(viewport=DESKTOP)
    kiosk.goto(f'{server.url}/kiosk?token={demo.kiosk_token}')
    expect(kiosk.frame_locator('#display').locator('.vigil-conn-live')).to_be_visible(timeout=15_000)
    shoot(kiosk, out, 'kiosk-1920x1080', full_page=False)
    kiosk.context.close()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog='python -m bench.screens', description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', type=Path, default=DEFAULT_OUT, help=f'output folder (default: {DEFAULT_OUT})')
    parser.add_argument('--simulate', type=float, default=0.0, metavar='SECONDS',
                        help='first stream simulated vital signs for this long, so cards and charts show data '
                        '(default: 0, quiet patients)')
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix='vigil-screens-') as folder:
        server = VigilServer(Path(folder))
        server.start()
        try:
            demo = raise_demo_alerts(server)
            if args.simulate > 0:
                simulate(server, args.simulate)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                try:
                    take(browser, server, out, demo)
                finally:
                    browser.close()
        except Exception:
            print(server.log_tail(), file=sys.stderr)
            raise
        finally:
            server.stop()


if __name__ == '__main__':
    main(sys.argv[1:])
