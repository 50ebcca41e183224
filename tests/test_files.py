"""The data folder and the database files are private to Vigil's account: created so, and tightened at start."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.files import PRIVATE_UMASK, make_new_files_private, secure_data_dir

from .browser.harness import VigilServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def restore_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures('restore_umask')
def test_files_created_after_start_are_private(tmp_path: Path) -> None:
    make_new_files_private()
    (tmp_path / 'folder').mkdir()
    (tmp_path / 'folder' / 'vigil.db').write_text('')
    assert (mode(tmp_path / 'folder'), mode(tmp_path / 'folder' / 'vigil.db')) == (0o700, 0o600)
    assert os.umask(PRIVATE_UMASK) == PRIVATE_UMASK


def test_an_existing_readable_data_folder_is_tightened_with_a_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / 'data'
    (data / 'nicegui').mkdir(parents=True)
    for name in ('vigil.db', 'vigil.db-wal', 'vigil.db-shm', 'nicegui/storage-user-1.json'):
        (data / name).write_text('')
        (data / name).chmod(0o644)
    (data / 'private').write_text('')
    (data / 'private').chmod(0o400)  # already tighter than 0600: left as it is
    data.chmod(0o755)
    (data / 'nicegui').chmod(0o775)

    tightened = secure_data_dir(data)

    assert mode(data) == mode(data / 'nicegui') == 0o700
    assert {mode(data / n) for n in ('vigil.db', 'vigil.db-wal', 'vigil.db-shm', 'nicegui/storage-user-1.json')} == {
        0o600}
    assert mode(data / 'private') == 0o400
    assert len(tightened) == 6
    assert [r.event for r in caplog.records].count('data.permissions_tightened') == 6  # type: ignore[attr-defined]
    assert secure_data_dir(data) == []  # nothing left to tighten


def test_a_missing_data_folder_is_created_private(tmp_path: Path) -> None:
    secure_data_dir(tmp_path / 'new' / 'data')
    assert mode(tmp_path / 'new' / 'data') == 0o700


def test_a_real_server_keeps_the_database_and_its_folder_private(tmp_path: Path) -> None:
    # Reproduced: vigil.db, -wal and -shm were 0644 and the data folder 0755 (patient data readable by every account).
    data = tmp_path / 'vigil'
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    server = VigilServer(data)
    server.start()
    try:
        assert httpx.get(f'{server.url}/healthz').status_code == 200
        files = [data / name for name in ('vigil.db', 'vigil.db-wal', 'vigil.db-shm')]
        present = [f for f in files if f.exists()]
        assert data / 'vigil.db' in present
        assert mode(data) == 0o700
        assert {f.name: mode(f) for f in present} == {f.name: 0o600 for f in present}
        assert all(mode(p) & 0o077 == 0 for p in data.rglob('*') if not p.is_symlink())
    finally:
        server.stop()
