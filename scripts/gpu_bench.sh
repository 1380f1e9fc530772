#!/usr/bin/env bash
# Survey-scale inference on one GPU: benchmarks/predict_scale.py with inference on CUDA and the
# reading/preprocessing on 1, 4 and 8 CPU worker processes (Dask LocalCluster), 4,000 synthetic
# mock SDSS files. Writes benchmarks/results/predict_scale_gpu.json and copies it to $OUT.
#
#   OUT=/tmp/out bash scripts/gpu_bench.sh      # N (files), WORKERS, JOBS overridable
set -u
: "${OUT:?set OUT to the output folder}"
N=${N:-4000}
WORKERS=${WORKERS:-1,4,8}
JOBS=${JOBS:-8}
PY=${PY:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
$PY benchmarks/predict_scale.py --n "$N" --n-mspcnet "$N" --n-pure 2048 --workers "$WORKERS" --jobs "$JOBS" \
    --batch-size 256 --chunk-size 512 --out-dir /tmp/spectool_predict_scale \
    --results benchmarks/results/predict_scale_gpu.json \
    --note "GPU machine: inference on CUDA, reading + preprocessing + parquet writing on the CPU workers" \
    2>&1 | grep -v '^ \|^{\|^}\|^\]' | tail -n 40
cp benchmarks/results/predict_scale_gpu.json "$OUT/" 2>/dev/null
