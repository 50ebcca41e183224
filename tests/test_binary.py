"""The one-file binary of a small hospital: built by deploy/build_binary.py, it serves the demo on SQLite with its
data outside the folder it unpacks itself into, a nurse signs in to a live dashboard, and the operator verbs work."""

import importlib.util
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .browser.harness import REPO, VigilServer, chromium_path, clean_environment, launch_chromium, sign_in
from .conftest import unavailable

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 1800.0  # seconds; about a minute on a quiet 2-core machine
RUNTIME_FILES = ('vigil.db', 'vigil.db-wal', 'vigil.db-shm', '.storage_secret')


class BinaryServer(VigilServer):
    """The demo served by the binary instead of `python main.py`, unpacking itself under unpack_dir."""

    def __init__(self, binary: Path, data_dir: Path, unpack_dir: Path) -> None:
        super().__init__(data_dir)
        self.binary = binary
        self.unpack_dir = unpack_dir
        # The bootloader unpacks into TMPDIR (Linux, macOS): a folder of the test's own, so the test can look inside.
        self.env['TMPDIR'] = str(unpack_dir)
        del self.env['VIGIL_STORAGE_SECRET']  # as at a small hospital: generated once into the data folder
        self.returncode: int | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.unpack_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open('ab') as log:
            # Started from a folder without a .env, so nothing but the environment configures it.
            self._process = subprocess.Popen([str(self.binary), '--demo', '--no-simulator'], cwd=self.unpack_dir,
                                             env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT)
        self._wait_until_healthy()

    def stop(self) -> None:
        process = self._process
        super().stop()
        self.returncode = None if process is None else process.returncode

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), *args], cwd=self.unpack_dir, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope='module')
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the binary once for this module; PyInstaller's work and output folders are temporary."""
    if importlib.util.find_spec('PyInstaller') is None:
        unavailable('PyInstaller is not installed (pip install --require-hashes -r deploy/requirements-dev.txt)')
    out = tmp_path_factory.mktemp('binary')
    result = subprocess.run(
        [sys.executable, str(REPO / 'deploy' / 'build_binary.py'), '--dist', str(out / 'dist'),
         '--work', str(out / 'work')], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    assert result.returncode == 0, f'the build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}'
    return out / 'dist' / ('vigil.exe' if sys.platform == 'win32' else 'vigil')


@pytest.fixture
def served(binary: Path, tmp_path: Path) -> Iterator[BinaryServer]:
    server = BinaryServer(binary, tmp_path / 'data', tmp_path / 'unpack')
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    if chromium_path() is None:
        unavailable('Chromium is not installed (apt-get install chromium chromium-driver)')
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context(viewport={'width': 1280, 'height': 800})
        context.set_default_timeout(15_000)
        yield context.new_page()
        browser.close()


def runtime_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob('*') if p.name in RUNTIME_FILES)


@pytest.mark.browser
def test_the_binary_serves_the_demo_from_its_data_folder_and_a_nurse_sees_alerts_arrive(
        served: BinaryServer, page: Page) -> None:
    unpacked = list(served.unpack_dir.glob('_MEI*'))
    assert len(unpacked) == 1, f'the binary should run from one unpack folder, found {unpacked}'
    assert (served.data_dir / 'vigil.db').is_file()
    assert (served.data_dir / '.storage_secret').is_file()
    assert runtime_files(served.unpack_dir) == []
    # NiceGUI reads a custom element's Vue component from next to its module: a missing one degrades silently.
    assert sorted(p.name for p in (unpacked[0] / 'components').glob('*.js')) == \
        sorted(p.name for p in (REPO / 'components').glob('*.js'))

    sign_in(page, served, 'charge')

    expect(page.locator('header .vigil-conn')).to_have_text('Live')
    expect(page.get_by_text('Eleanor Whitfield').first).to_be_visible()  # a patient card of the demo
    token = served.create_token('integration', 'Binary test gateway')  # the binary's CLI, on the same database
    served.post_alert(token, patient_mrn='G100103', priority='high', message='Pump occlusion from the binary')
    row = page.get_by_role('list').get_by_role('listitem').filter(has_text='Pump occlusion from the binary')
    expect(row).to_contain_text('Priya Raman')
    expect(row).to_contain_text('Active')

    # The wall display's rows come from its room store, a Vue component the binary must carry (components/*.js).
    page.goto(f'{served.url}/kiosk?token={served.create_token("kiosk", "Binary test wall display")}')
    display = page.frame_locator('#display')
    expect(display.locator('.vigil-conn-live')).to_be_visible()
    expect(display.get_by_text('Pump occlusion from the binary')).to_be_visible()


