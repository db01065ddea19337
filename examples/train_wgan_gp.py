"""Train a WGAN-GP on kerasgen's synthetic faces: critic steps, gradient penalty, image grids.

    python examples/train_wgan_gp.py                     # 32 px, a few minutes on a laptop CPU
    KERAS_BACKEND=jax python examples/train_wgan_gp.py   # the same on JAX (or torch)

Writes runs/wgan_gp_example/epoch_*.png, progress.gif, losses.png and model.keras. Watch the
`wasserstein` log: the critic's estimate of the distance between real and generated faces, which
rises while the critic learns and then falls as the generator catches up.
"""

import keras

from kerasgen import WGANGP
from kerasgen.callbacks import ImageGrid
from kerasgen.data import synthetic_faces

IMAGE_SIZE = 32
OUT = "runs/wgan_gp_example"

dataset = synthetic_faces(n=10_000, image_size=IMAGE_SIZE, batch_size=64)

# Gulrajani et al.: 5 critic steps per generator step, penalty weight 10, a critic with layer
# norm and no sigmoid. compile() gives the paper's Adam(1e-4, beta_1=0, beta_2=0.9); seed
# report 004 used a learning rate of 2e-3, e.g.
# model.compile(generator_optimizer=keras.optimizers.Adam(2e-3, 0.0, 0.9), critic_optimizer=...).
model = WGANGP(latent_dim=128, image_size=IMAGE_SIZE, n_critic=5, gp_weight=10.0, seed=0)
model.compile()

model.fit(dataset, epochs=5, callbacks=[ImageGrid(OUT, n=64, scale=2)])
model.save(f"{OUT}/model.keras")

faces = keras.models.load_model(f"{OUT}/model.keras").generate(16, seed=0)
print("generated", faces.shape, "images in [0, 1]; grids and progress.gif are in", OUT)
