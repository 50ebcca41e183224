"""Schemathesis with every check against a real demo server: /openapi.json says what the server does.

Generated requests (schema examples, boundary values, random data, and sequences that follow the document's links)
go to `python main.py --demo` in its own process, authenticated with an integration token, the kind that may call
every route. What the generator cannot learn from the document is in tests/api_fuzz/ (hooks.py, schemathesis.toml),
each with its reason. Bounded: a few random cases per operation, on top of the deterministic boundary cases.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .browser.harness import REPO, VigilServer

pytestmark = pytest.mark.slow

FUZZ = REPO / 'tests' / 'api_fuzz'
MAX_EXAMPLES = 5  # random cases per operation; the coverage phase adds its boundary cases to these


def test_schemathesis_finds_no_failure_with_every_check(tmp_path: Path) -> None:
    server = VigilServer(tmp_path / 'server')
    server.start()
    try:
        token = server.create_token('integration', 'schemathesis')
        env = {**os.environ, 'SCHEMATHESIS_HOOKS': 'tests.api_fuzz.hooks', 'PYTHONPATH': str(REPO)}
        result = subprocess.run(
            [sys.executable, '-m', 'schemathesis.cli', '--config-file', str(FUZZ / 'schemathesis.toml'), 'run',
             f'{server.url}/openapi.json', '--checks', 'all', '--header', f'Authorization: Bearer {token}',
             '--max-examples', str(MAX_EXAMPLES), '--seed', '1', '--workers', '2', '--request-timeout', '10',
             '--generation-database', 'none', '--output-truncate', 'false', '--no-color'],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600, check=False)
    finally:
        server.stop()
    assert result.returncode == 0, f'{result.stdout[-20000:]}\n{result.stderr[-3000:]}\n{server.log_tail()}'
    assert 'Stateful' in result.stdout  # every phase ran, the one that chains requests included
