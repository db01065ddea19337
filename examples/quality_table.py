"""Every model and training recipe on synthetic faces with the same wall-clock budget, scored
by FID, KID and precision/recall in an offline feature space, and attribute accuracy for the
conditional ones: the README's model table.

    python examples/quality_table.py                                  # 32 px, 8 min a row
    python examples/quality_table.py --recipes dcgan,sngan-diffaug --minutes 20
    python examples/quality_table.py --image-size 64 --minutes 30     # on a GPU

Steps (all on `kerasgen.data.synthetic_faces`, no download):
1. Train an `AttributeClassifier` on all attributes of the training split; its pooled features
   (`kerasgen.features.ClassifierFeatures`) are the feature space. Scores are reported as
   `classifier:...` features, not as Inception FID: compare them with each other, not with
   papers. The same classifier reads back the conditional models' attributes.
2. Reference row: features of `--n` training faces against `--n` test faces (the score of
   perfect samples, limited by the number of images).
3. Train each recipe with the same data, batch and seed for `--minutes` of wall-clock time (or
   `--epochs`, whichever ends first), then score `--n` generated images against `--n` test
   faces.
A recipe that keeps an EMA of its generator is scored twice from the same run: with the trained
weights and with their average. Writes `table.md`, `table.json`, `<recipe>.png` (64 samples
of each, from the average where there is one), `<recipe>.keras` and `classifier.keras` to
`--out`; the table is rewritten after every recipe (atomically), and a rerun keeps every row
already measured (whichever `--recipes` it names), skips those recipes and scores the new ones
with the saved classifier (same features).
"""

import argparse
import json
import os
import textwrap
import time

import keras

import kerasgen
from kerasgen import features
from kerasgen import metrics
from kerasgen.data import synthetic_faces
from kerasgen.data.synthetic import ATTRIBUTES as SYNTHETIC_ATTRIBUTES
from kerasgen.files import save_model
from kerasgen.files import write_json
from kerasgen.files import write_text
from kerasgen.images import save_image_grid

ATTRIBUTES = ["Male", "Smiling", "Eyeglasses", "Blond_Hair", "Bangs"]  # the conditional GAN's
AUGMENT = "color,translation,cutout"
EMA = {"ema": 0.999}
#: name -> (label, class, options). A recipe that keeps an EMA is trained once and scored twice,
#: with the trained weights (its `label`) and with their moving average (`label + EMA`): the
#: same training run, so the two rows differ by the EMA alone.
RECIPES = {
    "dcgan": ("DCGAN", "DCGAN", EMA),
    "dcgan-hinge-diffaug": ("DCGAN, hinge + DiffAugment", "DCGAN",
                            {"loss": "hinge", "augment": AUGMENT, **EMA}),
    "wgan-gp": ("WGAN-GP", "WGANGP", EMA),
    "sngan": ("SNGAN (ResNet, spectral norm, hinge)", "SNGAN", EMA),
    "sngan-diffaug": ("SNGAN + DiffAugment", "SNGAN", {"augment": AUGMENT, **EMA}),
    "ae": ("Autoencoder (decodes N(0, I))", "Autoencoder", {}),
    "vae": ("VAE (KLD weight 1)", "VAE", EMA),
    "vaegan": ("VAE-GAN", "VAEGAN", EMA),
    "cgan": ("Conditional GAN (5 attributes, input channels)", "ConditionalGAN",
             {"attributes": ATTRIBUTES, **EMA}),
    "cgan-projection": ("Conditional GAN (projection D, conditional BN)", "ConditionalGAN",
                        {"attributes": ATTRIBUTES, "conditioning": "projection", **EMA}),
    "diffusion": ("Diffusion (DDPM, cosine; DDIM 50 steps)", "Diffusion", EMA),
}
#: Recipes scored with their moving-average weights only, the ones they sample with: a
#: diffusion model draws each image in 50 UNet passes (about 0.6 s on a 2-core CPU at 32 px),
#: so a second score with its raw weights would add an hour.
EMA_ONLY = {"diffusion"}
DEFAULT_RECIPES = ("dcgan,dcgan-hinge-diffaug,wgan-gp,sngan,sngan-diffaug,vae,vaegan,cgan,"
                   "cgan-projection,ae,diffusion")


