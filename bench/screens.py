"""Screenshots of every page of the demo, as a browser shows them, for a person to look at.

    python -m bench.screens [--out DIR] [--simulate SECONDS]

Starts the demo server in a temporary folder with quiet patients, raises a few alerts through the HTTP API so the
pages are not empty, optionally streams simulated vital signs for a while first (`python main.py simulate`, through
the HTTP API as a monitor gateway would), so cards and charts show believable data, signs in with Debian's Chromium
and writes
PNGs of the login page, the dashboard on a 1080p screen, a 10-inch tablet and a phone, a patient page, the audit
trail, the admin page and the kiosk wall display. Nothing is asserted: the point is to look at them.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.harness import REPO, VigilServer, launch_chromium, sign_in

DEFAULT_OUT = REPO / 'bench' / 'screens-out'
DESKTOP = {'width': 1920, 'height': 1080}
TABLET = {'width': 1280, 'height': 800}
PHONE = {'width': 390, 'height': 844}
# Patients of the demo's Vigil General Hospital (data/seed.py): AMU-01, AMU-03 and CAR-02.
DEMO_ALERTS = [
    {'patient_mrn': 'G100101', 'priority': 'critical', 'message': 'Code Blue: unresponsive, no palpable pulse'},
    {'patient_mrn': 'G100103', 'priority': 'high', 'message': 'Patient fall beside the bed, head wound'},
    {'patient_mrn': 'G100202', 'priority': 'medium', 'message': 'Assistance needed: agitated, pulling at IV line'},
    {'patient_mrn': None, 'priority': 'low', 'message': 'Infusion pump battery low in bay 2'},
]
# Charts animate and fonts load after the page is live; a screenshot a moment later shows what a person sees.
SETTLE_SECONDS = 1.5


def raise_demo_alerts(server: VigilServer) -> list[dict[str, Any]]:
    """Raise the demo alerts through the HTTP API, as an integration would; return what the API answered."""
    token = server.create_token('integration', 'Screenshot script')
    raised = []
    for alert in DEMO_ALERTS:
        body = {k: v for k, v in alert.items() if v is not None}
        if 'patient_mrn' not in body:
            body['ward'] = 'Acute Medical Unit'
        try:
            raised.append(server.post_alert(token, **body))
        except RuntimeError as error:
            print(f'warning: alert not raised: {error}', file=sys.stderr)
    return raised


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


def take(browser: Browser, server: VigilServer, out: Path, alerts: list[dict[str, Any]], kiosk_token: str) -> None:
    """Write every screenshot."""
    login = browser.new_page(viewport=TABLET)
    login.goto(f'{server.url}/login')
    shoot(login, out, 'login')
    login.context.close()

    for name, viewport in (('dashboard-1920x1080', DESKTOP), ('dashboard-1280x800', TABLET),
                           ('dashboard-390x844', PHONE)):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        page = context.new_page()
        sign_in(page, server, 'admin')
        shoot(page, out, name, full_page=viewport is not PHONE)
        if viewport is PHONE:  # what a phone shows first, and the whole page scrolled through
            shoot(page, out, f'{name}-full')
        if viewport is DESKTOP:
            patient_id = next((a.get('patient_id') for a in alerts if a.get('patient_id')), 1)
            page.goto(f'{server.url}/patients/{patient_id}')
            shoot(page, out, 'patient-1920x1080')
            page.goto(f'{server.url}/audit')
            shoot(page, out, 'audit-1920x1080')
            page.goto(f'{server.url}/admin')
            shoot(page, out, 'admin-1920x1080')
        context.close()

    kiosk = browser.new_page(viewport=DESKTOP)
    kiosk.goto(f'{server.url}/kiosk?token={kiosk_token}')
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
            alerts = raise_demo_alerts(server)
            if args.simulate > 0:
                simulate(server, args.simulate)
            kiosk_token = server.create_token('kiosk', 'Screenshot wall display')
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                try:
                    take(browser, server, out, alerts, kiosk_token)
                finally:
                    browser.close()
        except Exception:
            print(server.log_tail(), file=sys.stderr)
            raise
        finally:
            server.stop()


if __name__ == '__main__':
    main(sys.argv[1:])
