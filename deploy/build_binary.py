"""Build Vigil's one-file binary: `python deploy/build_binary.py` writes dist/vigil (vigil.exe on Windows).

Run it with the Python of the virtualenv installed from the lock (`pip install --require-hashes -r
deploy/requirements-dev.txt` brings PyInstaller): the binary holds that interpreter and those packages, for this
operating system only. The release binary is built with CPython 3.11, as CI tests; an interpreter older than
`requires-python` is refused.
Nothing is downloaded while building.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
SPEC = DEPLOY / 'vigil.spec'
MINIMUM_PYTHON = (3, 11)  # requires-python in pyproject.toml


def build(dist: Path, work: Path) -> Path:
    """Run PyInstaller on the spec and return the path of the binary."""
    # The interpreter running this script builds the binary: never a `python` found on PATH.
    command = [sys.executable, '-m', 'PyInstaller', str(SPEC), '--noconfirm', '--log-level', 'WARN',
               '--distpath', str(dist), '--workpath', str(work)]
    subprocess.run(command, cwd=REPO, check=True)  # noqa: S603 (our own interpreter and spec, no user input)
    return dist / ('vigil.exe' if sys.platform == 'win32' else 'vigil')


def main(argv: list[str]) -> int:
    """Parse the command line, build, and print where the binary is."""
    parser = argparse.ArgumentParser(prog='python deploy/build_binary.py', description=__doc__.splitlines()[0])
    parser.add_argument('--dist', type=Path, default=REPO / 'dist', help='folder for the binary (default: dist/)')
    parser.add_argument('--work', type=Path, default=REPO / 'build',
                        help="PyInstaller's work folder, reused by the next build (default: build/)")
    args = parser.parse_args(argv)
    print(f'build_binary: Python {sys.version.split()[0]} at {sys.executable}', flush=True)
    if sys.version_info < MINIMUM_PYTHON:
        print(f'build_binary: Python {".".join(map(str, MINIMUM_PYTHON))} or newer is required', file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        binary = build(args.dist.resolve(), args.work.resolve())
    except subprocess.CalledProcessError as error:
        print(f'build_binary: PyInstaller failed with exit code {error.returncode}', file=sys.stderr)
        return 1
    print(f'{binary} ({binary.stat().st_size / 1e6:.0f} MB) built in {time.monotonic() - started:.0f} s')
    return 0


if __name__ == '__main__':
    raise SystemExit(main(sys.argv[1:]))
