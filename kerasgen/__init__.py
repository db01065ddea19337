"""kerasgen: generative image models for Keras 3 on TensorFlow, JAX and PyTorch."""

__version__ = "0.1.0"

from kerasgen.models import Autoencoder
from kerasgen.models import ConditionalGAN
from kerasgen.models import DCGAN
from kerasgen.models import Diffusion
from kerasgen.models import GenerativeModel
from kerasgen.models import Phase
from kerasgen.models import SNGAN
from kerasgen.models import VAE
from kerasgen.models import VAEGAN
from kerasgen.models import WGANGP
