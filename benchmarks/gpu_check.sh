#!/usr/bin/env bash
# One-command device check for a GPU owner: does taskdistill_rl run on this device?
#
#   bash benchmarks/gpu_check.sh                 # DEVICE=cuda (the default)
#   DEVICE=cpu bash benchmarks/gpu_check.sh      # every stage on the CPU (tiny sizes; minutes)
#
# Prints one line per stage, `PASS name (12.3 s)` or `FAIL name (4.5 s): first error line`, goes on
# after a failure, and exits 1 if any stage failed. Stages:
#   preflight            Python, torch, the packages, the device (CUDA visible, NCCL built in)
#   ppmo-collect         PPMO (library API) on 1D cart-pole: a rollout, everything on the device
#   ppmo-update          ... one update: finite losses, the dataset moved, optimiser state on the device
#   ppmo-evaluate        ... evaluate(n_learners=3, episodes=2, seed=0): finite, repeatable (CUDA: noted)
#   ppmo-resume          ... state_dict -> torch.save -> torch.load(map_location="cpu") -> a fresh PPMO
#                        -> one more meta-epoch == the uninterrupted run's third, bit for bit; on CUDA,
#                        if the update is not bit-reproducible (two resumes differ), the rollout and
#                        RNG state bit for bit and the learned tensors within rtol 1e-4
#   distill              taskdistill distill --env NDCartPole-v0 --device $DEVICE --epochs 2
#   distill-resume       ... --epochs 3 --resume (--epochs is the total): checkpoint state and distilled.pt
#                        == an uninterrupted 3-epoch run's (on CUDA a difference is reported, not failed)
#   pong-l4, pong-l0     ALE/Pong-v5, --encoder-layers 4 / 0, 2 meta-epochs and the final evaluation
#   files-on-cpu         stock torch.load(path) of both Pong distilled.pt, the cart-pole distilled.pt and
#                        checkpoint.pt, in a fresh process with CUDA_VISIBLE_DEVICES="": all CPU tensors
#   torchrun             torchrun --standalone --nproc-per-node 1 -m taskdistill_rl distill
#                        (NCCL for cuda, gloo for cpu)
#   bench-atari          benchmarks/bench_atari.py --device $DEVICE: the PPMO / plain-PPO epoch ratio
#                        against the paper's 1.15x and the device name, in the stage line
# Before them, when a `.whl/` folder is here (benchmarks/fetch_gpu_wheels.sh) and a package is
# missing, an `install-wheels` stage installs the wheels into $SITE (default /tmp/site).
#
# Each stage's full log: a file in the log dir (LOG_DIR, else $OUT if set, else a temp dir), printed
# at the end. When the log dir is $OUT (the device tool returns at most 8 files from it), the stage
# logs go to one file, $OUT/gpu_check.log, with the stage lines in $OUT/summary.txt.
#
# Environment: DEVICE (cuda), PYTHON (python3), LOG_DIR, WORK_DIR (run outputs; a temp dir),
# SITE (/tmp/site), STAGE_TIMEOUT (seconds per stage, 420), BENCH_ARGS (bench_atari.py's size
# options; default: tiny on cpu, the Atari preset with 2 repeats on cuda), OMP_NUM_THREADS.
#
# On a lent GPU machine (no network; Python 3.12, torch 2.11 without torchrl, tensordict, gymnasium,
# ale-py or SB3): here, once, `bash benchmarks/fetch_gpu_wheels.sh` (about 8 MiB into .whl/, which
# git ignores), then the device tool's `run` with carry [".whl"] and the command
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
#     --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; \
#   STAGE_TIMEOUT=240 bash benchmarks/gpu_check.sh
# (the script would install the wheels itself too) and timeout_s 600. The run tool sends the
# session's own checkout, so the scripts and .whl/ must be in it. Expected: a few minutes on a GPU
# (every stage starts a Python process and a CUDA context; bench-atari runs the Atari preset's
# 8 envs x 200 steps); STAGE_TIMEOUT=240 keeps one hung stage (an NCCL wait) from eating the call.
# $OUT/gpu_check.log (every stage's log) and $OUT/summary.txt come back.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2
DEVICE="${DEVICE:-cuda}"
PYTHON="${PYTHON:-python3}"
SITE="${SITE:-/tmp/site}"
STAGE_TIMEOUT="${STAGE_TIMEOUT:-420}"
WORK="${WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")}"
mkdir -p "$WORK"
if [[ -n "${LOG_DIR:-}" ]]; then
    LOGS="$LOG_DIR" COMBINED=""
