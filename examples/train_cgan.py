"""Train an attribute-conditional DCGAN (seed 003) on synthetic faces, then generate faces with
chosen attributes and refine given faces (put glasses on them).

    python examples/train_cgan.py                      # 32 px; EPOCHS=1 for a quick look
    KERAS_BACKEND=jax python examples/train_cgan.py    # the same on JAX (or torch)

Writes runs/cgan_example/: model.keras, grid.png (one row per attribute; each pair of columns
is the same latent with that attribute off, then on), glasses.png (test faces, then the same
faces refined with Eyeglasses on).
"""

import os

import keras
import numpy as np

from kerasgen import ConditionalGAN
from kerasgen.data import synthetic_faces
from kerasgen.images import save_image_grid

IMAGE_SIZE = 32
EPOCHS = int(os.environ.get("EPOCHS", 8))
OUT = "runs/cgan_example"
os.makedirs(OUT, exist_ok=True)

# Five attributes that CelebA and the synthetic faces both label (DEFAULT_ATTRIBUTES).
model = ConditionalGAN(image_size=IMAGE_SIZE, latent_dim=100, seed=0)
# Batches are (uint8 images, 0/1 attributes) with the columns in the model's order.
dataset = synthetic_faces(n=10_000, image_size=IMAGE_SIZE, batch_size=64,
                          attributes=model.attributes)
model.compile()  # Adam(2e-4, beta_1=0.5) for discriminator, generator and encoder
model.fit(dataset, epochs=EPOCHS)
model.save(f"{OUT}/model.keras")
model = keras.models.load_model(f"{OUT}/model.keras")

# Each attribute's effect on fixed faces.
save_image_grid(model.sample_grid(64, seed=0), f"{OUT}/grid.png", nrow=model.grid_nrow(64),
                scale=2)

# Generation with chosen attributes (the rest off); the same seed gives the same faces.
smiling_women = model.generate(8, seed=1, attributes={"Smiling": 1, "Male": 0})

# Refinement (seed 003, figure 1b): encode test faces, redraw them with Eyeglasses turned on.
test = synthetic_faces(n=8, image_size=IMAGE_SIZE, batch_size=8, split="test", shuffle=False,
                       attributes=model.attributes)
faces, attributes = test[0]
with_glasses = model.refine(faces, {"Eyeglasses": 1}, current=attributes)
save_image_grid(np.concatenate([faces / 255.0, with_glasses]), f"{OUT}/glasses.png", nrow=8,
                scale=2)
print("wrote", OUT, "- generated", smiling_women.shape, "refined", with_glasses.shape)
