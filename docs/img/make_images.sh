#!/usr/bin/env bash
# Regenerate the pictures of the docs (docs/img/) with the taskdistill commands the pages name.
#
#   bash docs/img/make_images.sh [results|authors|runs|all]   # default: all
#
#   results  seconds: figures from what results/ commits (JSON, metrics.csv) and the zoo files
#   authors  seconds: the paper authors' published files, from $TASKDISTILL_AUTHORS_DATA
#            (default ../shared/data/authors; see docs/tutorials/published-datasets.md)
#   runs     minutes: distils first (run directories under $RUNS, default runs/docs-images)
#
# Clips are shrunk to the width the page shows (docs/img/shrink_gif.py); every picture stays
# under ~300 KB. Run from anywhere; paths are relative to the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMG=docs/img
RUNS=${RUNS:-runs/docs-images}
AUTHORS=${TASKDISTILL_AUTHORS_DATA:-../shared/data/authors}
STAGE=${1:-all}
mkdir -p "$RUNS"

if [[ $STAGE == results || $STAGE == all ]]; then
    # tutorials/kmin.md, tutorials/kshot-generalisation.md: results/kmin/*, results/kshot/*
    python docs/img/make_figures.py
    # tutorials/atari.md: drawn by results/atari/plot_pong.py from the committed Pong runs
    python results/atari/plot_pong.py
    cp results/atari/pong_30min.png $IMG/pong-30min.png
    # index.md, tutorials/distil-ndcartpole.md: the packaged 2D file
    taskdistill show zoo:ndcartpole-2d --out $IMG/ndcartpole-2d-dataset.png --overwrite
    taskdistill rollout zoo:ndcartpole-2d --out $IMG/ndcartpole-2d.gif --seed 0 --every 3 \
        --overwrite --quiet
fi

if [[ $STAGE == authors || $STAGE == all ]]; then
    # tutorials/published-datasets.md, index.md: imported as `taskdistill import` does
    taskdistill import "$AUTHORS/ndcartpole_2d_k3.pt" --env NDCartPole-v0 \
        --env-kwargs n_dims=2 --out "$RUNS/cp2d-paper.pt" --overwrite
    taskdistill show "$RUNS/cp2d-paper.pt" --out $IMG/cp2d-paper-dataset.png --overwrite
    taskdistill import "$AUTHORS/centipede_fulldistill.pt" --env CentipedeNoFrameskip-v4 \
        --out "$RUNS/centipede.pt" --overwrite
    taskdistill show "$RUNS/centipede.pt" --out "$RUNS/centipede-dataset.png" --overwrite
    # the first 3 of the 10 instances: the figure is one row per instance
    python - "$RUNS/centipede-dataset.png" $IMG/centipede-dataset.png <<'EOF'
import sys
from PIL import Image

with Image.open(sys.argv[1]) as im:
    top = im.convert("RGB").crop((0, 0, im.width, 698))
top.quantize(256, dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)
EOF
    taskdistill rollout "$RUNS/centipede.pt" --out $IMG/centipede.gif --seed 0 --every 2 \
        --max-frames 400 --overwrite --quiet
fi

if [[ $STAGE == runs || $STAGE == all ]]; then
    # index.md, tutorials/distil-ndcartpole.md: one of results/ppmo/run_must_show.sh's runs
    taskdistill distill --env NDCartPole-v0 --env-kwargs n_dims=2 --k 3 --seed 0 \
        --time-budget 150 --out "$RUNS/2d-k3-s0" --overwrite
    taskdistill plot "$RUNS/2d-k3-s0" --out $IMG/learning-curve-2d.png --overwrite
    # index.md, tutorials/mujoco.md: the tutorial's own script, then one fresh learner
    rm -rf "$RUNS/inverted-pendulum"  # the script starts a run, it does not replace one
    python examples/mujoco_inverted_pendulum.py "$RUNS/inverted-pendulum"
    taskdistill rollout "$RUNS/inverted-pendulum/distilled.pt" --out $IMG/inverted-pendulum.gif \
        --seed 0 --every 2 --max-frames 100 --overwrite --quiet
    python docs/img/shrink_gif.py $IMG/inverted-pendulum.gif 320
    # tutorials/callbacks-and-logging.md: the tutorial's script, stopped by its plateau callback
    python examples/callbacks_and_logging.py "$RUNS/callbacks-and-logging"
    taskdistill plot "$RUNS/callbacks-and-logging" --out $IMG/callbacks-plateau.png --overwrite
fi

du -h $IMG/*.png $IMG/*.gif
