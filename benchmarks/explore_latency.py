"""How long a slider move takes to show in `kerasgen explore`: the server's answer to one
`/api/image` request (generate, PNG) for a 64 px VAE and conditional GAN, over HTTP on
localhost, as the page asks for it.

    python benchmarks/explore_latency.py                  # fresh 64 px models
    python benchmarks/explore_latency.py --models a.keras,b.keras --requests 50

Each request moves the first slider to a new value (no caching can answer it). Prints the
median and 95th percentile in milliseconds per model and backend (KERAS_BACKEND).
"""

import argparse
import json
import time
import urllib.request

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=None, help="comma-separated .keras files")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args(argv)

    import keras

    import kerasgen
    from kerasgen.runs import load_kerasgen_model
    from kerasgen.data import synthetic_faces
    from kerasgen.explorer import Explorer, ExplorerServer, start_in_thread

    if args.models:
        models = [load_kerasgen_model(p) for p in args.models.split(",")]
    else:
        models = [kerasgen.VAE(image_size=args.image_size, seed=0),
                  kerasgen.ConditionalGAN(attributes=["Male", "Smiling", "Eyeglasses"],
                                          image_size=args.image_size, seed=0)]
    print(f"backend {keras.backend.backend()}, {args.requests} slider moves per model")
    for model in models:
        data = (synthetic_faces(n=512, image_size=model.image_size, batch_size=128)
                if hasattr(model, "encode") and not getattr(model, "attributes", None) else None)
        server = ExplorerServer(Explorer(model, data=data, max_images=512), port=0)
        start_in_thread(server)
        try:
            get = lambda path: urllib.request.urlopen(server.url + path, timeout=60).read()
            coords = json.loads(get("api/state?seed=1"))["coords"]
            get("api/image?seed=1")  # first call builds the predict function
            times = []
            for i, value in enumerate(np.linspace(-2.5, 2.5, args.requests)):
                coords[0] = round(float(value), 3)
                start = time.perf_counter()
                png = get("api/image?seed=1&c=" + ",".join(map(str, coords)))
                times.append(1000 * (time.perf_counter() - start))
                assert png[:4] == b"\x89PNG"
            print(f"  {type(model).__name__:<15} {model.image_size} px: median "
                  f"{np.median(times):6.1f} ms, 95th percentile {np.percentile(times, 95):6.1f} ms")
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
