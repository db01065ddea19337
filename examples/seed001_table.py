"""Seed 001's Table 1 on synthetic faces: reconstruction MSE of an autoencoder, VAEs at several
KLD weights and a VAE-GAN, plus the pictures behind it.

    python examples/seed001_table.py                              # 64 px, 10 epochs each
    python examples/seed001_table.py --image-size 32 --epochs 3   # a quick look on a CPU

For every model: train on `--n-images` synthetic faces, then measure the reconstruction MSE
(per pixel and channel, [0, 1] pixels, as `kerasgen eval --metrics recon`) on 2,000 training faces (the
seed's "training loss (MSE only)") and on 2,000 faces of the test split. Writes to `--out`:
`table.md` (the table), and per model `<name>_recon.png` (test faces over their
reconstructions), `<name>_stds.png` (decoded std * z, rows std 0.25 ... 2.0, seed 001's
Figures 12-13) and `<name>.keras`.
"""

import argparse
import os
import time

import keras
import numpy as np

from kerasgen import VAE
from kerasgen import VAEGAN
from kerasgen import Autoencoder
from kerasgen import latent
from kerasgen.data import synthetic_faces
from kerasgen.images import save_image_grid
from kerasgen.metrics import reconstruction_mse

MODELS = {  # name -> (label, KLD weight, constructor)
    "ae": ("Autoencoder", None, lambda **kw: Autoencoder(**kw)),
    "vae_1": ("VAE", 1.0, lambda **kw: VAE(kld_weight=1.0, **kw)),
    "vae_0.2": ("VAE", 0.2, lambda **kw: VAE(kld_weight=0.2, **kw)),
    "vae_0.1": ("VAE", 0.1, lambda **kw: VAE(kld_weight=0.1, **kw)),
    "vae_0.01": ("VAE", 0.01, lambda **kw: VAE(kld_weight=0.01, **kw)),
    "vaegan_0.01": ("VAE-GAN", 0.01, lambda **kw: VAEGAN(kld_weight=0.01, **kw)),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-images", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default="runs/seed001_table")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    size = args.image_size
    train = synthetic_faces(n=args.n_images, image_size=size, batch_size=args.batch_size, seed=0)
    train_eval = synthetic_faces(n=2000, image_size=size, batch_size=250, seed=0, shuffle=False)
    test = synthetic_faces(n=2000, image_size=size, batch_size=250, seed=0, split="test",
                           shuffle=False)
    shown = test[0][:8]

    rows = []
    for name in args.models.split(","):
        label, kld_weight, build = MODELS[name]
        keras.utils.set_random_seed(0)
        model = build(image_size=size, seed=0)
        model.compile()
        start = time.perf_counter()
        model.fit(train, epochs=args.epochs, verbose=2)
        seconds = time.perf_counter() - start
        train_mse, _ = reconstruction_mse(model, train_eval)
        test_mse, _ = reconstruction_mse(model, test)
        rows.append((label, "N/A" if kld_weight is None else f"{kld_weight:g}", train_mse,
                     test_mse, seconds))
        print(f"{name}: train MSE {train_mse:.4f}, test MSE {test_mse:.4f} ({seconds:.0f} s)")
        pairs = np.concatenate([shown / 255.0, model.reconstruct(shown)])
        save_image_grid(pairs, os.path.join(args.out, f"{name}_recon.png"), nrow=8)
        save_image_grid(latent.std_grid(model, per_row=8, seed=0),
                        os.path.join(args.out, f"{name}_stds.png"), nrow=8)
        model.save(os.path.join(args.out, f"{name}.keras"))
        write_table(args, rows)  # after every model, so a stopped run keeps what it measured


def write_table(args, rows):
    table = [
        f"Synthetic faces, {args.image_size} px, {args.n_images} training images, {args.epochs} "
        f"epochs, batch {args.batch_size}, Keras backend {keras.backend.backend()}.",
        "",
        "| Model | KLD weight | MSE, training faces | MSE, test faces | training time |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    table += [f"| {m} | {k} | {a:.4f} | {b:.4f} | {s:.0f} s |" for m, k, a, b, s in rows]
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(table) + "\n")
    print("\n".join(table), flush=True)


if __name__ == "__main__":
    main()
