"""The latent explorer's web side: one page and a small JSON/PNG API on the standard library's
`http.server` (threaded), bound to 127.0.0.1 by default.

Routes (all GET):
    /                  the page (page.html)
    /api/info          model, method, sliders, attributes, modes
    /api/state?seed=N  slider values and attributes of seed N's face
    /api/image?seed=N&c=c1,c2,...&a=Name:1,Other:0&mode=regenerate|refine   -> image/png

Bad requests (a value out of range, an unknown attribute, a malformed number) get status 400
and `{"error": "..."}` naming what is wrong; an unexpected failure gets 500 with its message.
Either way the server goes on serving. Model calls are serialised by a lock.
"""

import errno
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from kerasgen.errors import DataError, KerasgenError

PAGE = "page.html"


def parse_image_query(query):
    """The `Explorer.image` arguments from a parsed query string; DataError on malformed values
    (the explorer checks their ranges and the attribute names)."""
    seed = _one(query, "seed", "0")
    try:
        seed = int(seed)
    except ValueError:
        raise DataError(f"seed must be an integer; received {seed!r}.") from None
    coords = _one(query, "c", None)
    if coords is not None:
        try:
            coords = [float(v) for v in coords.split(",")] if coords else []
        except ValueError:
            raise DataError(f"c must be comma-separated numbers; received {coords!r}.") from None
    attributes = {}
    for item in filter(None, _one(query, "a", "").split(",")):
        name, _, value = item.partition(":")
        if value not in ("0", "1"):
            raise DataError(f"attribute values are 0 or 1 (as Name:1); received {item!r}.")
        attributes[name] = int(value)
    return dict(seed=seed, coords=coords, attributes=attributes,
                mode=_one(query, "mode", "regenerate"))


def _one(query, name, default):
    values = query.get(name)
    return values[-1] if values else default


class Handler(BaseHTTPRequestHandler):
    server_version = "kerasgen-explorer"

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        explorer = self.server.explorer
        try:
            if url.path in ("/", "/index.html"):
                return self._send(200, "text/html; charset=utf-8", self.server.page)
            if url.path == "/api/info":
                return self._json(200, explorer.info())
            if url.path == "/api/state":
                seed = parse_image_query(query)["seed"]
                with self.server.lock:
                    return self._json(200, explorer.state(seed))
            if url.path == "/api/image":
                arguments = parse_image_query(query)
                with self.server.lock:
                    png = explorer.png(**arguments)
                return self._send(200, "image/png", png)
            return self._json(404, {"error": f"no such page: {url.path}"})
        except (KerasgenError, ValueError) as e:  # bad values: DataError, AttributeNameError
            return self._json(400, {"error": str(e)})
        except Exception as e:  # keep serving; say what failed
            self.log_error("%s failed: %s: %s", url.path, type(e).__name__, e)
            return self._json(500, {"error": f"{type(e).__name__}: {e}"})

    def _json(self, status, payload):
        self._send(status, "application/json", json.dumps(payload).encode())

    def _send(self, status, content_type, body):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


class ExplorerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, explorer, host="127.0.0.1", port=8765, verbose=False):
        self.explorer = explorer
        self.verbose = verbose
        self.lock = threading.Lock()
        self.page = resources.files("kerasgen.explorer").joinpath(PAGE).read_bytes()
        try:
            super().__init__((host, port), Handler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise DataError(f"port {port} on {host} is in use; choose another with --port "
                                "(--port 0 picks a free one).") from None
            raise DataError(f"cannot listen on {host}:{port}: {e.strerror or e}.") from None

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def start_in_thread(server):
    """Serves in a daemon thread (tests, notebooks); `server.shutdown()` stops it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
