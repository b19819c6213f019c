#!/usr/bin/env bash
# The full test command (README, second command; .ci/run calls exactly this):
# install what the tests need, then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -e '.[test]'
python -m ruff check crawler tests bench
python -m ruff format --check --quiet crawler tests bench
python -m mypy
python -m pytest "$@"
