#!/usr/bin/env bash
# Set everything up, then run the main job offline: the builtin (no-LLM) model solves the
# STeP suite; results land in runs/step/results.json. Pass another suite as $1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
suite="${1:-benchmarks/step}"
agent solve "$suite" --model builtin --out "runs/$(basename "$suite")"
