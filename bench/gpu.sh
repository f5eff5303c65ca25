#!/usr/bin/env bash
# Every GPU measurement in docs/performance.md, in one run of under 10 minutes on one GPU:
#   1. step throughput at 256x256, batch 1 and 8, baseline vs fp32 / AMP / +channels_last / +compile,
#      peak memory, and the channels_last gradient check at batch 1 (bench/trainer.py, ~5 min)
#   2. GPU utilisation of real training (trainer.train, synthetic shards, 4 pinned cores; bench/utilisation.py, ~3 min),
#      with the CPU cores, memory and step rate the run used: the GPU inputs of schemas/sizing.yaml
#   3. loader rate on 4 cores beside each step rate (bench/loader.py, ~30 s)
#   4. the CPU-side sizing inputs (bench/sizing.py, ~1 min)
# Writes trainer/utilisation/loader .json + .md and gpu.log into $OUT (default results/gpu-<UTC time>).
#   bench/gpu.sh            # python3 with torch + CUDA; the trainer's other needs from .whl/ when missing
# A Python with torch but without ruamel.yaml, jsonschema or zstandard, offline: put their wheels in .whl/ first (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/gpu-$(date -u +%Y%m%dT%H%M)}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee "$OUT/gpu.log") 2>&1

if ! "$PY" -c "import ruamel.yaml, jsonschema, zstandard" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "error: ruamel.yaml, jsonschema or zstandard missing; put their wheels in .whl/ (docs/performance.md)"; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
SECONDS=0
timeout 300 "$PY" bench/trainer.py --size 256 --batch 1 8 --steps 10 --warmup 5 --out "$OUT" || echo "bench/trainer.py failed or ran out of time"
echo "== ${SECONDS}s"
timeout 190 "$PY" bench/utilisation.py --seconds 140 --skip 30 --out "$OUT" || echo "bench/utilisation.py failed or ran out of time"
echo "== ${SECONDS}s"
steps=(); [[ -f "$OUT/trainer.json" ]] && steps=(--step-json "$OUT/trainer.json")
timeout 50 "$PY" bench/loader.py --cpus 4 "${steps[@]}" --out "$OUT" || echo "bench/loader.py failed or ran out of time"
echo "== ${SECONDS}s"
timeout 60 "$PY" bench/sizing.py --repeats 1 --out "$OUT" || echo "bench/sizing.py failed or ran out of time"
echo "== ${SECONDS}s, results in $OUT"
