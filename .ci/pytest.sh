#!/usr/bin/env bash
# Runs the whole suite; pytest's exit 5 (no tests collected) is a failure here, not a pass, and so is a test
# folder that collects nothing or a count below the floor committed in tests/collected.floor.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -p tests.collection_guard --collection-floor tests/collected.floor "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: treating as failure" >&2
    exit 1
fi
exit "$status"
