#!/usr/bin/env bash
# Set everything up, then run the test suite (slow tests and benchmarks excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
python3 -m pytest "$@"
