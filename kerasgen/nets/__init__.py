"""Network builders shared by kerasgen's models."""

from kerasgen.nets.conv import decoder
from kerasgen.nets.conv import discriminator
from kerasgen.nets.conv import down_stack
from kerasgen.nets.conv import encoder
from kerasgen.nets.conv import generator
from kerasgen.nets.conv import up_stack
from kerasgen.nets.inception import fid_inception_v3
from kerasgen.nets.network import Network
from kerasgen.nets.resnet import resnet_discriminator
from kerasgen.nets.resnet import resnet_generator
from kerasgen.nets.spectral import SNConv2D
from kerasgen.nets.spectral import SNDense
from kerasgen.nets.unet import unet
