"""Data sets for kerasgen models.

Every data set here yields batches of ``uint8`` RGB images, shape ``(batch, size, size, 3)``,
values 0..255, optionally paired with attributes as ``float32`` 0/1 (``(images, attributes)``).
Models scale images to their own pixel range inside ``train_step``; a user never does.
"""

from kerasgen.data.batches import iter_batches
from kerasgen.data.batches import iter_images
from kerasgen.data.synthetic import ATTRIBUTES as SYNTHETIC_ATTRIBUTES
from kerasgen.data.synthetic import SyntheticFaces
from kerasgen.data.synthetic import render_faces
from kerasgen.data.synthetic import sample_attributes
from kerasgen.data.synthetic import synthetic_faces
from kerasgen.data.celeba import CELEBA_ATTRIBUTES
from kerasgen.data.celeba import celeba
from kerasgen.data.celeba import celeba_tfds
from kerasgen.data.folder import image_folder