elif [[ -n "${OUT:-}" ]]; then
    LOGS="$WORK/logs" COMBINED="$OUT/gpu_check.log"
else
    LOGS="$WORK/logs" COMBINED=""
fi
mkdir -p "$LOGS"
SUMMARY="${COMBINED:+$OUT/summary.txt}"
[[ -n "$COMBINED" ]] && : >"$COMBINED" && : >"$SUMMARY"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" # this tree's taskdistill_rl, whatever is installed
export RL_WARNINGS=0                                 # TorchRL's extension warning: reported by preflight
TD=("$PYTHON" -m taskdistill_rl)
HELPER=("$PYTHON" benchmarks/gpu_check.py)
FAILED=0
NOTE="" # a stage's summary, appended to its PASS line

say() {
    echo "$1"
    [[ -n "$SUMMARY" ]] && echo "$1" >>"$SUMMARY"
    return 0
}

first_error() { # the first line that names an error, else the last non-empty line
    local line
    line=$(grep -m1 -E '^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Interrupt)(:|$)|(^|: )error:|^FAIL' "$1")
    [[ -z "$line" ]] && line=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1)
    echo "${line:0:300}"
}

# stage NAME COMMAND...: run COMMAND (a shell function or program) with its output in NAME.log
stage() {
    local name=$1 log="$LOGS/$1.log" started ended rc seconds
    shift
    NOTE=""
    started=$(date +%s.%N)
    # a stage that hangs (a collective waiting for ever) is killed and reported, not waited on
    timeout --kill-after=15 "$STAGE_TIMEOUT" bash -c "$(declare -p TD HELPER; declare -f); $(printf '%q ' "$@")" >"$log" 2>&1 \
        </dev/null
    rc=$?
    ended=$(date +%s.%N)
    seconds=$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.1f", b - a }')
    NOTE=$(sed -n 's/^summary: //p' "$log" | tail -n 1)
    if ((rc == 0)); then
        say "PASS $name ($seconds s)${NOTE:+: $NOTE}"
    else
        FAILED=1
        if ((rc == 124 || rc == 137)); then
            say "FAIL $name ($seconds s): timed out after $STAGE_TIMEOUT s (STAGE_TIMEOUT)"
        else
            say "FAIL $name ($seconds s): $(first_error "$log")"
        fi
    fi
    if [[ -n "$COMBINED" ]]; then
        { echo "===== $name: exit $rc, $seconds s"; cat "$log"; echo; } >>"$COMBINED"
    fi
}

# -- the stages' commands (run by `stage` in a child bash, with these functions and variables) ----
export DEVICE PYTHON ROOT WORK SITE

packages_importable() {
    "$PYTHON" -c "import torchrl, tensordict, gymnasium, ale_py, stable_baselines3, tomli_w" 2>/dev/null
}

install_wheels() {
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl || return 1
    PYTHONPATH="$SITE:$PYTHONPATH" packages_importable || {
        PYTHONPATH="$SITE:$PYTHONPATH" "$PYTHON" -c "import torchrl, tensordict, gymnasium, ale_py"
        return 1
    }
    echo "summary: $(ls .whl/*.whl | wc -l) wheels into $SITE"
}

distill_cartpole() { # DIR EPOCHS [extra options]
    local dir=$1 epochs=$2
    shift 2
    "${TD[@]}" distill --env NDCartPole-v0 --device "$DEVICE" --epochs "$epochs" --num-envs 16 \
        --final-learners 2 --final-episodes 2 --checkpoint-interval 1 --out "$dir" -q "$@"
}

distill_stage() {
    distill_cartpole "$WORK/cartpole" 2 --overwrite &&
        "${HELPER[@]}" run-summary "$WORK/cartpole" --meta-epochs 2 --started-at 0
}

