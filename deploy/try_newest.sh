#!/usr/bin/env bash
# Try the newest dependency versions that pyproject.toml allows, on purpose, before they arrive by surprise.
#
#   bash deploy/try_newest.sh [extra pytest arguments]
#
# Installs the newest allowed versions (not the lock) into a temporary virtualenv, prints every package whose
# version differs from deploy/requirements-dev.txt, and runs the fast tests there: everything except the browser,
# scale-out and one-file binary tests (markers `browser` and `slow`). PostgreSQL and Redis tests run when their
# servers are reachable. The virtualenv is removed afterwards; nothing in the clone changes. Not part of CI: run it
# before `python deploy/lock.py --upgrade`, and fix what breaks before the lock moves.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

python3 - "$scratch/newest.in" <<'PY'
import sys, tomllib
project = tomllib.load(open('pyproject.toml', 'rb'))['project']
open(sys.argv[1], 'w').write('\n'.join(project['dependencies'] + project['optional-dependencies']['dev']) + '\n')
PY
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --upgrade --upgrade-strategy eager -r "$scratch/newest.in"

echo "== versions that differ from the lock (package: locked -> newest allowed)"
"$scratch/venv/bin/pip" list --format=freeze 2>/dev/null | python3 -c '
import re, sys
locked = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^ ;\\]+)", open("deploy/requirements-dev.txt").read(), re.M))
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
locked = {norm(k): v for k, v in locked.items()}
changed = 0
for line in sys.stdin:
    name, _, version = line.strip().partition("==")
    if norm(name) in locked and locked[norm(name)] != version:
        print(f"  {name}: {locked[norm(name)]} -> {version}"); changed += 1
    elif norm(name) not in locked and norm(name) not in ("pip", "setuptools"):
        print(f"  {name}: not in the lock -> {version}"); changed += 1
print(f"  ({changed} differ)")
'
echo "== fast tests on the newest versions"
"$scratch/venv/bin/python" -m pytest -m 'not browser and not slow' -p no:cacheprovider -q "$@"
