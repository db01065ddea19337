"""The latent explorer's web side: one page and a small JSON/PNG API on the standard library's
`http.server` (threaded), bound to 127.0.0.1 by default.

Routes (all GET):
    /                  the page (page.html)
    /api/info          model, method, sliders, attributes, modes
    /api/state?seed=N  slider values and attributes of seed N's face
    /api/image?seed=N&c=c1,c2,...&a=Name:1,Other:0&mode=regenerate|refine   -> image/png

Bad requests (a value out of range, an unknown attribute, a malformed number) get status 400
and `{"error": "..."}` naming what is wrong; an unexpected failure gets 500 with its message.
Either way the server goes on serving.

The page has no authentication, so the server guards what it can:

- **DNS rebinding.** A web page elsewhere could point its own domain at 127.0.0.1 and read the
  API as same-origin; its requests then carry that domain in `Host`. A request is answered
  only when `Host` names this server: `localhost`, `127.0.0.1`, `[::1]`, the `--host` given
  or the address bound (any IP address and this machine's name when bound to all interfaces,
  0.0.0.0 or ::), with the served port or none. Others, and requests without `Host`, get 403.
  (Rebinding needs a DNS name the attacker controls, so an IP address is always safe.)
- **Beyond loopback**, `ExplorerServer` prints one warning line on stderr: anyone who can
  reach HOST:PORT can use the model.
- **Idle connections** are closed after `timeout` seconds (30), so clients that connect and
  say nothing do not hold threads for ever.
- **Disconnects** (a client that goes away mid-request, a timeout) are not errors: one line
  with `verbose`, nothing otherwise, never a traceback.
- **Model calls are serialised** by a lock; when `max_waiting` requests (4) are already
  waiting for it, another gets 503 `{"error": "busy: ..."}` at once instead of queueing.
"""

import errno
import ipaddress
import json
import re
import socket
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlparse

from kerasgen.errors import DataError, KerasgenError

PAGE = "page.html"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("", "0.0.0.0", "::")
#: A client gone away mid-request: logged with `verbose` only, never as a traceback.
DISCONNECTS = (ConnectionError, TimeoutError)


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
    steps = _one(query, "steps", None)
    if steps is not None:
        try:
            steps = int(steps)
        except ValueError:
            raise DataError(f"steps must be an integer; received {steps!r}.") from None
    return dict(seed=seed, coords=coords, attributes=attributes,
                mode=_one(query, "mode", "regenerate"), steps=steps)


def _one(query, name, default):
    values = query.get(name)
    return values[-1] if values else default


class Busy(Exception):
    """More model calls waiting than the server's `max_waiting`: answered 503."""


