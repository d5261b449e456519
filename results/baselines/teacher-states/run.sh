#!/usr/bin/env bash
# Re-runs the teacher-states baseline beside the README's distillations: 1D k=2 (60 s of search)
# and 2D k=3 (150 s), seeds 0-2, two lanes at once with one thread each (2-core machine), as
# results/ppmo/run_must_show.sh runs the distillations. Each run's eval.json, config.toml,
# summary.json and search.csv are copied to results/baselines/teacher-states/<name>/.
set -euo pipefail
cd "$(dirname "$0")/../../.."
BIN=${BIN:-.venv/bin}
RUNS=${RUNS:-runs/teacher-states}
run() {  # name n_dims k seed seconds
  local out="$RUNS/$1"
  OMP_NUM_THREADS=1 "$BIN/taskdistill" baseline --algo teacher-states --env NDCartPole-v0 \
    --env-kwargs "n_dims=$2" --k "$3" --seed "$4" --time-budget "$5" --out "$out" --overwrite -q
  mkdir -p "results/baselines/teacher-states/$1"
  cp "$out"/{eval.json,config.toml,summary.json,search.csv} "results/baselines/teacher-states/$1/"
}
lane_a() { for s in 0 1 2; do run "1d-k2-s$s" 1 2 "$s" 60; done; }
lane_b() { for s in 0 1 2; do run "2d-k3-s$s" 2 3 "$s" 150; done; }
lane_a & lane_b & wait
