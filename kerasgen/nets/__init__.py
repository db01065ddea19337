"""Network builders shared by kerasgen's models."""

from kerasgen.nets.conv import discriminator
from kerasgen.nets.conv import down_stack
from kerasgen.nets.conv import generator
from kerasgen.nets.conv import up_stack
