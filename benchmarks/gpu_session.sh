#!/usr/bin/env bash
# Every GPU figure of benchmarks/README.md, in parts that each finish within 10 minutes. Run from the repo root:
#
#   bash benchmarks/gpu_session.sh model   # CUDA tests; --compare eager (all models); compiled RS-50 b16  (~8.5 min)
#   bash benchmarks/gpu_session.sh data    # H.264 set; decord/pyav loader; end to end eager+compiled; DDP x2 (~9 min)
#   bash benchmarks/gpu_session.sh extra   # compiled RS-50 b32; pyav on the 32-frame-interval set        (~5 min)
#   bash benchmarks/gpu_session.sh levers  # data levers: 2 augmented copies per decode; RandAugment on the GPU (~8 min)
#   bash benchmarks/gpu_session.sh all     # everything in one go, where no time limit applies
#   DRY=1 bash benchmarks/gpu_session.sh all   # CPU dry run at toy sizes: checks the plumbing, not speed
#
# Wheels for what the GPU image lacks go in .whl/ (benchmarks/README.md says how); the script installs
# them into /tmp/site. Every step has its own time budget and the whole part stops itself before
# GPU_SESSION_LIMIT_S (default 570 s), so whatever ran comes back. Results: $OUT/summary_<part>.md
# (also printed last), $OUT/RESULTS_<part>.md (sections of benchmarks/RESULTS.md), $OUT/logs_<part>.tar.gz.
set -u
PART=${1:-all}
case $PART in model|data|extra|levers|all) ;; *) echo "usage: $0 model|data|extra|levers|all" >&2; exit 2;; esac
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu_out}
W=${GPU_SESSION_WORK:-/tmp/gpu_session}
LIMIT=${GPU_SESSION_LIMIT_S:-570}
START=$(date +%s)
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$W/logs"
export PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "wheel install failed" >&2; exit 1; }
  export PYTHONPATH="$ROOT:/tmp/site"
fi

if [ "${DRY:-0}" = 1 ]; then  # toy sizes on CPU: every command line runs, no number means anything
  DEV=cpu; VIDEOS=2; VSECONDS=2; VSIZE="72 128"; WORKERS=1; ITERS=2; WARM=1; BATCH=2
  MODELS="--models 3d_resnetrs50 x3d_m --frames 4 --size 32"; CIT="--iters 1 --warmup 0"
  NET="RESNET.DEPTH 26 RESNET.WIDTH_MULTIPLIER 0.125 DATA.NUM_FRAMES 4 DATA.TRAIN_CROP_SIZE 32"
  COMPILE_OK=0
else
  DEV=cuda; VIDEOS=48; VSECONDS=10; VSIZE="256 454"; WORKERS=16; ITERS=40; WARM=8; BATCH=16
  MODELS=""; CIT="--iters 20 --warmup 5"; NET=""; COMPILE_OK=1
fi
VID="$W/videos"
CFG="--cfg configs/k400/3d_resnetrs50.yaml"
E2E="SYNTHETIC.ENABLE False DEVICE $DEV TENSORBOARD.ENABLE False $NET"  # KEY VALUE overrides: after all options

# step NAME BUDGET_S CMD...: run with a timeout inside the remaining time; log to $W/logs/NAME.log
step() {
  local name=$1 budget=$2; shift 2
  local left=$((START + LIMIT - 25 - $(date +%s)))
  if [ "$left" -lt 30 ]; then printf '%s\tskipped (part time limit)\t0\n' "$name" >>"$W/steps.tsv"; return; fi
  [ "$budget" -gt "$left" ] && budget=$left
  local t0=$(date +%s)
  echo "== $name (budget ${budget}s): $*"
  timeout -k 10 "$budget" "$@" >"$W/logs/$name.log" 2>&1
  local rc=$?
  [ $rc = 124 ] && rc="timeout after ${budget}s"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(($(date +%s) - t0))" >>"$W/steps.tsv"
  tail -n 4 "$W/logs/$name.log"
}

bench_data() {  # NAME SET BACKEND [KEY VALUE ...]: tools/benchmark_data.py (loader clips/s), 16 workers
  local name=$1 set=$2 backend=$3; shift 3
  step "$name" 60 $PY tools/benchmark_data.py $CFG --backends "$backend" --workers $WORKERS --json "$W/$name.json" \
    DATA.PATH_TO_DATA_DIR "$VID/$set" TRAIN.BATCH_SIZE $BATCH $E2E "$@"
}

e2e_compiled() {  # NAME BUDGET [KEY VALUE ...]: compiled end to end from the 32-frame-interval set
  local name=$1 budget=$2; shift 2
  if [ $COMPILE_OK = 1 ]; then
    step "$name" "$budget" $PY tools/benchmark_train.py $CFG --iters $((ITERS + 20)) --warmup $WARM --out "$W/$name.json" \
      $E2E OUTPUT_DIR "$W/$name" DATA.PATH_TO_DATA_DIR "$VID/gop32" DATA.DECODING_BACKEND decord \
      DATA_LOADER.NUM_WORKERS $WORKERS TRAIN.BATCH_SIZE $BATCH TRAIN.COMPILE True "$@"
  fi
}

