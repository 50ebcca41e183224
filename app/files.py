"""The data folder holds patient data (the SQLite database, per-browser storage, the storage secret): only the
account Vigil runs as may read it.

New files are private because Vigil sets its umask to 0077 before it creates anything; folders and files left
readable by an earlier version, a copy or a restore are tightened at every start, each with a log line.
"""

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def make_new_files_private() -> None:
    """Make every file and folder this process creates from now on readable by its own account only."""
    os.umask(PRIVATE_UMASK)


def secure_data_dir(data_dir: Path) -> list[Path]:
    """Create the data folder (0700) if needed and tighten it and everything in it; return what was tightened."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    tightened = [path for path in (data_dir, *sorted(data_dir.rglob('*'))) if _tighten(path)]
    for path in tightened:
        log.warning('tightened the permissions of %s: patient data is readable by Vigil\'s account only', path,
                    extra={'event': 'data.permissions_tightened', 'path': str(path)})
    return tightened


def _tighten(path: Path) -> bool:
    try:
        status = path.lstat()
    except FileNotFoundError:
        return False  # removed meanwhile (a WAL file checkpointed away)
    if stat.S_ISLNK(status.st_mode):
        return False  # the link's target is not ours to change
    wanted = DIR_MODE if stat.S_ISDIR(status.st_mode) else FILE_MODE
    current = stat.S_IMODE(status.st_mode)
    if current & ~wanted == 0:
        return False
    path.chmod(current & wanted)
    return True