class TimeBudget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall-clock time have passed (checked every batch)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.start = None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1000, help="at most this many epochs")
    parser.add_argument("--minutes", type=float, default=8.0,
                        help="wall-clock training budget of every recipe")
    parser.add_argument("--n-images", type=int, default=20_000, help="training faces")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--classifier-epochs", type=int, default=2)
    parser.add_argument("--n", type=int, default=5000, help="images per side of each score")
    parser.add_argument("--recipes", default=DEFAULT_RECIPES,
                        help=f"comma-separated, of: {', '.join(RECIPES)}")
    parser.add_argument("--out", default="runs/quality_table")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    size = args.image_size

    def faces(**kw):
        return synthetic_faces(image_size=size, seed=0, **kw)

    train = faces(n=args.n_images, batch_size=args.batch_size, attributes=ATTRIBUTES)
    saved = read_table(args)
    done = saved["rows"] if saved else []
    classifier = feature_classifier(args, faces, resume=bool(done))
    extractor = features.ClassifierFeatures(classifier)
    if done and extractor.fingerprint != saved.get("fingerprint"):
        raise SystemExit(f"quality table: the rows in {args.out}/table.json were scored with "
                         "another classifier than classifier.keras; use another --out")
    test_features = metrics.real_features(
        faces(n=args.n, batch_size=min(500, args.n), split="test", shuffle=False), extractor)
    train_features = metrics.real_features(
        faces(n=args.n, batch_size=min(500, args.n), shuffle=False), extractor)
    # Every row measured before stays, whether or not this run names its recipe again.
    rows = list(done) or [
        {"recipe": "real", "model": "Real faces (training split)", "seconds": 0.0, "epochs": 0,
         **metrics.sample_quality(test_features, train_features)}]
    write(args, rows, extractor)

    for name in args.recipes.split(","):
        if any(r["recipe"] == name for r in done):
            print(f"quality table: {name} measured already (table.json); skipped", flush=True)
            continue
        label, cls, options = RECIPES[name]
        keras.utils.set_random_seed(0)
        model = getattr(kerasgen, cls)(image_size=size, seed=0, **options)
        model.compile()
        start = time.perf_counter()
        history = model.fit(train, epochs=args.epochs, verbose=2,
                            callbacks=[TimeBudget(60 * args.minutes)])
        seconds = time.perf_counter() - start
        for use_ema in ([True] if name in EMA_ONLY
                        else [False, True] if options.get("ema") else [False]):
            fake = metrics.generated_features(model, extractor, n=args.n, seed=1,
                                              use_ema=use_ema)
            row = {"recipe": name, "model": label + (" + EMA" if use_ema else ""),
                   "ema": use_ema, "seconds": seconds, "epochs": len(history.epoch),
                   **metrics.sample_quality(test_features, fake)}
            if getattr(model, "attributes", None):
                accuracy = metrics.attribute_accuracy(classifier, model, n=2000, seed=1,
                                                      use_ema=use_ema)
                row["attr_acc"] = accuracy.pop("mean")
                row["attr_acc_each"] = accuracy
            rows.append(row)
        save_image_grid(model.generate(64, seed=0), os.path.join(args.out, f"{name}.png"), nrow=8)
        save_model(model, os.path.join(args.out, f"{name}.keras"))
        write(args, rows, extractor)
    write_figure(args, [r for r in rows if r["recipe"] != "real"])


def feature_classifier(args, faces, resume):
    """The classifier whose features every row is scored in: trained from seed 0 and saved as
    `classifier.keras` in `--out`, so that a rerun adding recipes scores them in the same
    features as the rows already there (a classifier trained again would be another one)."""
    path = os.path.join(args.out, "classifier.keras")
    if resume:
        if not os.path.exists(path):
            raise SystemExit(f"quality table: {args.out}/table.json has rows but no "
                             "classifier.keras to score new ones in the same features; use "
                             "another --out")
        return keras.models.load_model(path)
    keras.utils.set_random_seed(0)
    every_attribute = list(SYNTHETIC_ATTRIBUTES)
    classifier = metrics.AttributeClassifier(every_attribute, image_size=args.image_size)
    classifier.compile()
    classifier.fit(faces(n=args.n_images, batch_size=64, attributes=every_attribute),
                   epochs=args.classifier_epochs, verbose=2)
    save_model(classifier, path)
    return classifier


