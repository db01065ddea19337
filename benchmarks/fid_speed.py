"""Seconds to compute FID for 10,000 generated images with kerasgen's offline features.

    python benchmarks/fid_speed.py                  # 64 px DCGAN, classifier features
    python benchmarks/fid_speed.py --n 2000 --image-size 32

Times `kerasgen.metrics.fid` end to end (generating the images batch by batch, extracting
features, streaming statistics, the Fréchet distance) against precomputed real statistics. The
networks are untrained: the time does not depend on their weights. Target on the 2-core CPU:
under 2 minutes for 10,000 images at 64 px.
"""

import argparse
import time

import keras

from kerasgen import DCGAN
from kerasgen import features
from kerasgen import metrics
from kerasgen.data import synthetic_faces


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args()
    size = args.image_size
    names = ["Male", "Smiling", "Eyeglasses", "Blond_Hair", "Bangs"]
    classifier = metrics.AttributeClassifier(names, image_size=size)
    extractor = features.ClassifierFeatures(classifier)
    start = time.perf_counter()
    real = metrics.real_statistics(
        synthetic_faces(n=2000, image_size=size, batch_size=250, split="test", shuffle=False),
        extractor)
    real_seconds = time.perf_counter() - start
    model = DCGAN(image_size=size, seed=0)
    start = time.perf_counter()
    score = metrics.fid(model, real, extractor, n=args.n, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    print(f"backend {keras.backend.backend()}: FID ({extractor.name}) of {args.n} generated "
          f"{size} px images: {seconds:.1f} s ({args.n / seconds:.0f} images/s); real statistics "
          f"of 2,000 images: {real_seconds:.1f} s; value {score:.2f} (untrained networks)")


if __name__ == "__main__":
    main()
