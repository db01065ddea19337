"""Every model trained on synthetic faces with the same budget, scored by FID, KID and
precision/recall in an offline feature space: the README's model table.

    python examples/quality_table.py                              # 32 px, 3 epochs each
    python examples/quality_table.py --image-size 64 --epochs 10  # on a GPU

Steps (all on `kerasgen.data.synthetic_faces`, no download):
1. Train an `AttributeClassifier` on all attributes of the training split; its pooled features
   (`kerasgen.features.ClassifierFeatures`) are the feature space. Scores are reported as
   `classifier:...` features, not as Inception FID: compare them with each other, not with papers.
2. Reference row: features of `--n` training faces against `--n` test faces (the score of
   perfect samples, limited by the number of images).
3. Train each model with the same data, epochs, batch and seed, then score `--n` generated
   images against `--n` test faces.
Writes `table.md`, `table.json` and `<model>.png` (64 samples of each) to `--out`; the table is
rewritten after every model, so a stopped run keeps what it measured.
"""

import argparse
import json
import os
import time

import keras

import kerasgen
from kerasgen import features
from kerasgen import metrics
from kerasgen.data import synthetic_faces
from kerasgen.data.synthetic import ATTRIBUTES as SYNTHETIC_ATTRIBUTES
from kerasgen.images import save_image_grid

ATTRIBUTES = ["Male", "Smiling", "Eyeglasses", "Blond_Hair", "Bangs"]  # the conditional GAN's
MODELS = {
    "dcgan": ("DCGAN", lambda **kw: kerasgen.DCGAN(**kw)),
    "wgan-gp": ("WGAN-GP", lambda **kw: kerasgen.WGANGP(**kw)),
    "ae": ("Autoencoder (decoder of N(0, I))", lambda **kw: kerasgen.Autoencoder(**kw)),
    "vae": ("VAE (KLD weight 1)", lambda **kw: kerasgen.VAE(**kw)),
    "vaegan": ("VAE-GAN", lambda **kw: kerasgen.VAEGAN(**kw)),
    "cgan": ("Conditional GAN (5 attributes)",
             lambda **kw: kerasgen.ConditionalGAN(attributes=ATTRIBUTES, **kw)),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-images", type=int, default=20_000, help="training faces")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--classifier-epochs", type=int, default=2)
    parser.add_argument("--n", type=int, default=5000, help="images per side of each score")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default="runs/quality_table")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    size = args.image_size

    def faces(**kw):
        return synthetic_faces(image_size=size, seed=0, **kw)

    train = faces(n=args.n_images, batch_size=args.batch_size, attributes=ATTRIBUTES)
    every_attribute = list(SYNTHETIC_ATTRIBUTES)
    classifier = metrics.AttributeClassifier(every_attribute, image_size=size)
    classifier.compile()
    classifier.fit(faces(n=args.n_images, batch_size=64, attributes=every_attribute),
                   epochs=args.classifier_epochs, verbose=2)
    extractor = features.ClassifierFeatures(classifier)
    test_features = metrics.real_features(
        faces(n=args.n, batch_size=min(500, args.n), split="test", shuffle=False), extractor)
    train_features = metrics.real_features(
        faces(n=args.n, batch_size=min(500, args.n), shuffle=False), extractor)
    rows = [{"model": "Real faces (training split)", "seconds": 0.0,
             **metrics.sample_quality(test_features, train_features)}]
    write(args, rows, extractor)

    for name in args.models.split(","):
        label, build = MODELS[name]
        keras.utils.set_random_seed(0)
        model = build(image_size=size, seed=0)
        model.compile()
        start = time.perf_counter()
        model.fit(train, epochs=args.epochs, verbose=2)
        seconds = time.perf_counter() - start
        fake = metrics.generated_features(model, extractor, n=args.n, seed=1)
        rows.append({"model": label, "seconds": seconds, **metrics.sample_quality(test_features, fake)})
        save_image_grid(model.generate(64, seed=0), os.path.join(args.out, f"{name}.png"), nrow=8)
        write(args, rows, extractor)


def write(args, rows, extractor):
    head = (f"Synthetic faces, {args.image_size} px, {args.n_images} training faces, "
            f"{args.epochs} epochs, batch {args.batch_size}, seed 0, Keras backend "
            f"{keras.backend.backend()}. Scores of {args.n} images against {args.n} test faces "
            f"in the features of an AttributeClassifier trained on all "
            f"{len(extractor.name.split(','))} synthetic attributes ({args.classifier_epochs} "
            "epochs): offline features, not Inception. Lower FID/KID is better; precision and "
            "recall are in [0, 1], higher is better.")
    table = [head, "",
             "| Model | FID | KID (x 1000) | precision | recall | training time |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        table.append(f"| {r['model']} | {r['fid']:.4g} | {1000 * r['kid']:.3g} ± "
                     f"{1000 * r['kid_std']:.2g} | {r['precision']:.3f} | {r['recall']:.3f} | "
                     f"{r['seconds']:.0f} s |")
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(table) + "\n")
    with open(os.path.join(args.out, "table.json"), "w") as f:
        json.dump({"setup": vars(args), "features": extractor.name, "rows": rows}, f, indent=2)
    print("\n".join(table), flush=True)


if __name__ == "__main__":
    main()
