#!/usr/bin/env bash
# Re-runs the must-show distillations: two lanes at once, one thread each (2-core machine).
# Each run's eval.json, config.toml and summary.json are copied to results/ppmo/<name>/;
# results/ppmo/robustness.py then adds each file's 3,000-learner tail (robustness.json).
# ONLY=readme: 1D k=2 x 3 seeds at 60 s and 2D k=3 x 3 seeds at 150 s (the README's numbers).
# ONLY=beyond: 3D k=4 (300 s), 4D k=5 (450 s) and 5D k=6 (600 s, the issue's 10-minute cap), 3 seeds each.
# ONLY=below: k below k_min (1D k=1 at 60 s, 2D k=2 at 150 s), 3 seeds each.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
RUNS=${RUNS:-runs/must-show}
run() {  # name n_dims k seed seconds
  local out="$RUNS/$1"
  OMP_NUM_THREADS=1 "$BIN/taskdistill" distill --env NDCartPole-v0 --env-kwargs "n_dims=$2" --k "$3" \
    --seed "$4" --time-budget "$5" --out "$out" --overwrite -q
  mkdir -p "results/ppmo/$1"
  cp "$out"/{eval.json,config.toml,summary.json} "results/ppmo/$1/"
}
readme_a() { for s in 0 1; do run "2d-k3-s$s" 2 3 "$s" 150; done; }
readme_b() { for s in 0 1 2; do run "1d-k2-s$s" 1 2 "$s" 60; done; run 2d-k3-s2 2 3 2 150; }
beyond_a() { for s in 0 1 2; do run "5d-k6-s$s" 5 6 "$s" 600; done; run 3d-k4-s0 3 4 0 300; }
beyond_b() { for s in 0 1 2; do run "4d-k5-s$s" 4 5 "$s" 450; done; for s in 1 2; do run "3d-k4-s$s" 3 4 "$s" 300; done; }
below_a() { for s in 0 1 2; do run "2d-k2-s$s" 2 2 "$s" 150; done; }
below_b() { for s in 0 1 2; do run "1d-k1-s$s" 1 1 "$s" 60; done; }
case "${ONLY:-all}" in
  readme) readme_a & readme_b & wait ;;
  beyond) beyond_a & beyond_b & wait ;;
  below) below_a & below_b & wait ;;
  all) { readme_a; beyond_a; below_a; } & { readme_b; beyond_b; below_b; } & wait ;;
esac
