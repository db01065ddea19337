"""kerasgen's models, one family per file."""

from kerasgen.models.base import GenerativeModel
from kerasgen.models.base import Phase
from kerasgen.models.cgan import ConditionalGAN
from kerasgen.models.dcgan import DCGAN
from kerasgen.models.diffusion import Diffusion
from kerasgen.models.optimizers import OptimizerGroup
from kerasgen.models.sngan import SNGAN
from kerasgen.models.vae import Autoencoder
from kerasgen.models.vae import VAE
from kerasgen.models.vaegan import VAEGAN
from kerasgen.models.wgan import WGANGP
