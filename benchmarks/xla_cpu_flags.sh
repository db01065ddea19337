#!/usr/bin/env bash
# JAX's DCGAN fit and its textbook jax.jit step under XLA:CPU's runtime and oneDNN flags, beside
# TensorFlow's fit in the same run: which flags close the gap on this CPU.
#
#     bash benchmarks/xla_cpu_flags.sh [OUT_DIR] [IMAGE_SIZE] [STEPS]   # default: 64 px, 8 steps
#
# Each setting runs benchmarks/models.py (each row in its own process) with XLA_FLAGS set.
set -u
OUT=${1:-benchmarks/results/xla_cpu_flags}
SIZE=${2:-64}
STEPS=${3:-8}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
python3 benchmarks/models.py --models dcgan --backends tensorflow --image-size "$SIZE" \
  --steps "$STEPS" --json "$OUT/tensorflow.json" | tail -4
for flags in "" \
    "--xla_cpu_use_thunk_runtime=false" \
    "--xla_cpu_experimental_onednn_custom_call=true" \
    "--xla_cpu_use_onednn=true" \
    "--xla_cpu_enable_fast_math=true"; do
  name=$(echo "${flags:-default}" | tr -c 'a-z0-9_\n' '_' | sed 's/^_*//')
  echo "== XLA_FLAGS=$flags"
  XLA_FLAGS="$flags" python3 benchmarks/models.py --models dcgan --backends jax \
    --image-size "$SIZE" --steps "$STEPS" --json "$OUT/jax_$name.json" | tail -4
done
