#!/usr/bin/env bash
# Issue 20's GPU measurements, in order of what matters most, inside one time budget.
#
#     bash benchmarks/gpu_wheels.sh                  # here, once: .gpu-wheels/ (Keras, KerasTuner)
#     bash benchmarks/gpu.sh OUT_DIR [BUDGET_S]      # there (device call: carry .gpu-wheels)
#
# A lent GPU machine has PyTorch and JAX but no Keras or TensorFlow, gives a session about 15
# minutes, one command at most 10, and returns at most 8 files from OUT_DIR. So this script
# installs .gpu-wheels when Keras is missing, measures under each installed backend in the
# order below, stops each step at its cap or where the budget (default 560 s) runs out, and
# after every step packs everything it wrote into OUT_DIR/gpu-results.tar.gz next to
# OUT_DIR/summary.log (one line per step: exit status and seconds). A step cut short keeps
# what its script wrote so far (models.py writes its JSON after every model).
#
# A dry run on a CPU (every step, small): GPU_IMAGE_SIZE=16 GPU_STEPS=2 GPU_N_IMAGES=256
# GPU_MODELS=dcgan,cgan bash benchmarks/gpu.sh /tmp/gpu-dry 900
#
# 1. models.py: every model's fit against the textbook loops, 64 px fp32 (target >= 0.9).
# 2. models.py --policy mixed_bfloat16: the kerasgen rows in bf16 against 1.'s fp32 rows
#    (target >= 1.5x faster).
# 3. data_wait.py per backend: the data wait per step (drawn, cached first and later epochs).
# 4. tuning/tune_vae_kld.py: a KerasTuner sweep of the KLD weight on the GPU (table, plot).
# 5. With time left: throughput.py (DCGAN variants), torch_layer_calls.py at 16 and 64 px, and
#    one epoch of 20,000 synthetic faces per model with `kerasgen train` (grids kept).
set -u
cd "$(dirname "$0")/.."
OUT=${1:-benchmarks/results/gpu-$(date +%Y%m%d-%H%M)}
BUDGET=${2:-${GPU_BUDGET_S:-560}}
START=$(date +%s)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SIZE=${GPU_IMAGE_SIZE:-64} STEPS=${GPU_STEPS:-30} N_IMAGES=${GPU_N_IMAGES:-20000}
MODELS=${GPU_MODELS:-dcgan,wgan-gp,ae,vae,vaegan,cgan,sngan,diffusion}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TF_CPP_MIN_LOG_LEVEL=2

log() { echo "gpu.sh: $*" | tee -a "$WORK/summary.log"; }
pack() {
  # Models, checkpoints and search states stay behind (a file that comes back is at most 16 MiB).
  tar -czf "$OUT/gpu-results.tar.gz.tmp" --exclude='*.keras' --exclude='*.h5' -C "$WORK" . && mv -f "$OUT/gpu-results.tar.gz.tmp" "$OUT/gpu-results.tar.gz"
  cp "$WORK/summary.log" "$OUT/summary.log.tmp" && mv -f "$OUT/summary.log.tmp" "$OUT/summary.log"
}
left() { echo $((BUDGET - ($(date +%s) - START))); }
# step NAME CAP_S COMMAND...: runs COMMAND (output in NAME.log) for at most CAP_S seconds and
# what is left of the budget; skipped when under 20 s are left.
step() {
  local name=$1 cap=$2 t s rc
  shift 2
  t=$(left)
  ((t > cap)) && t=$cap
  if ((t < 20)); then log "$name: skipped, ${t} s of the budget left"; return; fi
  s=$(date +%s)
  timeout -k 5 "$t" "$@" > "$WORK/$name.log" 2>&1
  rc=$?
  ((rc == 124)) && rc="124 (cut at its ${t} s limit)"
  log "$name: exit $rc in $(($(date +%s) - s)) s"
  pack
}

# (find_spec, not import: without TensorFlow, `import keras` fails until a backend is chosen.)
if ! python3 -c "import importlib.util as u, sys; sys.exit(u.find_spec('keras') is None)"; then
  if compgen -G ".gpu-wheels/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps .gpu-wheels/*.whl > "$WORK/pip.log" 2>&1
    log "installed .gpu-wheels: exit $?"
  else
    log "Keras is not installed and there is no .gpu-wheels/ (run benchmarks/gpu_wheels.sh here first)"
  fi
fi
backends=()
for b in jax torch tensorflow; do
  if python3 -c "import $b" 2>/dev/null; then backends+=("$b"); else log "$b not installed, skipped"; fi
done
list=$(IFS=,; echo "${backends[*]}")
# The scripts' parent processes import Keras too: without TensorFlow, Keras' default backend
# cannot load, so they run under the first backend found (each timed row sets its own).
export KERAS_BACKEND=${backends[0]}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c "import keras, sys; print('python', sys.version.split()[0], 'keras', keras.__version__)" 2>&1
  for b in "${backends[@]}"; do
    case $b in
      jax) python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 ;;
      torch) python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')" 2>&1 ;;
    esac
  done
} > "$WORK/machine.txt"
log "backends $list; budget ${BUDGET} s; $(head -2 "$WORK/machine.txt" | tail -1)"
pack

step models 280 python3 benchmarks/models.py --backends "$list" --image-size "$SIZE" \
  --steps "$STEPS" --timeout 60 --models "$MODELS" --json "$WORK/models$SIZE.json"
bf16=""  # the bf16 rows: these models, where MODELS has them
for m in dcgan vae vaegan diffusion; do [[ ",$MODELS," == *",$m,"* ]] && bf16+="${bf16:+,}$m"; done
step models_bf16 100 python3 benchmarks/models.py --backends "$list" --image-size "$SIZE" \
  --steps "$STEPS" --timeout 45 --models "${bf16:-dcgan}" --policy mixed_bfloat16 \
  --json "$WORK/models${SIZE}_bf16.json"
for b in "${backends[@]}"; do
  step "data_wait_$b" 50 env KERAS_BACKEND="$b" python3 benchmarks/data_wait.py --image-size "$SIZE" \
    --steps $((2 * STEPS)) --rounds 2 --json "$WORK/data_wait_$b.json"
done
step "tune_vae_${backends[0]}" 100 python3 tuning/tune_vae_kld.py --trials 2 --epochs 2 \
  --n-images $((N_IMAGES / 4)) --image-size "$SIZE" --tuner random --out "$WORK/tune_vae_${backends[0]}" --overwrite
step throughput 60 python3 benchmarks/throughput.py --backends "$list" --image-size "$SIZE" \
  --steps "$STEPS" --timeout 40 --json "$WORK/dcgan$SIZE.json"
if [[ " ${backends[*]} " == *" torch "* ]]; then
  for size in $(echo 16 "$SIZE" | tr ' ' '\n' | sort -un); do
    step "torch_layer_calls$size" 40 env KERAS_BACKEND=torch python3 \
      benchmarks/torch_layer_calls.py --image-size "$size" --steps "$STEPS" --rounds 3
  done
fi
for b in "${backends[@]}"; do
  for model in $(echo "$MODELS" | tr , ' '); do
    step "train_${b}_$model" 60 env KERAS_BACKEND="$b" python3 -m kerasgen train "$model" \
      --image-size "$SIZE" --epochs 1 --n-images "$N_IMAGES" --quiet --out "$WORK/train/$b/$model"
  done
done
log "done in $(($(date +%s) - START)) s"
pack
