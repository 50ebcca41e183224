"""The code's standing rules, checked with the same tools a developer runs: layering, lint, types."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which(tool, path=str(BIN)) or shutil.which(tool)
    if executable is None:
        pytest.fail(f'{tool} is not installed: pip install -e ".[dev]"')
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
