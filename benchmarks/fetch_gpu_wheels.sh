#!/usr/bin/env bash
# Download, into the repository's ignored .whl/ folder, the CPython 3.12 x86-64 wheels that a
# GPU machine with torch 2.11 but no network lacks, for benchmarks/gpu_check.sh to install there.
#
# Run here (a machine that reaches PyPI):   bash benchmarks/fetch_gpu_wheels.sh
# (WHEEL_DIR: another folder; PY_VERSION: another CPython, e.g. 3.11 to try the install here).
#
# What the lent GPU machines already hold (Python 3.12.3, torch 2.11.0+cu130, numpy 2.x, packaging,
# cloudpickle, typing-extensions, zipp, opencv-python-headless, typer, rich, matplotlib, pillow) is
# not fetched. The list is each package's Requires-Dist (non-extra) minus those, checked by hand:
#   torchrl 0.14.1      torch>=2.1, pyvers>=0.2.3, hoptorch>=0.1.4, numpy, packaging, cloudpickle,
#                       tensordict>=0.14.3,<0.15
#   tensordict 0.14.3   torch, numpy, cloudpickle, packaging, importlib_metadata, orjson, pyvers<0.3
#   hoptorch 0.1.4      torch>=2.7, pyvers>=0.2.2
#   importlib_metadata  zipp, lazy-importer (only a fallback: Python 3.12 has importlib.metadata)
#   gymnasium 1.4.0     numpy, cloudpickle, typing-extensions, farama-notifications
#   ale-py 0.12.1       numpy (the ROMs are inside the wheel)
#   stable-baselines3   gymnasium, numpy, torch>=2.8, cloudpickle
#   taskdistill_rl      ... tomli-w (the package itself travels with the working tree)
# Under torch 2.11: torchrl and tensordict are Python packages that declare torch>=2.1 / any torch
# and gate on the version at run time (pyvers.implement_for). tensordict/_C.so links no torch library
# (CPython 3.12 ABI only) and loads. torchrl/_torchrl*.so links libtorch and needs two symbols torch
# 2.11 does not export (torch::autograd::fire_node_creation_hooks, and _wrap_outputs taking an
# intrusive_ptr<Node>, where 2.11's takes a shared_ptr), so it does not load there, as it does not
# under this repository's torch 2.13 either; torchrl catches that ImportError and loses only the C++
# segment trees of prioritized replay buffers, which taskdistill_rl does not use.
# Versions are those of this repository's development environment. --no-deps: pip resolves
# nothing, so every needed wheel is named here, each in one version (two stop the install).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${WHEEL_DIR:-$ROOT/.whl}"
PYTHON="${PYTHON:-python3}"
PY_VERSION="${PY_VERSION:-3.12}" # the GPU machines' Python
LIMIT_MIB=64 # the device tool carries at most 64 MiB of working tree per call

WHEELS=(
    torchrl==0.14.1
    tensordict==0.14.3
    hoptorch==0.1.4
    pyvers==0.2.3
    orjson==3.13.0
    importlib_metadata==10.2.0
    lazy-importer==0.1.0
    gymnasium==1.4.0
    farama-notifications==0.0.6
    ale-py==0.12.1
    stable-baselines3==2.9.2
    tomli-w==1.2.0
)

mkdir -p "$DEST"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version "$PY_VERSION" --implementation cp --abi "cp${PY_VERSION/./}" --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    --platform any \
    -d "$DEST" "${WHEELS[@]}"

# One version of each distribution: a wheel left from an earlier pin would stop the install there.
stale=$(ls "$DEST"/*.whl | sed 's#.*/##; s/-.*//' | tr 'A-Z' 'a-z' | tr '.' '_' | sort | uniq -d)
if [[ -n "$stale" ]]; then
    echo "error: several versions of: $stale in $DEST; remove the old ones and re-run" >&2
    exit 1
fi

total=0
for wheel in "$DEST"/*.whl; do
    size=$(stat -c %s "$wheel")
    total=$((total + size))
    printf '%10d  %s\n' "$size" "$(basename "$wheel")"
done
printf '%10d  total (%.1f MiB of the %d MiB a device call carries)\n' \
    "$total" "$(awk "BEGIN { print $total / 1048576 }")" "$LIMIT_MIB"
if ((total > LIMIT_MIB * 1024 * 1024)); then
    echo "error: $DEST is over $LIMIT_MIB MiB" >&2
    exit 1
fi
