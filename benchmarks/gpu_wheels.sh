#!/usr/bin/env bash
# The wheels the GPU machine lacks, downloaded here into .gpu-wheels/ (git-ignored).
#
#     bash benchmarks/gpu_wheels.sh
#
# The lent GPU machine has Python 3.12 with PyTorch, JAX, NumPy, scikit-learn, matplotlib, h5py,
# rich and Pillow, but no Keras, KerasTuner or TensorFlow, and it cannot download anything. The
# device call carries .gpu-wheels (`carry: [".gpu-wheels"]`) and benchmarks/gpu.sh installs
# them there before it measures. Same versions as this machine's, so that CPU and GPU tables
# compare the same Keras.
set -eu
cd "$(dirname "$0")/.."
py=${GPU_PYTHON_VERSION:-3.12}
ver() { python3 -c "from importlib.metadata import version; print(version('$1'))"; }
rm -rf .gpu-wheels.tmp
pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d .gpu-wheels.tmp \
  "keras==$(ver keras)" "keras-tuner==$(ver keras-tuner)" "kt-legacy==$(ver kt-legacy)" \
  "namex==$(ver namex)" "optree==$(ver optree)"
rm -rf .gpu-wheels && mv .gpu-wheels.tmp .gpu-wheels
ls -l .gpu-wheels
