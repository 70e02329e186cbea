#!/usr/bin/env bash
# One prepared run for a machine with a GPU: 8 trials at gpu: 0.25 packed on one GPU (Ray's
# placement and CUDA_VISIBLE_DEVICES as each trial sees them), the Deep GA at population 1,000 on
# the GPU against the CPU, STN's reference MLP on the GPU, one lr_free workload at size: full.
# Prints progress on stderr and, as its last line, one JSON object (benchmarks/gpu_check.py).
#
#   bash scripts/gpu_check.sh             # on the GPU machine (about 10 minutes on one GPU)
#   bash scripts/gpu_check.sh --quick     # fewer epochs
#   bash scripts/gpu_check.sh --dry-run   # no GPU: one logical GPU, CPU, small sizes (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export RAY_ADDRESS=  # a cluster of its own, never one left in Ray's temp directory
exec "${PYTHON:-python3}" benchmarks/gpu_check.py "$@"
