"""Refresh Vigil's dependency lock: `python deploy/lock.py` (add `--upgrade` to move to the newest allowed versions).

`uv.lock` is the one resolution of the whole dependency tree (runtime and the dev extra, every platform, with
hashes), made by uv from the ranges in `pyproject.toml`. pip installs from the two files exported from it:
`deploy/requirements.txt` (what the server needs) and `deploy/requirements-dev.txt` (that plus the test, lint and
build tools), each pinning every package with its hashes so that `pip install --require-hashes -r ...` installs
exactly what was tested. `--check` only verifies, without the network, that the lock still matches
`pyproject.toml` and that both exports match the lock (the test suite runs it).

Run it with the Python of a virtualenv installed from `deploy/requirements-dev.txt`, which brings uv.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
EXPORTS = {
    DEPLOY / 'requirements.txt': [],
    DEPLOY / 'requirements-dev.txt': ['--extra', 'dev'],
}


def uv() -> str:
    """The uv next to this interpreter (the locked one), else one on PATH."""
    found = shutil.which('uv', path=str(Path(sys.executable).parent)) or shutil.which('uv')
    if found is None:
        raise SystemExit('lock: uv is not installed; pip install --require-hashes -r deploy/requirements-dev.txt')
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([uv(), *args], cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603


def export(extra: list[str], target: Path) -> subprocess.CompletedProcess[str]:
    # --no-emit-project: Vigil itself is run from its folder, never installed; --frozen: from uv.lock as it is.
    return run('export', '--frozen', '--format', 'requirements-txt', '--no-emit-project', '--no-header',
               *extra, '--output-file', str(target))


def check() -> list[str]:
    """Problems with the lock, or none: it matches pyproject.toml and the exports match it."""
    problems = []
    locked = run('lock', '--check', '--offline')
    if locked.returncode != 0:
        problems.append('uv.lock does not match pyproject.toml (run `python deploy/lock.py`):\n'
                        + locked.stderr.strip())
    with tempfile.TemporaryDirectory() as scratch:
        for target, extra in EXPORTS.items():
            fresh = Path(scratch) / target.name
            result = export(extra, fresh)
            if result.returncode != 0:
                problems.append(f'uv export failed for {target.name}: {result.stderr.strip()}')
            elif not target.exists() or fresh.read_text() != target.read_text():
                problems.append(f'deploy/{target.name} is not what uv.lock exports (run `python deploy/lock.py`)')
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog='python deploy/lock.py', description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument('--upgrade', action='store_true', help='move every package to its newest allowed version')
    mode.add_argument('--check', action='store_true', help='only verify; exit 1 when something is out of date')
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for problem in problems:
            print(f'lock: {problem}', file=sys.stderr)
        return 1 if problems else 0
    result = run('lock', *(['--upgrade'] if args.upgrade else []))
    print(result.stderr.strip(), file=sys.stderr)
    if result.returncode != 0:
        return 1
    for target, extra in EXPORTS.items():
        exported = export(extra, target)
        if exported.returncode != 0:
            print(f'lock: uv export failed: {exported.stderr.strip()}', file=sys.stderr)
            return 1
        print(f'wrote {target.relative_to(REPO)}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