def split_host(value):
    """`(name, port or None)` of a Host header ("localhost:8765", "[::1]:8765"), the name in
    lower case without brackets; None when it is not of that form."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/@]+)(?::(\d{1,5}))?", value or "")
    if match is None:
        return None
    return match[1].strip("[]").lower(), int(match[2]) if match[2] else None


def is_ip_address(name):
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_loopback(host):
    """127.x.x.x, ::1 or localhost."""
    return host.lower() == "localhost" or (is_ip_address(host)
                                           and ipaddress.ip_address(host).is_loopback)


class Handler(BaseHTTPRequestHandler):
    server_version = "kerasgen-explorer"

    def setup(self):
        self.timeout = self.server.connection_timeout  # StreamRequestHandler sets it on the socket
        super().setup()

    def do_GET(self):  # noqa: N802 (http.server's name)
        status, content_type, body = self._respond()
        self._send(status, content_type, body)  # a disconnect here goes to server.handle_error

    def _respond(self):
        """`(status, content type, body)` of this request; model and input errors become 4xx/5xx
        answers, so only sending can fail."""
        host = self.headers.get("Host")
        if not self.server.accepts_host(host):
            refused = f"Host {host!r}" if host else "a request without a Host header"
            return self._json(403, {"error": f"refused {refused}: this server answers to "
                                             f"{self.server.host_names()} (a guard against "
                                             "DNS rebinding)."})
        url = urlparse(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        explorer = self.server.explorer
        try:
            if url.path in ("/", "/index.html"):
                return 200, "text/html; charset=utf-8", self.server.page
            if url.path == "/api/info":
                return self._json(200, explorer.info())
            if url.path == "/api/state":
                seed = parse_image_query(query)["seed"]
                with self.server.model_turn():
                    return self._json(200, explorer.state(seed))
            if url.path == "/api/image":
                arguments = parse_image_query(query)
                with self.server.model_turn():
                    return 200, "image/png", explorer.png(**arguments)
            return self._json(404, {"error": f"no such page: {url.path}"})
        except Busy as e:
            return self._json(503, {"error": f"busy: {e}"})
        except (KerasgenError, ValueError) as e:  # bad values: DataError, AttributeNameError
            return self._json(400, {"error": str(e)})
        except Exception as e:  # keep serving; say what failed
            self.log_error("%s failed: %s: %s", url.path, type(e).__name__, e)
            return self._json(500, {"error": f"{type(e).__name__}: {e}"})

    @staticmethod
    def _json(status, payload):
        return status, "application/json", json.dumps(payload).encode()

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
    """Serves `explorer` (an `Explorer`: `info()`, `state(seed)`, `png(...)`) on host:port
    (port 0 picks a free one). `timeout`: seconds a connection may stay silent; `max_waiting`:
    model calls that may wait for the model before others get 503; `verbose`: log every
    request (and disconnects) on stderr."""

    daemon_threads = True

    def __init__(self, explorer, host="127.0.0.1", port=8765, verbose=False, timeout=30,
                 max_waiting=4):
        self.explorer = explorer
        self.verbose = verbose
        self.connection_timeout = timeout
        self.max_waiting = max_waiting
        self.lock = threading.Lock()  # one model call at a time
        self.queue_length = 0  # requests holding or waiting for `lock`
        self._queue_lock = threading.Lock()
        self.page = resources.files("kerasgen.explorer").joinpath(PAGE).read_bytes()
        if ":" in host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((host, port), Handler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise DataError(f"port {port} on {host} is in use; choose another with --port "
                                "(--port 0 picks a free one).") from None
            raise DataError(f"cannot listen on {host}:{port}: {e.strerror or e}.") from None
        address = self.server_address[0]
        # The Host names accepted (see the module's docstring), lower case, without brackets.
        self.names = {*LOOPBACK_NAMES, host.lower(), address.lower()} - {""}
        if self.bound_to_all():
            self.names.add(socket.gethostname().lower())
        if not is_loopback(address):
            print("kerasgen: warning: the explorer has no authentication; anyone who can reach "
                  f"{self.authority(host or address)} can use the model (the default --host "
                  "127.0.0.1 keeps it on this machine).", file=sys.stderr, flush=True)

    @property
    def url(self):
        return f"http://{self.authority(self.server_address[0])}/"

    def authority(self, name):
        """`name:port` of this server, IPv6 addresses in brackets."""
        port = self.server_address[1]
        return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"

    def bound_to_all(self):
        return self.server_address[0] in WILDCARDS

    def accepts_host(self, value):
        """Whether a request's Host header names this server (see the module's docstring)."""
        split = split_host(value)
        if split is None:
            return False
        name, port = split
        if port not in (None, self.server_address[1]):
            return False
        return name in self.names or (self.bound_to_all() and is_ip_address(name))

    def host_names(self):
        """The Host values accepted, for the 403 message."""
        names = ", ".join(self.authority(name) for name in sorted(self.names))
        return names + (" and any IP address" if self.bound_to_all() else "")

    @contextmanager
    def model_turn(self):
        """Holds the model lock for one call; raises Busy at once, instead of waiting, when
        `max_waiting` requests are already waiting for it."""
        with self._queue_lock:
            if self.queue_length > self.max_waiting:  # one at the model, max_waiting waiting
                raise Busy(f"{self.max_waiting} request(s) already waiting for the model; "
                           "try again in a moment.")
            self.queue_length += 1
        try:
            with self.lock:
                yield
        finally:
            with self._queue_lock:
                self.queue_length -= 1

    def handle_error(self, request, client_address):
        """A client that went away (or timed out) is one line with `verbose`, not a traceback;
        anything else is a bug and keeps the standard traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, DISCONNECTS):
            if self.verbose:
                print(f"kerasgen: {client_address[0]} disconnected ({type(error).__name__}).",
                      file=sys.stderr, flush=True)
            return
        super().handle_error(request, client_address)


def start_in_thread(server):
    """Serves in a daemon thread (tests, notebooks); `server.shutdown()` stops it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
