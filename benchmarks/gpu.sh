#!/usr/bin/env bash
# Benchmarks and a short training of every model on a GPU machine, under each installed backend.
#
#     bash benchmarks/gpu.sh [OUT_DIR]        # default: benchmarks/results/gpu-<date>
#
# 1. benchmarks/throughput.py: DCGAN 64 px, kerasgen fit against the textbook loops, per backend.
# 2. benchmarks/models.py: every model's fit per backend against the textbook loops, then in
#    mixed_bfloat16; benchmarks/data_wait.py: the data wait per step, per backend.
# 3. One epoch of 20,000 synthetic 64 px faces per model and backend with `kerasgen train`,
#    timed, keeping the grids (the first epoch includes compilation).
# Backends that are not installed are skipped, and said so. Everything is written to OUT_DIR.
set -u
OUT=${1:-benchmarks/results/gpu-$(date +%Y%m%d-%H%M)}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."

backends=()
for b in jax torch tensorflow; do
  module=$b; [ "$b" = tensorflow ] && module=tensorflow
  if python3 -c "import $module" 2>/dev/null; then backends+=("$b"); else echo "gpu.sh: $b not installed, skipped"; fi
done
list=$(IFS=,; echo "${backends[*]}")
echo "gpu.sh: backends $list; writing to $OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>/dev/null || true

python3 benchmarks/throughput.py --backends "$list" --steps 50 --json "$OUT/dcgan64.json" \
  2>&1 | tee "$OUT/throughput.log"
python3 benchmarks/models.py --backends "$list" --steps 30 --json "$OUT/models64.json" \
  2>&1 | tee "$OUT/models.log"
# Mixed precision: the same kerasgen rows in mixed_bfloat16 (tensor cores), against the float32
# rows above (the issue's target: >= 1.5x faster).
python3 benchmarks/models.py --backends "$list" --steps 30 --policy mixed_bfloat16 \
  --json "$OUT/models64_bf16.json" 2>&1 | tee "$OUT/models_bf16.log"
# The data wait per step: synthetic faces drawn while training, the cache's first and later
# epochs, against the same batches from memory.
for b in "${backends[@]}"; do
  KERAS_BACKEND=$b python3 benchmarks/data_wait.py --image-size 64 --steps 100 --rounds 3 \
    --json "$OUT/data_wait_$b.json" 2>&1 | tee -a "$OUT/data_wait.log"
done
# PyTorch's per-step Python: fit with kerasgen's direct layer calls, with Keras' calls, and the
# torch.nn loop, interleaved in one process (16 and 64 px).
if [[ " ${backends[*]} " == *" torch "* ]]; then
  for size in 16 64; do
    KERAS_BACKEND=torch python3 benchmarks/torch_layer_calls.py --image-size $size --steps 50 \
      --rounds 3 2>&1 | tee -a "$OUT/torch_layer_calls.log"
  done
fi

for b in "${backends[@]}"; do
  for model in dcgan wgan-gp ae vae vaegan cgan; do
    start=$(date +%s.%N)
    KERAS_BACKEND=$b python3 -m kerasgen train "$model" --image-size 64 --epochs 1 \
      --n-images 20000 --quiet --out "$OUT/train/$b/$model" > "$OUT/train_${b}_${model}.log" 2>&1
    status=$?
    seconds=$(python3 -c "import time; print(f'{time.time() - $start:.0f}')")
    echo "gpu.sh: train $model on $b: exit $status, ${seconds} s" | tee -a "$OUT/train.log"
  done
done

# 4. A short KerasTuner sweep per backend: the script states the GPU it found and picks the GPU
#    budget (two trials of two epochs here, to fit a short device session).
for b in "${backends[@]}"; do
  KERAS_BACKEND=$b python3 tuning/tune_vae_kld.py --trials 2 --epochs 2 --n-images 5000 \
    --tuner random --out "$OUT/tune_vae_$b" --overwrite > "$OUT/tune_vae_$b.log" 2>&1
  echo "gpu.sh: tune_vae_kld on $b: exit $? ($(grep -m1 'kerasgen sweep: Keras' "$OUT/tune_vae_$b.log"))" \
    | tee -a "$OUT/train.log"
done
