#!/usr/bin/env bash
# On a lent GPU machine: install the wheels that `python benchmarks/gpu_check.py --prepare`
# put in .device/wheels (the machine's image lacks them and reaches no package index),
# then run benchmarks/gpu_check.py with its JSON and reports under $OUT. Arguments go
# to gpu_check.py, e.g.
#   bash benchmarks/gpu_run.sh --only cuda_tests augment train_step masks train
#   bash benchmarks/gpu_run.sh --only photos
# (device calls carry .device; see docs/benchmarks.md, "When a GPU is lent").
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls .device/wheels/*.whl >/dev/null 2>&1; then
    echo "gpu_run.sh: no wheels in .device/wheels; run 'python benchmarks/gpu_check.py --prepare' here and carry .device" >&2
    exit 2
fi
site="${TMPDIR:-/tmp}/segaug-site"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" .device/wheels/*.whl
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out="${OUT:-bench_results}"
mkdir -p "$out"
python3 benchmarks/gpu_check.py --out "$out/gpu_check.json" "$@" 2>&1 | tee "$out/gpu_check.log"
