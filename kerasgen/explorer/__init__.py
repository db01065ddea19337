"""`kerasgen explore`: a local web page to steer a trained model through its latent space.

    from kerasgen.explorer import Explorer, ExplorerServer
    server = ExplorerServer(Explorer(model, data=faces), port=8765)
    server.serve_forever()

`Explorer` (core.py) holds the directions and draws images; `ExplorerServer` (server.py)
serves page.html and the API on the standard library's http.server.
"""

from kerasgen.explorer.core import SLIDER_RANGE, Explorer, jacobian_directions
from kerasgen.explorer.server import ExplorerServer, start_in_thread

__all__ = ["Explorer", "ExplorerServer", "SLIDER_RANGE", "jacobian_directions",
           "start_in_thread"]