def write_figure(args, rows):
    """`samples.png`: the first 16 samples (4 x 4) of each recipe, titled with its FID (the
    averaged weights' where the recipe keeps an EMA)."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    from kerasgen.files import atomic_path

    best = {}
    for r in rows:  # the EMA row comes after the raw one
        best[r["recipe"]] = r
    shown = [r for r in best.values()
             if os.path.exists(os.path.join(args.out, f"{r['recipe']}.png"))]
    if not shown:
        return
    columns = min(5, len(shown))
    lines = -(-len(shown) // columns)
    fig = Figure(figsize=(2.6 * columns, 2.9 * lines), dpi=100)
    FigureCanvasAgg(fig)
    side = args.image_size + 2  # save_image_grid's cell: the image and a 2 px border
    for i, r in enumerate(shown):
        grid = np.asarray(Image.open(os.path.join(args.out, f"{r['recipe']}.png")))
        ax = fig.add_subplot(lines, columns, i + 1)
        ax.imshow(grid[: 4 * side + 2, : 4 * side + 2], interpolation="nearest")
        ax.set_title(f"{textwrap.fill(r['model'], 30)}\nFID {r['fid']:.3g}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(os.path.join(args.out, "samples.png")) as temporary:
        fig.savefig(temporary, format="png")


def read_table(args):
    path = os.path.join(args.out, "table.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        saved = json.load(f)
    keys = ("image_size", "n_images", "batch_size", "minutes", "n", "classifier_epochs")
    if any(saved["setup"].get(k) != getattr(args, k) for k in keys):
        raise SystemExit(f"quality table: {path} was measured with other settings; use another "
                         "--out")
    if saved.get("backend") != keras.backend.backend():
        raise SystemExit(f"quality table: {path} was measured under the {saved.get('backend')} "
                         "backend (training budgets are wall-clock time); use another --out")
    return saved


def write(args, rows, extractor):
    head = (f"Synthetic faces, {args.image_size} px, {args.n_images} training faces, batch "
            f"{args.batch_size}, seed 0, {args.minutes:g} minutes of training per row, Keras "
            f"backend {keras.backend.backend()}. Scores of {args.n} images against {args.n} test "
            "faces in the features of an AttributeClassifier trained on all "
            f"{len(extractor.name.split(','))} synthetic attributes ({args.classifier_epochs} "
            "epochs): offline features, not Inception. Lower FID/KID is better; precision and "
            "recall are in [0, 1], higher is better; attribute accuracy: how often the same "
            "classifier reads back the attributes asked for (chance 0.5).")
    table = [head, "",
             "| Model | FID | KID (x 1000) | precision | recall | attribute accuracy (min) | "
             "epochs | training time |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        accuracy = ""
        if "attr_acc" in r:
            accuracy = f"{r['attr_acc']:.3f} ({min(r['attr_acc_each'].values()):.3f})"
        table.append(f"| {r['model']} | {r['fid']:.4g} | {1000 * r['kid']:.3g} ± "
                     f"{1000 * r['kid_std']:.2g} | {r['precision']:.3f} | {r['recall']:.3f} | "
                     f"{accuracy} | {r.get('epochs', '')} | {r['seconds']:.0f} s |")
    write_text(os.path.join(args.out, "table.md"), "\n".join(table) + "\n")
    write_json(os.path.join(args.out, "table.json"),
               {"setup": vars(args), "backend": keras.backend.backend(), "features": extractor.name,
                "fingerprint": extractor.fingerprint, "rows": rows})
    print("\n".join(table), flush=True)


if __name__ == "__main__":
    main()
