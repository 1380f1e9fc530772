#!/usr/bin/env bash
# Retrain the shipped -mock- checkpoints on one GPU in a single run of about 9 minutes.
#
# Five streams run side by side on the one GPU; each trains its jobs one after another with
# `scripts/train_pretrained.py --gpu` (mock data only: the stores are generated on the spot
# by spectool.mock) and then fits each checkpoint's trust statistics with
# `scripts/calibrate_pretrained.py --device cuda` (mock data only). After each job the
# stream appends the checkpoint (safetensors + JSON card) to its tar file in $OUT, so what
# finished comes back even if the run is cut short. The real validation spectra are not
# used here; their figures are added afterwards, on the machine that holds them, by
# `python scripts/train_pretrained.py --score-real`.
#
#   OUT=/tmp/gpu_out bash scripts/gpu_retrain.sh            # on a CUDA machine
#   OUT=/tmp/dry SCALE_TIME=0.05 DRY=1 bash scripts/gpu_retrain.sh   # CPU smoke run of the plumbing
#
# Environment: OUT (output folder, required), BUDGET_S (seconds for the whole run, default
# 500), SCALE_TIME (multiplies every job's time cap), DRY=1 (CPU, 1 epoch, tiny sets), ONLY
# (a glob over checkpoint names, e.g. 'spfusion*': train only those).
set -u
: "${OUT:?set OUT to the output folder}"
BUDGET_S=${BUDGET_S:-500}
SCALE_TIME=${SCALE_TIME:-1}
DRY=${DRY:-0}
ONLY=${ONLY:-*}  # glob over checkpoint names: train only those
PY=${PY:-python3}
START=$(date +%s)
mkdir -p "$OUT"
LOG="$OUT/gpu_retrain.log"
WORK=$(mktemp -d)  # the streams' full output (only the tars and the log go to $OUT: at most 8 files come back)
log() { echo "[$(date -u +%H:%M:%S) +$(( $(date +%s) - START ))s] $*" >> "$LOG"; }

log "start; budget ${BUDGET_S}s; $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo 'no GPU')"
$PY -c "import torch, numpy, pandas, lightning; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'lightning', lightning.__version__)" >> "$LOG" 2>&1

# job: NAME SCALE EPOCHS MINUTES BATCH
job() {
  local stream=$1 name=$2 scale=$3 epochs=$4 minutes=$5 batch=$6
  local cap left args
  # shellcheck disable=SC2254
  case "$name" in $ONLY) ;; *) return ;; esac
  cap=$($PY -c "print(round($minutes * $SCALE_TIME, 3))")
  left=$(( START + BUDGET_S - $(date +%s) ))
  if [ "$($PY -c "print(int($cap * 60 + 75 > $left))")" = 1 ]; then
    log "$stream: skip $name (${left}s left, cap ${cap} min)"; return
  fi
  args=(--only "$name" --seed 0 --scale "$scale" --epochs "$epochs" --minutes "$cap" --augment --no-real
        --batch-size "$batch")
  if [ "$DRY" = 1 ]; then args+=(--epochs 1 --scale 1 --max-train 64); else args+=(--gpu --workers 3); fi
  log "$stream: train $name ${args[*]}"
  local rc last
  timeout $(( left - 20 )) $PY scripts/train_pretrained.py "${args[@]}" >> "$WORK/$stream.out" 2>&1
  rc=$?
  last=$(tail -n 1 "$WORK/$stream.out")
  log "$stream: trained $name rc=$rc : $(echo "$last" | cut -c1-600)"
  # calibrate and send back only a checkpoint this run trained and kept (not dropped as degenerate)
  if [ $rc = 0 ] && [[ "$last" == "{\"name\": \"$name\""* ]] && [[ "$last" != *'"dropped"'* ]]; then
    local dev=cuda; [ "$DRY" = 1 ] && dev=cpu
    local rows=(); [ "$DRY" = 1 ] && rows=(--max-rows 40)
    timeout $(( START + BUDGET_S + 45 - $(date +%s) )) $PY scripts/calibrate_pretrained.py "$name" --device "$dev" "${rows[@]}" >> "$WORK/$stream.out" 2>&1
    log "$stream: calibrated $name rc=$? : $(tail -n 1 "$WORK/$stream.out" | cut -c1-400)"
    tar -rf "$OUT/$stream.tar" -C spectool/data/pretrained "$name.json" "$name.safetensors"
  fi
}

stream() {
  local s=$1; shift
  while [ $# -ge 5 ]; do job "$s" "$1" "$2" "$3" "$4" "$5"; shift 5; done
  log "$s: done"
}

# name scale epochs minutes batch (time caps sum to <= ~7 min per stream, plus evaluation)
stream s1 mspcnet_sdss-mock-fc 8 40 5.5 64 &
stream s2 mspcnet_sdss-mock-ss 8 40 3 64  mspcnet_sdss-mock-sc 16 40 2 64 &
stream s3 sscnn-mock-fc 8 40 2.5 64  sscnn-mock-ss 8 40 1.5 64  sscnn-mock-sc 16 40 1 64 &
stream s4 convnext1d-mock-fc 8 40 2 64  convnext1d-mock-ss 8 40 1.25 64  convnext1d-mock-sc 16 40 1 64 &
stream s5 scanet_mmtt-mock-afgk 16 60 3.5 32  spfusion-mock-redclump 16 60 1.5 32 &
wait
# the streams' own output goes into the log; only the tars and the log come back
for s in s1 s2 s3 s4 s5; do
  [ -f "$WORK/$s.out" ] && { echo "===== $s" >> "$LOG"; tail -c 20000 "$WORK/$s.out" >> "$LOG"; }
done
log "end"
