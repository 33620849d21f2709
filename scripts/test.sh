#!/usr/bin/env bash
# Set everything up, lint, then run the test suite (slow tests and benchmarks excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
ruff check . && ruff format --check --quiet .
python3 -m pytest "$@"