distill_resume_stage() { # --epochs is the total: one more meta-epoch, compared with the
    # third of a run that was never interrupted
    distill_cartpole "$WORK/cartpole" 3 --resume &&
        "${HELPER[@]}" run-summary "$WORK/cartpole" --meta-epochs 3 --started-at 2 &&
        distill_cartpole "$WORK/cartpole-whole" 3 --overwrite &&
        "${HELPER[@]}" same-run "$WORK/cartpole" "$WORK/cartpole-whole" --device "$DEVICE"
}

pong_stage() { # ENCODER_LAYERS
    local dir="$WORK/pong-l$1"
    # tiny: 2 envs x 32 steps, one 64-frame minibatch per policy epoch; 1 learner x 1 full game
    printf 'steps_per_env = 32\nminibatch_size = 64\n' >"$WORK/pong.toml"
    "${TD[@]}" distill --env ALE/Pong-v5 --encoder-layers "$1" --device "$DEVICE" --epochs 2 \
        --num-envs 2 --config "$WORK/pong.toml" --final-learners 1 --final-episodes 1 \
        --out "$dir" --overwrite -q &&
        "${HELPER[@]}" run-summary "$dir" --meta-epochs 2
}

files_stage() { # a fresh process that sees no GPU, stock torch.load
    CUDA_VISIBLE_DEVICES="" "${HELPER[@]}" cpu-files "$WORK/pong-l4/distilled.pt" \
        "$WORK/pong-l0/distilled.pt" "$WORK/cartpole/distilled.pt" "$WORK/cartpole/checkpoint.pt"
}

torchrun_stage() {
    local dir="$WORK/torchrun"
    "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node 1 -m taskdistill_rl distill \
        --env NDCartPole-v0 --device "$DEVICE" --epochs 2 --num-envs 16 --final-learners 2 \
        --final-episodes 2 --out "$dir" --overwrite -q &&
        "${HELPER[@]}" run-summary "$dir" --meta-epochs 2 --world-size 1 >/dev/null &&
        echo "summary: world of 1 on $([[ $DEVICE == cuda* ]] && echo NCCL || echo gloo), 2 meta-epochs"
}

bench_stage() {
    local args
    if [[ -n "${BENCH_ARGS:-}" ]]; then
        read -r -a args <<<"$BENCH_ARGS"
    elif [[ $DEVICE == cuda* ]]; then
        args=(--repeats 2 --sb3-rollouts 1)
    else
        args=(--repeats 1 --num-envs 2 --steps-per-env 32 --minibatch-size 64 --policy-epochs 1
            --sb3-rollouts 1 --sb3-steps 16)
    fi
    "$PYTHON" benchmarks/bench_atari.py --device "$DEVICE" --threads "${OMP_NUM_THREADS:-$(nproc)}" \
        --out "$WORK/bench_atari.txt" "${args[@]}" &&
        "${HELPER[@]}" bench-ratio "$WORK/bench_atari.txt" --device "$DEVICE"
}

# -- run ------------------------------------------------------------------------------------------
begun=$(date +%s)
echo "gpu_check: DEVICE=$DEVICE, $($PYTHON --version 2>&1) at $(command -v "$PYTHON"), tree $ROOT"
if [[ -d .whl ]] && compgen -G ".whl/*.whl" >/dev/null && ! packages_importable; then
    stage install-wheels install_wheels
    export PYTHONPATH="$SITE:$PYTHONPATH"
fi
stage preflight "${HELPER[@]}" preflight --device "$DEVICE"
stage ppmo-collect "${HELPER[@]}" collect --device "$DEVICE"
stage ppmo-update "${HELPER[@]}" update --device "$DEVICE"
stage ppmo-evaluate "${HELPER[@]}" evaluate --device "$DEVICE"
stage ppmo-resume "${HELPER[@]}" resume --device "$DEVICE" --workdir "$WORK"
stage distill distill_stage
stage distill-resume distill_resume_stage
stage pong-l4 pong_stage 4
stage pong-l0 pong_stage 0
stage files-on-cpu files_stage
stage torchrun torchrun_stage
stage bench-atari bench_stage
total=$(($(date +%s) - begun))
if [[ -n "$COMBINED" ]]; then
    echo "logs: $COMBINED (every stage), $SUMMARY; per stage: $LOGS"
else
    echo "logs: $LOGS"
fi
if ((FAILED)); then
    say "gpu_check: FAILED on $DEVICE in $total s"
    exit 1
fi
say "gpu_check: all stages passed on $DEVICE in $total s"
