#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the main job offline: the builtin (no-LLM)
# model solves the STeP suite; results land in runs/step/results.json and an HTML report in
# runs/step/report.html (a previous run there is moved to runs/step.<time>). Pass another
# suite as $1 (benchmarks/sam, benchmarks/dae).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
suite="${1:-benchmarks/step}"
out="runs/$(basename "$suite")"
if [ -e "$out/run.json" ]; then  # a run from before: keep it, under the time it was moved
  kept="$out.$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$out" "$kept"
  echo "solve: the previous run in $out is kept as $kept"
fi
echo "solve: agent solve $suite --model builtin --out $out"
.venv/bin/agent solve "$suite" --model builtin --out "$out"
.venv/bin/agent report "$out"
