#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the main job offline: the builtin (no-LLM)
# model solves the STeP suite; results land in runs/step/results.json and an HTML report in
# runs/step/report.html. Pass another suite as $1 (benchmarks/sam, benchmarks/dae).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
suite="${1:-benchmarks/step}"
out="runs/$(basename "$suite")"
echo "solve: agent solve $suite --model builtin --out $out"
.venv/bin/agent solve "$suite" --model builtin --out "$out"
.venv/bin/agent report "$out"
