#!/usr/bin/env bash
# Continuous and sparse classic control (issue 24): two lanes at once, one thread each (2-core machine).
# Pendulum-v1: the sweep's best setting (pendulum_sweep.toml: gamma 0.9, observation normalisation),
# 10 minutes, seeds 0 and 1. MountainCarContinuous-v0 and MountainCar-v0: the defaults, 5 minutes.
# Each run's eval.json, config.toml, summary.json and metrics.csv go to results/classic/<name>/, and
# random.md gets the uniform-random agent of each env (1,000 episodes).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
RUNS=${RUNS:-runs/classic}
run() {  # name env seconds seed [extra args]
  local name=$1 env=$2 seconds=$3 seed=$4
  shift 4
  "$BIN/taskdistill" distill --env "$env" --time-budget "$seconds" --seed "$seed" --threads 1 \
    --out "$RUNS/$name" --overwrite -q "$@"
  mkdir -p "results/classic/$name"
  cp "$RUNS/$name"/{eval.json,config.toml,summary.json,metrics.csv} "results/classic/$name/"
}
lane_a() {
  run pendulum-s0 Pendulum-v1 600 0 --config results/classic/pendulum_sweep.toml
  run mountaincarcontinuous-s0 MountainCarContinuous-v0 300 0
}
lane_b() {
  run pendulum-s1 Pendulum-v1 600 1 --config results/classic/pendulum_sweep.toml
  run mountaincar-s0 MountainCar-v0 300 0
}
lane_a & lane_b & wait
export RL_LOGGING_LEVEL=WARNING  # TorchRL logs INFO lines to stdout
{
  echo "| env | uniform-random agent, 1,000 episodes |"
  echo "|---|---|"
  for env in Pendulum-v1 MountainCarContinuous-v0 MountainCar-v0; do
    "$BIN/python" -c "
from taskdistill_rl.baselines import random_agent_returns
r = random_agent_returns('$env', episodes=1000, seed=0)
print(f'| $env | {r.mean():.1f} ± {r.std():.1f} |')"
  done
} > results/classic/random.md
