#!/usr/bin/env bash
# The full test command (README, second command; .ci/run calls exactly this):
# install what the tests need, then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'
# The multi-worker tests start a real Redis (Debian's package; CI runs as root on Debian).
command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
python -m ruff check crawler tests bench
python -m ruff format --check --quiet crawler tests bench
python -m mypy
python -m pytest "$@"
