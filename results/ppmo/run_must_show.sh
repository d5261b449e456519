#!/usr/bin/env bash
# Re-runs the must-show distillations: two lanes at once, one thread each (2-core machine).
# Each run's eval.json, config.toml and summary.json are copied to results/ppmo/<name>/.
# ONLY=readme runs just the README's numbers (1D k=2 x 3 seeds at 60 s, 2D k=3 x 3 seeds at 150 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
RUNS=${RUNS:-runs/must-show}
run() {  # name n_dims k seed seconds
  local out="$RUNS/$1"
  OMP_NUM_THREADS=1 "$BIN/taskdistill" distill --env NDCartPole-v0 --env-kwargs "n_dims=$2" --k "$3" \
    --seed "$4" --time-budget "$5" --out "$out" -q
  mkdir -p "results/ppmo/$1"
  cp "$out"/{eval.json,config.toml,summary.json} "results/ppmo/$1/"
}
lane_a() {
  for s in 0 1 2; do run "2d-k3-s$s" 2 3 "$s" 150; done
  for s in 0 1 2; do run "1d-k2-s$s" 1 2 "$s" 60; done
  run 4d-k5-s0 4 5 0 300
}
lane_b() {
  for s in 0 1 2; do run "2d-k2-s$s" 2 2 "$s" 150; done
  for s in 0 1 2; do run "1d-k1-s$s" 1 1 "$s" 60; done
  run 3d-k4-s0 3 4 0 240
  run 5d-k6-s0 5 6 0 300
}
readme_a() { for s in 0 1; do run "2d-k3-s$s" 2 3 "$s" 150; done; }
readme_b() {
  for s in 0 1 2; do run "1d-k2-s$s" 1 2 "$s" 60; done
  run 2d-k3-s2 2 3 2 150
}
if [ "${ONLY:-}" = readme ]; then readme_a & readme_b & wait; else lane_a & lane_b & wait; fi
