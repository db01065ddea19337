"""Train a DCGAN on kerasgen's synthetic faces and watch it learn, one image grid per epoch.

    python examples/train_dcgan.py                      # 32 px, a few minutes on a laptop CPU
    KERAS_BACKEND=jax python examples/train_dcgan.py    # the same on JAX (or torch)

Writes runs/dcgan_example/epoch_*.png, progress.gif, losses.png and model.keras.
"""

import keras

from kerasgen import DCGAN
from kerasgen.callbacks import ImageGrid
from kerasgen.data import synthetic_faces

IMAGE_SIZE = 32
OUT = "runs/dcgan_example"

# The embedded data set: procedurally drawn faces, no download. Swap in
# kerasgen.data.celeba("~/data/celeba", image_size=IMAGE_SIZE) for the real thing.
dataset = synthetic_faces(n=10_000, image_size=IMAGE_SIZE, batch_size=64)

# Radford et al.'s DCGAN with one-sided label smoothing (real labels drawn from [0.7, 1.2]), the
# seed report's first improvement: without it this DCGAN tends to collapse onto a few faces at
# 64 px. The others are arguments too: generator_activation="leaky_relu",
# discriminator_dropout=0.3, instance_noise=0.1.
model = DCGAN(latent_dim=100, image_size=IMAGE_SIZE, label_smoothing=(0.7, 1.2), seed=0)
model.compile()  # Adam(2e-4, beta_1=0.5) for both networks, as in the paper

model.fit(dataset, epochs=8, callbacks=[ImageGrid(OUT, n=64, scale=2)])
model.save(f"{OUT}/model.keras")

# A saved model reloads anywhere and draws the same faces for the same seed.
faces = keras.models.load_model(f"{OUT}/model.keras").generate(16, seed=0)
print("generated", faces.shape, "images in [0, 1]; grids and progress.gif are in", OUT)