def test_the_binary_reads_fhir_observations_and_stops_cleanly_on_sigterm(served: BinaryServer) -> None:
    device = served.create_token('device', 'Binary test monitor')
    # Meta, Coding and Identifier are models fhir.resources loads by name: the binary must carry them.
    observation = {
        'resourceType': 'Observation', 'status': 'final',
        'meta': {'profile': ['http://hl7.org/fhir/StructureDefinition/vitalsigns']},
        'category': [{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/observation-category',
                                  'code': 'vital-signs'}]}],
        'code': {'coding': [{'system': 'http://loinc.org', 'code': '8867-4', 'display': 'Heart rate'}]},
        'subject': {'identifier': {'value': 'G100101'}},
        'effectiveDateTime': datetime.now(UTC).isoformat(),
        'valueQuantity': {'value': 72, 'unit': 'beats/minute', 'system': 'http://unitsofmeasure.org', 'code': '/min'},
    }
    bundle = {'resourceType': 'Bundle', 'type': 'batch',
              'entry': [{'resource': observation, 'request': {'method': 'POST', 'url': 'Observation'}}]}
    with served.api(device) as client:
        response = client.post('/api/fhir/r4', json=bundle)
        patients = client.get('/api/v1/patients').json()
        openapi = client.get('/openapi.json').json()
    assert response.status_code == 200, response.text[:500]
    assert [e['response']['status'] for e in response.json()['entry']] == ['201 Created']
    assert next(p for p in patients if p['mrn'] == 'G100101')['latest']['heart_rate']['value'] == 72
    # The binary carries pyproject.toml, where Vigil's version is kept (Vigil is run from its folder, not installed).
    assert openapi['info']['version'] == tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['version']

    served.stop()  # SIGTERM by PID, then wait

    # A graceful stop, as `python main.py` ends on SIGTERM: not a crash, not the SIGKILL stop() sends to a hung process.
    assert served.returncode == 0, served.log_tail()
    assert list(served.unpack_dir.iterdir()) == []  # the bootloader removed its unpack folder: a clean exit
    assert (served.data_dir / 'vigil.db').is_file()


def test_without_vigil_data_dir_the_binary_keeps_its_data_next_to_itself(binary: Path, tmp_path: Path) -> None:
    env = clean_environment(tmp_path / 'unused', port=1, storage_secret='unused')
    del env['VIGIL_DATA_DIR']
    env['TMPDIR'] = str(tmp_path)
    data_dir = binary.parent / 'vigil-data'

    created = subprocess.run([str(binary), 'hospital', 'create', '--slug', 'cottage', '--name', 'Cottage Hospital'],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    listed = subprocess.run([str(binary), 'token', 'list', '--hospital', 'cottage'],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    unknown = subprocess.run([str(binary), 'token', 'list', '--hospital', 'nowhere'],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)

    assert created.returncode == 0, created.stderr
    assert 'Cottage Hospital' in created.stdout
    assert listed.returncode == 0, listed.stderr
    assert unknown.returncode != 0
    assert (data_dir / 'vigil.db').is_file()
    assert runtime_files(tmp_path) == []
