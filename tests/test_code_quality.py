"""The code's standing rules, checked with the same tools a developer runs: layering, lint, types."""

import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(tool, path=str(BIN)) or shutil.which(tool)
    if executable is None:
        pytest.fail(f'{tool} is not installed: pip install --require-hashes -r deploy/requirements-dev.txt')
    return subprocess.run([executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_layers_point_one_way() -> None:
    """app/ and data/ never import NiceGUI; pages and components never touch SQLAlchemy or data/."""
    result = run('lint-imports', '--no-cache')
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = run('ruff', 'check', '--no-cache', '.')
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_the_core() -> None:
    result = run('mypy')
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lock_matches_pyproject_and_its_exports() -> None:
    """uv.lock resolves pyproject.toml as it is, and deploy/requirements*.txt are exactly what the lock exports."""
    result = subprocess.run([sys.executable, 'deploy/lock.py', '--check'], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lock_check_notices_a_range_edited_without_the_lock(tmp_path: Path) -> None:
    """The check is not a formality: a copy whose pyproject.toml asks for another range fails it."""
    for name in ('pyproject.toml', 'uv.lock'):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / 'deploy').mkdir()
    for name in ('lock.py', 'requirements.txt', 'requirements-dev.txt'):
        shutil.copy(ROOT / 'deploy' / name, tmp_path / 'deploy' / name)
    pyproject = tmp_path / 'pyproject.toml'
    pyproject.write_text(pyproject.read_text().replace('"hypothesis>=6.100,<7"', '"hypothesis>=6.100,<6.101"'))
    edited = subprocess.run([sys.executable, 'deploy/lock.py', '--check'], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, check=False)
    assert edited.returncode == 1
    assert 'uv.lock does not match pyproject.toml' in edited.stderr
    # And an export edited by hand is caught too.
    shutil.copy(ROOT / 'pyproject.toml', pyproject)
    export = tmp_path / 'deploy' / 'requirements.txt'
    export.write_text(export.read_text().replace('aiofiles==', 'aiofiles>=', 1))
    tampered = subprocess.run([sys.executable, 'deploy/lock.py', '--check'], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, check=False)
    assert tampered.returncode == 1
    assert 'deploy/requirements.txt is not what uv.lock exports' in tampered.stderr


def test_every_file_the_code_opens_next_to_itself_ships_in_the_binary() -> None:
    # The one-file binary once failed to start: components/alarm.py reads alarm.js beside itself and the PyInstaller
    # spec did not list it; later the wall display's Vue component (a custom element's `component='...'`, which
    # NiceGUI reads beside its module) was missing and the binary's wall display stayed empty. Any
    # `Path(__file__) ... / 'name'` and any `component='name'` in the code must be a file the spec ships.
    spec = (ROOT / 'deploy' / 'vigil.spec').read_text(encoding='utf-8')
    shipped = [PurePosixPath(*re.findall(r"'([^']+)'", entry))
               for entry in re.findall(r"REPO((?:\s*/\s*'[^']+')+)", spec)]
    opened = re.compile(r'''Path\(__file__\)[^\n]*?/\s*['"]([\w.-]+)['"]|component=['"]([\w.-]+)['"]''')
    sources = [ROOT / 'main.py', *(p for folder in ('app', 'components', 'pages', 'data')
                                   for p in (ROOT / folder).rglob('*.py'))]
    found = {PurePosixPath(source.relative_to(ROOT).parent.as_posix(), beside or component)
             for source in sources for beside, component in opened.findall(source.read_text(encoding='utf-8'))}
    # The pattern still finds what it is for: a file read beside the code, and a custom element's component.
    assert {PurePosixPath('components/alarm.js'), PurePosixPath('components/room_store.js')} <= found
    # A folder the code opens (the migrations, the static files) ships when something inside it does.
    missing = sorted(str(path) for path in found
                     if not any(path.match(str(pattern)) or path in pattern.parents for pattern in shipped))
    assert not missing, f'not shipped by deploy/vigil.spec: {missing}'


# NOTE: the access rule lives in app/domain/scope.py (with its SQL form in app/services/scope_sql.py); these are the
# only other places that may name a clinical role or read a person's ward assignment, and why.
ROLE_NAMED = {
    'app/services/prescriptions.py': 'PRESCRIBING_ROLES: who may prescribe, not what they see',
    'app/services/alerts.py': 'SNOOZING_ROLES: who may snooze, not what they see',
    'components/session.py': 'ROLE_LABELS: how each role reads on screen',
}
WARDS_READ = {
    'app/schemas.py': 'Actor.for_user copies the assignment into the actor',
    'components/session.py': "own_ward_names: the wards shown beside a person's name",
    'components/patient_order.py': "the 'My wards' choice of the patient cards (a view filter within the scope)",
    'components/staff_accounts.py': "the staff table shows each person's assigned wards",
    'components/live.py': 'the account watch notices that an assignment changed (the page then reloads)',
    'pages/frame.py': 'an open page reloads when its assignment changed, to be built for the new scope',
}


def test_the_access_rule_is_written_once() -> None:
    """Which patients, wards and alerts an actor sees is AccessScope's alone: no module tests roles or wards itself."""
    role = re.compile(r'\bRole\.(NURSE|CHARGE_NURSE|PHYSICIAN)\b')
    wards = re.compile(r'\.ward_ids\b')
    sources = {p.relative_to(ROOT).as_posix(): p.read_text(encoding='utf-8')
               for folder in ('app', 'components', 'pages') for p in (ROOT / folder).rglob('*.py')}
    assert role.search(sources['app/domain/scope.py']) and wards.search(sources['app/domain/scope.py'])
    naming_roles = {path for path, text in sources.items() if role.search(text)} - {'app/domain/scope.py'}
    reading_wards = {path for path, text in sources.items() if wards.search(text)} - {'app/domain/scope.py'}
    assert naming_roles <= set(ROLE_NAMED), f'ask AccessScope instead: {sorted(naming_roles - set(ROLE_NAMED))}'
    assert reading_wards <= set(WARDS_READ), f'ask AccessScope instead: {sorted(reading_wards - set(WARDS_READ))}'