finish() {
  $PY benchmarks/summarize_session.py "$W" --part "$PART" --out "$OUT" || echo "summary failed" >&2
  cp "$W/steps.tsv" "$OUT/steps_$PART.tsv" 2>/dev/null
  tar czf "$OUT/logs_$PART.tar.gz" -C "$W" --exclude=videos --exclude='*.pt' --exclude=checkpoints . 2>/dev/null
  cat "$OUT/summary_$PART.md" 2>/dev/null
}
trap finish EXIT
: >"$W/steps.tsv"
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv 2>&1
  $PY -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__, torch.cuda.is_available())"
  nproc; } >"$W/environment.txt" 2>&1

if [ "$PART" = model ] || [ "$PART" = all ]; then
  step cuda_tests 170 $PY -m pytest -q -p no:cacheprovider -k "cuda or gpu" tests/engine tests/models tests/tools tests/data -rs
  step compare_eager_b16 170 $PY tools/benchmark.py --compare --device $DEV --amp --channels-last \
    --batch-size $BATCH $CIT $MODELS --out-dir "$W/compare_eager_b16"
  step compare_eager_rs50_b32 60 $PY tools/benchmark.py --compare --device $DEV --amp --channels-last \
    --batch-size $((BATCH * 2)) $CIT --models 3d_resnetrs50 ${MODELS:+--frames 4 --size 32} \
    --out-dir "$W/compare_eager_rs50_b32"
  [ $COMPILE_OK = 1 ] && step compare_compiled_rs50_b16 230 $PY tools/benchmark.py --compare --device $DEV --amp \
    --channels-last --compile --batch-size 16 $CIT --models 3d_resnetrs50 --out-dir "$W/compare_compiled_b16"
fi

if [ "$PART" = data ] || [ "$PART" = all ] || [ "$PART" = extra ] || [ "$PART" = levers ]; then
  [ -f "$VID/gop32/train.csv" ] || step make_videos 90 $PY benchmarks/make_video_set.py "$VID" --videos $VIDEOS \
    --seconds $VSECONDS --size $VSIZE --gop 250 32 --workers "$(nproc)"
fi

if [ "$PART" = data ] || [ "$PART" = all ]; then
  bench_data data_decord_gop250 gop250 decord
  bench_data data_decord_gop32 gop32 decord
  bench_data data_pyav_gop250 gop250 pyav
  e2e_compiled e2e_compiled 230
  step e2e_eager_1proc 80 $PY tools/benchmark_train.py $CFG --iters $ITERS --warmup $WARM --out "$W/e2e_eager_1proc.json" \
    $E2E OUTPUT_DIR "$W/e2e_eager" DATA.PATH_TO_DATA_DIR "$VID/gop32" DATA.DECODING_BACKEND decord \
    DATA_LOADER.NUM_WORKERS $WORKERS TRAIN.BATCH_SIZE $BATCH
  # Two processes share the one GPU: NCCL refuses two ranks on one device, so gloo (CUDA tensors staged
  # through the host). This proves the DDP path and bounds its overhead; it is not NCCL's 8-GPU efficiency.
  step ddp_eager_2proc 110 $PY -m torch.distributed.run --standalone --nproc_per_node 2 tools/benchmark_train.py \
    $CFG --iters $ITERS --warmup $WARM --out "$W/ddp_eager_2proc.json" $E2E OUTPUT_DIR "$W/ddp" DIST_BACKEND gloo \
    DATA.PATH_TO_DATA_DIR "$VID/gop32" DATA.DECODING_BACKEND decord DATA_LOADER.NUM_WORKERS $((WORKERS / 2 > 0 ? WORKERS / 2 : 1)) \
    TRAIN.BATCH_SIZE $BATCH
fi

if [ "$PART" = extra ] || [ "$PART" = all ]; then
  [ $COMPILE_OK = 1 ] && step compare_compiled_rs50_b32 260 $PY tools/benchmark.py --compare --device $DEV --amp \
    --channels-last --compile --batch-size 32 $CIT --models 3d_resnetrs50 --out-dir "$W/compare_compiled_b32"
  bench_data data_pyav_gop32 gop32 pyav
fi

if [ "$PART" = levers ] || [ "$PART" = all ]; then  # DATA.TRAIN_CROP_NUM_SPATIAL 2: two augmented copies per decode
  bench_data data_decord_gop32_spatial2 gop32 decord DATA.TRAIN_CROP_NUM_SPATIAL 2
  e2e_compiled e2e_compiled_spatial2 230 DATA.TRAIN_CROP_NUM_SPATIAL 2
  e2e_compiled e2e_compiled_randaug_gpu 230 AUG.ENABLE True AUG.ON_DEVICE True  # the recipe's RandAugment row
fi
